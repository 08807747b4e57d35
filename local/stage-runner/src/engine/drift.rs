//! The local services' side: the overrides file's secrets put into moto, and what a service
//! lost since the last run (moto keeps nothing on disk).

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
            "Custom::DatabaseMigration" => {
                let (_, rest) = resource.physical_id.split_once("://")?;
                let (hostport, database) = rest.split_once('/')?;
                let (host, port) = hostport.rsplit_once(':')?;
                let port: u16 = port.parse().ok()?;
                if !resource.physical_id.starts_with("postgres") {
                    return None;
                }
                database_missing(host, port, database).await
            }
            "Custom::HttpResource" => {
                let base = resource.properties.get("BaseUrl").and_then(Value::as_str)?;
                let path = resource
                    .properties
                    .pointer("/Read/Path")
                    .and_then(Value::as_str)?;
                if resource.properties.get("Auth").is_some() {
                    return None;
                }
                let url = format!(
                    "{}{}",
                    base.trim_end_matches('/'),
                    path.replace("{id}", &resource.physical_id)
                );
                let status = self.http.get(&url).send().await.ok()?.status();
                matches!(status.as_u16(), 404 | 410)
                    .then(|| format!("the remote object is gone ({status} from {url})"))
            }
            _ => None,
        }
    }
}

/// Whether PostgreSQL at `host:port` lacks `database`.
async fn database_missing(host: &str, port: u16, database: &str) -> Option<String> {
    // psql is on every machine with a PostgreSQL server; without it, no drift is reported.
    let output = tokio::process::Command::new("psql")
        .args([
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{}'",
            database.replace('\'', "''")
        ))
        .output()
        .await
        .ok()?;
    if output.status.success() && String::from_utf8_lossy(&output.stdout).trim().is_empty() {
        Some(format!("database `{database}` no longer exists"))
    } else {
        None
    }
}
