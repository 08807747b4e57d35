//! `Auth`: header values from Secrets Manager secrets, read at invocation time through the
//! library's reader ([`SecretSource`]), held in [`Secret`] until they go on the wire, and
//! taught to the request's [`Redactor`] so that no `Reason` or log line can show them.

use std::collections::HashMap;

use custom_resource::Secret;
use custom_resource::properties::scalar_text;
use custom_resource::redact::Redactor;
use custom_resource::secrets::{SecretSource, wipe};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::Error;
use crate::properties::Auth;

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

/// The field `key` of a JSON secret, the parsed secret wiped.
fn pick(secret: &Secret<String>, key: &str) -> Result<Secret<String>, String> {
    let Ok(mut parsed) = serde_json::from_str::<Value>(secret.expose()) else {
        return Err(not_an_object(key));
    };
    let picked = match &parsed {
        Value::Object(fields) => match fields.get(key) {
            Some(field @ (Value::String(_) | Value::Number(_))) => {
                // Held in a `Secret` so that the untrimmed copy is wiped too.
                let text = Secret::new(scalar_text(field).unwrap_or_default());
                Ok(Secret::from(text.expose().trim()))
            }
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
        },
        _ => Err(not_an_object(key)),
    };
    wipe(&mut parsed);
    picked
}

fn not_an_object(key: &str) -> String {
    format!(
        "`Key` is `{key}`, but the secret string is not a JSON object; remove `Key` to send the whole secret string"
    )
}

/// Reads every `Auth` secret from `source` (each one once) and returns the headers to send,
/// marked sensitive. `redactor` (the request's) learns the secrets from the reader and the
/// header values here, with and without their scheme.
///
/// # Errors
///
/// [`Error::AuthRead`] when a secret cannot be read (the library's reason, naming the
/// property), [`Error::Secret`] when its value cannot be used; never a value.
pub async fn headers<S: SecretSource>(
    source: &S,
    auth: &[Auth],
    redactor: &Redactor,
    deadline: Instant,
) -> Result<Vec<(HeaderName, HeaderValue)>, Error> {
    let mut secrets: HashMap<&str, Secret<String>> = HashMap::new();
    let mut out = Vec::with_capacity(auth.len());
    for (i, entry) in auth.iter().enumerate() {
        let arn = entry.secret_arn.as_str();
        if !secrets.contains_key(arn) {
            // The path the properties' reasons use: `Auth`, or `Auth[1]` in a list.
            let property = if auth.len() > 1 {
                format!("Auth[{i}]")
            } else {
                "Auth".to_owned()
            };
            let value = source
                .secret_string(arn, &format!("{property}.SecretArn"), redactor, deadline)
                .await
                .map_err(|error| Error::AuthRead { property, error })?;
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

    /// Secrets held in memory, counting reads; a missing one fails as the library's reader
    /// does.
    #[derive(Default)]
    struct Held {
        values: HashMap<String, String>,
        reads: std::sync::Mutex<Vec<String>>,
    }

    impl SecretSource for Held {
        async fn secret_string(
            &self,
            id: &str,
            property: &str,
            redactor: &Redactor,
            _deadline: Instant,
        ) -> Result<Secret<String>, custom_resource::Error> {
            self.reads.lock().unwrap().push(id.to_owned());
            let text = self
                .values
                .get(id)
                .ok_or_else(|| custom_resource::Error::Secret {
                    secret: id.to_owned(),
                    problem: format!("ResourceNotFoundException; check `{property}`"),
                })?;
            let text = Secret::from(text.as_str());
            custom_resource::secrets::teach(redactor, &text);
            Ok(text)
        }
    }

    fn entries(raw: Value) -> Vec<Auth> {
        let raw = serde_json::json!({"BaseUrl": "https://x.example", "Create": {"Path": "/x"}, "Auth": raw});
        crate::parse_properties(&raw).unwrap().auth
    }

    #[tokio::test]
    async fn each_secret_is_read_once_and_every_header_value_is_taught() {
        let held = Held {
            values: HashMap::from([(
                "dd".to_owned(),
                r#"{"api_key": "k3y-value", "app": "4pp-value"}"#.to_owned(),
            )]),
            ..Held::default()
        };
        let auth = entries(serde_json::json!([
            {"SecretArn": "dd", "Key": "api_key", "Header": "DD-API-KEY"},
            {"SecretArn": "dd", "Key": "app", "Header": "Authorization", "Scheme": "Bearer"},
        ]));
        let redactor = Redactor::new();
        let headers = headers(&held, &auth, &redactor, Instant::now())
            .await
            .unwrap();
        assert_eq!(*held.reads.lock().unwrap(), ["dd"]);
        assert_eq!(headers.len(), 2);
        assert!(headers.iter().all(|(_, v)| v.is_sensitive()));
        assert_eq!(headers[1].1, "Bearer 4pp-value");
        // `app` is not a credential-like name: it is masked because it went into a header.
        assert_eq!(
            redactor.redact_known("k3y-value, 4pp-value, Bearer 4pp-value"),
            "***, ***, ***"
        );
    }

    #[tokio::test]
    async fn a_secret_that_cannot_be_read_is_named_with_its_property() {
        let held = Held::default();
        let one = entries(serde_json::json!({"SecretArn": "gone"}));
        let why = headers(&held, &one, &Redactor::new(), Instant::now())
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            why,
            "`Auth`: could not read the secret `gone`: ResourceNotFoundException; check `Auth.SecretArn`"
        );
        let held = Held {
            values: HashMap::from([("a".to_owned(), "x".to_owned())]),
            ..Held::default()
        };
        let two = entries(serde_json::json!([
            {"SecretArn": "a"},
            {"SecretArn": "gone", "Header": "X-Key"},
        ]));
        let why = headers(&held, &two, &Redactor::new(), Instant::now())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            why.starts_with("`Auth[1]`: could not read the secret `gone`")
                && why.ends_with("check `Auth[1].SecretArn`"),
            "{why}"
        );
    }
}
