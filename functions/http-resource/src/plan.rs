//! Decisions made before any request: the idempotency key, whether an id is one
//! CloudFormation invented, and what an Update does.

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

/// Whether `physical_id` is one CloudFormation made up because a Create never answered:
/// `<stack name>-<logical id>-<12 or 13 upper-case letters and digits>`, the two names
/// possibly shortened. Such an id never named a remote object: a Delete for it deletes
/// nothing and an Update for it creates.
pub fn invented_by_cloudformation(physical_id: &str, stack_name: &str, logical_id: &str) -> bool {
    let Some((prefix, suffix)) = physical_id.rsplit_once('-') else {
        return false;
    };
    let random = (12..=13).contains(&suffix.len())
        && suffix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !random || stack_name.is_empty() || logical_id.is_empty() {
        return false;
    }
    // The prefix is a (possibly shortened) stack name, `-`, a (possibly shortened) logical
    // id; stack names may themselves contain `-`, so try every split.
    prefix.match_indices('-').any(|(i, _)| {
        let (stack, logical) = (&prefix[..i], &prefix[i + 1..]);
        !stack.is_empty()
            && !logical.is_empty()
            && stack_name.starts_with(stack)
            && logical_id.starts_with(logical)
    })
}

/// What an Update does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatePlan {
    /// Create a new object and answer with its id; CloudFormation then deletes the old id.
    Replace {
        /// Why, for the log.
        why: String,
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
        };
    }
    if new.update.is_some() {
        return UpdatePlan::InPlace;
    }
    if old.create.body != new.create.body {
        return UpdatePlan::Replace {
            why: "`Create.Body` changed and there is no `Update` operation".into(),
        };
    }
    if new.outputs.is_empty() {
        UpdatePlan::Keep
    } else if new.read.is_some() {
        UpdatePlan::Refresh
    } else {
        UpdatePlan::Replace {
            why: "there is no `Update` operation, and without `Read` the `Outputs` can only be had by creating the object again".into(),
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
    fn ids_cloudformation_invents() {
        assert!(invented_by_cloudformation(
            "stackwright-test-Thing-1A2B3C4D5E6F",
            "stackwright-test",
            "Thing"
        ));
        assert!(invented_by_cloudformation(
            "app-Hook-ABCDEFGHIJKLM",
            "app",
            "Hook"
        ));
        // Shortened names.
        assert!(invented_by_cloudformation(
            "a-very-long-sta-VeryLongLogi-1A2B3C4D5E6F",
            "a-very-long-stack-name",
            "VeryLongLogicalId"
        ));
        // Remote ids stay remote ids.
        for id in [
            "42",
            "b3a2c1d0-0000-4000-8000-000000000000",
            "app-Hook-1a2b3c4d5e6f",
            "other-Hook-1A2B3C4D5E6F",
            "app-Other-1A2B3C4D5E6F",
            "app-Hook-1A2B3C4D5E6",
            "app-Hook",
            "Hook-1A2B3C4D5E6F",
        ] {
            assert!(!invented_by_cloudformation(id, "app", "Hook"), "{id}");
        }
    }

    #[test]
    fn where_the_object_lives_decides_replacement() {
        let old = props(json!({"Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}));
        let moved = props(
            json!({"BaseUrl": "https://eu.example.com", "Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}),
        );
        assert!(matches!(
            plan_update(&moved, Some(&old)),
            UpdatePlan::Replace { why } if why.contains("`BaseUrl`")
        ));
        let path = props(
            json!({"Create": {"Path": "/other/hooks"}, "Update": {"Method": "PATCH", "Path": "/hooks/{id}"}}),
        );
        assert!(matches!(
            plan_update(&path, Some(&old)),
            UpdatePlan::Replace { why } if why.contains("`Create.Path`")
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
            UpdatePlan::Replace { why } if why.contains("`Create.Body`")
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
            UpdatePlan::Replace { why } if why.contains("`Read`")
        ));
        // A rollback (the old properties again) is decided the same way.
        assert_eq!(plan_update(&old, Some(&old)), UpdatePlan::Keep);
    }
}
