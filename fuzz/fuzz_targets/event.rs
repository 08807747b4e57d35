//! The event envelope: raw JSON through `request::parse_event`, the path the runner takes for
//! every invocation.
//!
//! Asserted: no panic; a valid envelope holds what the event said (the request type, an object
//! of properties, the physical id on Update and Delete); a rejection's `problem` and its
//! `ResponseURL` reason never echo a value of the event (`stackwright_fuzz`'s rule), except an
//! unknown `RequestType`, which the reason names on purpose.
#![no_main]

use custom_resource::RequestType;
use custom_resource::request::parse_event;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stackwright_fuzz::{assert_no_echo, json};

fn problem(event: &Value) -> Option<String> {
    parse_event(event).err().map(|r| {
        let url = r.response_url.err().unwrap_or_default();
        format!("{}\n{url}", r.problem)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(event) = json(data) else { return };
    match parse_event(&event) {
        Ok(envelope) => {
            let named = event["RequestType"].as_str().unwrap_or_default();
            assert_eq!(envelope.request_type.to_string(), named);
            assert!(envelope.properties.is_object());
            assert_eq!(
                envelope.old_properties.is_some(),
                envelope.request_type == RequestType::Update
            );
            if envelope.request_type != RequestType::Create {
                assert!(envelope.ids.physical_resource_id.is_some());
            }
            for id in [
                &envelope.ids.request_id,
                &envelope.ids.stack_id,
                &envelope.ids.logical_resource_id,
            ] {
                assert!(!id.is_empty());
            }
        }
        Err(_) => {
            let text = problem(&event).unwrap_or_default();
            let request_type = event.get("RequestType").and_then(Value::as_str);
            assert_no_echo(
                "a rejected event's reason",
                &event,
                &text,
                problem,
                |v, _| request_type == Some(v),
            );
        }
    }
});
