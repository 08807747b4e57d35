//! The local services' side: the overrides file's secrets put into moto, and what a service
//! lost since the last run (moto keeps nothing on disk).

use db_migration::secret::Engine;
use db_migration::target::Target;
use db_user::plan::pg_literal;

use super::*;

impl Run<'_> {
    /// Puts the overrides file's secrets into moto, as the template's AWS-only secrets would be.
    pub(super) async fn ensure_secrets(&mut self) -> Result<(), Error> {
        let secrets = self.overrides.secrets.clone();
        for (logical_id, secret) in secrets {
            let value = match &secret.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let described = self
                .moto("DescribeSecret", &json!({"SecretId": secret.name}))
                .await?;
            let arn = if let Some(arn) = described.get("ARN").and_then(Value::as_str) {
                let current = self
                    .moto("GetSecretValue", &json!({"SecretId": arn}))
                    .await?;
                if current.get("SecretString").and_then(Value::as_str) != Some(value.as_str()) {
                    self.moto(
                        "PutSecretValue",
                        &json!({"SecretId": arn, "SecretString": value}),
                    )
                    .await?;
                }
                arn.to_owned()
            } else {
                let created = self
                    .moto(
                        "CreateSecret",
                        &json!({"Name": secret.name, "SecretString": value}),
                    )
                    .await?;
                created
                    .get("ARN")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::Service(format!(
                            "moto did not create secret `{}`: {created}",
                            secret.name
                        ))
                    })?
                    .to_owned()
            };
            self.secrets.insert(logical_id, arn);
        }
        Ok(())
    }

    /// One Secrets Manager call to moto over its JSON protocol; `{}` for not-found.
    pub(super) async fn moto(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        // The harness's one Secrets Manager client; "not found" reads as an empty answer.
        let client = harness::SecretsManager::new(&self.services.moto_endpoint)
            .region(self.stack.region.clone());
        match client.call(operation, body).await {
            Ok(value) => Ok(value),
            Err(err) if err.is_not_found() => Ok(json!({})),
            Err(err) => Err(Error::Service(format!("moto {operation}: {err}"))),
        }
    }

    /// Why a recorded resource no longer exists, if it does not (local services may have lost
    /// their state: moto keeps nothing on disk).
    pub(super) async fn drift(&self, resource: &ResourceState) -> Option<String> {
        match resource.kind.as_str() {
            "Custom::SeededSecret" => {
                let described = self
                    .moto("DescribeSecret", &json!({"SecretId": resource.physical_id}))
                    .await
                    .ok()?;
                if described.get("ARN").is_none() {
                    Some("the secret no longer exists in moto (it keeps nothing on disk)".into())
                } else if described.get("DeletedDate").is_some_and(|d| !d.is_null()) {
                    Some("the secret is scheduled for deletion".into())
                } else {
                    None
                }
            }
            // Each function's own parser reads its physical id (and builds its URL): the
            // runner knows no id format of its own.
            "Custom::DatabaseMigration" => {
                let target = Target::parse(&resource.physical_id)?;
                if target.engine != Engine::Postgres {
                    return None;
                }
                let query = format!(
                    "SELECT 1 FROM pg_database WHERE datname = {}",
                    pg_literal(&target.database)
                );
                missing(&target, &query)
                    .await
                    .then(|| format!("database `{}` no longer exists", target.database))
            }
            "Custom::DatabaseUser" => {
                let user = db_user::secret::UserTarget::parse(&resource.physical_id)?;
                if user.target.engine != Engine::Postgres {
                    return None;
                }
                let query = format!(
                    "SELECT 1 FROM pg_roles WHERE rolname = {}",
                    pg_literal(&user.user)
                );
                missing(&user.target, &query)
                    .await
                    .then(|| format!("login `{}` no longer exists", user.user))
            }
            "Custom::HttpResource" => {
                let (method, url) =
                    http_resource::read_request(&resource.properties, &resource.physical_id)?;
                let status = self
                    .http
                    .request(method, url.clone())
                    .send()
                    .await
                    .ok()?
                    .status();
                matches!(status.as_u16(), 404 | 410)
                    .then(|| format!("the remote object is gone ({status} from {url})"))
            }
            _ => None,
        }
    }
}

/// Whether `query` finds no row on the PostgreSQL server of `target` (asked as `postgres`,
/// the local server's superuser). `false` when it cannot be asked: without psql, or with the
/// server down, no drift is reported.
async fn missing(target: &Target, query: &str) -> bool {
    // psql is on every machine with a PostgreSQL server.
    let output = tokio::process::Command::new("psql")
        .args([
            "-h",
            &target.host,
            "-p",
            &target.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            query,
        ])
        .output()
        .await;
    output.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim().is_empty())
}
