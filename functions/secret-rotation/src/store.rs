//! Secrets Manager, as the rotation uses it: describe, read a version, stage a pending value,
//! move `AWSCURRENT`.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use custom_resource::Secret;
use custom_resource::secrets::problem;

use crate::Error;
use crate::plan::{CURRENT, Metadata, PENDING};

/// The Secrets Manager client, built once per sandbox.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

fn failed<E, R>(operation: &'static str, secret: &str, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    tracing::warn!(operation, secret, error = %DisplayErrorContext(err), "Secrets Manager call failed");
    Error::SecretsManager {
        operation,
        secret: secret.to_owned(),
        message: problem(operation, err, "SecretId"),
    }
}

impl SecretsManager {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `DescribeSecret`: rotation, tags, versions and their stages.
    ///
    /// # Errors
    ///
    /// [`Error::SecretsManager`].
    pub async fn describe(&self, id: &str) -> Result<Metadata, Error> {
        let out = self
            .client
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| failed("DescribeSecret", id, &e))?;
        Ok(Metadata {
            // As AWS's own rotation functions read it: only an explicit `false` is off.
            rotation_enabled: out.rotation_enabled() != Some(false),
            tags: out
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect(),
            versions: out
                .version_ids_to_stages()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    /// `GetSecretValue` of one version (by id and stage, or the stage alone); `None` when
    /// there is no such version, or it has no value yet.
    ///
    /// # Errors
    ///
    /// [`Error::SecretsManager`] for anything but not found.
    pub async fn get(
        &self,
        id: &str,
        version: Option<&str>,
        stage: &str,
    ) -> Result<Option<Secret<String>>, Error> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(id)
            .set_version_id(version.map(str::to_owned))
            .version_stage(stage)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.secret_string.map(Secret::new)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(failed("GetSecretValue", id, &e)),
        }
    }

    /// The value staged `AWSCURRENT`.
    ///
    /// # Errors
    ///
    /// [`Error::NoCurrent`], [`Error::SecretsManager`].
    pub async fn current(&self, id: &str) -> Result<Secret<String>, Error> {
        self.get(id, None, CURRENT)
            .await?
            .ok_or_else(|| Error::NoCurrent(id.to_owned()))
    }

    /// `PutSecretValue` with the token as the version, staged `AWSPENDING` (Secrets Manager
    /// moves that stage off any other version).
    ///
    /// # Errors
    ///
    /// [`Error::SecretsManager`].
    pub async fn put_pending(
        &self,
        id: &str,
        token: &str,
        value: &Secret<String>,
    ) -> Result<(), Error> {
        self.client
            .put_secret_value()
            .secret_id(id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| failed("PutSecretValue", id, &e))?;
        Ok(())
    }

    /// `UpdateSecretVersionStage`: `AWSCURRENT` from `from` to `to`.
    ///
    /// # Errors
    ///
    /// [`Error::SecretsManager`].
    pub async fn move_current(&self, id: &str, from: &str, to: &str) -> Result<(), Error> {
        self.client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage(CURRENT)
            .remove_from_version_id(from)
            .move_to_version_id(to)
            .send()
            .await
            .map_err(|e| failed("UpdateSecretVersionStage", id, &e))?;
        Ok(())
    }
}
