//! The `secret-seeder` Lambda function: wiring only.

use custom_resource::aws::Aws;
use secret_seeder::SecretSeeder;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    // The shared configuration: region and credentials from the environment only
    // (`AWS_ENDPOINT_URL` points it at moto in tests). Nothing is built here: the first
    // request that calls Secrets Manager builds the client, so a Delete that needs none
    // pays nothing for it.
    // Boxed: the runner's future (the confirmation's CloudFormation call nested in it) is large.
    Box::pin(custom_resource::run(SecretSeeder::new(Aws::from_env()))).await
}
