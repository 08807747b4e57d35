//! Sending one operation's request: retries with backoff and jitter, `Retry-After`, a time
//! limit per attempt, never past the deadline. The decisions are in [`crate::retry`]; this is
//! the I/O around them.

use std::time::{Duration, SystemTime};

use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use url::Url;

use crate::endpoint::request_url;
use crate::error::{Error, Exchange, attempts_text, body_text, status_text};
use crate::properties::{Op, Operation, Retry};
use crate::retry::{
    self, MIN_ATTEMPT, StatusClass, Stop, Transport, classify, next_wait, parse_retry_after,
    replayable, retryable_status, retryable_transport,
};
use custom_resource::redact::Redactor;

/// Time kept back from the resource's deadline, so that a request that runs out of time is
/// reported with this crate's reason (the operation, method and path) rather than the
/// protocol library's generic one.
pub const REASON_RESERVE: Duration = Duration::from_millis(200);

/// The most of a response body that is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What came back from an accepted request.
#[derive(Debug)]
pub struct Answer {
    /// The request, for reasons.
    pub exchange: Box<Exchange>,
    /// The status, one the operation accepts.
    pub status: StatusCode,
    /// The `Location` header, if any.
    pub location: Option<String>,
    /// The body (at most [`MAX_BODY_BYTES`]).
    pub body: Vec<u8>,
    /// A Delete found the object already gone (404 or 410).
    pub gone: bool,
}

/// Everything a request of this invocation needs.
pub struct Sender<'a> {
    /// The one client of the process.
    pub client: &'a reqwest::Client,
    /// `BaseUrl`, the paths are appended to.
    pub base: &'a Url,
    /// `Headers`, the `Auth` headers (marked sensitive) and the defaults.
    pub headers: HeaderMap,
    /// Masks credentials in what is logged or returned.
    pub redactor: &'a Redactor,
    /// `Retry`: how many attempts, and each attempt's time limit.
    pub retry: Retry,
    /// When the resource must be done.
    pub deadline: Instant,
}

/// What one attempt came to.
enum Attempt {
    Answered {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    Failed {
        kind: Transport,
        cause: String,
    },
}

impl Sender<'_> {
    /// Sends `spec` for `op` (with `id` in its path), retrying as [`crate::retry`] decides.
    ///
    /// # Errors
    ///
    /// A status the operation does not accept, no answer, or the deadline; every reason names
    /// the operation, method, path and what came back.
    pub async fn send(
        &self,
        op: Op,
        spec: &Operation,
        id: Option<&str>,
        idempotency: Option<(HeaderName, HeaderValue)>,
    ) -> Result<Answer, Error> {
        let url =
            request_url(self.base, &spec.path, id).map_err(|problem| Error::Url { op, problem })?;
        let exchange = Box::new(Exchange {
            op,
            method: spec.method.clone(),
            path: url.path().to_owned(),
        });
        let mut headers = self.headers.clone();
        let body = match &spec.body {
            Some(body) => {
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Some(serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?)
            }
            None => None,
        };
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        let keyed = idempotency.is_some();
        if let Some((name, value)) = idempotency {
            headers.insert(name, value);
        }
        let replayable = replayable(&spec.method, keyed);
        let configured = Duration::from_secs_f64(self.retry.attempt_timeout_seconds);
        let max = self.retry.max_attempts;

        let mut attempt = 0u32;
        let mut last = String::from("none: there was no time for a first attempt");
        loop {
            let remaining = self.remaining();
            if remaining < MIN_ATTEMPT {
                return Err(Error::Deadline {
                    exchange,
                    attempts: attempt,
                    wait: Duration::ZERO,
                    last,
                });
            }
            attempt += 1;
            let limit = retry::attempt_timeout(configured, remaining);
            let started = Instant::now();
            let outcome = self
                .attempt(&spec.method, &url, &headers, body.as_deref(), limit)
                .await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (retry_after, give_up) = match outcome {
                Attempt::Answered {
                    status,
                    headers,
                    body,
                } => {
                    let class = classify(op, status, &spec.expect_status);
                    tracing::info!(
                        operation = %op,
                        method = %spec.method,
                        path = %exchange.path,
                        status = status.as_u16(),
                        attempt,
                        elapsed_ms,
                        "answered"
                    );
                    let snippet = self.redactor.snippet(&body);
                    tracing::debug!(operation = %op, body = %snippet, "response body (redacted)");
                    match class {
                        StatusClass::Success | StatusClass::Gone => {
                            let location = headers
                                .get(LOCATION)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            return Ok(Answer {
                                exchange,
                                status,
                                location,
                                body,
                                gone: class == StatusClass::Gone,
                            });
                        }
                        _ if !retryable_status(class, replayable) => {
                            let hint = hint(
                                class,
                                op,
                                status,
                                &spec.method,
                                &spec.expect_status,
                                &headers,
                            );
                            return Err(Error::Status {
                                exchange,
                                status: status_text(status),
                                body: body_text(&snippet),
                                after: String::new(),
                                hint,
                            });
                        }
                        _ => {
                            last = format!("{} {}", status_text(status), body_text(&snippet));
                            let retry_after = headers
                                .get(RETRY_AFTER)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| parse_retry_after(v, SystemTime::now()));
                            let give_up = Error::Status {
                                exchange: exchange.clone(),
                                status: status_text(status),
                                body: body_text(&snippet),
                                after: format!(" after {}", attempts_text(attempt)),
                                hint: String::new(),
                            };
                            (retry_after, give_up)
                        }
                    }
                }
                Attempt::Failed { kind, cause } => {
                    tracing::warn!(
                        operation = %op,
                        method = %spec.method,
                        path = %exchange.path,
                        attempt,
                        elapsed_ms,
                        cause = %cause,
                        "no answer"
                    );
                    if kind == Transport::Certificate {
                        return Err(Error::Transport {
                            exchange,
                            attempts: attempt,
                            cause,
                            hint: "; not retried: the server's certificate is not trusted (add a private CA with `SSL_CERT_FILE`, a PEM bundle in the package)".into(),
                        });
                    }
                    if !retryable_transport(kind, replayable) {
                        return Err(Error::Transport {
                            exchange,
                            attempts: attempt,
                            cause,
                            hint: format!(
                                "; not retried: the request may have reached the server, and a {} without an idempotency key could act twice{}",
                                spec.method,
                                if op == Op::Create {
                                    " (see `IdempotencyKey`)"
                                } else {
                                    ""
                                }
                            ),
                        });
                    }
                    last = cause.clone();
                    let give_up = Error::Transport {
                        exchange: exchange.clone(),
                        attempts: attempt,
                        cause,
                        hint: String::new(),
                    };
                    (None, give_up)
                }
            };
            match next_wait(attempt, max, retry_after, self.remaining(), fastrand::f64()) {
                Ok(wait) => {
                    tracing::warn!(
                        operation = %op,
                        attempt,
                        max_attempts = max,
                        wait_ms = wait.as_millis() as u64,
                        retry_after = retry_after.is_some(),
                        "trying again"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(Stop::Attempts) => return Err(give_up),
                Err(Stop::Deadline { wait }) => {
                    return Err(Error::Deadline {
                        exchange,
                        attempts: attempt,
                        wait,
                        last,
                    });
                }
            }
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(REASON_RESERVE)
    }

    /// One attempt, bounded by `limit` from connect to the end of the body.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        limit: Duration,
    ) -> Attempt {
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .timeout(limit);
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                let room = MAX_BODY_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_BODY_BYTES {
                    tracing::warn!("response body cut at {MAX_BODY_BYTES} bytes");
                    break;
                }
            }
            Ok::<_, reqwest::Error>(Attempt::Answered {
                status,
                headers,
                body,
            })
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(Ok(answered)) => answered,
            Ok(Err(err)) => Attempt::Failed {
                kind: if untrusted_certificate(&err) {
                    Transport::Certificate
                } else if err.is_connect() {
                    Transport::Connect
                } else {
                    Transport::AfterSend
                },
                cause: describe(&err, url, limit),
            },
            Err(_) => Attempt::Failed {
                kind: Transport::AfterSend,
                cause: format!("no answer within {:.1} s", limit.as_secs_f64()),
            },
        }
    }
}

/// Whether `err` comes from a certificate rustls would not trust (it travels inside
/// `io::Error`s, which hide it from `source()`).
fn untrusted_certificate(err: &reqwest::Error) -> bool {
    fn tls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let io = error.downcast_ref::<std::io::Error>()?;
        tls(io.get_ref()?)
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(cause) = source {
        if matches!(
            tls(cause),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A transport error in words, without the URL's query (reqwest's own text prints the URL).
fn describe(err: &reqwest::Error, url: &Url, limit: Duration) -> String {
    let host = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    };
    if err.is_timeout() {
        return if err.is_connect() {
            format!("could not connect to `{host}` in time")
        } else {
            format!("no answer within {:.1} s", limit.as_secs_f64())
        };
    }
    let mut causes: Vec<String> = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = cause.source();
    }
    let detail = causes
        .last()
        .cloned()
        .unwrap_or_else(|| "the connection failed".into());
    if err.is_connect() {
        format!("could not connect to `{host}`: {detail}")
    } else {
        format!("the connection to `{host}` failed: {detail}")
    }
}

/// What to do about a status that is not retried.
fn hint(
    class: StatusClass,
    op: Op,
    status: StatusCode,
    method: &Method,
    expect: &[u16],
    headers: &HeaderMap,
) -> String {
    match class {
        StatusClass::Unauthorized => "; not retried: check the credential in `Auth` (the secret's value, `Header` and `Scheme`) and what it is allowed to do".into(),
        StatusClass::RetryIfReplayable => format!(
            "; not retried: the server behind the gateway may have acted, and a {method} without an idempotency key could act twice"
        ),
        _ if status.is_redirection() => {
            let to = headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| Url::parse(l).ok())
                .map(|u| format!(" (to `{}://{}`)", u.scheme(), u.host_str().unwrap_or_default()))
                .unwrap_or_default();
            format!(
                "; redirects are not followed{to}, so that credentials never go to another address: set `BaseUrl` and the path to where the API is"
            )
        }
        _ if status == StatusCode::NOT_FOUND && matches!(op, Op::Read | Op::Update) => {
            "; the object may have been deleted outside CloudFormation, or the path is wrong".into()
        }
        _ if status.is_success() && !expect.is_empty() => format!(
            "; `{op}.ExpectStatus` accepts only {}",
            expect
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint_for(
        op: Op,
        code: u16,
        method: Method,
        expect: &[u16],
        location: Option<&str>,
    ) -> String {
        let class = classify(op, StatusCode::from_u16(code).unwrap(), expect);
        let mut headers = HeaderMap::new();
        if let Some(l) = location {
            headers.insert(LOCATION, HeaderValue::from_str(l).unwrap());
        }
        hint(
            class,
            op,
            StatusCode::from_u16(code).unwrap(),
            &method,
            expect,
            &headers,
        )
    }

    #[test]
    fn hints_say_what_to_do() {
        assert!(
            hint_for(Op::Create, 403, Method::POST, &[], None)
                .contains("check the credential in `Auth`")
        );
        assert!(
            hint_for(Op::Create, 504, Method::POST, &[], None)
                .contains("a POST without an idempotency key could act twice")
        );
        assert_eq!(
            hint_for(
                Op::Read,
                301,
                Method::GET,
                &[],
                Some("https://api2.example.com/v2/x?token=abc")
            ),
            "; redirects are not followed (to `https://api2.example.com`), so that credentials never go to another address: set `BaseUrl` and the path to where the API is"
        );
        assert!(
            hint_for(Op::Update, 404, Method::PATCH, &[], None)
                .contains("deleted outside CloudFormation")
        );
        assert_eq!(
            hint_for(Op::Create, 200, Method::POST, &[201, 202], None),
            "; `Create.ExpectStatus` accepts only 201, 202"
        );
        assert_eq!(hint_for(Op::Create, 422, Method::POST, &[], None), "");
    }
}
