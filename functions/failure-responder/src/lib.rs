//! The failure destination: the backstop that answers CloudFormation for a custom-resource
//! request Lambda gave up on.
//!
//! Each custom-resource function's `EventInvokeConfig` names this function as its `OnFailure`
//! destination. When every attempt at an event failed without answering (the sandbox killed,
//! the process lost before it could say anything), or the event aged out in Lambda's queue,
//! Lambda invokes the responder with its destination record ([`record`]), and the responder
//! PUTs FAILED to the original event's `ResponseURL`, so the stack fails in minutes instead of
//! waiting for `ServiceTimeout`.
//!
//! # The contract
//!
//! 1. **Only failures are answered.** A record whose `condition` is `RetriesExhausted` or
//!    `EventAgeExceeded` gets one FAILED PUT; any other condition (`Success`) gets none, and
//!    Lambda is told Ok. What is not a destination record gets none, and an error.
//! 2. **Through the library, with its trust checks.** The answer goes through
//!    [`custom_resource::answer::Answerer::fail`]: a `ResponseURL` the policy
//!    (`STACKWRIGHT_RESPONSE_HOSTS`, CloudFormation's bucket in the region) refuses gets
//!    nothing and Lambda is told an error; a stack not listed in `STACKWRIGHT_STACKS` gets
//!    nothing. A FAILED answer destroys nothing, so the request is not confirmed with
//!    CloudFormation first; a Create answers with the library's failed-create id, so the
//!    Delete CloudFormation sends next succeeds at once.
//! 3. **The `Reason`** names the function, how often it failed and why Lambda gave up, and the
//!    function's last `errorType` and `errorMessage`, cut, on one line, with every value of the
//!    request masked ([`record::Failure::reason`]).
//! 4. **What Lambda is told**: Ok once the answer was delivered, skipped, or refused by the
//!    `ResponseURL` (expired); an error when it could not be delivered, so Lambda retries the
//!    record (the same FAILED body again: idempotent).
//!
//! When the dead function had in fact answered before it died, the FAILED comes after
//! CloudFormation read that answer, and CloudFormation ignores it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use custom_resource::answer::Answerer;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tokio::time::Instant;

pub mod record;

/// What can go wrong in the responder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event is not a Lambda destination record.
    #[error("not a Lambda destination record: {0}")]
    NotARecord(String),
    /// A record, but not of a failure.
    #[error(
        "the record's condition is `{condition}`, not `RetriesExhausted` or `EventAgeExceeded`: \
         nothing to answer"
    )]
    NotAFailure {
        /// The record's `condition`.
        condition: String,
    },
    /// The protocol library could not be set up.
    #[error(transparent)]
    Library(#[from] custom_resource::Error),
}

/// The time kept before Lambda's deadline for the invocation to report.
const MARGIN: Duration = Duration::from_millis(500);

/// Reads destination records and answers the failures.
#[derive(Debug, Clone)]
pub struct Responder {
    answerer: Answerer,
}

impl Responder {
    /// A responder that answers through `answerer`.
    pub fn new(answerer: Answerer) -> Self {
        Self { answerer }
    }

    /// A responder with the process's rules (see [`Answerer::from_env`]).
    ///
    /// # Errors
    ///
    /// [`Error::Library`] when the HTTP client cannot be built.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(Answerer::from_env()?))
    }

    /// Handles one invocation as lambda_runtime delivers it.
    ///
    /// # Errors
    ///
    /// As [`Responder::respond`].
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let lambda_left = match event.context.deadline {
            0 => Duration::from_secs(30),
            deadline => Duration::from_millis(deadline.saturating_sub(now_ms)),
        };
        self.respond(&event.payload, lambda_left).await
    }

    /// Answers the request a failure record holds, FAILED, within `lambda_left`.
    ///
    /// # Errors
    ///
    /// `NotADestinationRecord` when `record` is not one; otherwise as [`Answerer::fail`]: the
    /// request has no usable `ResponseURL`, the policy refuses it, or the answer could not be
    /// delivered.
    pub async fn respond(
        &self,
        record: &Value,
        lambda_left: Duration,
    ) -> Result<Value, Diagnostic> {
        let failure = match record::read(record) {
            Ok(failure) => failure,
            Err(Error::NotAFailure { condition }) => {
                tracing::info!(condition, "not a failure: nothing to answer");
                return Ok(json!({"Delivered": false, "Skipped": "not a failure"}));
            }
            Err(err) => {
                tracing::error!(error = %err, "nothing was sent");
                return Err(Diagnostic {
                    error_type: "NotADestinationRecord".into(),
                    error_message: err.to_string(),
                });
            }
        };
        let reason = failure.reason();
        tracing::warn!(
            condition = failure.condition.name(),
            attempts = failure.attempts,
            function = failure.function.as_deref(),
            lambda_request_id = failure.lambda_request_id.as_deref(),
            "Lambda gave up on a custom-resource request: answering FAILED"
        );
        let margin = MARGIN.min(lambda_left / 2);
        let deadline = Instant::now() + lambda_left.saturating_sub(margin);
        self.answerer.fail(failure.request, &reason, deadline).await
    }
}
