//! The `http-resource` Lambda function: wiring only.

use http_resource::HttpResource;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    let client = HttpResource::http_client()?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    custom_resource::run(HttpResource::new(client, secrets)).await
}
