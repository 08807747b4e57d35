//! Reading secrets from Secrets Manager, the one way every function does it: one table of
//! reasons for what goes wrong, values straight into [`Secret`] and taught to the request's
//! [`Redactor`], and never a value in an error.

use std::fmt::Debug;
use std::future::Future;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde_json::{Map, Value};
use tokio::time::Instant;
use zeroize::Zeroize;

use crate::aws::{Aws, within};
use crate::redact::Redactor;
use crate::{Error, Secret};

/// The longest service message a reason quotes, in characters.
const MAX_MESSAGE_CHARS: usize = 200;

/// Where secret values come from: Secrets Manager in a function; the same client pointed at
/// moto in tests.
pub trait SecretSource: Send + Sync + 'static {
    /// The `SecretString` of secret `id` (an ARN or a name). `property` is the property that
    /// named it, for the reason (`SecretArn`, `Auth.SecretArn`). The value, and every string
    /// field of it when it is a JSON object, is taught to `redactor` before it is returned.
    fn secret_string(
        &self,
        id: &str,
        property: &str,
        redactor: &Redactor,
        deadline: Instant,
    ) -> impl Future<Output = Result<Secret<String>, Error>> + Send;
}

/// Secrets Manager through the shared [`Aws`] configuration.
#[derive(Debug, Clone, Default)]
pub struct SecretsManager {
    aws: Aws,
}

impl SecretsManager {
    /// A reader over `aws`; its client is built on the first read.
    pub fn new(aws: Aws) -> Self {
        Self { aws }
    }
}

impl SecretSource for SecretsManager {
    async fn secret_string(
        &self,
        id: &str,
        property: &str,
        redactor: &Redactor,
        deadline: Instant,
    ) -> Result<Secret<String>, Error> {
        let fail = |problem: String| Error::Secret {
            secret: id.to_owned(),
            problem,
        };
        let client = self.aws.secrets_manager().await?;
        let call = client.get_secret_value().secret_id(id).send();
        let output = match within(deadline, call).await {
            Err(given) => return Err(fail(timeout_problem(given))),
            Ok(Err(err)) => {
                tracing::warn!(secret = id, error = %DisplayErrorContext(&err), "GetSecretValue failed");
                return Err(fail(problem("GetSecretValue", &err, property)));
            }
            Ok(Ok(output)) => output,
        };
        let Some(text) = output.secret_string else {
            return Err(fail(
                "it has no `SecretString` (a binary secret); store the value as text".into(),
            ));
        };
        let text = Secret::new(text);
        teach(redactor, &text);
        Ok(text)
    }
}

/// Teaches `redactor` a secret's text and, when it is a JSON object, every value under a
/// credential-like name ([`crate::redact::sensitive_name`]: an RDS secret's `password`, an
/// API's `token`). Other fields (`username`, `host`, `dbname`) stay readable in reasons.
pub fn teach(redactor: &Redactor, text: &Secret<String>) {
    redactor.add(text.expose());
    if let Ok(mut value) = serde_json::from_str::<Value>(text.expose()) {
        teach_sensitive(redactor, &value, false);
        wipe(&mut value);
    }
}

fn teach_sensitive(redactor: &Redactor, value: &Value, sensitive: bool) {
    match value {
        Value::String(s) if sensitive => redactor.add(s),
        Value::Number(n) if sensitive => redactor.add(&n.to_string()),
        Value::Array(items) => items
            .iter()
            .for_each(|v| teach_sensitive(redactor, v, sensitive)),
        Value::Object(map) => map.iter().for_each(|(key, v)| {
            teach_sensitive(redactor, v, sensitive || crate::redact::sensitive_name(key));
        }),
        _ => {}
    }
}

/// Zeroes every string in a parsed secret before it is dropped.
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

/// A secret's text as a JSON object. The reason says where it stops being one, never what it
/// holds: serde's own message may quote the text.
///
/// # Errors
///
/// [`Error::Secret`]: "it is not a JSON object (line 1, column 5)".
pub fn json_object(id: &str, text: &Secret<String>) -> Result<Map<String, Value>, Error> {
    let fail = |problem: String| Error::Secret {
        secret: id.to_owned(),
        problem,
    };
    match serde_json::from_str::<Value>(text.expose()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(mut other) => {
            wipe(&mut other);
            Err(fail("it is not a JSON object".into()))
        }
        Err(e) => Err(fail(format!(
            "it is not a JSON object (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// The reason for a failed Secrets Manager call: short, saying what to do for the usual
/// failures, never the whole HTTP response the SDK's own rendering carries. `operation` is the
/// call (`GetSecretValue`, `PutSecretValue`: the permission a denial names); `property` names
/// the property that chose the secret.
pub fn problem<E, R>(operation: &str, err: &SdkError<E, R>, property: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let service = service.err();
            service_problem(
                operation,
                service.code().unwrap_or("error"),
                service.message().unwrap_or_default(),
                property,
            )
        }
        SdkError::TimeoutError(_) => "Secrets Manager did not answer in time: check that the function can reach it (a VPC endpoint or a NAT gateway)".into(),
        SdkError::DispatchFailure(_) => "could not reach Secrets Manager: check that the function can reach it (a VPC endpoint or a NAT gateway); the function's log has the detail".into(),
        _ => "the call to Secrets Manager failed before an answer; the function's log has the detail".into(),
    }
}

/// The reason when the request's deadline came before Secrets Manager answered.
pub fn timeout_problem(given: std::time::Duration) -> String {
    format!(
        "Secrets Manager did not answer within {:.1} s: check that the function can reach it (a VPC endpoint or a NAT gateway)",
        given.as_secs_f64()
    )
}

/// `code: message`, and what to do for the usual codes: the one table of reasons.
pub fn service_problem(operation: &str, code: &str, message: &str, property: &str) -> String {
    let hint = match code {
        "ResourceNotFoundException" => format!(
            "; check `{property}` (the secret must be in the function's account and region)"
        ),
        "AccessDeniedException" => format!(
            "; give the function's role `secretsmanager:{operation}` on it (and {} on its key, if a customer-managed one)",
            kms_permissions(operation)
        ),
        "DecryptionFailure" => "; give the function's role `kms:Decrypt` on the secret's KMS key".into(),
        "EncryptionFailure" => "; give the function's role `kms:GenerateDataKey` and `kms:Decrypt` on the secret's KMS key".into(),
        "InvalidRequestException" if message.contains("deletion") => format!(
            "; restore it (`aws secretsmanager restore-secret`) or point `{property}` at another secret"
        ),
        _ => String::new(),
    };
    let message: String = message
        .trim()
        .trim_end_matches('.')
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.is_empty() {
        format!("{code}{hint}")
    } else {
        format!("{code}: {message}{hint}")
    }
}

/// The KMS permissions `operation` needs on a customer-managed key.
fn kms_permissions(operation: &str) -> &'static str {
    match operation {
        "CreateSecret" | "PutSecretValue" | "UpdateSecret" | "RotateSecret" => {
            "`kms:GenerateDataKey` and `kms:Decrypt`"
        }
        _ => "`kms:Decrypt`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_failures_say_what_to_do() {
        assert_eq!(
            service_problem(
                "GetSecretValue",
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret.",
                "SecretArn"
            ),
            "ResourceNotFoundException: Secrets Manager can't find the specified secret; check `SecretArn` (the secret must be in the function's account and region)"
        );
        let denied = service_problem(
            "GetSecretValue",
            "AccessDeniedException",
            "",
            "Auth.SecretArn",
        );
        assert!(
            denied.contains("`secretsmanager:GetSecretValue`") && denied.contains("`kms:Decrypt`")
        );
        let denied = service_problem("PutSecretValue", "AccessDeniedException", "", "Name");
        assert!(
            denied.contains("`secretsmanager:PutSecretValue`")
                && denied.contains("`kms:GenerateDataKey` and `kms:Decrypt`"),
            "{denied}"
        );
        assert!(
            service_problem("GetSecretValue", "DecryptionFailure", "no key", "SecretArn")
                .contains("`kms:Decrypt`")
        );
        assert!(
            service_problem(
                "GetSecretValue",
                "InvalidRequestException",
                "You can't perform this operation on the secret because it was marked for deletion.",
                "SecretArn"
            )
            .contains("restore it")
        );
        assert_eq!(
            service_problem("GetSecretValue", "Throttling", "slow down", "X"),
            "Throttling: slow down"
        );
    }

    #[test]
    fn a_long_service_message_is_cut() {
        let long = "x".repeat(1000);
        assert!(service_problem("GetSecretValue", "Weird", &long, "X").len() < 260);
    }

    #[test]
    fn json_problems_say_where_never_what() {
        let id = "arn:aws:secretsmanager:us-east-1:1:secret:db";
        for text in [
            "hunter2-secret",
            "\"hunter2-secret\"",
            "[\"hunter2-secret\"]",
        ] {
            let reason = json_object(id, &Secret::from(text))
                .unwrap_err()
                .to_string();
            assert!(reason.contains("it is not a JSON object"), "{reason}");
            assert!(reason.contains(id), "{reason}");
            assert!(!reason.contains("hunter2"), "{reason}");
        }
        let map = json_object(id, &Secret::from(r#"{"password":"p"}"#)).unwrap();
        assert_eq!(map["password"], "p");
    }

    #[test]
    fn credential_values_of_a_json_secret_are_taught_and_names_stay_readable() {
        let redactor = Redactor::new();
        teach(
            &redactor,
            &Secret::from(
                r#"{"username":"app","password":"pa55-word","nested":{"api_token":"t0k3n-value"}}"#,
            ),
        );
        let text = "login app with pa55-word and t0k3n-value";
        assert_eq!(redactor.redact(text), "login app with *** and ***");
    }
}
