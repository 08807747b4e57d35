//! failure-responder's destination record (`record::read`) and the `Reason` built from it.
//!
//! Asserted: no panic; neither the error nor the `Reason` repeats a value the request carried
//! (a string property value, old or new, of 6 bytes or more other than `ServiceToken` and
//! `ServiceTimeout`, or the `ResponseURL`), unless it is also in what the `Reason` quotes from
//! Lambda's own fields on purpose (the condition, the function's name, Lambda's request id);
//! the `Reason` is one line.
#![no_main]

use failure_responder::record;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stackwright_fuzz::{MIN_ECHO, assert_not_echoed, json, string_values};

/// The values the record's request carries, as the responder must never repeat them.
fn request_values(record: &Value) -> Vec<String> {
    let Some(request) = record.get("requestPayload") else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    if let Some(url) = request.get("ResponseURL").and_then(Value::as_str) {
        out.push(url.to_owned());
        if let Some((_, query)) = url.split_once('?') {
            out.push(query.to_owned());
        }
    }
    for key in ["ResourceProperties", "OldResourceProperties"] {
        if let Some(props) = request.get(key).and_then(Value::as_object) {
            for (name, value) in props {
                if name != "ServiceToken" && name != "ServiceTimeout" {
                    out.extend(string_values(value).into_iter().map(str::to_owned));
                }
            }
        }
    }
    out.retain(|v| v.chars().count() >= MIN_ECHO);
    out
}

fn quoted_on_purpose(record: &Value) -> String {
    let context = &record["requestContext"];
    [
        context["condition"].as_str(),
        context["functionArn"].as_str(),
        context["requestId"].as_str(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n")
}

fn text(input: &Value) -> Option<String> {
    Some(match record::read(input) {
        Ok(failure) => failure.reason(),
        Err(e) => e.to_string(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = json(data) else { return };
    if let Ok(failure) = record::read(&input) {
        let reason = failure.reason();
        assert!(!reason.contains('\n'), "{reason:?}");
    }
    let said = text(&input).unwrap_or_default();
    let lambda_s = quoted_on_purpose(&input);
    let values = request_values(&input);
    assert_not_echoed(
        "the responder's reason",
        &input,
        values.iter().map(String::as_str),
        &said,
        text,
        |v, _| lambda_s.contains(v),
    );
});
