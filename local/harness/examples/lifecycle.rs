//! Drives the example resource through Create, Update (a replacement) and Delete, printing
//! what CloudFormation would show. `make demo` runs it.

#![allow(clippy::print_stdout)] // a demo that prints its table

use anyhow::Context;
use harness::{Lambda, LambdaConfig, ResponseServer, Stack};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let responses = ResponseServer::start().await?;
    let binary =
        harness::binary("example-resource").context("build it with `cargo build --examples`")?;
    let lambda = Lambda::start(LambdaConfig::new(binary).responses(&responses)).await?;
    let stack = Stack::new("stackwright-demo", &responses);
    let kind = "Custom::Example";

    let create = stack.create("Thing", kind, json!({"Name": "first", "Count": "3"}));
    let id = show(&lambda, create).await?;
    let update = stack.update(
        "Thing",
        kind,
        &id,
        json!({"Name": "second"}),
        json!({"Name": "first", "Count": "3"}),
    );
    let new_id = show(&lambda, update).await?;
    show(
        &lambda,
        stack.delete("Thing", kind, &id, json!({"Name": "first"})),
    )
    .await?;
    show(
        &lambda,
        stack.delete("Thing", kind, &new_id, json!({"Name": "second"})),
    )
    .await?;
    let broken = stack.create("Broken", kind, json!({"Name": "x", "Count": "many"}));
    show(&lambda, broken).await?;
    Ok(())
}

async fn show(lambda: &Lambda, event: Value) -> anyhow::Result<String> {
    let request_type = event["RequestType"].as_str().unwrap_or_default().to_owned();
    let logical_id = event["LogicalResourceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let invocation = lambda.invoke(event).await?;
    let response = invocation.response();
    let status = response["Status"].as_str().unwrap_or_default();
    let outcome = match (request_type.as_str(), status) {
        ("Create", "SUCCESS") => "CREATE_COMPLETE",
        ("Create", _) => "CREATE_FAILED",
        ("Update", "SUCCESS") => "UPDATE_COMPLETE",
        ("Update", _) => "UPDATE_FAILED",
        ("Delete", "SUCCESS") => "DELETE_COMPLETE",
        _ => "DELETE_FAILED",
    };
    let id = response["PhysicalResourceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!(
        "{:<8} {:<16} {:<40} {} {}",
        logical_id,
        outcome,
        id,
        response["Reason"].as_str().unwrap_or_default(),
        if response["Data"].as_object().is_some_and(|d| !d.is_empty()) {
            response["Data"].to_string()
        } else {
            String::new()
        }
    );
    Ok(id)
}
