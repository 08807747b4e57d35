//! The `secret-seeder` Lambda function: wiring only.

use secret_seeder::SecretSeeder;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    // The standard chain: the Lambda role's credentials and region from the environment;
    // `AWS_ENDPOINT_URL` points it elsewhere (moto in tests).
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    custom_resource::run(SecretSeeder::new(client)).await
}
