//! secret-seeder's `ResourceProperties` through `parse_properties`, the runner's path (serde
//! with the `TryFrom` checks).
//!
//! Asserted: no panic; an error never echoes a value of the properties, except a value outside
//! a fixed set of choices, which the library names on purpose (`without_named_choices`), and a
//! tag's `Key`, a name a reason about that tag gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stackwright_fuzz::{assert_no_echo, json, without_named_choices};

fn problem(raw: &Value) -> Option<String> {
    secret_seeder::parse_properties(raw)
        .err()
        .map(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = json(data) else { return };
    if let Some(text) = problem(&raw) {
        let tag_keys: Vec<&str> = raw["Tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tag| tag["Key"].as_str())
            .collect();
        assert_no_echo(
            "secret-seeder's property error",
            &raw,
            &text,
            problem,
            |v, t| tag_keys.contains(&v) || !without_named_choices(t).contains(v),
        );
    }
});
