//! The `failure-responder` Lambda function: wiring only. The HTTP client is built once and
//! shared by every invocation; nothing AWS is built (a FAILED answer is not confirmed).

use std::sync::Arc;

use failure_responder::Responder;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    let responder = Arc::new(Responder::from_env()?);
    // The record is taken as raw JSON: a typed event that failed to deserialise would never
    // reach the handler, and the stack would wait for its ServiceTimeout.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let responder = Arc::clone(&responder);
        async move { responder.handle(event).await }
    }))
    .await
}
