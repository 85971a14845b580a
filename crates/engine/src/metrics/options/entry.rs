//! One `metrics:` entry of a pipeline: `kind`, an optional `name`, and the
//! kind's own options. Read without buffering when `kind` comes first (as
//! every example writes it), so an error in any field keeps its line and
//! column; a field the kind does not take is refused naming the kind and
//! the fields it takes.

use super::super::{MetricKind, MetricOptions};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    /// Name in result rows; defaults to the kind's.
    pub name: Option<String>,
    pub options: MetricOptions,
}

impl MetricSpec {
    pub fn kind(&self) -> MetricKind {
        self.options.kind()
    }

    /// The rows' metric name: `name`, or the kind's default for these
    /// options (`linear_ridge` for the ridge probe).
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.options.default_name().to_string())
    }
}

/// `{"kind": ..., "name": ..., <the set options>}`: the cache key's form
/// (`snapshots/metric_keys.txt`).
impl Serialize for MetricSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = self.options.to_json().map_err(serde::ser::Error::custom)?;
        if let (Some(name), Some(map)) = (&self.name, v.as_object_mut()) {
            map.insert("name".into(), name.clone().into());
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for MetricSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = MetricSpec;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a metric: a map with `kind` and the kind's options")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetricSpec, A::Error> {
        // Entries before `kind` are kept as values (their errors lose
        // their position); from `kind` on they are read in place.
        let mut before: VecDeque<(String, serde_yaml_ng::Value)> = VecDeque::new();
        let kind = loop {
            match map.next_key::<String>()? {
                None => return Err(de::Error::missing_field("kind")),
                Some(k) if k == "kind" => break map.next_value::<MetricKind>()?,
                Some(k) => {
                    if before.iter().any(|(b, _)| *b == k) {
                        return Err(de::Error::custom(format_args!("duplicate field `{k}`")));
                    }
                    before.push_back((k, map.next_value()?));
                }
            }
        };
        let mut name = None;
        let options = MetricOptions::deserialize_kind(
            kind,
            Entries {
                kind,
                before,
                pending: None,
                live: map,
                name: &mut name,
                seen: Vec::new(),
            },
        )?;
        Ok(MetricSpec { name, options })
    }
}

/// The entry's fields other than `kind` and `name`, as a map the kind's
/// options struct reads.
pub(crate) struct Entries<'n, A> {
    kind: MetricKind,
    before: VecDeque<(String, serde_yaml_ng::Value)>,
    pending: Option<serde_yaml_ng::Value>,
    live: A,
    name: &'n mut Option<String>,
    seen: Vec<String>,
}

impl<'n, A> Entries<'n, A> {
    /// Fails on a field the kind does not take, listing those it takes.
    fn admit<E: de::Error>(&mut self, key: &str) -> Result<(), E> {
        let fields = self.kind.fields();
        if !fields.iter().any(|f| f.name == key) {
            let takes: Vec<&str> = fields.iter().map(|f| f.name).collect();
            return Err(E::custom(format_args!(
                "`{key}` does not apply to kind `{}` (it takes: name{}{})",
                self.kind.name(),
                if takes.is_empty() { "" } else { ", " },
                takes.join(", ")
            )));
        }
        if self.seen.iter().any(|s| s == key) {
            return Err(E::custom(format_args!("duplicate field `{key}`")));
        }
        self.seen.push(key.to_string());
        Ok(())
    }
}

impl<'de, 'n, A: MapAccess<'de>> MapAccess<'de> for Entries<'n, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let key = if let Some((k, v)) = self.before.pop_front() {
                if k == "name" {
                    *self.name = Some(String::deserialize(v).map_err(de::Error::custom)?);
                    continue;
                }
                self.pending = Some(v);
                k
            } else {
                match self.live.next_key::<String>()? {
                    None => return Ok(None),
                    Some(k) if k == "kind" => {
                        return Err(de::Error::custom("duplicate field `kind`"));
                    }
                    Some(k) if k == "name" => {
                        if self.name.is_some() {
                            return Err(de::Error::custom("duplicate field `name`"));
                        }
                        *self.name = Some(self.live.next_value()?);
                        continue;
                    }
                    Some(k) => k,
                }
            };
            self.admit::<A::Error>(&key)?;
            let key: de::value::StringDeserializer<A::Error> = key.into_deserializer();
            return seed.deserialize(key).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.pending.take() {
            Some(v) => seed.deserialize(v).map_err(de::Error::custom),
            None => self.live.next_value_seed(seed),
        }
    }
}
