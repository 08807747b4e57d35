//! The Secrets Manager calls this resource makes, and nothing else: a thin layer over the
//! process's shared client ([`custom_resource::aws::Aws`]) that turns the SDK's types into plain
//! data, ends every call at the request's deadline, teaches every value it reads to the
//! request's [`Redactor`], and gives every failure the reason from [`custom_resource::secrets`]'
//! one table, naming the secret and never a value.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::Tag;
use custom_resource::aws::{Aws, within};
use custom_resource::secrets::{self, problem, timeout_problem};
use custom_resource::{Redactor, Request, Secret};
use tokio::time::Instant;

use crate::Error;
use crate::plan::{Content, NotAnObject};

/// The staging label of the version in use.
pub const CURRENT: &str = "AWSCURRENT";
/// The staging label of the version before it.
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// What a reason names as having chosen a secret looked up by its name: the `Name` property
/// (or, without one, the `<stack name>/<LogicalResourceId>` it defaults to).
pub const BY_NAME: &str = "Name";
/// What a reason names as having chosen a secret looked up by the resource's physical id (its
/// ARN, on Update and Delete).
pub const BY_PHYSICAL_ID: &str = "PhysicalResourceId";

/// What `DescribeSecret` says about a secret.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// Its ARN, which every later call on it uses.
    pub arn: String,
    /// Its name, which reasons and logs show.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Its KMS key, when not the AWS managed one.
    pub kms_key_id: Option<String>,
    /// Whether it is scheduled for deletion (`DeletedDate` is set).
    pub deleted: bool,
    /// Its tags, key → value.
    pub tags: BTreeMap<String, String>,
    /// Version id → staging labels, for the versions that have labels.
    pub versions: BTreeMap<String, Vec<String>>,
    /// What chose it ([`BY_NAME`] or [`BY_PHYSICAL_ID`]), for the reasons of later calls.
    pub chosen_by: &'static str,
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
    /// Any other failure, the request's deadline included.
    Other(Error),
}

impl From<WriteError> for Error {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Exists(e) | WriteError::Other(e) => e,
        }
    }
}

/// Secrets Manager for one request: the process's shared client, the request's deadline and
/// the request's redactor. Made per request ([`Store::for_request`]), so the client is built
/// by the first request that calls Secrets Manager, and never by one that does not.
#[derive(Debug, Clone, Copy)]
pub struct Store<'a> {
    client: &'a Client,
    deadline: Instant,
    redactor: &'a Redactor,
}

/// One kind of Secrets Manager call: what a reason says was being done, and the API operation
/// (which is also the IAM action's name).
#[derive(Debug, Clone, Copy)]
struct Call {
    action: &'static str,
    operation: &'static str,
}

const DESCRIBE: Call = Call {
    action: "describe",
    operation: "DescribeSecret",
};
const READ: Call = Call {
    action: "read",
    operation: "GetSecretValue",
};
const CREATE: Call = Call {
    action: "create",
    operation: "CreateSecret",
};
const PUT: Call = Call {
    action: "write a version of",
    operation: "PutSecretValue",
};
const UPDATE: Call = Call {
    action: "update",
    operation: "UpdateSecret",
};
const TAG: Call = Call {
    action: "tag",
    operation: "TagResource",
};
const UNTAG: Call = Call {
    action: "untag",
    operation: "UntagResource",
};
const RESTORE: Call = Call {
    action: "restore",
    operation: "RestoreSecret",
};
const DELETE: Call = Call {
    action: "delete",
    operation: "DeleteSecret",
};

/// The error for a failed call: the reason from the library's table, the detail in the log.
fn call_failed<E, R>(call: Call, secret: &str, chosen_by: &str, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    tracing::warn!(operation = call.operation, secret, error = %DisplayErrorContext(err), "a Secrets Manager call failed");
    let message = problem(call.operation, err, chosen_by);
    Error::Aws {
        action: call.action,
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
    /// The name it is created under.
    pub name: &'a str,
    /// Its description, if the template gives one.
    pub description: Option<&'a str>,
    /// The KMS key that encrypts it; `None` for the AWS managed one.
    pub kms_key_id: Option<&'a str>,
    /// Every tag it starts with: the template's, the owner and the first version's record.
    pub tags: &'a BTreeMap<String, String>,
    /// The value of its first version.
    pub content: &'a Content,
    /// The first version's id.
    pub token: &'a str,
}

impl<'a> Store<'a> {
    /// The store for `request`, over `aws`'s Secrets Manager client (built now if no request
    /// has needed it yet).
    ///
    /// # Errors
    ///
    /// [`Error::Library`] when the SDK configuration cannot be made (no region in the
    /// environment).
    pub async fn for_request<P>(aws: &'a Aws, request: &'a Request<P>) -> Result<Self, Error> {
        let client = aws.secrets_manager().await?;
        Ok(Self::new(client, request.deadline, &request.redactor))
    }

    /// A store over `client` whose calls give up at `deadline`, teaching what it reads to
    /// `redactor`.
    pub fn new(client: &'a Client, deadline: Instant, redactor: &'a Redactor) -> Self {
        Self {
            client,
            deadline,
            redactor,
        }
    }

    /// Runs `call` (a `kind` call on `secret`) until the request's deadline; a call still
    /// running then fails naming what was being done and the secret.
    async fn send<T, E, R>(
        &self,
        kind: Call,
        secret: &str,
        call: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<Result<T, SdkError<E, R>>, Error> {
        // Boxed: an SDK call's future is some 16 KB, which every caller's future would carry.
        within(self.deadline, Box::pin(call))
            .await
            .map_err(|given| Error::Aws {
                action: kind.action,
                secret: secret.to_owned(),
                message: timeout_problem(given),
            })
    }

    /// Runs `call` on `secret` until the request's deadline; any failure is an [`Error`].
    async fn on<T, E, R>(
        &self,
        kind: Call,
        secret: &Described,
        call: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, Error>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: Debug,
    {
        self.send(kind, &secret.name, call)
            .await?
            .map_err(|err| call_failed(kind, &secret.name, secret.chosen_by, &err))
    }

    /// `DescribeSecret` of `id` (a name or an ARN, chosen by `chosen_by`: [`BY_NAME`] or
    /// [`BY_PHYSICAL_ID`]); `None` when there is no such secret.
    ///
    /// # Errors
    ///
    /// Any other failure, and the deadline.
    pub async fn describe(
        &self,
        id: &str,
        chosen_by: &'static str,
    ) -> Result<Option<Described>, Error> {
        let call = self.client.describe_secret().secret_id(id).send();
        let out = match self.send(DESCRIBE, id, call).await? {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(call_failed(DESCRIBE, id, chosen_by, &err)),
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
            chosen_by,
        }))
    }

    /// `GetSecretValue` of version `version_id`. The value is taught to the request's
    /// redactor ([`secrets::teach`]: the whole text and every credential-named key's value)
    /// before it is parsed.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnObject`] when the value is not a JSON object; any failure of the call.
    pub async fn read(&self, secret: &Described, version_id: &str) -> Result<Content, Error> {
        let call = self
            .client
            .get_secret_value()
            .secret_id(&secret.arn)
            .version_id(version_id)
            .send();
        let out = self.on(READ, secret, call).await?;
        let not_an_object = || Error::NotAnObject {
            name: secret.name.clone(),
        };
        let text = Secret::new(out.secret_string.ok_or_else(not_an_object)?);
        secrets::teach(self.redactor, &text);
        Content::parse(text.expose()).map_err(|NotAnObject| not_an_object())
    }

    /// `CreateSecret` with its first version.
    ///
    /// # Errors
    ///
    /// [`WriteError::Exists`] when the name (or the token, with another value) is taken.
    pub async fn create(&self, new: NewSecret<'_>) -> Result<String, WriteError> {
        let secret_string = new.content.to_secret_string();
        let call = self
            .client
            .create_secret()
            .name(new.name)
            .set_description(new.description.map(str::to_owned))
            .set_kms_key_id(new.kms_key_id.map(str::to_owned))
            .set_tags(Some(tags(new.tags)))
            .client_request_token(new.token)
            .secret_string(secret_string.expose().as_str())
            .send();
        match self.send(CREATE, new.name, call).await {
            Err(timeout) => Err(WriteError::Other(timeout)),
            Ok(Ok(out)) => Ok(out.arn().unwrap_or_default().to_owned()),
            Ok(Err(err)) => {
                let exists = err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception());
                let err = call_failed(CREATE, new.name, BY_NAME, &err);
                Err(if exists {
                    WriteError::Exists(err)
                } else {
                    WriteError::Other(err)
                })
            }
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
        let call = self
            .client
            .put_secret_value()
            .secret_id(&secret.arn)
            .client_request_token(token)
            .secret_string(secret_string.expose().as_str())
            .send();
        match self.send(PUT, &secret.name, call).await {
            Err(timeout) => Err(WriteError::Other(timeout)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => {
                let exists = err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception());
                let err = call_failed(PUT, &secret.name, secret.chosen_by, &err);
                Err(if exists {
                    WriteError::Exists(err)
                } else {
                    WriteError::Other(err)
                })
            }
        }
    }

    /// `UpdateSecret` without a value: description and KMS key only.
    ///
    /// # Errors
    ///
    /// When the call fails or the deadline comes first.
    pub async fn update_metadata(
        &self,
        secret: &Described,
        description: Option<String>,
        kms_key_id: Option<String>,
    ) -> Result<(), Error> {
        let call = self
            .client
            .update_secret()
            .secret_id(&secret.arn)
            .set_description(description)
            .set_kms_key_id(kms_key_id)
            .send();
        self.on(UPDATE, secret, call).await.map(drop)
    }

    /// `TagResource`: sets (adds or overwrites) the tags in `set`.
    ///
    /// # Errors
    ///
    /// When the call fails or the deadline comes first.
    pub async fn tag(
        &self,
        secret: &Described,
        set: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let call = self
            .client
            .tag_resource()
            .secret_id(&secret.arn)
            .set_tags(Some(tags(set)))
            .send();
        self.on(TAG, secret, call).await.map(drop)
    }

    /// `UntagResource`: removes the tags named in `keys`.
    ///
    /// # Errors
    ///
    /// When the call fails or the deadline comes first.
    pub async fn untag(&self, secret: &Described, keys: &[String]) -> Result<(), Error> {
        let call = self
            .client
            .untag_resource()
            .secret_id(&secret.arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send();
        self.on(UNTAG, secret, call).await.map(drop)
    }

    /// `RestoreSecret`: cancels a scheduled deletion.
    ///
    /// # Errors
    ///
    /// When the call fails or the deadline comes first.
    pub async fn restore(&self, secret: &Described) -> Result<(), Error> {
        let call = self.client.restore_secret().secret_id(&secret.arn).send();
        self.on(RESTORE, secret, call).await.map(drop)
    }

    /// `DeleteSecret`, recoverable for `recovery_window_in_days`.
    ///
    /// # Errors
    ///
    /// When the call fails or the deadline comes first.
    pub async fn schedule_deletion(
        &self,
        secret: &Described,
        recovery_window_in_days: i64,
    ) -> Result<(), Error> {
        let call = self
            .client
            .delete_secret()
            .secret_id(&secret.arn)
            .recovery_window_in_days(recovery_window_in_days)
            .send();
        self.on(DELETE, secret, call).await.map(drop)
    }

    /// `DeleteSecret` with `ForceDeleteWithoutRecovery`: the secret and every version are
    /// gone for good.
    ///
    /// # Errors
    ///
    /// When the call fails or the deadline comes first.
    pub async fn dangerous_delete_without_recovery(&self, secret: &Described) -> Result<(), Error> {
        let call = self
            .client
            .delete_secret()
            .secret_id(&secret.arn)
            .force_delete_without_recovery(true)
            .send();
        self.on(DELETE, secret, call).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_secretsmanager::config::retry::RetryConfig;
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn client(endpoint: &str) -> Client {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    /// Secrets Manager on 127.0.0.1 answering every request with `status` and `body` (JSON,
    /// as the service does), or, without a status, never answering.
    async fn server(answer: Option<(u16, &'static str)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    // Read the whole request (head and `Content-Length` body) before answering.
                    while !complete(&request) {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let Some((status, body)) = answer else {
                        return std::future::pending().await;
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        endpoint
    }

    fn complete(request: &[u8]) -> bool {
        let text = String::from_utf8_lossy(request);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        body.len() >= length
    }

    fn secret() -> Described {
        Described {
            arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf".into(),
            name: "app/db".into(),
            chosen_by: BY_NAME,
            ..Described::default()
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[tokio::test]
    async fn a_call_still_running_at_the_deadline_fails_naming_the_secret() {
        let client = client(&server(None).await);
        let redactor = Redactor::new();
        let deadline = Instant::now() + Duration::from_millis(200);
        let store = Store::new(&client, deadline, &redactor);
        let err = store.describe("app/db", BY_NAME).await.unwrap_err();
        assert!(
            err.to_string().starts_with(
                "could not describe secret `app/db`: Secrets Manager did not answer within 0.2 s"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_gets_the_librarys_reason() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let client = client(&endpoint);
        let redactor = Redactor::new();
        let store = Store::new(&client, soon(), &redactor);
        let err = store.restore(&secret()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not restore secret `app/db`: could not reach Secrets Manager: check that the function can \
             reach it (a VPC endpoint or a NAT gateway); the function's log has the detail"
        );
    }

    #[tokio::test]
    async fn access_denied_names_the_permission_the_failed_call_needed() {
        let body = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/f/f is not authorized to perform: secretsmanager:TagResource"}"#;
        let client = client(&server(Some((400, body))).await);
        let redactor = Redactor::new();
        let store = Store::new(&client, soon(), &redactor);
        let tags = BTreeMap::from([("team".to_owned(), "data".to_owned())]);
        let err = store.tag(&secret(), &tags).await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "could not tag secret `app/db`: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/f/f \
                 is not authorized to perform: secretsmanager:TagResource; give the function's role \
                 `secretsmanager:TagResource` on it"
            ),
            "{err}"
        );
        assert!(!err.contains("GetSecretValue"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_secret_is_none_to_describe_and_a_reason_naming_the_property_to_read() {
        let body = r#"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#;
        let client = client(&server(Some((400, body))).await);
        let redactor = Redactor::new();
        let store = Store::new(&client, soon(), &redactor);
        assert!(store.describe("app/db", BY_NAME).await.unwrap().is_none());
        let err = store.read(&secret(), "v1").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not read secret `app/db`: ResourceNotFoundException: Secrets Manager can't find the specified \
             secret; check `Name` (the secret must be in the function's account and region)"
        );
    }

    #[tokio::test]
    async fn what_is_read_is_taught_to_the_requests_redactor() {
        let body = concat!(
            r#"{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf","Name":"app/db","#,
            r#""VersionId":"v1","SecretString":"{\"password\":\"pa55-w0rd-x\",\"username\":\"app\"}"}"#
        );
        let client = client(&server(Some((200, body))).await);
        let redactor = Redactor::new();
        let store = Store::new(&client, soon(), &redactor);
        let content = store.read(&secret(), "v1").await.unwrap();
        assert_eq!(content.get("password").unwrap().expose(), "pa55-w0rd-x");
        assert_eq!(
            redactor.redact_known("user app, password pa55-w0rd-x"),
            "user app, password ***"
        );
    }
}
