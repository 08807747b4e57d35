//! The `db-user` Lambda function: wiring only.

// The runner's future (confirmation, switches, the resource's sqlx futures) nests deeper than
// rustc's default query depth allows when it computes the layout of `main`'s async block.
#![recursion_limit = "256"]

use custom_resource::aws::Aws;
use db_user::{DatabaseUser, SecretsManager};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    // The bootstrap supervises a worker (the same binary): only the worker builds the
    // resource, and the supervisor answers for it if it dies.
    Box::pin(custom_resource::serve(|| async {
        let secrets = SecretsManager::new(Aws::from_env());
        Ok::<_, lambda_runtime::Error>(DatabaseUser::new(secrets))
    }))
    .await
}
