//! The response builder (`Response::into_body`): any `Reason` and `Data` in.
//!
//! Asserted: no panic; the body always parses as JSON with the protocol's fields, a string
//! `Reason` free of control characters, and fits CloudFormation's 4096 bytes whenever the ids
//! alone do (they are the request's and the resource's; with ids within CloudFormation's own
//! limits they always do); a body that fitted as given is sent as given, `Reason` cleaned.
#![no_main]

use custom_resource::response::{MAX_BODY_BYTES, MAX_PHYSICAL_ID_BYTES};
use custom_resource::{Response, Status};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[derive(Debug, Arbitrary)]
enum Item {
    Text(String),
    Number(i64),
    Float(f64),
    Flag(bool),
    Null,
    List(Vec<String>),
    Object(Vec<(String, String)>),
    Large(u16, char),
}

impl Item {
    fn value(self) -> Value {
        match self {
            Self::Text(s) => Value::String(s),
            Self::Number(n) => Value::from(n),
            Self::Float(f) => Value::from(f),
            Self::Flag(b) => Value::Bool(b),
            Self::Null => Value::Null,
            Self::List(items) => Value::from(items),
            Self::Object(pairs) => Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ),
            Self::Large(n, c) => Value::String(c.to_string().repeat(usize::from(n % 6000))),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    success: bool,
    reason: String,
    long_reason: Option<(u16, char)>,
    physical_id: String,
    stack_id: String,
    request_id: String,
    logical_id: String,
    no_echo: bool,
    data: Vec<(String, Item)>,
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

fuzz_target!(|input: Input| {
    let mut reason = input.reason;
    if let Some((n, c)) = input.long_reason {
        reason.push_str(&c.to_string().repeat(usize::from(n % 9000)));
    }
    let data: Map<String, Value> = input
        .data
        .into_iter()
        .map(|(k, v)| (k, v.value()))
        .collect();
    let response = Response {
        status: if input.success {
            Status::Success
        } else {
            Status::Failed
        },
        reason,
        physical_resource_id: cut(input.physical_id, MAX_PHYSICAL_ID_BYTES),
        stack_id: cut(input.stack_id, 1024),
        request_id: cut(input.request_id, 256),
        logical_resource_id: cut(input.logical_id, 256),
        no_echo: input.no_echo,
        data,
    };
    let ids_only = serde_json::to_vec(&Response {
        reason: String::new(),
        data: Map::new(),
        ..response.clone()
    })
    .unwrap();
    let as_given = serde_json::to_vec(&response).unwrap();

    let body = response.clone().into_body();
    let parsed: Value = serde_json::from_slice(&body).expect("the body is JSON");
    let reason = parsed["Reason"].as_str().expect("`Reason` is a string");
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    assert!(matches!(
        parsed["Status"].as_str(),
        Some("SUCCESS" | "FAILED")
    ));
    assert!(parsed["Data"].is_object());
    assert_eq!(
        parsed["PhysicalResourceId"],
        response.physical_resource_id.as_str()
    );
    if ids_only.len() <= MAX_BODY_BYTES {
        assert!(body.len() <= MAX_BODY_BYTES, "{} bytes", body.len());
    }
    if as_given.len() <= MAX_BODY_BYTES
        && !response.reason.chars().any(char::is_control)
        && response.reason.trim() == response.reason
    {
        assert_eq!(body, as_given);
    }
    if parsed["Status"] == "SUCCESS" {
        // Compared as text: serde_json reads some floats back one bit off.
        let data = serde_json::to_vec(&response.data).unwrap();
        assert!(
            body.windows(data.len()).any(|w| w == data.as_slice()),
            "`Data` changed"
        );
    }
});
