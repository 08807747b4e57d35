//! The `secret-seeder` Lambda function: wiring only.

use custom_resource::aws::Aws;
use secret_seeder::SecretSeeder;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    // The bootstrap supervises a worker (the same binary): only the worker builds the
    // resource, and the supervisor answers for it if it dies.
    // The shared configuration: region and credentials from the environment only
    // (`AWS_ENDPOINT_URL` points it at moto in tests). Nothing is built here: the first
    // request that calls Secrets Manager builds the client, so a Delete that needs none
    // pays nothing for it.
    Box::pin(custom_resource::serve(|| async {
        Ok::<_, lambda_runtime::Error>(SecretSeeder::new(Aws::from_env()))
    }))
    .await
}
