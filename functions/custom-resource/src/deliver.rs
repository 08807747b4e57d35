//! The PUT to the `ResponseURL`: sized, unchunked, retried with backoff, bounded by the deadline.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::time::Instant;

use crate::Error;
use crate::response_url::ResponseUrl;

/// The longest one PUT may take; S3 answers in milliseconds when it answers at all.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Even with the deadline passed, one attempt gets this long.
const LAST_CHANCE: Duration = Duration::from_millis(1500);
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(4);

/// How a PUT ended when it got an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// A 2xx: CloudFormation has the response.
    Accepted {
        /// PUTs sent.
        attempts: u32,
    },
    /// A 4xx other than 408 and 429: the URL is expired, forged or not a `ResponseURL`. Asking
    /// again cannot help, and neither can Lambda replaying the event (running its side
    /// effects again), so this counts as done.
    Refused {
        /// PUTs sent.
        attempts: u32,
        /// The status it answered.
        status: u16,
    },
}

/// Whether a status is worth another PUT: a server error, a timeout (408), throttling (429).
fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

/// Sends `body` to `url` until a 2xx answers, a 4xx refuses, or `deadline` leaves no room.
///
/// # Errors
///
/// [`Error::Delivery`] when no answer that settles it came before the deadline (connection
/// errors, 5xx, 408, 429) or the answer was neither 2xx nor 4xx.
pub(crate) async fn put(
    client: &reqwest::Client,
    url: &ResponseUrl,
    body: Vec<u8>,
    deadline: Instant,
) -> Result<Delivered, Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = left.min(ATTEMPT_TIMEOUT).max(if attempt == 1 {
            LAST_CHANCE
        } else {
            Duration::ZERO
        });
        // A `Vec<u8>` body is sent with `Content-Length` and never chunked: S3 presigned PUTs
        // refuse chunked uploads. The empty `Content-Type` is what the presigned URL was signed for.
        let sent = client
            .put(url.expose().clone())
            .header(CONTENT_TYPE, "")
            .body(body.clone())
            .timeout(timeout)
            .send()
            .await;
        let problem = match sent {
            Ok(resp) if resp.status().is_success() => {
                return Ok(Delivered::Accepted { attempts: attempt });
            }
            Ok(resp) if retryable(resp.status()) => format!("HTTP {}", resp.status()),
            Ok(resp) if resp.status().is_client_error() => {
                return Ok(Delivered::Refused {
                    attempts: attempt,
                    status: resp.status().as_u16(),
                });
            }
            Ok(resp) => {
                return Err(Error::Delivery {
                    host: url.host().to_owned(),
                    attempts: attempt,
                    message: format!("answered HTTP {}; not retried", resp.status()),
                });
            }
            Err(err) => describe(&err),
        };
        let delay = backoff(attempt);
        if Instant::now() + delay + Duration::from_millis(100) >= deadline {
            return Err(Error::Delivery {
                host: url.host().to_owned(),
                attempts: attempt,
                message: format!(
                    "{problem}. If the function runs in a VPC, it needs an S3 gateway endpoint or a NAT gateway to reach the ResponseURL"
                ),
            });
        }
        tracing::warn!(attempt, host = url.host(), problem = %problem, retry_in_ms = delay.as_millis() as u64, "response PUT failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// Exponential backoff with full jitter.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_CAP);
    Duration::from_millis(fastrand::u64(0..=ceiling.as_millis() as u64))
}

/// A reqwest error, without the URL (its query string is a credential) and with its causes.
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_timeouts_throttling_and_server_errors_are_retried() {
        for code in [500, 502, 503, 504, 408, 429] {
            assert!(
                retryable(reqwest::StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 410, 413] {
            assert!(
                !retryable(reqwest::StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= BACKOFF_CAP);
        }
    }
}
