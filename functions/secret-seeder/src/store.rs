//! The Secrets Manager calls this resource makes, and nothing else: a thin layer over the
//! AWS SDK client that turns its types into plain data and its errors into [`Error`]s that
//! name the secret and carry the service's code and message (never a value).

use std::collections::BTreeMap;
use std::fmt::Debug;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::Tag;

use crate::Error;
use crate::plan::{Content, NotAnObject};

/// The staging label of the version in use.
pub const CURRENT: &str = "AWSCURRENT";
/// The staging label of the version before it.
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// What `DescribeSecret` says about a secret.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Its KMS key, when not the AWS managed one.
    pub kms_key_id: Option<String>,
    /// Whether it is scheduled for deletion (`DeletedDate` is set).
    pub deleted: bool,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Version id → staging labels, for the versions that have labels.
    pub versions: BTreeMap<String, Vec<String>>,
}

impl Described {
    /// The version that carries `label`.
    pub fn version_with(&self, label: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == label))
            .map(|(id, _)| id.as_str())
    }

    /// Whether version `id` exists (with a label).
    pub fn has_version(&self, id: &str) -> bool {
        self.versions.contains_key(id)
    }
}

/// Whether a write found its `ClientRequestToken` already used with another value.
#[derive(Debug)]
pub enum WriteError {
    /// `ResourceExistsException`: the name (on create) or the token is taken.
    Exists(Error),
    /// Anything else.
    Other(Error),
}

impl From<WriteError> for Error {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Exists(e) | WriteError::Other(e) => e,
        }
    }
}

/// The Secrets Manager client, built once in `main`.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

fn failure<E, R>(action: &'static str, secret: &str, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    let message = match err.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => DisplayErrorContext(err).to_string(),
    };
    Error::Aws {
        action,
        secret: secret.to_owned(),
        message,
    }
}

fn tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// What a new secret is created with.
#[derive(Debug)]
pub struct NewSecret<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its description.
    pub description: Option<&'a str>,
    /// Its KMS key.
    pub kms_key_id: Option<&'a str>,
    /// Its tags.
    pub tags: &'a BTreeMap<String, String>,
    /// Its first value.
    pub content: &'a Content,
    /// The first version's id.
    pub token: &'a str,
}

impl SecretsManager {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// `DescribeSecret`; `None` when there is no such secret.
    ///
    /// # Errors
    ///
    /// Any other failure.
    pub async fn describe(&self, id: &str) -> Result<Option<Described>, Error> {
        let out = match self.client.describe_secret().secret_id(id).send().await {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(failure("describe", id, &err)),
        };
        Ok(Some(Described {
            arn: out.arn().unwrap_or_default().to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            description: out.description().map(str::to_owned),
            kms_key_id: out.kms_key_id().map(str::to_owned),
            deleted: out.deleted_date().is_some(),
            tags: out
                .tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
            versions: out
                .version_ids_to_stages()
                .map(|v| {
                    v.iter()
                        .filter(|(_, labels)| !labels.is_empty())
                        .map(|(id, labels)| (id.clone(), labels.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        }))
    }

    /// `GetSecretValue` of version `version_id`.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnObject`] when the value is not a JSON object; any failure of the call.
    pub async fn read(&self, secret: &Described, version_id: &str) -> Result<Content, Error> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&secret.arn)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| failure("read", &secret.name, &e))?;
        let not_an_object = || Error::NotAnObject {
            name: secret.name.clone(),
        };
        let text = out.secret_string().ok_or_else(not_an_object)?;
        Content::parse(text).map_err(|NotAnObject| not_an_object())
    }

    /// `CreateSecret` with its first version.
    ///
    /// # Errors
    ///
    /// [`WriteError::Exists`] when the name (or the token, with another value) is taken.
    pub async fn create(&self, new: NewSecret<'_>) -> Result<String, WriteError> {
        let secret_string = new.content.to_secret_string();
        let result = self
            .client
            .create_secret()
            .name(new.name)
            .set_description(new.description.map(str::to_owned))
            .set_kms_key_id(new.kms_key_id.map(str::to_owned))
            .set_tags(Some(tags(new.tags)))
            .client_request_token(new.token)
            .secret_string(secret_string.expose().as_str())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.arn().unwrap_or_default().to_owned()),
            Err(err) => Err(
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception())
                {
                    WriteError::Exists(failure("create", new.name, &err))
                } else {
                    WriteError::Other(failure("create", new.name, &err))
                },
            ),
        }
    }

    /// `PutSecretValue`: a new version, made `AWSCURRENT`.
    ///
    /// # Errors
    ///
    /// [`WriteError::Exists`] when the token is in use with another value.
    pub async fn put(
        &self,
        secret: &Described,
        content: &Content,
        token: &str,
    ) -> Result<(), WriteError> {
        let secret_string = content.to_secret_string();
        let result = self
            .client
            .put_secret_value()
            .secret_id(&secret.arn)
            .client_request_token(token)
            .secret_string(secret_string.expose().as_str())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => Err(
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception())
                {
                    WriteError::Exists(failure("write a version of", &secret.name, &err))
                } else {
                    WriteError::Other(failure("write a version of", &secret.name, &err))
                },
            ),
        }
    }

    /// `UpdateSecret` without a value: description and KMS key only.
    ///
    /// # Errors
    ///
    /// When the call fails.
    pub async fn update_metadata(
        &self,
        secret: &Described,
        description: Option<String>,
        kms_key_id: Option<String>,
    ) -> Result<(), Error> {
        self.client
            .update_secret()
            .secret_id(&secret.arn)
            .set_description(description)
            .set_kms_key_id(kms_key_id)
            .send()
            .await
            .map_err(|e| failure("update", &secret.name, &e))?;
        Ok(())
    }

    /// `TagResource`.
    ///
    /// # Errors
    ///
    /// When the call fails.
    pub async fn tag(
        &self,
        secret: &Described,
        set: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.client
            .tag_resource()
            .secret_id(&secret.arn)
            .set_tags(Some(tags(set)))
            .send()
            .await
            .map_err(|e| failure("tag", &secret.name, &e))?;
        Ok(())
    }

    /// `UntagResource`.
    ///
    /// # Errors
    ///
    /// When the call fails.
    pub async fn untag(&self, secret: &Described, keys: &[String]) -> Result<(), Error> {
        self.client
            .untag_resource()
            .secret_id(&secret.arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| failure("untag", &secret.name, &e))?;
        Ok(())
    }

    /// `RestoreSecret`: cancels a scheduled deletion.
    ///
    /// # Errors
    ///
    /// When the call fails.
    pub async fn restore(&self, secret: &Described) -> Result<(), Error> {
        self.client
            .restore_secret()
            .secret_id(&secret.arn)
            .send()
            .await
            .map_err(|e| failure("restore", &secret.name, &e))?;
        Ok(())
    }

    /// `DeleteSecret`, recoverable for `recovery_window_in_days`.
    ///
    /// # Errors
    ///
    /// When the call fails.
    pub async fn schedule_deletion(
        &self,
        secret: &Described,
        recovery_window_in_days: i64,
    ) -> Result<(), Error> {
        self.client
            .delete_secret()
            .secret_id(&secret.arn)
            .recovery_window_in_days(recovery_window_in_days)
            .send()
            .await
            .map_err(|e| failure("delete", &secret.name, &e))?;
        Ok(())
    }

    /// `DeleteSecret` with `ForceDeleteWithoutRecovery`: the secret and every version are
    /// gone for good.
    ///
    /// # Errors
    ///
    /// When the call fails.
    pub async fn dangerous_delete_without_recovery(&self, secret: &Described) -> Result<(), Error> {
        self.client
            .delete_secret()
            .secret_id(&secret.arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| failure("delete", &secret.name, &e))?;
        Ok(())
    }
}
