//! Typed metric options. Each metric kind declares its pipeline fields once,
//! in its folder's `options.rs`, with [`metric_options!`]: the name, type,
//! default, documentation and range checks of every field. From that one
//! declaration come the options struct (what the YAML parses into, unknown
//! fields refused), the accessors that apply the defaults, the range checks
//! of `Pipeline::load`, the options table of `pertbench explain` and the
//! JSON schema of pipelines. Rules that tie fields together live in the
//! metric's [`super::Metric::validate`].

pub mod checks;
mod entry;
pub mod schema;
pub mod shared;

pub use entry::MetricSpec;

/// One pipeline field of a metric kind, as declared.
#[derive(Debug, Clone, Copy)]
pub struct OptionDoc {
    pub name: &'static str,
    /// The default as the documentation shows it (a value, or how it is
    /// chosen when no single value applies).
    pub default: &'static str,
    /// What the field means (its values, for a choice), as its doc comment
    /// lines ([`OptionDoc::text`] joins them).
    pub doc: &'static str,
    /// Its JSON schema, from its `Deserialize` ([`schema::of`]).
    pub schema: fn() -> serde_json::Value,
}

impl OptionDoc {
    /// The documentation as one line of single-spaced words.
    pub fn text(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// What [`metric_options!`] generates for an options struct.
pub trait OptionFields:
    Sized
    + Default
    + Clone
    + PartialEq
    + std::fmt::Debug
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Every field, in declaration order.
    const FIELDS: &'static [OptionDoc];
    /// The declared checks of each field that is set, in declaration order:
    /// the first failure, naming the field.
    fn check_fields(&self) -> Result<(), String>;
    /// Whether each documented default that is a single value parses to the
    /// value the accessors use (a test of the declaration itself).
    fn documented_defaults_agree() -> Result<(), String>;
}

/// Declares a metric's options struct. Each field is
/// `/// doc` `name: Type = {default value} "default as shown"` followed by
/// `, check name(args)` range checks ([`checks`]); a default that depends on
/// other fields or on the data is given as text only (`= "n_permutations"`),
/// and the code reads the `Option` itself.
macro_rules! metric_options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $ty:ty = $({ $value:expr })? $text:literal
                    $(, check $check:ident $( ( $($arg:expr),* ) )? )* ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[doc = $doc])+
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        #[allow(dead_code)]
        impl $name {
            $(
                $crate::metrics::options::metric_options!(@accessor $field, $ty $(, $value)?);
            )*
        }

        impl $crate::metrics::options::OptionFields for $name {
            const FIELDS: &'static [$crate::metrics::options::OptionDoc] = &[
                $(
                    $crate::metrics::options::OptionDoc {
                        name: stringify!($field),
                        default: $text,
                        doc: concat!($($doc, " "),+),
                        schema: $crate::metrics::options::schema::of::<$ty>,
                    },
                )*
            ];

            #[allow(unused_variables)]
            fn check_fields(&self) -> Result<(), String> {
                $(
                    if let Some(v) = &self.$field {
                        $(
                            $crate::metrics::options::checks::$check(
                                stringify!($field), v $(, $($arg),*)?
                            )?;
                        )*
                    }
                )*
                Ok(())
            }

            fn documented_defaults_agree() -> Result<(), String> {
                $(
                    $crate::metrics::options::metric_options!(
                        @agree $field, $ty, $text $(, $value)?
                    );
                )*
                Ok(())
            }
        }
    };
    (@accessor $field:ident, $ty:ty, $value:expr) => {
        /// The value in effect: the pipeline's, or the declared default.
        pub fn $field(&self) -> $ty {
            self.$field.clone().unwrap_or_else(|| $value)
        }
    };
    (@accessor $field:ident, $ty:ty) => {};
    (@agree $field:ident, $ty:ty, $text:literal, $value:expr) => {
        let shown: Result<$ty, _> = serde_yaml_ng::from_str($text);
        let value: $ty = $value;
        if shown.as_ref().ok() != Some(&value) {
            return Err(format!(
                "`{}`: the documented default `{}` is not the default in effect, {:?}",
                stringify!($field), $text, value
            ));
        }
    };
    (@agree $field:ident, $ty:ty, $text:literal) => {};
}
pub(crate) use metric_options;

/// The JSON schema of one metric entry of `kind` with these fields: `kind`,
/// `name` and each field with its documentation and default; nothing else.
pub fn entry_schema(kind: &str, fields: &[OptionDoc]) -> serde_json::Value {
    let mut properties = serde_json::Map::new();
    properties.insert("kind".into(), serde_json::json!({ "const": kind }));
    properties.insert(
        "name".into(),
        serde_json::json!({"type": "string", "description": "the rows' metric name (default: the kind's)"}),
    );
    for f in fields {
        let mut s = (f.schema)();
        if let Some(o) = s.as_object_mut() {
            o.insert("description".into(), f.text().into());
            o.insert("default".into(), f.default.into());
        }
        properties.insert(f.name.into(), s);
    }
    serde_json::json!({
        "type": "object",
        "properties": properties,
        "required": ["kind"],
        "additionalProperties": false,
    })
}
