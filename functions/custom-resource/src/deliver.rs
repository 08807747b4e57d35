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

/// Sends `body` to `url` until a 2xx answers, a 4xx refuses, or `deadline` leaves no room.
/// Returns the number of attempts.
pub(crate) async fn put(
    client: &reqwest::Client,
    url: &ResponseUrl,
    body: Vec<u8>,
    deadline: Instant,
) -> Result<u32, Error> {
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
            Ok(resp) if resp.status().is_success() => return Ok(attempt),
            Ok(resp) if resp.status().is_server_error() => format!("HTTP {}", resp.status()),
            Ok(resp) => {
                let status = resp.status();
                let hint = if status == reqwest::StatusCode::FORBIDDEN {
                    " (a presigned ResponseURL expires two hours after CloudFormation sent the request)"
                } else {
                    ""
                };
                return Err(Error::Delivery {
                    host: url.host().to_owned(),
                    attempts: attempt,
                    message: format!("refused with HTTP {status}{hint}; not retried"),
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
    fn backoff_stays_under_its_cap() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= BACKOFF_CAP);
        }
    }
}
