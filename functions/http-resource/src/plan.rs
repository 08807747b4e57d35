//! Decisions made before any request: the idempotency key and what an Update does. (Ids
//! CloudFormation invents are the runner's: see
//! [`custom_resource::response::invented_by_cloudformation`].)

use sha2::{Digest, Sha256};

use crate::properties::Properties;

/// The idempotency key of a Create: the first 128 bits of SHA-256 over the stack, the
/// resource and the request, in hex. The same for every delivery of one request, different
/// for every other request (a replacement's Create included).
pub fn idempotency_key(stack_id: &str, logical_id: &str, request_id: &str) -> String {
    let mut hash = Sha256::new();
    for part in [stack_id, logical_id, request_id] {
        hash.update(part.as_bytes());
        // A separator that cannot occur in the parts keeps ("ab","c") and ("a","bc") apart.
        hash.update([0u8]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What an Update does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatePlan {
    /// Create a new object and answer with its id; CloudFormation then deletes the old id.
    Replace {
        /// Why, for the log.
        why: String,
        /// Whether the new object lives somewhere else (`BaseUrl`, `Create.Path` or
        /// `Create.Method` changed), so the API may give it the old one's id.
        moved: bool,
    },
    /// Send the `Update` operation to the current id.
    InPlace,
    /// No change to the remote object; read it again (`Read`) for `Outputs`.
    Refresh,
    /// No change to the remote object and no `Outputs`: nothing to send.
    Keep,
}

/// Decides an Update from the new properties and the old ones (`None` when they no longer
/// parse).
///
/// A change to where the object lives (`BaseUrl`, `Create.Path`, `Create.Method`) always
/// replaces it. Otherwise an `Update` operation updates in place. Without one, a change to
/// `Create.Body` replaces; a change to anything else (headers, auth, retries, `Outputs`) does
/// not touch the object, unless `Outputs` can only be read by creating it again (no `Read`).
pub fn plan_update(new: &Properties, old: Option<&Properties>) -> UpdatePlan {
    let Some(old) = old else {
        return if new.update.is_some() {
            UpdatePlan::InPlace
        } else {
            UpdatePlan::Replace {
                why: "the previous properties cannot be read and there is no `Update` operation"
                    .into(),
                moved: false,
            }
        };
    };
    let moved = [
        ("BaseUrl", old.base_url != new.base_url),
        ("Create.Path", old.create.path != new.create.path),
        ("Create.Method", old.create.method != new.create.method),
    ];
    if let Some((name, _)) = moved.iter().find(|(_, changed)| *changed) {
        return UpdatePlan::Replace {
            why: format!("`{name}` changed: the object belongs somewhere else"),
            moved: true,
        };
    }
    if new.update.is_some() {
        return UpdatePlan::InPlace;
    }
    if old.create.body != new.create.body {
        return UpdatePlan::Replace {
            why: "`Create.Body` changed and there is no `Update` operation".into(),
            moved: false,
        };
    }
    if new.outputs.is_empty() {
        UpdatePlan::Keep
    } else if new.read.is_some() {
        UpdatePlan::Refresh
    } else {
        UpdatePlan::Replace {
            why: "there is no `Update` operation, and without `Read` the `Outputs` can only be had by creating the object again".into(),
            moved: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::properties::parse_properties;

    fn props(extra: Value) -> Properties {
        let mut raw = json!({"BaseUrl": "https://api.example.com", "Create": {"Path": "/hooks", "Body": {"a": "1"}}});
        for (k, v) in extra.as_object().unwrap() {
            raw[k] = v.clone();
        }
        parse_properties(&raw).unwrap()
    }

    #[test]
    fn idempotency_keys_are_short_stable_and_distinct() {
        let key = idempotency_key("arn:stack/app/1", "Hook", "req-1");
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(key, idempotency_key("arn:stack/app/1", "Hook", "req-1"));
        assert_ne!(key, idempotency_key("arn:stack/app/1", "Hook", "req-2"));
        assert_ne!(key, idempotency_key("arn:stack/app/1", "Hook2", "req-1"));
        assert_ne!(key, idempotency_key("arn:stack/app/2", "Hook", "req-1"));
        assert_ne!(
            idempotency_key("a", "bc", "d"),
            idempotency_key("ab", "c", "d")
        );
    }

    #[test]
    fn where_the_object_lives_decides_replacement() {
        let old = props(json!({"Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}));
        let moved = props(
            json!({"BaseUrl": "https://eu.example.com", "Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}),
        );
        assert!(matches!(
            plan_update(&moved, Some(&old)),
            UpdatePlan::Replace { why, moved: true } if why.contains("`BaseUrl`")
        ));
        let path = props(
            json!({"Create": {"Path": "/other/hooks"}, "Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}),
        );
        assert!(matches!(
            plan_update(&path, Some(&old)),
            UpdatePlan::Replace { why, moved: true } if why.contains("`Create.Path`")
        ));
        let body = props(
            json!({"Create": {"Path": "/hooks", "Body": {"a": "2"}}, "Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}),
        );
        assert_eq!(plan_update(&body, Some(&old)), UpdatePlan::InPlace);
        assert_eq!(plan_update(&body, None), UpdatePlan::InPlace);
    }

    #[test]
    fn without_an_update_operation() {
        let old = props(json!({}));
        let body = props(json!({"Create": {"Path": "/hooks", "Body": {"a": "2"}}}));
        assert!(matches!(
            plan_update(&body, Some(&old)),
            UpdatePlan::Replace { why, moved: false } if why.contains("`Create.Body`")
        ));
        assert!(matches!(
            plan_update(&old, None),
            UpdatePlan::Replace { .. }
        ));
        // A change that does not touch the object.
        let retry = props(json!({"Retry": {"MaxAttempts": 2}}));
        assert_eq!(plan_update(&retry, Some(&old)), UpdatePlan::Keep);
        let outputs_read =
            props(json!({"Outputs": {"Url": "/url"}, "Read": {"Path": "/hooks/{id}"}}));
        assert_eq!(plan_update(&outputs_read, Some(&old)), UpdatePlan::Refresh);
        let outputs = props(json!({"Outputs": {"Url": "/url"}}));
        assert!(matches!(
            plan_update(&outputs, Some(&old)),
            UpdatePlan::Replace { why, .. } if why.contains("`Read`")
        ));
        // A rollback (the old properties again) is decided the same way.
        assert_eq!(plan_update(&old, Some(&old)), UpdatePlan::Keep);
    }
}
