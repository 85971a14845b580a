//! JSON schemas of option types, generated from their serde `Deserialize`
//! (never restated): a probing deserializer reports the first thing a type
//! asks for (a number, a string, one of these variants, a list, a struct
//! with these fields), and the driver walks into lists and struct fields by
//! asking again along a path.

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};
use std::fmt;

#[derive(Clone, Copy)]
enum Step {
    Field(usize),
    Item,
}

/// What the probe found where its path ends (or why it stopped).
#[derive(Debug)]
struct Found(Value);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl std::error::Error for Found {}
impl de::Error for Found {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Found(json!({ "x-unknown": msg.to_string() }))
    }
}

struct Probe<'p> {
    path: &'p [Step],
}

fn found<T>(v: Value) -> Result<T, Found> {
    Err(Found(v))
}

/// The path does not lead anywhere in this type: nothing to report.
fn lost<T>() -> Result<T, Found> {
    found(json!({}))
}

macro_rules! leaf {
    ($($method:ident => $schema:expr),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Found> {
            if !self.path.is_empty() {
                return lost();
            }
            found($schema)
        })*
    };
}

impl<'de, 'p> de::Deserializer<'de> for Probe<'p> {
    type Error = Found;

    leaf! {
        deserialize_any => json!({}),
        deserialize_bool => json!({"type": "boolean"}),
        deserialize_i8 => json!({"type": "integer"}),
        deserialize_i16 => json!({"type": "integer"}),
        deserialize_i32 => json!({"type": "integer"}),
        deserialize_i64 => json!({"type": "integer"}),
        deserialize_u8 => json!({"type": "integer", "minimum": 0}),
        deserialize_u16 => json!({"type": "integer", "minimum": 0}),
        deserialize_u32 => json!({"type": "integer", "minimum": 0}),
        deserialize_u64 => json!({"type": "integer", "minimum": 0}),
        deserialize_f32 => json!({"type": "number"}),
        deserialize_f64 => json!({"type": "number"}),
        deserialize_char => json!({"type": "string"}),
        deserialize_str => json!({"type": "string"}),
        deserialize_string => json!({"type": "string"}),
        deserialize_bytes => json!({"type": "string"}),
        deserialize_byte_buf => json!({"type": "string"}),
        deserialize_unit => json!({"type": "null"}),
        deserialize_map => json!({"type": "object"}),
        deserialize_identifier => json!({"type": "string"}),
        deserialize_ignored_any => json!({}),
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Found> {
        v.visit_some(self)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Found> {
        self.deserialize_unit(v)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, Found> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Found> {
        match self.path.split_first() {
            None => found(json!({"type": "array"})),
            Some((Step::Item, rest)) => v.visit_seq(Items { path: rest }),
            Some(_) => lost(),
        }
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, Found> {
        match self.path.split_first() {
            None => found(json!({"type": "array", "minItems": len, "maxItems": len})),
            Some((Step::Item, rest)) => v.visit_seq(Items { path: rest }),
            Some(_) => lost(),
        }
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, Found> {
        self.deserialize_tuple(len, v)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Found> {
        match self.path.split_first() {
            None => found(json!({"type": "object", "x-fields": fields})),
            Some((Step::Field(i), rest)) => match fields.get(*i) {
                Some(name) => v.visit_map(OneField {
                    name,
                    given: false,
                    path: rest,
                }),
                None => lost(),
            },
            Some(_) => lost(),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, Found> {
        if !self.path.is_empty() {
            return lost();
        }
        found(json!({"type": "string", "enum": variants}))
    }
}

/// A list whose first item is probed along `path`.
struct Items<'p> {
    path: &'p [Step],
}

impl<'de, 'p> SeqAccess<'de> for Items<'p> {
    type Error = Found;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Found> {
        seed.deserialize(Probe { path: self.path }).map(Some)
    }
}

/// A map holding one field, whose value is probed along `path`.
struct OneField<'p> {
    name: &'static str,
    given: bool,
    path: &'p [Step],
}

impl<'de, 'p> MapAccess<'de> for OneField<'p> {
    type Error = Found;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Found> {
        if self.given {
            return lost();
        }
        self.given = true;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(self.name))
            .map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Found> {
        seed.deserialize(Probe { path: self.path })
    }
}

fn at<T: DeserializeOwned>(path: &[Step]) -> Value {
    match T::deserialize(Probe { path }) {
        Err(Found(v)) => v,
        // A type that deserializes from nothing (cannot happen for the
        // option types): no constraint.
        Ok(_) => json!({}),
    }
}

fn walk<T: DeserializeOwned>(path: &mut Vec<Step>, depth: usize) -> Value {
    let mut v = at::<T>(path);
    if depth > 8 {
        return v;
    }
    if let Some(fields) = v.get("x-fields").and_then(Value::as_array).cloned() {
        let mut props = serde_json::Map::new();
        for (i, f) in fields.iter().enumerate() {
            path.push(Step::Field(i));
            props.insert(
                f.as_str().unwrap_or_default().to_string(),
                walk::<T>(path, depth + 1),
            );
            path.pop();
        }
        let o = v.as_object_mut().expect("an object");
        o.remove("x-fields");
        o.insert("properties".into(), Value::Object(props));
    } else if v.get("type") == Some(&json!("array")) {
        path.push(Step::Item);
        let items = walk::<T>(path, depth + 1);
        path.pop();
        v.as_object_mut()
            .expect("an object")
            .insert("items".into(), items);
    }
    v
}

/// The JSON schema of `T` as its `Deserialize` reads it: types, the values
/// of a choice, list items and struct fields ({} where it reads anything,
/// e.g. an untagged choice).
pub fn of<T: DeserializeOwned>() -> Value {
    walk::<T>(&mut Vec::new(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Table {
        path: std::path::PathBuf,
        columns: Option<Vec<String>>,
        pairs: Vec<[f64; 2]>,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Choice {
        UStatistic,
        VStatistic,
    }

    #[test]
    fn types_choices_lists_and_fields() {
        assert_eq!(of::<usize>(), json!({"type": "integer", "minimum": 0}));
        assert_eq!(of::<Option<f64>>(), json!({"type": "number"}));
        assert_eq!(
            of::<Choice>(),
            json!({"type": "string", "enum": ["u_statistic", "v_statistic"]})
        );
        assert_eq!(
            of::<Vec<Table>>(),
            json!({"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string"},
                "columns": {"type": "array", "items": {"type": "string"}},
                "pairs": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number"}}},
            }}})
        );
    }
}
