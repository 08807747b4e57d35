//! The tests' one Secrets Manager client: it puts secrets into moto behind a function's back
//! and reads back what a function stored, over the service's JSON protocol.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::Error;

/// Secrets Manager on a moto server ([`crate::Moto::secrets_manager`], or
/// [`SecretsManager::new`] for a moto some other process started).
///
/// Requests are not signed: moto checks no signature and routes by the credential scope's
/// service name alone. The functions under test use the real AWS SDK; this client only
/// prepares and inspects what they see, so a test reads the same way whichever function it
/// tests.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    http: reqwest::Client,
    endpoint: String,
    region: String,
}

/// A secret's metadata, as `DescribeSecret` and `ListSecrets` return it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SecretDescription {
    /// The secret's ARN.
    pub arn: String,
    /// The secret's name.
    pub name: String,
    /// Its `Description`, when it has one.
    pub description: Option<String>,
    /// Its tags, key → value.
    pub tags: BTreeMap<String, String>,
    /// When it is (moto: will be) deleted, once scheduled for deletion.
    pub deleted_date: Option<SystemTime>,
    /// Version id → its staging labels (`AWSCURRENT`, `AWSPREVIOUS`, …).
    pub versions: BTreeMap<String, Vec<String>>,
}

/// One version of a secret's value. Its `Debug` prints the value's length only, so a failing
/// assertion never shows a secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretValue {
    /// The secret's ARN.
    pub arn: String,
    /// The version's id.
    pub version_id: String,
    /// The version's staging labels.
    pub version_stages: Vec<String>,
    /// `SecretString`, when the version holds text (a `SecretBinary` version has none).
    pub string: Option<String>,
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValue")
            .field("arn", &self.arn)
            .field("version_id", &self.version_id)
            .field("version_stages", &self.version_stages)
            .field(
                "string",
                &self
                    .string
                    .as_ref()
                    .map(|s| format!("<{} characters>", s.chars().count())),
            )
            .finish()
    }
}

impl SecretsManager {
    /// A client for the moto at `endpoint` (`http://127.0.0.1:<port>`), in us-east-1.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
        }
    }

    /// The region requests are scoped to (moto keeps one set of secrets per region).
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Calls `operation` (`CreateSecret`, `DescribeSecret`, …) with `body`, the request as the
    /// Secrets Manager API reference writes it, and returns the answer's JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Aws`] with the service's error code when the call is refused (see
    /// [`Error::is_not_found`]); [`Error::Http`] when moto cannot be reached or answers
    /// something that is not JSON.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        let context = || format!("Secrets Manager {operation} at {}", self.endpoint);
        let response = self
            .http
            .post(&self.endpoint)
            .header("X-Amz-Target", format!("secretsmanager.{operation}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            // moto routes by the credential scope's service; without it the call lands in S3.
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=testing/20261126/{}/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
                    self.region
                ),
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Error::Http {
                context: context(),
                message: e.without_url().to_string(),
            })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| Error::Http {
            context: context(),
            message: e.without_url().to_string(),
        })?;
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(&text).map_err(|e| Error::Http {
                context: context(),
                message: format!("answered {status} with a body that is not JSON ({e})"),
            })?
        };
        if status.is_success() {
            return Ok(value);
        }
        let code = value
            .get("__type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| status.to_string());
        let message = ["message", "Message"]
            .iter()
            .find_map(|k| value.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_owned();
        Err(Error::Aws {
            operation: operation.to_owned(),
            code,
            message,
        })
    }

    /// Creates secret `name` holding `value` (its `SecretString`), with `tags`; returns its ARN.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`]: `ResourceExistsException` when the name is taken.
    pub async fn create_secret(
        &self,
        name: &str,
        value: &str,
        tags: &[(&str, &str)],
    ) -> Result<String, Error> {
        let mut body = json!({"Name": name, "SecretString": value});
        if !tags.is_empty() {
            body["Tags"] = tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
        }
        let created = self.call("CreateSecret", &body).await?;
        text_field(&created, "ARN", "CreateSecret")
    }

    /// Stores `value` as a new version of secret `id` (name or ARN), labelled `AWSCURRENT`;
    /// returns the version's id.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`].
    pub async fn put_secret_value(&self, id: &str, value: &str) -> Result<String, Error> {
        let put = self
            .call(
                "PutSecretValue",
                &json!({"SecretId": id, "SecretString": value}),
            )
            .await?;
        text_field(&put, "VersionId", "PutSecretValue")
    }

    /// The version of secret `id` labelled `stage`, or with id `version_id`; `AWSCURRENT` when
    /// neither is given.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`]: `ResourceNotFoundException` for an unknown secret or
    /// version.
    pub async fn get_secret_value(
        &self,
        id: &str,
        stage: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<SecretValue, Error> {
        let mut body = json!({"SecretId": id});
        if let Some(stage) = stage {
            body["VersionStage"] = json!(stage);
        }
        if let Some(version) = version_id {
            body["VersionId"] = json!(version);
        }
        let got = self.call("GetSecretValue", &body).await?;
        Ok(SecretValue {
            arn: text_field(&got, "ARN", "GetSecretValue")?,
            version_id: text_field(&got, "VersionId", "GetSecretValue")?,
            version_stages: strings(got.get("VersionStages")),
            string: got
                .get("SecretString")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// Secret `id`'s metadata, or `None` when there is no such secret (deleted without
    /// recovery, or never created).
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`], for any error but `ResourceNotFoundException`.
    pub async fn describe_secret(&self, id: &str) -> Result<Option<SecretDescription>, Error> {
        match self.call("DescribeSecret", &json!({"SecretId": id})).await {
            Ok(described) => description(&described).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every secret in the region (all pages), those scheduled for deletion too when
    /// `include_planned_deletion`.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`].
    pub async fn list_secrets(
        &self,
        include_planned_deletion: bool,
    ) -> Result<Vec<SecretDescription>, Error> {
        let mut secrets = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body =
                json!({"IncludePlannedDeletion": include_planned_deletion, "MaxResults": 100});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self.call("ListSecrets", &body).await?;
            for secret in page
                .get("SecretList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                secrets.push(description(secret)?);
            }
            token = next_token(&page);
            if token.is_none() {
                return Ok(secrets);
            }
        }
    }

    /// The ids of every version of secret `id` (all pages), those without a staging label
    /// too when `include_deprecated`.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`].
    pub async fn list_secret_version_ids(
        &self,
        id: &str,
        include_deprecated: bool,
    ) -> Result<Vec<String>, Error> {
        let mut versions = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"SecretId": id, "IncludeDeprecated": include_deprecated});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let page = self.call("ListSecretVersionIds", &body).await?;
            versions.extend(
                page.get("Versions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("VersionId").and_then(Value::as_str))
                    .map(str::to_owned),
            );
            token = next_token(&page);
            if token.is_none() {
                return Ok(versions);
            }
        }
    }

    /// Schedules secret `id` for deletion after `recovery_window_in_days` (7 to 30); it can be
    /// restored until then.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`].
    pub async fn delete_secret(&self, id: &str, recovery_window_in_days: u32) -> Result<(), Error> {
        self.call(
            "DeleteSecret",
            &json!({"SecretId": id, "RecoveryWindowInDays": recovery_window_in_days}),
        )
        .await
        .map(drop)
    }

    /// Deletes secret `id` at once, without a recovery window: it cannot be restored.
    ///
    /// # Errors
    ///
    /// As [`SecretsManager::call`].
    pub async fn force_delete_secret(&self, id: &str) -> Result<(), Error> {
        self.call(
            "DeleteSecret",
            &json!({"SecretId": id, "ForceDeleteWithoutRecovery": true}),
        )
        .await
        .map(drop)
    }
}

fn text_field(value: &Value, key: &str, operation: &str) -> Result<String, Error> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Http {
            context: format!("Secrets Manager {operation}"),
            message: format!("the answer has no `{key}`: {value}"),
        })
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn next_token(page: &Value) -> Option<String> {
    page.get("NextToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// `DescribeSecret`'s answer, or one entry of `ListSecrets`' `SecretList`.
fn description(value: &Value) -> Result<SecretDescription, Error> {
    let tags = value
        .get("Tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get("Key")?.as_str()?.to_owned(),
                t.get("Value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ))
        })
        .collect();
    let versions = value
        .get("VersionIdsToStages")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(id, stages)| (id.clone(), strings(Some(stages))))
        .collect();
    Ok(SecretDescription {
        arn: text_field(value, "ARN", "DescribeSecret")?,
        name: text_field(value, "Name", "DescribeSecret")?,
        description: value
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        tags,
        // The JSON protocol writes timestamps as seconds since the epoch.
        deleted_date: value
            .get("DeletedDate")
            .and_then(Value::as_f64)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| UNIX_EPOCH + Duration::from_secs_f64(s)),
        versions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_reads_tags_versions_and_the_deletion_date() {
        let d = description(&json!({
            "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf",
            "Name": "a",
            "Tags": [{"Key": "team", "Value": "db"}],
            "DeletedDate": 1_800_000_000.5,
            "VersionIdsToStages": {"v1": ["AWSCURRENT"]},
        }))
        .unwrap();
        assert_eq!(d.name, "a");
        assert_eq!(d.description, None);
        assert_eq!(d.tags["team"], "db");
        assert_eq!(d.versions["v1"], ["AWSCURRENT"]);
        assert_eq!(
            d.deleted_date,
            Some(UNIX_EPOCH + Duration::from_millis(1_800_000_000_500))
        );
    }

    #[test]
    fn a_secret_value_never_debug_prints_the_secret() {
        let v = SecretValue {
            arn: "arn".into(),
            version_id: "v1".into(),
            version_stages: vec!["AWSCURRENT".into()],
            string: Some("hunter2-hunter2".into()),
        };
        let printed = format!("{v:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<15 characters>"), "{printed}");
    }
}
