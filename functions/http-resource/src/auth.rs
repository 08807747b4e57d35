//! `Auth`: header values read from Secrets Manager at invocation time, held in
//! [`Secret`] until they go on the wire, and taught to the [`Redactor`] so that no `Reason`
//! or log line can show them.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use custom_resource::Secret;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;
use zeroize::Zeroize;

use crate::error::Error;
use crate::properties::Auth;
use crate::redact::Redactor;

/// The header value for `auth` from the secret's value: `<Scheme> <value>`, or the value
/// alone. `secret` is the whole `SecretString`; with `Key` it must be a JSON object and the
/// field is used (a string, or a number written as text). Surrounding whitespace (a trailing
/// newline, say) is dropped.
///
/// # Errors
///
/// A message that never quotes the secret: not JSON, no such field, empty, or not a valid
/// header value.
pub fn header_value(secret: &Secret<String>, auth: &Auth) -> Result<Secret<String>, String> {
    let value = match &auth.key {
        None => Secret::from(secret.expose().trim()),
        Some(key) => pick(secret, key)?,
    };
    if value.expose().is_empty() {
        return Err(match &auth.key {
            Some(key) => format!("the field `{key}` is empty"),
            None => "the secret string is empty".into(),
        });
    }
    let full = match &auth.scheme {
        Some(scheme) => Secret::new(format!("{scheme} {}", value.expose())),
        None => value,
    };
    if HeaderValue::from_str(full.expose()).is_err() {
        return Err(format!(
            "the value cannot be sent in the `{}` header: it contains a line break or another control character",
            auth.header
        ));
    }
    Ok(full)
}

/// The field `key` of a JSON secret, the rest of the parsed secret wiped.
fn pick(secret: &Secret<String>, key: &str) -> Result<Secret<String>, String> {
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(secret.expose()) else {
        return Err(format!(
            "`Key` is `{key}`, but the secret string is not a JSON object; remove `Key` to send the whole secret string"
        ));
    };
    let picked = match fields.remove(key) {
        Some(Value::String(s)) => Ok(Secret::new(s.trim().to_owned())),
        Some(Value::Number(n)) => Ok(Secret::new(n.to_string())),
        Some(_) => Err(format!("the field `{key}` is not a string or a number")),
        None => {
            let names: Vec<String> = fields.keys().take(20).map(|k| format!("`{k}`")).collect();
            Err(format!(
                "has no field `{key}`; its fields are {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ))
        }
    };
    wipe(Value::Object(fields));
    picked
}

fn wipe(value: Value) {
    match value {
        Value::String(mut s) => s.zeroize(),
        Value::Array(items) => items.into_iter().for_each(wipe),
        Value::Object(map) => map.into_iter().for_each(|(_, v)| wipe(v)),
        _ => {}
    }
}

/// Reads every `Auth` secret (each ARN once) and returns the headers to send, marked
/// sensitive, after teaching `redactor` the values.
///
/// # Errors
///
/// [`Error::Secret`] naming the secret and what is wrong (never its value).
pub async fn headers(
    client: &aws_sdk_secretsmanager::Client,
    auth: &[Auth],
    redactor: &mut Redactor,
    deadline: Instant,
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    let mut secrets: HashMap<&str, Secret<String>> = HashMap::new();
    let mut out = Vec::with_capacity(auth.len());
    for entry in auth {
        let arn = entry.secret_arn.as_str();
        if !secrets.contains_key(arn) {
            let value = fetch(client, arn, deadline).await?;
            secrets.insert(arn, value);
        }
        let secret = &secrets[arn];
        let full = header_value(secret, entry).map_err(|problem| Error::Secret {
            arn: arn.to_owned(),
            problem,
        })?;
        // The bare value too: a server may echo it without the scheme.
        if let Some(bare) = entry
            .scheme
            .as_deref()
            .and_then(|scheme| full.expose().strip_prefix(scheme))
        {
            redactor.add(bare.trim_start());
        }
        redactor.add(full.expose());
        let mut value = HeaderValue::from_str(full.expose()).map_err(|_| Error::Secret {
            arn: arn.to_owned(),
            problem: "the value cannot be sent in a header".into(),
        })?;
        value.set_sensitive(true);
        out.push((entry.header.clone(), value));
    }
    Ok(out)
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    deadline: Instant,
) -> Result<Secret<String>, Error> {
    let fail = |problem: String| Error::Secret {
        arn: arn.to_owned(),
        problem,
    };
    let limit = deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(30));
    let call = client.get_secret_value().secret_id(arn).send();
    let output = match tokio::time::timeout(limit, call).await {
        Err(_) => {
            return Err(fail(format!(
                "Secrets Manager did not answer within {:.1} s (a function in a VPC needs a route or an endpoint to it)",
                limit.as_secs_f64()
            )));
        }
        Ok(Err(err)) => {
            let code = err.code().map(str::to_owned);
            tracing::warn!(secret = arn, error = %DisplayErrorContext(&err), "GetSecretValue failed");
            return Err(fail(match code.as_deref() {
                Some("ResourceNotFoundException") => {
                    "not found in this account and region; check `Auth.SecretArn`".into()
                }
                Some("AccessDeniedException") => "access denied: the function's role needs `secretsmanager:GetSecretValue` on it (and `kms:Decrypt` when a customer-managed key encrypts it)".into(),
                Some(code) => format!(
                    "Secrets Manager answered `{code}`: {}",
                    err.message().unwrap_or("no message")
                ),
                None => "could not reach Secrets Manager; the function's log has the detail".into(),
            }));
        }
        Ok(Ok(output)) => output,
    };
    match output.secret_string {
        Some(value) => Ok(Secret::new(value)),
        None => Err(fail(
            "has no `SecretString` (binary secrets are not supported); store the value as a string"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(key: Option<&str>, scheme: Option<&str>) -> Auth {
        let raw = serde_json::json!({
            "BaseUrl": "https://x.example",
            "Create": {"Path": "/x"},
            "Auth": {"SecretArn": "arn", "Key": key, "Scheme": scheme.unwrap_or("")},
        });
        crate::parse_properties(&raw).unwrap().auth.remove(0)
    }

    #[test]
    fn header_values_from_whole_or_json_secrets() {
        let plain = Secret::from("tok-123\n");
        assert_eq!(
            header_value(&plain, &auth(None, Some("Bearer")))
                .unwrap()
                .expose(),
            "Bearer tok-123"
        );
        assert_eq!(
            header_value(&plain, &auth(None, None)).unwrap().expose(),
            "tok-123"
        );
        let json = Secret::from(r#"{"token": "abc", "port": 5432, "nested": {"x": "y"}}"#);
        assert_eq!(
            header_value(&json, &auth(Some("token"), Some("token")))
                .unwrap()
                .expose(),
            "token abc"
        );
        assert_eq!(
            header_value(&json, &auth(Some("port"), None))
                .unwrap()
                .expose(),
            "5432"
        );
    }

    #[test]
    fn problems_never_quote_the_secret() {
        let json = Secret::from(r#"{"token": "hunter2-value", "other": "x"}"#);
        let cases = [
            (
                header_value(&json, &auth(Some("tok"), None)),
                "has no field `tok`; its fields are `other`, `token`",
            ),
            (
                header_value(&json, &auth(Some("nested"), None)),
                "has no field `nested`; its fields are `other`, `token`",
            ),
            (
                header_value(&Secret::from("hunter2-value"), &auth(Some("token"), None)),
                "`Key` is `token`, but the secret string is not a JSON object; remove `Key` to send the whole secret string",
            ),
            (
                header_value(&Secret::from("  "), &auth(None, None)),
                "the secret string is empty",
            ),
            (
                header_value(&Secret::from("hunter2\r\nX-Evil: 1"), &auth(None, None)),
                "the value cannot be sent in the `authorization` header: it contains a line break or another control character",
            ),
        ];
        for (result, expected) in cases {
            let problem = result.unwrap_err();
            assert_eq!(problem, expected);
            assert!(!problem.contains("hunter2"));
        }
        let obj = Secret::from(r#"{"token": {"a": 1}}"#);
        assert_eq!(
            header_value(&obj, &auth(Some("token"), None)).unwrap_err(),
            "the field `token` is not a string or a number"
        );
    }
}
