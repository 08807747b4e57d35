//! Reading responses: the physical id from the Create response, and `Outputs` into `Data`.

use std::collections::BTreeMap;

use custom_resource::properties::kind;
use serde_json::{Map, Value};

use crate::endpoint::usable_id;

/// CloudFormation refuses longer physical ids.
pub const MAX_ID_BYTES: usize = custom_resource::response::MAX_PHYSICAL_ID_BYTES;

/// Why no id could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdProblem {
    /// The body is not JSON.
    NotJson,
    /// Nothing at the pointer; the body's top-level keys (or its kind, when not an object).
    Missing {
        /// The top-level keys, or a description such as "a list of 3".
        found: String,
    },
    /// Something at the pointer that is not a string or a number.
    NotScalar {
        /// What was found: "an object", "a list", "a boolean" or "null".
        kind: &'static str,
    },
    /// A string or number that cannot be a physical id.
    Unusable {
        /// What makes it unusable (`.` or empty, too long, control characters).
        why: String,
    },
}

/// The id at `pointer` in `body`: a string, or a number written as text.
///
/// # Errors
///
/// An [`IdProblem`] saying what was found instead.
pub fn id_from_body(body: &[u8], pointer: &str) -> Result<String, IdProblem> {
    let value: Value = serde_json::from_slice(body).map_err(|_| IdProblem::NotJson)?;
    let found = value.pointer(pointer).ok_or_else(|| IdProblem::Missing {
        found: top_level(&value),
    })?;
    let id = match found {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(IdProblem::NotScalar { kind: kind(other) });
        }
    };
    check_id(&id).map_err(|why| IdProblem::Unusable { why })?;
    Ok(id)
}

/// Whether `id` can be a physical id: 1 to [`MAX_ID_BYTES`] bytes, usable in a path.
///
/// # Errors
///
/// Why not.
pub fn check_id(id: &str) -> Result<(), String> {
    if !usable_id(id) {
        return Err(format!("`{id}` cannot be an id (empty, `.` or `..`)"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "the id is {} bytes; CloudFormation accepts at most {MAX_ID_BYTES}",
            id.len()
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("the id contains control characters".into());
    }
    Ok(())
}

/// What a body holds at its top level, for a reason that helps fix a pointer: its keys in
/// backticks (at most 20), or its kind.
pub fn top_level(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "an empty object".into(),
        Value::Object(map) => {
            let mut keys: Vec<String> = map.keys().take(20).map(|k| format!("`{k}`")).collect();
            if map.len() > 20 {
                keys.push(format!("and {} more", map.len() - 20));
            }
            format!("top-level keys {}", keys.join(", "))
        }
        Value::Array(items) => format!("a list of {}", items.len()),
        other => kind(other).into(),
    }
}

/// A value as `Fn::GetAtt` returns it: strings as they are, `null` as an empty string,
/// anything else as its JSON text.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `Outputs` read from `body`: the values found, and the names whose pointer found nothing.
/// A body that is not JSON finds nothing.
pub fn read_outputs(
    outputs: &BTreeMap<String, String>,
    body: &[u8],
) -> (Map<String, Value>, Vec<String>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut data = Map::new();
    let mut missing = Vec::new();
    for (name, pointer) in outputs {
        match parsed.as_ref().and_then(|v| v.pointer(pointer)) {
            Some(v) => {
                data.insert(name.clone(), Value::String(render(v)));
            }
            None => missing.push(name.clone()),
        }
    }
    (data, missing)
}

/// Whether a body carries anything to read (not empty or whitespace).
pub fn has_body(body: &[u8]) -> bool {
    body.iter().any(|b| !b.is_ascii_whitespace())
}

/// A description of what a body holds, for a reason: its top-level keys, or that it is
/// empty or not JSON.
pub fn describe_body(body: &[u8]) -> String {
    if !has_body(body) {
        return "an empty body".into();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => top_level(&v),
        Err(_) => "a body that is not JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bytes(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn ids_from_bodies() {
        assert_eq!(
            id_from_body(&bytes(json!({"id": 42})), "/id"),
            Ok("42".into())
        );
        assert_eq!(
            id_from_body(&bytes(json!({"data": [{"id": "a/b"}]})), "/data/0/id"),
            Ok("a/b".into())
        );
        assert_eq!(id_from_body(&bytes(json!("x-1")), ""), Ok("x-1".into()));
        assert_eq!(
            id_from_body(&bytes(json!({"data": {"id": 1}, "meta": {}})), "/id"),
            Err(IdProblem::Missing {
                found: "top-level keys `data`, `meta`".into()
            })
        );
        assert_eq!(
            id_from_body(&bytes(json!([1, 2])), "/id"),
            Err(IdProblem::Missing {
                found: "a list of 2".into()
            })
        );
        assert_eq!(
            id_from_body(&bytes(json!({"id": {"v": 1}})), "/id"),
            Err(IdProblem::NotScalar { kind: "an object" })
        );
        assert!(matches!(
            id_from_body(&bytes(json!({"id": ""})), "/id"),
            Err(IdProblem::Unusable { .. })
        ));
        assert!(matches!(
            id_from_body(&bytes(json!({"id": "x".repeat(1025)})), "/id"),
            Err(IdProblem::Unusable { .. })
        ));
        assert_eq!(id_from_body(b"created", "/id"), Err(IdProblem::NotJson));
        assert_eq!(id_from_body(b"", "/id"), Err(IdProblem::NotJson));
    }

    #[test]
    fn top_level_keys_are_listed_up_to_twenty() {
        let mut map = Map::new();
        for i in 0..25 {
            map.insert(format!("k{i:02}"), json!(i));
        }
        let text = top_level(&Value::Object(map));
        assert!(text.starts_with("top-level keys `k00`, `k01`"), "{text}");
        assert!(text.ends_with("`k19`, and 5 more"), "{text}");
        assert_eq!(top_level(&json!({})), "an empty object");
        assert_eq!(describe_body(b"  "), "an empty body");
        assert_eq!(describe_body(b"<html>"), "a body that is not JSON");
    }

    #[test]
    fn outputs_are_strings_and_missing_ones_are_named() {
        let outputs: BTreeMap<String, String> = [
            ("Url", "/url"),
            ("Active", "/active"),
            ("Events", "/events"),
            ("Nothing", "/none"),
            ("Null", "/n"),
            ("Whole", ""),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let body =
            bytes(json!({"url": "https://x", "active": true, "events": ["push"], "n": null}));
        let (data, missing) = read_outputs(&outputs, &body);
        assert_eq!(data["Url"], "https://x");
        assert_eq!(data["Active"], "true");
        assert_eq!(data["Events"], "[\"push\"]");
        assert_eq!(data["Null"], "");
        assert!(data["Whole"].as_str().unwrap().starts_with('{'));
        assert_eq!(missing, vec!["Nothing".to_owned()]);
        let (data, missing) = read_outputs(&outputs, b"");
        assert!(data.is_empty());
        assert_eq!(missing.len(), 6);
    }
}
