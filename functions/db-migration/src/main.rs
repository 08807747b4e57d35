//! The `db-migration` Lambda function: wiring only.

use std::time::Duration;

use db_migration::{DatabaseMigration, SecretsManager};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    // The standard chain: Lambda's role credentials and region; in tests, AWS_ENDPOINT_URL
    // (or AWS_ENDPOINT_URL_SECRETS_MANAGER) points it at moto. Built once, shared by every
    // invocation.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build();
    let config = aws_config::from_env().timeout_config(timeouts).load().await;
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&config));
    custom_resource::run(DatabaseMigration::new(secrets)).await
}
