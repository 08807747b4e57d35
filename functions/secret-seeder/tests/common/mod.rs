//! Helpers shared by this crate's integration tests.

use harness::Invocation;
use serde_json::Value;

/// The one response CloudFormation received, which must be SUCCESS (the logs otherwise).
#[track_caller]
pub fn succeeded(invocation: &Invocation) -> Value {
    let response = invocation.response();
    assert_eq!(
        response["Status"],
        "SUCCESS",
        "{response}\nlogs:\n{}",
        invocation.logs.join("\n")
    );
    response
}

/// The `Reason` of the one response CloudFormation received, which must be FAILED.
#[track_caller]
pub fn failed(invocation: &Invocation) -> String {
    let response = invocation.response();
    assert_eq!(response["Status"], "FAILED", "{response}");
    response["Reason"].as_str().unwrap().to_owned()
}

/// The response's physical id.
pub fn id_of(response: &Value) -> String {
    response["PhysicalResourceId"].as_str().unwrap().to_owned()
}
