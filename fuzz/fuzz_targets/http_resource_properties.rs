//! http-resource's `ResourceProperties` through `parse_properties`, the runner's path (serde
//! with the `TryFrom` checks).
//!
//! Asserted: no panic; an error never echoes a value of the properties, except a value outside
//! a fixed set of choices, which the library names on purpose (`without_named_choices`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stackwright_fuzz::{assert_no_echo, json, without_named_choices};

fn problem(raw: &Value) -> Option<String> {
    http_resource::parse_properties(raw)
        .err()
        .map(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = json(data) else { return };
    if let Some(text) = problem(&raw) {
        assert_no_echo(
            "http-resource's property error",
            &raw,
            &text,
            problem,
            |v, t| !without_named_choices(t).contains(v),
        );
    }
});
