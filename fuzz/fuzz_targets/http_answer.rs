//! http-resource reading an API's answer: the physical id at `IdPointer`
//! (`outputs::id_from_body`) and `Outputs` into `Data` (`outputs::read_outputs`).
//!
//! Input: pointers, one a line, then an empty line, then the body. The first pointer is the
//! `IdPointer`; every pointer is also an output (`O0`, `O1`, …).
//!
//! Asserted: no panic; the id read is what the body holds at the pointer, within
//! CloudFormation's 1024 bytes and free of control characters; a problem says what the body
//! holds (its keys or its kind), never a value of it; every output is either found, with the
//! value at its pointer, or listed as missing.
#![no_main]

use std::collections::BTreeMap;

use http_resource::outputs::{IdProblem, MAX_ID_BYTES, id_from_body, read_outputs, render};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stackwright_fuzz::assert_no_echo;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let pointers: Vec<&str> = head.lines().take(8).collect();
    let Some(id_pointer) = pointers.first().copied() else {
        return;
    };
    let parsed: Option<Value> = serde_json::from_str(body).ok();

    match id_from_body(body.as_bytes(), id_pointer) {
        Ok(id) => {
            let at = parsed
                .as_ref()
                .and_then(|v| v.pointer(id_pointer))
                .expect("found");
            assert!(at.is_string() || at.is_number());
            assert_eq!(id, render(at));
            assert!(!id.is_empty() && id.len() <= MAX_ID_BYTES);
            assert!(!id.chars().any(char::is_control));
        }
        Err(IdProblem::NotJson) => assert!(parsed.is_none()),
        Err(problem) => {
            let value = parsed.as_ref().expect("JSON");
            let text = format!("{problem:?}");
            if let IdProblem::Missing { .. } = problem {
                assert!(value.pointer(id_pointer).is_none());
            }
            // An unusable id is named only when empty, `.` or `..`: shorter than the rule's 6.
            let again = |changed: &Value| {
                id_from_body(changed.to_string().as_bytes(), id_pointer)
                    .err()
                    .map(|p| format!("{p:?}"))
            };
            assert_no_echo("the id problem", value, &text, again, |_, _| false);
        }
    }

    let outputs: BTreeMap<String, String> = pointers
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("O{i}"), (*p).to_owned()))
        .collect();
    let (found, missing) = read_outputs(&outputs, body.as_bytes());
    assert_eq!(found.len() + missing.len(), outputs.len());
    for (name, pointer) in &outputs {
        let at = parsed.as_ref().and_then(|v| v.pointer(pointer));
        match (found.get(name), at) {
            (Some(Value::String(got)), Some(at)) => assert_eq!(*got, render(at)),
            (None, None) => assert!(missing.contains(name)),
            other => panic!("output {name} at {pointer:?}: {other:?}"),
        }
    }
});
