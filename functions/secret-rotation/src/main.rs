//! The `secret-rotation` Lambda function: wiring only.

use custom_resource::aws::Aws;
use lambda_runtime::{LambdaEvent, service_fn};
use secret_rotation::store::SecretsManager;
use secret_rotation::{Config, Rotation, rotation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    let client = Aws::from_env().secrets_manager().await?.clone();
    let rotation = Rotation::new(SecretsManager::new(client), Config::from_env());
    let rotation = &rotation;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = rotation::deadline(event.context.deadline);
        match rotation.handle(&event.payload, deadline).await {
            Ok(()) => Ok(Value::Null),
            Err(e) => {
                tracing::error!(error = %e, "the rotation step failed");
                Err(lambda_runtime::Error::from(e))
            }
        }
    }))
    .await
}
