//! The resource's properties: parsed from what CloudFormation delivers (strings for numbers
//! and booleans), then checked across properties, so that every mistake a template can make
//! is a FAILED `Reason` naming the property before any request is sent.

use std::collections::BTreeMap;
use std::fmt;

use custom_resource::PropertyError;
use custom_resource::properties::{de, kind, scalar_text};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use url::Url;

use crate::endpoint;

/// `Idempotency-Key`: the header sent on Create unless `IdempotencyKey` names another or is empty.
pub const DEFAULT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Attempts per request unless `Retry.MaxAttempts` says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The most attempts `Retry.MaxAttempts` may ask for.
pub const MAX_MAX_ATTEMPTS: u32 = 10;
/// Each attempt's time limit unless `Retry.AttemptTimeoutSeconds` says otherwise.
pub const DEFAULT_ATTEMPT_TIMEOUT_SECONDS: f64 = 30.0;

/// Headers the HTTP client sets itself; a template may not.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// The properties of a `Custom::HttpResource`, checked: serde reads a raw struct, and
/// `TryFrom` checks it into this one, so an unchecked value cannot exist.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawProperties")]
#[non_exhaustive]
pub struct Properties {
    /// `https://…` (plain `http` only for loopback or with `AllowHttp`), without query or
    /// credentials; operation paths are appended to it.
    pub base_url: Url,
    /// Plain `http` allowed to a host that is not loopback.
    pub allow_http: bool,
    /// How the remote object is created (default method POST).
    pub create: Operation,
    /// How it is read (default method GET).
    pub read: Option<Operation>,
    /// How it is updated (default method PUT); without it a change replaces the object.
    pub update: Option<Operation>,
    /// How it is deleted (default method DELETE); without it nothing remote is deleted.
    pub delete: Option<Operation>,
    /// JSON pointer to the id in the Create response (default `/id`).
    pub id_pointer: String,
    /// Where the id comes from.
    pub id_from: IdFrom,
    /// `Data` names and the JSON pointers their values come from.
    pub outputs: BTreeMap<String, String>,
    /// Mask `Data` in CloudFormation's output.
    pub no_echo: bool,
    /// Extra request headers, in the template's order of names.
    pub headers: Vec<(HeaderName, String)>,
    /// Header values read from Secrets Manager at invocation time.
    pub auth: Vec<Auth>,
    /// Attempts and time limits.
    pub retry: Retry,
    /// The header that carries the idempotency key on Create; `None` when turned off.
    pub idempotency_key: Option<HeaderName>,
    /// Whether a Delete runs the `Delete` operation.
    pub on_delete: OnDelete,
}

/// One request the resource makes: method, path (with `{id}`), body, accepted statuses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Operation {
    /// The HTTP method (`Method`, or the operation's default).
    pub method: Method,
    /// The path (and query) appended to `BaseUrl`; `{id}` is the physical id, URL-encoded.
    pub path: String,
    /// The JSON body, if any (a string `Body` has been parsed as JSON).
    pub body: Option<Value>,
    /// Statuses that count as success; empty means any 2xx.
    pub expect_status: Vec<u16>,
}

/// Where the physical id comes from in the Create response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum IdFrom {
    /// The JSON pointer `IdPointer` into the response body.
    #[default]
    Body,
    /// The last path segment of the `Location` header.
    Location,
}

/// What a Delete does to the remote object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum OnDelete {
    /// Run the `Delete` operation, when there is one.
    #[default]
    Delete,
    /// Never delete the remote object.
    Retain,
}

/// A request header whose value is read from Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Auth {
    /// The secret's ARN (or name).
    pub secret_arn: String,
    /// The field of a JSON secret to use; `None` uses the whole `SecretString`.
    pub key: Option<String>,
    /// The header to send it in (default `Authorization`).
    pub header: HeaderName,
    /// Written before the value with a space (default `Bearer` for `Authorization`, else none).
    pub scheme: Option<String>,
}

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Retry {
    /// Attempts per request, 1 to [`MAX_MAX_ATTEMPTS`].
    pub max_attempts: u32,
    /// Each attempt's time limit in seconds (never past the deadline).
    pub attempt_timeout_seconds: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            attempt_timeout_seconds: DEFAULT_ATTEMPT_TIMEOUT_SECONDS,
        }
    }
}

/// Parses and checks `ResourceProperties`: the [`custom_resource::properties::parse`] rules
/// (strings for numbers and booleans, unknown keys refused with the known ones listed) and
/// the checks across properties (`BaseUrl` scheme, paths and `{id}`, pointers, headers).
///
/// # Errors
///
/// A [`PropertyError`] naming the property and what was expected.
pub fn parse_properties(raw: &Value) -> Result<Properties, PropertyError> {
    custom_resource::properties::parse(raw)
}

/// `ResourceProperties` as serde reads them, before the checks across properties; only
/// [`Properties`] (through `TryFrom`) ever sees one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawProperties {
    base_url: String,
    #[serde(default, deserialize_with = "de::boolean")]
    allow_http: bool,
    // Operations only from objects: serde would fill one from a list, and `Method` is named.
    #[serde(deserialize_with = "de::object")]
    create: RawOperation,
    #[serde(default, deserialize_with = "de::opt_object")]
    read: Option<RawOperation>,
    #[serde(default, deserialize_with = "de::opt_object")]
    update: Option<RawOperation>,
    #[serde(default, deserialize_with = "de::opt_object")]
    delete: Option<RawOperation>,
    #[serde(default)]
    id_pointer: Option<String>,
    #[serde(default)]
    id_from: IdFrom,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "de::boolean")]
    no_echo: bool,
    /// Values are any scalar, read as text ([`scalar_text`]) in the checks, which name the
    /// header.
    #[serde(default)]
    headers: BTreeMap<String, Value>,
    #[serde(default)]
    auth: Option<AuthList>,
    #[serde(default, deserialize_with = "de::opt_object")]
    retry: Option<RawRetry>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    on_delete: OnDelete,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawOperation {
    #[serde(default)]
    method: Option<String>,
    path: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    expect_status: Option<Vec<StatusNumber>>,
}

#[derive(Debug, Deserialize)]
struct StatusNumber(#[serde(deserialize_with = "de::number")] u16);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawAuth {
    secret_arn: String,
    #[serde(default, deserialize_with = "de::opt_scalar_text")]
    key: Option<String>,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    scheme: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawRetry {
    #[serde(default, deserialize_with = "max_attempts")]
    max_attempts: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    attempt_timeout_seconds: Option<f64>,
}

fn max_attempts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de::bounded(d, 1, MAX_MAX_ATTEMPTS.into())
}

/// `Auth`: one object, or a list of them (an API that wants two keys, like Datadog's).
#[derive(Debug)]
struct AuthList(Vec<RawAuth>);

impl<'de> Deserialize<'de> for AuthList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = AuthList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object {SecretArn, Key, Header, Scheme} or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AuthList, A::Error> {
                RawAuth::deserialize(MapAccessDeserializer::new(map)).map(|a| AuthList(vec![a]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<AuthList, A::Error> {
                Vec::<AuthObject>::deserialize(SeqAccessDeserializer::new(seq))
                    .map(|list| AuthList(list.into_iter().map(|a| a.0).collect()))
            }
        }
        deserializer.deserialize_any(OneOrMany)
    }
}

/// One entry of an `Auth` list, only from an object (serde would fill it from a list too).
struct AuthObject(RawAuth);

impl<'de> Deserialize<'de> for AuthObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::object(d).map(AuthObject)
    }
}

/// Which operation an [`Operation`] is, for defaults, checks and reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Makes the remote object on Create (and on a replacing Update); default `POST`.
    Create,
    /// Fetches the object for `Outputs` an answer lacks; default `GET`.
    Read,
    /// Changes the object in place; default `PUT`.
    Update,
    /// Removes the object on Delete unless `OnDelete: Retain`; default `DELETE`.
    Delete,
}

impl Op {
    fn default_method(self) -> Method {
        match self {
            Self::Create => Method::POST,
            Self::Read => Method::GET,
            Self::Update => Method::PUT,
            Self::Delete => Method::DELETE,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "Create",
            Self::Read => "Read",
            Self::Update => "Update",
            Self::Delete => "Delete",
        })
    }
}

fn err(path: impl Into<String>, message: impl Into<String>) -> PropertyError {
    PropertyError::new(path, message)
}

impl TryFrom<RawProperties> for Properties {
    type Error = PropertyError;

    /// The checks across properties. Serde has finished by then, so each error names its
    /// property itself.
    fn try_from(raw: RawProperties) -> Result<Self, PropertyError> {
        raw.check()
    }
}

impl RawProperties {
    fn check(self) -> Result<Properties, PropertyError> {
        let base_url = endpoint::base_url(&self.base_url, self.allow_http)
            .map_err(|problem| err("BaseUrl", problem))?;
        let create = self.create.check(Op::Create)?;
        let read = self.read.map(|o| o.check(Op::Read)).transpose()?;
        let update = self.update.map(|o| o.check(Op::Update)).transpose()?;
        let delete = self.delete.map(|o| o.check(Op::Delete)).transpose()?;

        let id_pointer = self.id_pointer.unwrap_or_else(|| "/id".to_owned());
        check_pointer("IdPointer", &id_pointer)?;
        if self.id_from == IdFrom::Location && id_pointer != "/id" {
            return Err(err(
                "IdPointer",
                "is read only with `IdFrom: Body`; remove it, or set `IdFrom: Body`",
            ));
        }
        for (name, pointer) in &self.outputs {
            check_output_name(name)?;
            check_pointer(&format!("Outputs.{name}"), pointer)?;
        }
        if !self.outputs.is_empty() && update.is_some() && read.is_none() {
            return Err(err(
                "Read",
                "is required with both `Outputs` and `Update`: an Update may answer 204 with no body, and CloudFormation drops outputs its answer leaves out; add `Read: {Path: …/{id}}`",
            ));
        }

        let auth = match self.auth {
            None => Vec::new(),
            Some(AuthList(list)) => check_auth(list)?,
        };
        let idempotency_key = match self.idempotency_key {
            None => Some(HeaderName::from_static("idempotency-key")),
            Some(name) if name.trim().is_empty() => None,
            Some(name) => Some(header_name("IdempotencyKey", name.trim())?),
        };
        let headers = check_headers(self.headers, &auth, idempotency_key.as_ref())?;
        if let Some(key) = &idempotency_key
            && let Some(a) = auth.iter().find(|a| a.header == *key)
        {
            return Err(err(
                "IdempotencyKey",
                format!(
                    "`{key}` is also the header of `Auth` (`{}`); name another header, or set `IdempotencyKey: \"\"` to turn it off",
                    a.header
                ),
            ));
        }

        let raw_retry = self.retry.unwrap_or_default();
        let retry = Retry {
            // `bounded` has kept it from 1 to `MAX_MAX_ATTEMPTS`.
            max_attempts: raw_retry
                .max_attempts
                .map_or(DEFAULT_MAX_ATTEMPTS, |n| n as u32),
            attempt_timeout_seconds: raw_retry
                .attempt_timeout_seconds
                .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT_SECONDS),
        };
        if !(retry.attempt_timeout_seconds.is_finite()
            && (1.0..=900.0).contains(&retry.attempt_timeout_seconds))
        {
            return Err(err(
                "Retry.AttemptTimeoutSeconds",
                "expected a number of seconds from 1 to 900, got a number outside that range",
            ));
        }

        Ok(Properties {
            base_url,
            allow_http: self.allow_http,
            create,
            read,
            update,
            delete,
            id_pointer,
            id_from: self.id_from,
            outputs: self.outputs,
            no_echo: self.no_echo,
            headers,
            auth,
            retry,
            idempotency_key,
            on_delete: self.on_delete,
        })
    }
}

impl RawOperation {
    fn check(self, op: Op) -> Result<Operation, PropertyError> {
        let method = match self.method {
            None => op.default_method(),
            Some(text) => method(&text).ok_or_else(|| {
                err(
                    format!("{op}.Method"),
                    format!(
                        "expected `GET`, `POST`, `PUT`, `PATCH` or `DELETE`, got `{}`",
                        text.chars().take(40).collect::<String>()
                    ),
                )
            })?,
        };
        endpoint::check_path(&self.path, op).map_err(|p| err(format!("{op}.Path"), p))?;
        let body = self
            .body
            .map(|body| body_json(body).map_err(|p| err(format!("{op}.Body"), p)))
            .transpose()?;
        let expect_status: Vec<u16> = self
            .expect_status
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.0)
            .collect();
        if let Some(at) = expect_status.iter().position(|s| !(100..=599).contains(s)) {
            return Err(err(
                format!("{op}.ExpectStatus[{at}]"),
                "expected an HTTP status from 100 to 599, got a number outside that range",
            ));
        }
        Ok(Operation {
            method,
            path: self.path,
            body,
            expect_status,
        })
    }
}

fn method(text: &str) -> Option<Method> {
    match text.trim().to_ascii_uppercase().as_str() {
        "GET" => Some(Method::GET),
        "POST" => Some(Method::POST),
        "PUT" => Some(Method::PUT),
        "PATCH" => Some(Method::PATCH),
        "DELETE" => Some(Method::DELETE),
        _ => None,
    }
}

/// A `Body` as sent: an object or list as CloudFormation delivered it, or a string parsed
/// as JSON so that its numbers and booleans keep their types.
///
/// # Errors
///
/// When a string `Body` is not JSON text (the message gives serde's line and column, never
/// the text).
pub fn body_json(body: Value) -> Result<Value, String> {
    match body {
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "a string `Body` must be JSON text ({e}); write the object itself, or valid JSON in the string"
            )
        }),
        other => Ok(other),
    }
}

fn check_pointer(path: &str, pointer: &str) -> Result<(), PropertyError> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(err(
            path,
            "expected a JSON pointer such as `/id` or `/data/0/id` (empty for the whole body), got text that does not start with `/`",
        ))
    }
}

fn check_output_name(name: &str) -> Result<(), PropertyError> {
    let fine = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if fine {
        Ok(())
    } else {
        Err(err(
            "Outputs",
            format!(
                "the output name `{name}` is not one `Fn::GetAtt` can use; use letters, digits, `_`, `.` and `-`"
            ),
        ))
    }
}

/// A header name. A valid one is named in reasons; text that is not one is not repeated (in
/// `Auth.Header` or `IdempotencyKey` it may be a secret put in the wrong property; under
/// `Headers` the path names the key already).
fn header_name(path: &str, name: &str) -> Result<HeaderName, PropertyError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        err(
            path,
            "expected an HTTP header name (letters, digits and `-`), got text that is not one",
        )
    })
}

fn check_auth(list: Vec<RawAuth>) -> Result<Vec<Auth>, PropertyError> {
    if list.is_empty() {
        return Err(err(
            "Auth",
            "is an empty list; remove it, or give at least one {SecretArn, …}",
        ));
    }
    let many = list.len() > 1;
    let mut out: Vec<Auth> = Vec::with_capacity(list.len());
    for (i, raw) in list.into_iter().enumerate() {
        let at = if many {
            format!("Auth[{i}]")
        } else {
            "Auth".to_owned()
        };
        if raw.secret_arn.trim().is_empty() {
            return Err(err(
                format!("{at}.SecretArn"),
                "expected the ARN or name of a Secrets Manager secret, got an empty string",
            ));
        }
        let header = match raw.header.as_deref().map(str::trim) {
            None | Some("") => HeaderName::from_static("authorization"),
            Some(name) => header_name(&format!("{at}.Header"), name)?,
        };
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(err(
                format!("{at}.Header"),
                format!(
                    "`{header}` is set by the HTTP client; name the header the API reads the credential from"
                ),
            ));
        }
        if out.iter().any(|a| a.header == header) {
            return Err(err(
                format!("{at}.Header"),
                format!("`{header}` is already set by another `Auth` entry"),
            ));
        }
        let scheme = match raw.scheme {
            Some(s) if s.trim().is_empty() => None,
            Some(s) => Some(s.trim().to_owned()),
            None if header == reqwest::header::AUTHORIZATION => Some("Bearer".to_owned()),
            None => None,
        };
        if let Some(s) = &scheme
            && (s.chars().any(|c| c.is_whitespace() || c.is_control())
                || HeaderValue::from_str(s).is_err())
        {
            return Err(err(
                format!("{at}.Scheme"),
                "expected one word such as `Bearer`, `token` or `Basic`, got text with a space or a character a header cannot carry",
            ));
        }
        let key = raw.key.filter(|k| !k.is_empty());
        out.push(Auth {
            secret_arn: raw.secret_arn.trim().to_owned(),
            key,
            header,
            scheme,
        });
    }
    Ok(out)
}

fn check_headers(
    raw: BTreeMap<String, Value>,
    auth: &[Auth],
    idempotency_key: Option<&HeaderName>,
) -> Result<Vec<(HeaderName, String)>, PropertyError> {
    let mut headers: Vec<(HeaderName, String)> = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        let at = format!("Headers.{name}");
        let header = header_name(&at, &name)?;
        let Some(value) = scalar_text(&value) else {
            return Err(err(
                at,
                format!("expected a string header value, got {}", kind(&value)),
            ));
        };
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(err(
                at,
                format!("`{header}` is set by the HTTP client; remove it"),
            ));
        }
        if auth.iter().any(|a| a.header == header) {
            return Err(err(
                at,
                format!("`{header}` is set from the secret in `Auth`; remove it from `Headers`"),
            ));
        }
        if idempotency_key == Some(&header) {
            return Err(err(
                at,
                format!(
                    "`{header}` carries the idempotency key (`IdempotencyKey`); remove it from `Headers`, or set `IdempotencyKey: \"\"` to send your own"
                ),
            ));
        }
        if HeaderValue::from_str(&value).is_err() {
            return Err(err(
                at,
                "the value is not a valid HTTP header value (it has a line break or another control character)",
            ));
        }
        if headers.iter().any(|(h, _)| *h == header) {
            return Err(err(
                at,
                format!("`{header}` is given twice (header names ignore case)"),
            ));
        }
        headers.push((header, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({"BaseUrl": "https://api.example.com/v1", "Create": {"Path": "/hooks"}})
    }

    fn with(extra: Value) -> Value {
        let mut raw = minimal();
        for (k, v) in extra.as_object().unwrap() {
            raw[k] = v.clone();
        }
        raw
    }

    fn reason(raw: Value) -> String {
        parse_properties(&raw).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let p = parse_properties(&minimal()).unwrap();
        assert_eq!(p.base_url.as_str(), "https://api.example.com/v1");
        assert_eq!(p.create.method, Method::POST);
        assert_eq!(p.create.body, None);
        assert!(p.create.expect_status.is_empty());
        assert_eq!(p.id_pointer, "/id");
        assert_eq!(p.id_from, IdFrom::Body);
        assert_eq!(p.on_delete, OnDelete::Delete);
        assert_eq!(p.retry, Retry::default());
        assert_eq!(
            p.idempotency_key.as_ref().map(HeaderName::as_str),
            Some("idempotency-key")
        );
        assert!(p.read.is_none() && p.update.is_none() && p.delete.is_none());
        assert!(p.auth.is_empty() && p.headers.is_empty() && !p.no_echo);
    }

    #[test]
    fn a_full_template_as_cloudformation_delivers_it() {
        // Every number and boolean arrives as a string.
        let p = parse_properties(&json!({
            "ServiceToken": "arn:aws:lambda:…",
            "BaseUrl": "https://api.github.com",
            "AllowHttp": "false",
            "Create": {"Path": "/repos/o/r/hooks", "Body": {"active": "true"}, "ExpectStatus": ["201"]},
            "Read": {"Path": "/repos/o/r/hooks/{id}"},
            "Update": {"Method": "patch", "Path": "/repos/o/r/hooks/{id}", "Body": "{\"active\": true, \"n\": 1}"},
            "Delete": {"Path": "/repos/o/r/hooks/{id}"},
            "IdPointer": "/id",
            "Outputs": {"Url": "/url", "Events.First": "/events/0"},
            "NoEcho": "true",
            "Headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "X-Count": 3},
            "Auth": {"SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:gh", "Key": "token"},
            "Retry": {"MaxAttempts": "3", "AttemptTimeoutSeconds": "10"},
            "IdempotencyKey": "X-Request-Key",
            "OnDelete": "Retain"
        }))
        .unwrap();
        assert_eq!(p.create.expect_status, vec![201]);
        // An object Body is sent as delivered; a string Body is parsed, types kept.
        assert_eq!(p.create.body, Some(json!({"active": "true"})));
        let update = p.update.unwrap();
        assert_eq!(update.method, Method::PATCH);
        assert_eq!(update.body, Some(json!({"active": true, "n": 1})));
        assert_eq!(p.delete.unwrap().method, Method::DELETE);
        assert_eq!(p.read.unwrap().method, Method::GET);
        assert!(p.no_echo);
        assert_eq!(p.retry.max_attempts, 3);
        assert_eq!(p.headers.len(), 3);
        assert!(
            p.headers
                .iter()
                .any(|(h, v)| h.as_str() == "x-count" && v == "3")
        );
        assert_eq!(p.auth[0].header, reqwest::header::AUTHORIZATION);
        assert_eq!(p.auth[0].scheme.as_deref(), Some("Bearer"));
        assert_eq!(p.auth[0].key.as_deref(), Some("token"));
        assert_eq!(
            p.idempotency_key.unwrap().as_str(),
            "x-request-key",
            "header names are case-insensitive"
        );
        assert_eq!(p.on_delete, OnDelete::Retain);
    }

    #[test]
    fn auth_may_be_a_list_and_defaults_its_scheme_by_header() {
        let p = parse_properties(&with(json!({"Auth": [
            {"SecretArn": "dd", "Key": "api_key", "Header": "DD-API-KEY"},
            {"SecretArn": "dd", "Key": "app_key", "Header": "DD-APPLICATION-KEY"},
        ]})))
        .unwrap();
        assert_eq!(p.auth.len(), 2);
        assert_eq!(p.auth[0].scheme, None);
        assert_eq!(p.auth[1].header.as_str(), "dd-application-key");
        let p = parse_properties(&with(
            json!({"Auth": {"SecretArn": "s", "Scheme": "", "Header": "authorization"}}),
        ))
        .unwrap();
        assert_eq!(
            p.auth[0].scheme, None,
            "an empty Scheme sends the value alone"
        );
    }

    #[test]
    fn an_empty_idempotency_key_turns_it_off() {
        let p = parse_properties(&with(json!({"IdempotencyKey": ""}))).unwrap();
        assert_eq!(p.idempotency_key, None);
    }

    /// The README's two examples, as CloudFormation delivers them (`!Sub` resolved, numbers
    /// and booleans as strings).
    #[test]
    fn the_readme_examples_parse() {
        let github = parse_properties(&json!({
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:http-resource",
            "BaseUrl": "https://api.github.com",
            "Headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
            "Auth": {"SecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:github-AbCdEf", "Key": "token"},
            "Create": {
                "Path": "/repos/acme/app/hooks",
                "ExpectStatus": ["201"],
                "Body": "{\"name\": \"web\", \"active\": true, \"events\": [\"push\", \"pull_request\"],\n \"config\": {\"url\": \"https://deploy.example.com/github\", \"content_type\": \"json\", \"insecure_ssl\": \"0\"}}\n"
            },
            "Read": {"Path": "/repos/acme/app/hooks/{id}"},
            "Update": {"Method": "PATCH", "Path": "/repos/acme/app/hooks/{id}", "Body": "{\"active\": true}"},
            "Delete": {"Path": "/repos/acme/app/hooks/{id}"},
            "Outputs": {"PingUrl": "/ping_url", "TestUrl": "/test_url"}
        }))
        .unwrap();
        assert_eq!(github.create.body.unwrap()["active"], true);
        assert_eq!(github.auth[0].scheme.as_deref(), Some("Bearer"));

        let datadog = parse_properties(&json!({
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:http-resource",
            "BaseUrl": "https://api.datadoghq.eu/api/v1",
            "Auth": [
                {"SecretArn": "dd-keys", "Key": "api_key", "Header": "DD-API-KEY"},
                {"SecretArn": "dd-keys", "Key": "app_key", "Header": "DD-APPLICATION-KEY"}
            ],
            "Create": {"Path": "/monitor", "Body": "{\"name\": \"app Lambda errors\", \"type\": \"query alert\", \"options\": {\"thresholds\": {\"critical\": 5}}}"},
            "Read": {"Path": "/monitor/{id}"},
            "Update": {"Method": "PUT", "Path": "/monitor/{id}", "Body": "{\"options\": {\"thresholds\": {\"critical\": 5}}}"},
            "Delete": {"Path": "/monitor/{id}"},
            "OnDelete": "Retain",
            "Outputs": {"OverallState": "/overall_state"},
            "Retry": {"MaxAttempts": "6"}
        }))
        .unwrap();
        assert_eq!(
            datadog.create.body.unwrap()["options"]["thresholds"]["critical"],
            5
        );
        assert!(datadog.auth.iter().all(|a| a.scheme.is_none()));
        assert_eq!(datadog.retry.max_attempts, 6);
    }

    /// A secret put in the wrong property (a dynamic reference, a `NoEcho` parameter) must
    /// not reach the stack events through the `Reason`: every free-text property, and every
    /// property given the wrong kind of value.
    #[test]
    fn a_secret_in_the_wrong_property_is_never_echoed() {
        const SECRET: &str = "hunter2-Pa55w0rd 0123456789";
        let number = json!(987_654_321_987_654_u64);
        let op = |extra: Value| {
            let mut o = json!({"Path": "/x"});
            for (k, v) in extra.as_object().unwrap() {
                o[k] = v.clone();
            }
            json!({ "Create": o })
        };
        let cases = [
            json!({"BaseUrl": SECRET}),
            json!({"BaseUrl": format!("https://api.example.com/v1?key={SECRET}")}),
            json!({"BaseUrl": format!("{SECRET}:x")}),
            json!({"BaseUrl": {"url": SECRET}}),
            json!({"AllowHttp": SECRET}),
            json!({"NoEcho": number}),
            op(json!({"Path": SECRET})),
            op(json!({"Path": format!("/v1/{{{SECRET}}}")})),
            op(json!({"Path": [SECRET]})),
            op(json!({"Body": format!("{{\"token\": {SECRET}}}")})),
            op(json!({"ExpectStatus": [SECRET]})),
            op(json!({"ExpectStatus": [number]})),
            op(json!({"ExpectStatus": SECRET})),
            json!({"Create": [SECRET]}),
            json!({"Create": SECRET}),
            json!({"Read": [SECRET, "/x"]}),
            json!({"IdPointer": SECRET}),
            json!({"IdPointer": [SECRET]}),
            json!({"IdFrom": [SECRET]}),
            json!({"Outputs": {"Token": SECRET}}),
            json!({"Outputs": {"Token": [SECRET]}}),
            json!({"Headers": {"X-Api-Key": [SECRET]}}),
            json!({"Headers": {"X-Api-Key": {"k": SECRET}}}),
            json!({"Headers": {"X-Api-Key": format!("{SECRET}\n")}}),
            json!({"Auth": SECRET}),
            json!({"Auth": [SECRET]}),
            json!({"Auth": [[SECRET]]}),
            json!({"Auth": {"SecretArn": {"arn": SECRET}}}),
            json!({"Auth": {"SecretArn": "s", "Key": {"k": SECRET}}}),
            json!({"Auth": {"SecretArn": "s", "Header": SECRET}}),
            json!({"Auth": {"SecretArn": "s", "Scheme": SECRET}}),
            json!({"Auth": {"SecretArn": "s", "Scheme": [SECRET]}}),
            json!({"Retry": {"MaxAttempts": SECRET}}),
            json!({"Retry": {"MaxAttempts": number}}),
            json!({"Retry": {"AttemptTimeoutSeconds": SECRET}}),
            json!({"Retry": {"AttemptTimeoutSeconds": number}}),
            json!({"Retry": [SECRET]}),
            json!({"IdempotencyKey": SECRET}),
            json!({"IdempotencyKey": {"k": SECRET}}),
            json!({"OnDelete": [SECRET]}),
        ];
        for extra in cases {
            let reason = reason(with(extra.clone()));
            for shown in ["hunter2", "987654321"] {
                assert!(!reason.contains(shown), "{extra}: {reason}");
            }
        }
    }

    #[test]
    fn reasons_name_the_property() {
        let cases = [
            (
                json!({"Create": {"Path": "/x"}}),
                "missing required property `BaseUrl`",
            ),
            (
                with(json!({"BaseUrl": "http://api.example.com"})),
                "property `BaseUrl`: plain `http` to `api.example.com` would send the request and any credential unencrypted; use `https://`, or set `AllowHttp: true` if the network is private",
            ),
            (
                with(json!({"Create": {"Path": "/x", "Method": "FETCH"}})),
                "property `Create.Method`: expected `GET`, `POST`, `PUT`, `PATCH` or `DELETE`, got `FETCH`",
            ),
            (
                with(json!({"Create": {"Path": "/x", "Body": "{\"a\": 1"}})),
                "property `Create.Body`: a string `Body` must be JSON text (EOF while parsing an object at line 1 column 7); write the object itself, or valid JSON in the string",
            ),
            (
                with(json!({"Create": {"Path": "/x", "ExpectStatus": [200, 700]}})),
                "property `Create.ExpectStatus[1]`: expected an HTTP status from 100 to 599, got a number outside that range",
            ),
            (
                with(json!({"Create": {"Path": "/x", "ExpectStatus": ["two hundred"]}})),
                "property `Create.ExpectStatus[0]`: expected a whole number from 0 to 65535, got a string that is not a number",
            ),
            (
                with(json!({"IdPointer": "id"})),
                "property `IdPointer`: expected a JSON pointer such as `/id` or `/data/0/id` (empty for the whole body), got text that does not start with `/`",
            ),
            (
                with(json!({"Outputs": {"Url": "url"}})),
                "property `Outputs.Url`: expected a JSON pointer such as `/id` or `/data/0/id` (empty for the whole body), got text that does not start with `/`",
            ),
            (
                with(json!({"Outputs": {"Url": "/url"}, "Update": {"Path": "/hooks/{id}"}})),
                "property `Read`: is required with both `Outputs` and `Update`: an Update may answer \
                204 with no body, and CloudFormation drops outputs its answer leaves out; add \
                `Read: {Path: …/{id}}`",
            ),
            (
                with(json!({"IdFrom": "Header"})),
                "property `IdFrom`: unknown value `Header`; expected `Body` or `Location`",
            ),
            (
                with(json!({"OnDelete": "Destroy"})),
                "property `OnDelete`: unknown value `Destroy`; expected `Delete` or `Retain`",
            ),
            (
                with(json!({"Retry": {"MaxAttempts": 0}})),
                "property `Retry.MaxAttempts`: expected a whole number from 1 to 10, got a number outside that range",
            ),
            (
                with(json!({"Retry": {"MaxAttempts": "many"}})),
                "property `Retry.MaxAttempts`: expected a whole number from 1 to 10, got a string that is not a number",
            ),
            (
                with(json!({"Headers": {"X-A": ["a"]}})),
                "property `Headers.X-A`: expected a string header value, got a list",
            ),
            (
                with(json!({"Retry": {"Attempts": 3}})),
                "property `Retry`: unknown key `Attempts`; expected `MaxAttempts` or `AttemptTimeoutSeconds`",
            ),
            (
                with(json!({"Headers": {"Content-Length": "5"}})),
                "property `Headers.Content-Length`: `content-length` is set by the HTTP client; remove it",
            ),
            (
                with(json!({"Headers": {"Bad Name": "5"}})),
                "property `Headers.Bad Name`: expected an HTTP header name (letters, digits and `-`), got text that is not one",
            ),
            (
                with(json!({"Headers": {"X-A": "a\nb"}})),
                "property `Headers.X-A`: the value is not a valid HTTP header value (it has a line break or another control character)",
            ),
            (
                with(json!({"Headers": {"Authorization": "x"}, "Auth": {"SecretArn": "s"}})),
                "property `Headers.Authorization`: `authorization` is set from the secret in `Auth`; remove it from `Headers`",
            ),
            (
                with(json!({"Headers": {"Idempotency-Key": "x"}})),
                "property `Headers.Idempotency-Key`: `idempotency-key` carries the idempotency key (`IdempotencyKey`); remove it from `Headers`, or set `IdempotencyKey: \"\"` to send your own",
            ),
            (
                with(json!({"Auth": {"Key": "token"}})),
                "property `Auth`: missing required key `SecretArn`",
            ),
            (
                with(json!({"Auth": [{"SecretArn": "a"}, {"SecretArn": "b"}]})),
                "property `Auth[1].Header`: `authorization` is already set by another `Auth` entry",
            ),
            (
                with(json!({"Auth": [{"SecretArn": "a", "Kye": "b"}]})),
                "property `Auth[0]`: unknown key `Kye`; expected one of `SecretArn`, `Key`, `Header`, `Scheme`",
            ),
            (
                with(json!({"Auth": {"SecretArn": "a", "Scheme": "Bearer token"}})),
                "property `Auth.Scheme`: expected one word such as `Bearer`, `token` or `Basic`, got text with a space or a character a header cannot carry",
            ),
            (
                with(json!({"Auth": "arn:secret"})),
                "property `Auth`: expected an object {SecretArn, Key, Header, Scheme} or a list of them, got a string",
            ),
            (
                with(json!({"Auth": [["arn:secret"]]})),
                "property `Auth[0]`: expected an object, got a list",
            ),
            (
                with(json!({"Create": ["POST", "/x"]})),
                "property `Create`: expected an object, got a list",
            ),
            (
                with(json!({"Retry": 3})),
                "property `Retry`: expected an object, got a number",
            ),
            (
                with(json!({"Create": {"Path": "/hooks/{id}"}})),
                "property `Create.Path`: `{id}` cannot be used in `Create`: the id is not known until the object exists",
            ),
            (
                with(json!({"Delete": {"Path": "/hooks"}})),
                "property `Delete.Path`: must contain `{id}`, so that only the resource's own object can be deleted (a path without it could delete a whole collection)",
            ),
            (
                with(json!({"Outputs": {"Url": "/url", "bad name": "/x"}})),
                "property `Outputs`: the output name `bad name` is not one `Fn::GetAtt` can use; use letters, digits, `_`, `.` and `-`",
            ),
            (
                with(json!({"IdFrom": "Location", "IdPointer": "/data/id"})),
                "property `IdPointer`: is read only with `IdFrom: Body`; remove it, or set `IdFrom: Body`",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(reason(raw.clone()), expected, "{raw}");
        }
    }
}
