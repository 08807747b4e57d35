//! The `http-resource` Lambda function: wiring only. Nothing AWS is built here: the secret
//! reader loads the SDK configuration on the first request that has `Auth`.

use custom_resource::aws::Aws;
use custom_resource::secrets::SecretsManager;
use http_resource::HttpResource;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    let client = HttpResource::http_client()?;
    let secrets = SecretsManager::new(Aws::from_env());
    custom_resource::run(HttpResource::new(client, secrets)).await
}
