//! Typed `ResourceProperties`: parsing with reasons that name the property, and serde
//! helpers for the strings CloudFormation sends in place of numbers and booleans.
//!
//! A resource's property struct uses `#[serde(rename_all = "PascalCase", deny_unknown_fields)]`
//! and the helpers in [`de`]:
//!
//! ```
//! use custom_resource::properties::{self, de};
//! use serde::Deserialize;
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(rename_all = "PascalCase", deny_unknown_fields)]
//! struct Props {
//!     name: String,
//!     #[serde(default, deserialize_with = "de::opt_number")]
//!     length: Option<u32>,
//!     #[serde(default, deserialize_with = "de::boolean")]
//!     enabled: bool,
//! }
//!
//! // CloudFormation delivers `Length: 5` and `Enabled: true` as strings.
//! let raw = serde_json::json!({"ServiceToken": "arn:…", "Name": "a", "Length": "5", "Enabled": "true"});
//! let props: Props = properties::parse(&raw).unwrap();
//! assert_eq!((props.length, props.enabled), (Some(5), true));
//!
//! let err = properties::parse::<Props>(&serde_json::json!({"Name": "a", "Lenght": 5})).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "unknown property `Lenght`; expected one of `Name`, `Length`, `Enabled`"
//! );
//! ```
//!
//! # Checked properties: a raw struct and `TryFrom`
//!
//! Rules that span fields (one of two properties, a range that depends on another) belong in
//! a raw struct that serde fills and a `TryFrom` that checks it into the real one. With
//! `#[serde(try_from = "…")]` on the real struct an unchecked value cannot exist: every
//! function uses this one pattern.
//!
//! ```
//! use custom_resource::properties::{self, PropertyError, de};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(rename_all = "PascalCase", deny_unknown_fields)]
//! struct RawProps {
//!     #[serde(default, deserialize_with = "de::opt_number")]
//!     min: Option<u32>,
//!     #[serde(default, deserialize_with = "de::opt_number")]
//!     max: Option<u32>,
//! }
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(try_from = "RawProps")]
//! struct Props {
//!     min: u32,
//!     max: u32,
//! }
//!
//! impl TryFrom<RawProps> for Props {
//!     type Error = PropertyError;
//!     fn try_from(raw: RawProps) -> Result<Self, PropertyError> {
//!         let (min, max) = (raw.min.unwrap_or(0), raw.max.unwrap_or(10));
//!         if min > max {
//!             // Name the properties, never their values (a value may be a secret put in the
//!             // wrong place): the template shows what they are.
//!             return Err(PropertyError::new("Min", "must not exceed `Max`"));
//!         }
//!         Ok(Props { min, max })
//!     }
//! }
//!
//! let err = properties::parse::<Props>(&serde_json::json!({"Min": "5", "Max": 2})).unwrap_err();
//! assert_eq!(err.to_string(), "property `Min`: must not exceed `Max`");
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Keys CloudFormation adds to every custom resource's properties; always accepted.
pub const RESERVED_KEYS: [&str; 2] = ["ServiceToken", "ServiceTimeout"];

/// A property that is missing, unknown, or not what the resource expects.
///
/// Its `Display` is the `Reason` CloudFormation shows: it names the property (as a path such
/// as `Keys.password.Length`) and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PropertyError {
    path: String,
    message: String,
}

impl PropertyError {
    /// A problem with the property at `path` (`Keys.password.Length`; empty for the whole
    /// properties object). `message` says what was expected.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The property's path, empty for the properties object itself.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "property `{}`: {}", self.path, self.message)
        }
    }
}

/// Parses `ResourceProperties` into `P`, ignoring [`RESERVED_KEYS`] at the top level.
///
/// # Errors
///
/// A [`PropertyError`] naming the property and what it expects: a missing required property,
/// an unknown one (with the list of known ones), or a value of the wrong kind.
pub fn parse<P: DeserializeOwned>(properties: &Value) -> Result<P, PropertyError> {
    let value = match properties {
        Value::Object(map) => {
            let mut map = map.clone();
            for key in RESERVED_KEYS {
                map.remove(key);
            }
            Value::Object(map)
        }
        Value::Null => Value::Object(serde_json::Map::new()),
        other => {
            return Err(PropertyError::new(
                "",
                format!(
                    "`ResourceProperties` must be a JSON object of properties, got {}",
                    kind(other)
                ),
            ));
        }
    };
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut segments: Vec<String> = err
            .path()
            .iter()
            .map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => format!("[{index}]"),
                other => other.to_string(),
            })
            .collect();
        let inner = err.into_inner().to_string();
        // For an unknown key the path ends at the key itself; the reason names the key and
        // the place it was found in.
        if inner.starts_with("unknown field ") {
            segments.pop();
        }
        explain(&join(&segments), &inner)
    })
}

fn join(segments: &[String]) -> String {
    let mut path = String::new();
    for segment in segments {
        if !path.is_empty() && !segment.starts_with('[') {
            path.push('.');
        }
        path.push_str(segment);
    }
    path
}

/// Rewrites serde's wording into a `Reason` a template author can act on.
///
/// Serde quotes the value it could not use ("invalid type: string \"abc\", expected u32");
/// a reason says only its kind, because the value may be a secret the template put in the
/// wrong place. Names stay: an unknown key, and a choice outside its set.
fn explain(path: &str, message: &str) -> PropertyError {
    let within = path.to_owned();
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = rest.trim();
        return if within.is_empty() {
            PropertyError::new("", format!("missing required property {field}"))
        } else {
            PropertyError::new(within, format!("missing required key {field}"))
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // serde: "unknown field `X`, expected one of `A`, `B`" or "…, there are no fields"
        let (field, expected) = rest.split_once(", ").unwrap_or((rest, ""));
        let expected = expected.replace("there are no fields", "no keys are allowed here");
        let msg = if expected.is_empty() {
            format!("unknown property {field}")
        } else {
            format!("unknown property {field}; {expected}")
        };
        return if within.is_empty() {
            PropertyError::new("", msg)
        } else {
            PropertyError::new(within, msg.replacen("unknown property", "unknown key", 1))
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        // serde: "unknown variant `Destroy`, expected `Retain` or `Delete`". A choice outside
        // its set is a name, and named (kept short).
        let (value, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let value = shorten(value.trim_matches('`'));
        return if expected.is_empty() {
            PropertyError::new(within, format!("unknown value `{value}`"))
        } else {
            PropertyError::new(
                within,
                format!("unknown value `{value}`; expected {expected}"),
            )
        };
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // serde: "invalid type: string \"abc\", expected u32"
        let (got, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another kind of value"));
        return PropertyError::new(
            within,
            format!("expected {expected}, got {}", unexpected_kind(got)),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        // serde: "invalid value: integer `70000`, expected u16"
        let (got, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another value"));
        return PropertyError::new(
            within,
            format!(
                "expected {expected}, got {} that is not one",
                unexpected_kind(got)
            ),
        );
    }
    PropertyError::new(within, message)
}

/// The kind in serde's description of a value it could not use (`serde::de::Unexpected`,
/// as serde and serde_json write it: "string \"abc\"", "integer `5`", "map", "null"), in
/// [`kind`]'s words; the value itself is dropped.
fn unexpected_kind(got: &str) -> &'static str {
    const KINDS: [(&str, &str); 13] = [
        ("boolean", "a boolean"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("string", "a string"),
        ("character", "a string"),
        ("byte array", "a string"),
        ("null", "null"),
        ("unit value", "null"),
        ("Option value", "null"),
        ("sequence", "a list"),
        ("tuple variant", "a list"),
        ("map", "an object"),
        ("struct variant", "an object"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| got.starts_with(prefix))
        .map_or("a value of another kind", |(_, kind)| kind)
}

/// Keeps a name quoted in a reason short.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head}…")
}

/// A scalar as the text CloudFormation would send it: a string as it is, a number or boolean
/// written out; `None` for `null`, lists and objects.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A JSON value as one canonical text: object keys sorted, and every number and boolean, at
/// any depth, as the string CloudFormation delivers it as.
///
/// CloudFormation turns each number and boolean in a custom resource's properties into a
/// string, nested ones included, so a template that writes `3` and one that writes `"3"` mean
/// the same value and must compare equal; a comparison that kept JSON numbers would see a
/// change where the stack has none (a local run or a direct invocation sends numbers).
/// `null` stays `null`.
///
/// ```
/// use custom_resource::properties::canonical_json;
/// use serde_json::json;
///
/// assert_eq!(canonical_json(&json!({"b": [1, true], "a": "x"})), r#"{"a":"x","b":["1","true"]}"#);
/// assert_eq!(canonical_json(&json!(3)), canonical_json(&json!("3")));
/// ```
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    let string = |s: &str, out: &mut String| out.push_str(&Value::String(s.to_owned()).to_string());
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => string(&b.to_string(), out),
        Value::Number(n) => string(&n.to_string(), out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here, whatever order the map keeps (serde_json's `preserve_order`).
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

/// A JSON value's kind, as a reason says what was given: "a string", "a number", "a boolean",
/// "a list", "an object" or "null". Never the value: a template may have put a secret in the
/// wrong place, and a `Reason` is shown in the stack's events.
///
/// ```
/// use custom_resource::properties::kind;
///
/// assert_eq!(kind(&serde_json::json!("hunter2")), "a string");
/// assert_eq!(kind(&serde_json::json!({"password": "hunter2"})), "an object");
/// ```
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Serde helpers for properties: CloudFormation turns every number and boolean in a template
/// into a string, so these accept both `5` and `"5"`, `true` and `"true"`.
///
/// Use them with `#[serde(deserialize_with = "…")]`; give optional properties
/// `#[serde(default)]` as well.
pub mod de {
    use std::fmt;
    use std::marker::PhantomData;
    use std::str::FromStr;

    use serde::Deserialize;
    use serde::de::{self, Deserializer, Visitor};
    use serde_json::Value;

    /// A whole number from `min` to `max`, given as a number or a string of one; `null` reads
    /// as absent. Wrap it for one field:
    ///
    /// ```
    /// # use serde::Deserializer;
    /// fn length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ///     custom_resource::properties::de::bounded(d, 8, 4096)
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// "expected a whole number from 8 to 4096, got a string that is not a number" (or "a
    /// number outside that range", "a list"…): the kind, never the value.
    pub fn bounded<'de, D: Deserializer<'de>>(
        d: D,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, D::Error> {
        let value = Option::<Value>::deserialize(d)?;
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let text = match &value {
            Value::Number(n) => Some((n.to_string(), "a number")),
            Value::String(s) => Some((s.clone(), "a string")),
            _ => None,
        };
        let number = text
            .as_ref()
            .and_then(|(t, _)| t.trim().parse::<u64>().ok());
        match number {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(de::Error::custom(format!(
                "expected a whole number from {min} to {max}, got {}",
                text.map_or_else(
                    || super::kind(&value).to_owned(),
                    |(t, given)| unfit(&t, given)
                )
            ))),
        }
    }

    /// What a reason says about a number that could not be used, from the text it came as:
    /// its kind and what is wrong with it, never the text (it may be a secret).
    fn unfit(text: &str, given: &str) -> String {
        let text = text.trim();
        if text.is_empty() {
            return format!("{given} that is empty");
        }
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return "a number outside that range".into();
        }
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n.fract() != 0.0 => "a number that is not whole".into(),
            Ok(n) if n.is_finite() => {
                "a number written with a point or an exponent; write it in digits only".into()
            }
            _ => format!("{given} that is not a number"),
        }
    }

    /// Any scalar as text ([`super::scalar_text`]): `"abc"`, `5` and `true` all read as
    /// strings; `null` reads as absent.
    ///
    /// # Errors
    ///
    /// "expected a string, got a list" (never the value: it may be a secret).
    pub fn opt_scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let value = Option::<Value>::deserialize(d)?;
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => super::scalar_text(&value).map(Some).ok_or_else(|| {
                de::Error::custom(format!("expected a string, got {}", super::kind(&value)))
            }),
        }
    }

    /// A struct only from a JSON object. Serde's derive also fills a struct from a list, field
    /// by field in order, so `Create: ["<a secret>"]` would reach the first field's checks
    /// (and a choice outside its set is named in the reason); this refuses the list instead.
    /// Give it the struct's field: `#[serde(deserialize_with = "de::object")]`.
    ///
    /// # Errors
    ///
    /// "expected an object, got a list" and the like, or the struct's own errors.
    pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
        object_expecting(d, "an object")
    }

    /// An optional [`object`]; `null` reads as absent.
    ///
    /// # Errors
    ///
    /// As [`object`].
    pub fn opt_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        struct Opt<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Opt<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                object(d).map(Some)
            }
        }
        d.deserialize_option(Opt(PhantomData))
    }

    /// [`object`], with the reason's "expected …" written out: "an object such as
    /// {\"Generate\": \"password\"}". For a `Deserialize` impl of one's own.
    ///
    /// # Errors
    ///
    /// "expected {what}, got a list" and the like, or the struct's own errors.
    pub fn object_expecting<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
        what: &'static str,
    ) -> Result<T, D::Error> {
        struct Object<T>(&'static str, PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Object(what, PhantomData))
    }

    /// Number types the helpers can read, with the words a reason uses for them.
    pub trait Number: FromStr + Copy {
        /// What a reason says was expected: "a whole number from 0 to 255".
        fn expected() -> String;
    }

    macro_rules! whole {
        ($($t:ty),*) => {$(
            impl Number for $t {
                fn expected() -> String {
                    format!("a whole number from {} to {}", <$t>::MIN, <$t>::MAX)
                }
            }
        )*};
    }
    whole!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

    impl Number for f64 {
        fn expected() -> String {
            "a number".into()
        }
    }

    struct NumberVisitor<T>(PhantomData<T>);

    impl<T: Number> NumberVisitor<T> {
        fn parse<E: de::Error>(text: &str, given: &str) -> Result<T, E> {
            text.trim().parse::<T>().map_err(|_| {
                E::custom(format!(
                    "expected {}, got {}",
                    T::expected(),
                    unfit(text, given)
                ))
            })
        }
    }

    impl<T: Number> Visitor<'_> for NumberVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&T::expected())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Self::parse(&v.to_string(), "a number")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            Self::parse(&v.to_string(), "a number")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            Self::parse(&v.to_string(), "a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Self::parse(v, "a string")
        }
    }

    /// A number given as a JSON number or as a string of one.
    ///
    /// # Errors
    ///
    /// "expected a whole number from 0 to 4294967295, got a string that is not a number", "…got
    /// a number outside that range" and the like: the kind, never the value.
    pub fn number<'de, D: Deserializer<'de>, T: Number>(d: D) -> Result<T, D::Error> {
        d.deserialize_any(NumberVisitor(PhantomData))
    }

    /// An optional [`number`]; `null` reads as absent.
    ///
    /// # Errors
    ///
    /// As [`number`].
    pub fn opt_number<'de, D: Deserializer<'de>, T: Number>(d: D) -> Result<Option<T>, D::Error> {
        struct Opt<T>(PhantomData<T>);
        impl<'de, T: Number> Visitor<'de> for Opt<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&T::expected())
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                number(d).map(Some)
            }
        }
        d.deserialize_option(Opt(PhantomData))
    }

    struct BoolVisitor;

    impl Visitor<'_> for BoolVisitor {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("`true` or `false`")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            match v.trim() {
                t if t.eq_ignore_ascii_case("true") => Ok(true),
                f if f.eq_ignore_ascii_case("false") => Ok(false),
                _ => Err(E::custom(
                    "expected `true` or `false`, got a string that is neither",
                )),
            }
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
            Err(E::custom("expected `true` or `false`, got a number"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
            Err(E::custom("expected `true` or `false`, got a number"))
        }
    }

    /// A boolean given as `true`/`false` or as the strings `"true"`/`"false"` (any case).
    ///
    /// # Errors
    ///
    /// "expected `true` or `false`, got a string that is neither" (never the value).
    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        d.deserialize_any(BoolVisitor)
    }

    /// An optional [`boolean`]; `null` reads as absent.
    ///
    /// # Errors
    ///
    /// As [`boolean`].
    pub fn opt_boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        struct Opt;
        impl<'de> Visitor<'de> for Opt {
            type Value = Option<bool>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` or `false`")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                boolean(d).map(Some)
            }
        }
        d.deserialize_option(Opt)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Spec {
        #[serde(deserialize_with = "de::number")]
        length: u32,
        #[serde(default, deserialize_with = "de::opt_boolean")]
        exclude_punctuation: Option<bool>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Props {
        name: String,
        #[serde(default, deserialize_with = "de::opt_number")]
        count: Option<u16>,
        #[serde(default, deserialize_with = "de::boolean")]
        enabled: bool,
        #[serde(default)]
        keys: std::collections::BTreeMap<String, Spec>,
        #[serde(default)]
        mode: Mode,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    enum Mode {
        #[default]
        Retain,
        Delete,
    }

    #[test]
    fn numbers_and_booleans_arrive_as_strings_or_natively() {
        for raw in [
            json!({"Name": "a", "Count": "5", "Enabled": "true"}),
            json!({"Name": "a", "Count": 5, "Enabled": true}),
            json!({"Name": "a", "Count": " 5 ", "Enabled": "TRUE"}),
        ] {
            let props: Props = parse(&raw).unwrap();
            assert_eq!((props.count, props.enabled), (Some(5), true), "{raw}");
        }
        let props: Props = parse(&json!({"Name": "a", "Count": null})).unwrap();
        assert_eq!((props.count, props.enabled), (None, false));
    }

    #[test]
    fn bounded_numbers_take_strings_and_name_the_range() {
        #[derive(Debug, Deserialize)]
        struct B {
            #[serde(default, deserialize_with = "days")]
            days: Option<u64>,
        }
        fn days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            de::bounded(d, 7, 30)
        }
        let read = |v: Value| parse::<B>(&v).map(|b| b.days);
        assert_eq!(read(json!({"days": "7"})), Ok(Some(7)));
        assert_eq!(read(json!({"days": 30})), Ok(Some(30)));
        assert_eq!(read(json!({"days": null})), Ok(None));
        assert_eq!(read(json!({})), Ok(None));
        for (given, shown) in [
            (json!(6), "a number outside that range"),
            (json!("31"), "a number outside that range"),
            (json!(-1), "a number outside that range"),
            (json!(7.5), "a number that is not whole"),
            (
                json!("7e0"),
                "a number written with a point or an exponent; write it in digits only",
            ),
            (json!("abc"), "a string that is not a number"),
            (json!(""), "a string that is empty"),
            (json!(true), "a boolean"),
            (json!([1]), "a list"),
            (json!({"a": 1}), "an object"),
        ] {
            assert_eq!(
                read(json!({ "days": given })).unwrap_err().to_string(),
                format!("property `days`: expected a whole number from 7 to 30, got {shown}")
            );
        }
    }

    #[test]
    fn scalars_read_as_text_and_canonical_json_ignores_spelling() {
        assert_eq!(scalar_text(&json!("a")), Some("a".into()));
        assert_eq!(scalar_text(&json!(5)), Some("5".into()));
        assert_eq!(scalar_text(&json!(false)), Some("false".into()));
        assert_eq!(scalar_text(&json!(null)), None);
        assert_eq!(scalar_text(&json!([1])), None);
        assert_eq!(
            canonical_json(&json!({"z": {"b": 1, "a": [true, null]}, "a": "x"})),
            r#"{"a":"x","z":{"a":["true",null],"b":"1"}}"#
        );
        assert_eq!(
            canonical_json(&json!({"n": [1, 2]})),
            canonical_json(&json!({"n": ["1", "2"]}))
        );
    }

    #[test]
    fn reserved_keys_are_accepted_and_dropped() {
        let raw = json!({"ServiceToken": "arn:aws:lambda:…", "ServiceTimeout": "120", "Name": "a"});
        let props: Props = parse(&raw).unwrap();
        assert_eq!(props.name, "a");
    }

    #[test]
    fn reasons_name_the_property_and_what_it_expects() {
        let cases = [
            (json!({}), "missing required property `Name`"),
            (
                json!({"Name": "a", "Colour": 1}),
                "unknown property `Colour`; expected one of `Name`, `Count`, `Enabled`, `Keys`, `Mode`",
            ),
            (
                json!({"Name": "a", "Count": "abc"}),
                "property `Count`: expected a whole number from 0 to 65535, got a string that is not a number",
            ),
            (
                json!({"Name": "a", "Count": 70000}),
                "property `Count`: expected a whole number from 0 to 65535, got a number outside that range",
            ),
            (
                json!({"Name": "a", "Count": "2.5"}),
                "property `Count`: expected a whole number from 0 to 65535, got a number that is not whole",
            ),
            (
                json!({"Name": "a", "Count": true}),
                "property `Count`: expected a whole number from 0 to 65535, got a boolean",
            ),
            (
                json!({"Name": "a", "Enabled": "yes"}),
                "property `Enabled`: expected `true` or `false`, got a string that is neither",
            ),
            (
                json!({"Name": "a", "Enabled": 1}),
                "property `Enabled`: expected `true` or `false`, got a number",
            ),
            (
                json!({"Name": "a", "Keys": {"db": {"Length": "abc"}}}),
                "property `Keys.db.Length`: expected a whole number from 0 to 4294967295, got a string that is not a number",
            ),
            (
                json!({"Name": "a", "Keys": {"db": {"Length": 5, "Size": 1}}}),
                "property `Keys.db`: unknown key `Size`; expected `Length` or `ExcludePunctuation`",
            ),
            (
                json!({"Name": "a", "Keys": {"db": {}}}),
                "property `Keys.db`: missing required key `Length`",
            ),
            (
                json!({"Name": "a", "Mode": "Destroy"}),
                "property `Mode`: unknown value `Destroy`; expected `Retain` or `Delete`",
            ),
            (
                json!({"Name": 5}),
                "property `Name`: expected a string, got a number",
            ),
            (
                json!({"Name": {"x": 1}}),
                "property `Name`: expected a string, got an object",
            ),
            (
                json!({"Name": "a", "Keys": "x"}),
                "property `Keys`: expected a map, got a string",
            ),
            (
                json!({"Name": "a", "Mode": ["Delete"]}),
                "property `Mode`: expected string or map, got a list",
            ),
            (
                json!("{\"Name\": broken"),
                "`ResourceProperties` must be a JSON object of properties, got a string",
            ),
        ];
        for (raw, reason) in cases {
            let err = parse::<Props>(&raw).unwrap_err();
            assert_eq!(err.to_string(), reason, "{raw}");
        }
    }

    #[test]
    fn a_choice_outside_its_set_is_named_but_kept_short() {
        let long = "D".repeat(200);
        let reason = parse::<Props>(&json!({"Name": "a", "Mode": long}))
            .unwrap_err()
            .to_string();
        assert!(
            reason.starts_with(&format!(
                "property `Mode`: unknown value `{}…`; expected",
                "D".repeat(80)
            )),
            "{reason}"
        );
    }

    /// A template that puts a secret where another kind of value belongs (a dynamic reference
    /// in the wrong property) must not see it in the stack events: every helper, and serde's
    /// own type errors, say the kind given and never the value.
    #[test]
    fn a_wrong_kind_of_value_is_never_echoed() {
        const SECRET: &str = "hunter2-Pa55w0rd-0123456789";

        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        #[allow(dead_code)]
        struct All {
            #[serde(default, deserialize_with = "de::number")]
            number: u16,
            #[serde(default, deserialize_with = "de::opt_number")]
            opt_number: Option<u32>,
            #[serde(default, deserialize_with = "de::number")]
            float: f64,
            #[serde(default, deserialize_with = "de::boolean")]
            boolean: bool,
            #[serde(default, deserialize_with = "de::opt_boolean")]
            opt_boolean: Option<bool>,
            #[serde(default, deserialize_with = "bounded")]
            bounded: Option<u64>,
            #[serde(default, deserialize_with = "de::opt_scalar_text")]
            text: Option<String>,
            #[serde(default)]
            plain: String,
            #[serde(default)]
            mode: Mode,
            #[serde(default)]
            list: Vec<String>,
            #[serde(default)]
            map: std::collections::BTreeMap<String, u8>,
            #[serde(default, deserialize_with = "de::opt_object")]
            inner: Option<Inner>,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        #[allow(dead_code)]
        struct Inner {
            mode: Mode,
        }
        fn bounded<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            de::bounded(d, 8, 4096)
        }

        let secret_number = json!(1234567890123456789_u64);
        let cases = [
            ("Number", json!(SECRET), "a string that is not a number"),
            (
                "Number",
                secret_number.clone(),
                "a number outside that range",
            ),
            ("Number", json!({"password": SECRET}), "an object"),
            ("Number", json!([SECRET]), "a list"),
            ("OptNumber", json!(SECRET), "a string that is not a number"),
            ("OptNumber", json!({"password": SECRET}), "an object"),
            ("Float", json!(SECRET), "a string that is not a number"),
            ("Boolean", json!(SECRET), "a string that is neither"),
            ("Boolean", secret_number.clone(), "a number"),
            ("Boolean", json!([SECRET]), "a list"),
            ("OptBoolean", json!(SECRET), "a string that is neither"),
            ("Bounded", json!(SECRET), "a string that is not a number"),
            (
                "Bounded",
                secret_number.clone(),
                "a number outside that range",
            ),
            ("Bounded", json!({"password": SECRET}), "an object"),
            ("Text", json!({"password": SECRET}), "an object"),
            ("Text", json!([SECRET]), "a list"),
            ("Plain", json!({"password": SECRET}), "an object"),
            ("Plain", json!([SECRET]), "a list"),
            ("Plain", secret_number.clone(), "a number"),
            ("Mode", json!([SECRET]), "a list"),
            ("Mode", json!({"Delete": SECRET}), "a string"),
            ("List", json!(SECRET), "a string"),
            ("List", json!([{"password": SECRET}]), "an object"),
            ("Map", json!(SECRET), "a string"),
            ("Map", json!({"k": SECRET}), "a string"),
            ("Inner", json!([SECRET]), "a list"),
            ("Inner", json!(SECRET), "a string"),
            ("Inner", json!({"Mode": [SECRET]}), "a list"),
        ];
        let secret_digits = secret_number.to_string();
        for (field, given, kind) in cases {
            let raw = json!({ field: given });
            let reason = parse::<All>(&raw).unwrap_err().to_string();
            assert!(
                !reason.contains(SECRET)
                    && !reason.contains(&secret_digits)
                    && !reason.contains("hunter2"),
                "{field} echoed the value: {reason}"
            );
            assert!(reason.starts_with("property `"), "{field}: {reason}");
            assert!(
                reason.ends_with(&format!("got {kind}")),
                "{field}: {reason}"
            );
        }

        let reason = parse::<All>(&json!(SECRET)).unwrap_err().to_string();
        assert!(!reason.contains(SECRET), "{reason}");
    }

    #[test]
    fn an_object_helper_refuses_what_serde_would_fill_position_by_position() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        struct Op {
            path: String,
        }
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        struct Outer {
            #[serde(deserialize_with = "de::object")]
            create: Op,
            #[serde(default, deserialize_with = "de::opt_object")]
            read: Option<Op>,
        }
        let outer: Outer = parse(&json!({"Create": {"Path": "/a"}, "Read": null})).unwrap();
        assert_eq!((outer.create.path.as_str(), outer.read), ("/a", None));
        let outer: Outer =
            parse(&json!({"Create": {"Path": "/a"}, "Read": {"Path": "/b"}})).unwrap();
        assert_eq!(outer.read, Some(Op { path: "/b".into() }));
        for (raw, reason) in [
            (
                json!({"Create": ["/a"]}),
                "property `Create`: expected an object, got a list",
            ),
            (
                json!({"Create": {"Path": "/a"}, "Read": ["/b"]}),
                "property `Read`: expected an object, got a list",
            ),
            (
                json!({"Create": {"Path": 5}}),
                "property `Create.Path`: expected a string, got a number",
            ),
            (
                json!({"Create": {"Path": "/a", "Pth": 1}}),
                "property `Create`: unknown key `Pth`; expected `Path`",
            ),
        ] {
            assert_eq!(
                parse::<Outer>(&raw).unwrap_err().to_string(),
                reason,
                "{raw}"
            );
        }
    }

    #[test]
    fn kinds_are_named_the_same_way_everywhere() {
        for (value, expected) in [
            (json!(null), "null"),
            (json!(true), "a boolean"),
            (json!(5), "a number"),
            (json!(-1.5), "a number"),
            (json!("x"), "a string"),
            (json!([]), "a list"),
            (json!({}), "an object"),
        ] {
            assert_eq!(kind(&value), expected, "{value}");
        }
        for (serde_says, expected) in [
            ("string \"hunter2\"", "a string"),
            ("integer `5`", "a number"),
            ("floating point `1.5`", "a number"),
            ("boolean `true`", "a boolean"),
            ("null", "null"),
            ("unit value", "null"),
            ("sequence", "a list"),
            ("map", "an object"),
            ("something new", "a value of another kind"),
        ] {
            assert_eq!(unexpected_kind(serde_says), expected, "{serde_says}");
        }
    }
}
