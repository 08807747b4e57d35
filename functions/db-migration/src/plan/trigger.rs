//! The `Trigger` as the database records it: one canonical text per value, whatever order or
//! types CloudFormation delivered it in.

use std::fmt::{self, Write as _};

use custom_resource::properties::canonical_json;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest canonical `Trigger` text recorded as it is, in bytes; a longer one is recorded by
/// its SHA-256.
pub const MAX_TRIGGER_TEXT: usize = 128;

/// A `Trigger` as `_stackwright_triggers` records it: its canonical JSON text (object keys
/// sorted, numbers and booleans as the strings CloudFormation delivers them as, so `3` and
/// `"3"` are one Trigger), or `sha256:<hex>` of that text when it is longer than
/// [`MAX_TRIGGER_TEXT`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerKey(String);

impl TriggerKey {
    /// The key of a `Trigger` value; `None` for `null`, which is no Trigger.
    pub fn of(value: &Value) -> Option<Self> {
        if value.is_null() {
            return None;
        }
        // The library's canonical form: the one every function compares properties by.
        let mut text = canonical_json(value);
        if text.len() > MAX_TRIGGER_TEXT {
            let digest = Sha256::digest(text.as_bytes());
            text = digest
                .iter()
                .fold(String::from("sha256:"), |mut hex, byte| {
                    let _ = write!(hex, "{byte:02x}");
                    hex
                });
        }
        Some(Self(text))
    }

    /// The recorded text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TriggerKey {
    /// For log lines: a string Trigger without its JSON quotes, anything else as recorded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::from_str::<Value>(&self.0) {
            Ok(Value::String(s)) => f.write_str(&s),
            _ => f.write_str(&self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: Value) -> TriggerKey {
        TriggerKey::of(&value).unwrap()
    }

    #[test]
    fn trigger_keys_are_canonical() {
        use serde_json::json;
        assert_eq!(key(json!("v1")).as_str(), r#""v1""#);
        assert_eq!(key(json!("v1")).to_string(), "v1");
        // CloudFormation delivers numbers and booleans as strings: one Trigger either way.
        assert_eq!(key(json!(3)), key(json!("3")));
        assert_eq!(key(json!(true)), key(json!("true")));
        assert_ne!(key(json!("3")), key(json!("v3")));
        // Object keys in any order, nested values normalised the same way.
        let a = key(json!({"b": [1, {"y": true, "x": null}], "a": "z"}));
        let b = key(
            serde_json::from_str(r#"{"a": "z", "b": ["1", {"x": null, "y": "true"}]}"#).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a.as_str(), r#"{"a":"z","b":["1",{"x":null,"y":"true"}]}"#);
        assert_eq!(a.to_string(), a.as_str());
        // No Trigger.
        assert_eq!(TriggerKey::of(&json!(null)), None);
        // Long values are recorded by their hash: bounded, and still one key per value.
        let long = key(json!("x".repeat(MAX_TRIGGER_TEXT)));
        assert!(long.as_str().starts_with("sha256:"), "{long:?}");
        assert_eq!(long.as_str().len(), "sha256:".len() + 64);
        assert_eq!(long, key(json!("x".repeat(MAX_TRIGGER_TEXT))));
        assert_ne!(long, key(json!("x".repeat(MAX_TRIGGER_TEXT + 1))));
        let fits = "x".repeat(MAX_TRIGGER_TEXT - 2);
        assert_eq!(key(json!(fits)).to_string(), fits);
    }
}
