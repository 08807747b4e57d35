//! `make bench`'s control for the root-store measurement: a Lambda function whose every event
//! is one Secrets Manager `GetSecretValue` of `event.SecretId`, through either HTTPS client.
//!
//! `STACKWRIGHT_PROBE_CLIENT` picks the client, built at init as the functions built theirs
//! before the shared configuration (`aws_config::load_from_env` and `Client::new`):
//! - `default`: the SDK's default HTTPS client, which loads the platform's root store through
//!   rustls-native-certs when the client is built (only `SSL_CERT_FILE` and `SSL_CERT_DIR`
//!   when either is set);
//! - `shared`: the protocol library's client (`custom_resource::aws`), Mozilla's roots
//!   compiled in plus `SSL_CERT_FILE`, never the system store.
//!
//! Same binary, same request, only the client differs: if the bench can see the system store's
//! cost, it sees it in `default` and not in `shared`.

use custom_resource::aws::Aws;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = match std::env::var("STACKWRIGHT_PROBE_CLIENT").as_deref() {
        Ok("default") => {
            let config = aws_config::load_from_env().await;
            aws_sdk_secretsmanager::Client::new(&config)
        }
        Ok("shared") => Aws::from_env().secrets_manager().await?.clone(),
        other => {
            return Err(format!(
                "`STACKWRIGHT_PROBE_CLIENT` must be `default` or `shared`, got {other:?}"
            )
            .into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let client = client.clone();
        async move {
            let id = event.payload["SecretId"]
                .as_str()
                .ok_or("the event has no `SecretId`")?;
            let value = client.get_secret_value().secret_id(id).send().await?;
            Ok::<_, Error>(json!({"Name": value.name()}))
        }
    }))
    .await
}
