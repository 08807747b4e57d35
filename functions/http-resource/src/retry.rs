//! When to try a request again, and how long to wait: plain functions of what happened, the
//! attempt number and the time left.

use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode};

use crate::properties::Op;

/// The first backoff's upper bound; each attempt doubles it (full jitter: a uniformly random
/// wait between zero and the bound).
pub const BASE_DELAY: Duration = Duration::from_millis(500);
/// The largest bound a backoff grows to.
pub const MAX_DELAY: Duration = Duration::from_secs(20);
/// An attempt is not started with less time than this left.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// What an answer's status means for the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// What the operation expects.
    Success,
    /// A Delete of something already gone (404, 410).
    Gone,
    /// Try again: the server declined the request without acting on it (429, 503).
    RetrySafe,
    /// Try again only if repeating the request is harmless: a gateway gave up, and the
    /// server behind it may have acted (502, 504).
    RetryIfReplayable,
    /// A credential problem (401, 403): retrying cannot help.
    Unauthorized,
    /// Any other answer: a failure.
    Fail,
}

/// Classifies `status` for `op`. `expect` lists the statuses that count as success; empty
/// means any 2xx.
pub fn classify(op: Op, status: StatusCode, expect: &[u16]) -> StatusClass {
    let code = status.as_u16();
    let expected = if expect.is_empty() {
        status.is_success()
    } else {
        expect.contains(&code)
    };
    if expected {
        return StatusClass::Success;
    }
    match code {
        404 | 410 if op == Op::Delete => StatusClass::Gone,
        401 | 403 => StatusClass::Unauthorized,
        429 | 503 => StatusClass::RetrySafe,
        502 | 504 => StatusClass::RetryIfReplayable,
        _ => StatusClass::Fail,
    }
}

/// Whether sending the request twice is harmless: an idempotent method (RFC 9110: GET, PUT,
/// DELETE), or any request carrying an idempotency key.
pub fn replayable(method: &Method, keyed: bool) -> bool {
    keyed
        || matches!(
            *method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD
        )
}

/// How a transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No connection was made: the request never reached the server.
    Connect,
    /// The connection broke or timed out after the request may have been sent.
    AfterSend,
    /// The server's TLS certificate is not trusted: trying again cannot help.
    Certificate,
}

/// Whether a failed attempt may be tried again at all (before counting attempts and time).
pub fn retryable_transport(kind: Transport, replayable: bool) -> bool {
    match kind {
        Transport::Connect => true,
        Transport::AfterSend => replayable,
        Transport::Certificate => false,
    }
}

/// Whether an answer with this class may be tried again.
pub fn retryable_status(class: StatusClass, replayable: bool) -> bool {
    match class {
        StatusClass::RetrySafe => true,
        StatusClass::RetryIfReplayable => replayable,
        _ => false,
    }
}

/// Why no further attempt is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// `Retry.MaxAttempts` were made.
    Attempts,
    /// Waiting (the backoff or the server's `Retry-After`) and one more attempt would not
    /// fit before the deadline.
    Deadline {
        /// How long the next attempt would have waited.
        wait: Duration,
    },
}

/// The upper bound of the wait after failed attempt `attempt` (1-based): doubling from
/// [`BASE_DELAY`] up to [`MAX_DELAY`].
pub fn backoff_bound(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    BASE_DELAY.saturating_mul(1u32 << doublings).min(MAX_DELAY)
}

/// Full jitter: `unit` (uniform in [0, 1)) of the bound.
pub fn full_jitter(attempt: u32, unit: f64) -> Duration {
    backoff_bound(attempt).mul_f64(unit.clamp(0.0, 1.0))
}

/// The wait before the next attempt after failed attempt `attempt` (1-based), or why there
/// is none. The server's `Retry-After` wins over the backoff; neither may run past the
/// deadline (`remaining`), with [`MIN_ATTEMPT`] kept for the attempt itself.
///
/// # Errors
///
/// [`Stop`] when no further attempt is made.
pub fn next_wait(
    attempt: u32,
    max_attempts: u32,
    retry_after: Option<Duration>,
    remaining: Duration,
    unit: f64,
) -> Result<Duration, Stop> {
    if attempt >= max_attempts {
        return Err(Stop::Attempts);
    }
    let wait = retry_after.unwrap_or_else(|| full_jitter(attempt, unit));
    if wait.saturating_add(MIN_ATTEMPT) > remaining {
        return Err(Stop::Deadline { wait });
    }
    Ok(wait)
}

/// `Retry-After` (RFC 9110 §10.2.3): a number of seconds, or an HTTP-date (counted from
/// `now`; a date in the past means now). `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Not in the RFC, but sent by some servers.
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && (0.0..1e9).contains(&seconds))
            .then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The time limit of one attempt: the property's, but never past the deadline.
pub fn attempt_timeout(configured: Duration, remaining: Duration) -> Duration {
    configured.min(remaining)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn statuses() {
        use StatusClass::*;
        assert_eq!(classify(Op::Create, status(201), &[]), Success);
        assert_eq!(classify(Op::Create, status(200), &[201]), Fail);
        assert_eq!(classify(Op::Create, status(201), &[200, 201]), Success);
        assert_eq!(classify(Op::Create, status(302), &[]), Fail);
        assert_eq!(classify(Op::Update, status(204), &[]), Success);
        assert_eq!(classify(Op::Delete, status(404), &[]), Gone);
        assert_eq!(classify(Op::Delete, status(410), &[]), Gone);
        assert_eq!(classify(Op::Read, status(404), &[]), Fail);
        assert_eq!(classify(Op::Update, status(404), &[]), Fail);
        assert_eq!(classify(Op::Create, status(401), &[]), Unauthorized);
        assert_eq!(classify(Op::Delete, status(403), &[]), Unauthorized);
        assert_eq!(classify(Op::Create, status(429), &[]), RetrySafe);
        assert_eq!(classify(Op::Create, status(503), &[]), RetrySafe);
        assert_eq!(classify(Op::Create, status(502), &[]), RetryIfReplayable);
        assert_eq!(classify(Op::Create, status(504), &[]), RetryIfReplayable);
        assert_eq!(classify(Op::Create, status(500), &[]), Fail);
        assert_eq!(classify(Op::Create, status(422), &[]), Fail);
    }

    #[test]
    fn what_is_retried() {
        assert!(replayable(&Method::GET, false));
        assert!(replayable(&Method::PUT, false));
        assert!(replayable(&Method::DELETE, false));
        assert!(!replayable(&Method::POST, false));
        assert!(!replayable(&Method::PATCH, false));
        assert!(replayable(&Method::POST, true));

        assert!(retryable_transport(Transport::Connect, false));
        assert!(!retryable_transport(Transport::AfterSend, false));
        assert!(retryable_transport(Transport::AfterSend, true));
        assert!(!retryable_transport(Transport::Certificate, true));

        assert!(retryable_status(StatusClass::RetrySafe, false));
        assert!(!retryable_status(StatusClass::RetryIfReplayable, false));
        assert!(retryable_status(StatusClass::RetryIfReplayable, true));
        assert!(!retryable_status(StatusClass::Unauthorized, true));
        assert!(!retryable_status(StatusClass::Fail, true));
    }

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_a_cap() {
        assert_eq!(backoff_bound(1), Duration::from_millis(500));
        assert_eq!(backoff_bound(2), Duration::from_secs(1));
        assert_eq!(backoff_bound(4), Duration::from_secs(4));
        assert_eq!(backoff_bound(7), MAX_DELAY);
        assert_eq!(backoff_bound(u32::MAX), MAX_DELAY);
        assert_eq!(full_jitter(3, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(3, 0.5), Duration::from_secs(1));
        assert!(full_jitter(3, 0.999_999) < Duration::from_secs(2));
    }

    #[test]
    fn waits_respect_attempts_retry_after_and_the_deadline() {
        let lots = Duration::from_secs(600);
        assert_eq!(
            next_wait(1, 5, None, lots, 0.5),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(next_wait(5, 5, None, lots, 0.5), Err(Stop::Attempts));
        assert_eq!(next_wait(1, 1, None, lots, 0.5), Err(Stop::Attempts));
        // Retry-After wins over the backoff, longer or shorter.
        assert_eq!(
            next_wait(1, 5, Some(Duration::from_secs(30)), lots, 0.5),
            Ok(Duration::from_secs(30))
        );
        assert_eq!(
            next_wait(4, 5, Some(Duration::ZERO), lots, 0.5),
            Ok(Duration::ZERO)
        );
        // Never past the deadline.
        assert_eq!(
            next_wait(
                1,
                5,
                Some(Duration::from_secs(30)),
                Duration::from_secs(10),
                0.5
            ),
            Err(Stop::Deadline {
                wait: Duration::from_secs(30)
            })
        );
        assert!(matches!(
            next_wait(1, 5, None, Duration::from_millis(300), 0.5),
            Err(Stop::Deadline { .. })
        ));
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        // The obsolete RFC 850 and asctime forms are still dates.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:38 1994", now),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        for junk in ["", "-1", "soon", "NaN", "1e99"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk}");
        }
    }

    #[test]
    fn attempts_never_outlive_the_deadline() {
        let thirty = Duration::from_secs(30);
        assert_eq!(attempt_timeout(thirty, Duration::from_secs(600)), thirty);
        assert_eq!(
            attempt_timeout(thirty, Duration::from_secs(4)),
            Duration::from_secs(4)
        );
    }
}
