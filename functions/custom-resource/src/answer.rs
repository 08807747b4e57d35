//! Answering CloudFormation: the trust checks on where an answer may go, and the PUT with its
//! log line. The runner answers through it, and so does anything that must answer for a
//! request whose resource could not (a supervisor whose worker died, a failure destination).

use serde_json::{Value, json};
use tokio::time::Instant;

use lambda_runtime::Diagnostic;

use crate::Error;
use crate::deliver::{self, Delivered};
use crate::replay::Record;
use crate::request::{Rejected, RequestType, parse_event};
use crate::response::{Response, failed_create_id};
use crate::response_url::{ResponsePolicy, ResponseUrl};
use crate::trust::{STACKS_VARIABLE, StackList};

/// Where answers may go and which stacks are served, and the client that sends them.
#[derive(Debug, Clone)]
pub struct Answerer {
    client: reqwest::Client,
    policy: ResponsePolicy,
    stacks: Option<StackList>,
}

impl Answerer {
    /// The process's rules (`STACKWRIGHT_RESPONSE_HOSTS`, `STACKWRIGHT_STACKS`) and the shared
    /// HTTP client set-up, which follows no redirect.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn from_env() -> Result<Self, Error> {
        let client = crate::http::client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::HttpClient(e.without_url().to_string()))?;
        Ok(Self {
            client,
            policy: ResponsePolicy::from_env(),
            stacks: StackList::from_env(),
        })
    }

    /// Allows answering `origin` too (see [`crate::Runner::allow_response_origin`]).
    ///
    /// # Errors
    ///
    /// [`Error::ResponseUrl`] when `origin` is not an origin.
    pub fn allow_response_origin(&mut self, origin: &str) -> Result<(), Error> {
        self.policy.allow(origin)
    }

    /// Serves `stack` too (see [`crate::Runner::allow_stack`]).
    pub fn allow_stack(&mut self, stack: &str) {
        self.stacks
            .get_or_insert_with(StackList::default)
            .add(stack);
    }

    /// The stacks served; `None` when [`STACKS_VARIABLE`] is unset.
    pub fn stacks(&self) -> Option<&StackList> {
        self.stacks.as_ref()
    }

    /// Whether the function acts for `stack_id`.
    pub fn serves(&self, stack_id: &str) -> bool {
        self.stacks.as_ref().is_some_and(|s| s.allows(stack_id))
    }

    /// Refuses a `ResponseURL` the policy does not allow: nothing is done and nothing is PUT;
    /// Lambda is told, and one log line names the host.
    pub(crate) fn refused(&self, url: &ResponseUrl) -> Option<Diagnostic> {
        let err = self.policy.check(url).err()?;
        tracing::error!(response_host = url.host(), error = %err, "refusing a ResponseURL this function may not answer");
        Some(Diagnostic {
            error_type: "ResponseUrlRefused".into(),
            error_message: err.to_string(),
        })
    }

    /// Answers FAILED with `reason` for the request `payload` holds, without acting on it,
    /// after the same checks the runner makes: a `ResponseURL` the policy refuses gets nothing
    /// (an error to the caller), and so does a request for a stack not served (`Ok`, nothing
    /// sent: a FAILED for someone else's stack is not ours to send).
    ///
    /// # Errors
    ///
    /// As [`crate::Runner::handle`]: when the event has no usable `ResponseURL`, the policy
    /// refuses it, or the answer could not be delivered.
    pub async fn fail(
        &self,
        payload: &Value,
        reason: &str,
        deadline: Instant,
    ) -> Result<Value, Diagnostic> {
        let start = Instant::now();
        let (url, ids, request_type) = match parse_event(payload) {
            Ok(envelope) => (
                envelope.response_url,
                envelope.ids,
                envelope.request_type.to_string(),
            ),
            Err(rejected) => {
                let Rejected {
                    response_url, ids, ..
                } = *rejected;
                let url = response_url.map_err(|why| Diagnostic {
                    error_type: "InvalidEvent".into(),
                    error_message: format!("no usable ResponseURL ({why}); nothing was sent"),
                })?;
                (url, ids, "Invalid".to_owned())
            }
        };
        if let Some(refusal) = self.refused(&url) {
            return Err(refusal);
        }
        if !self.serves(&ids.stack_id) {
            tracing::warn!(stack_id = %ids.stack_id, "not answering for a stack not listed in {STACKS_VARIABLE}");
            return Ok(json!({"Delivered": false, "Skipped": "stack not served"}));
        }
        let physical_id = match ids.physical_resource_id.clone() {
            Some(id) if request_type != RequestType::Create.to_string() => id,
            _ => failed_create_id(&ids.logical_resource_id, &ids.request_id),
        };
        let logical_id = ids.logical_resource_id.clone();
        let response = Response::failed(&ids, physical_id, reason);
        self.deliver(
            &url,
            &request_type,
            &logical_id,
            response,
            None,
            start,
            deadline,
        )
        .await
    }

    /// PUTs `response` to `url` until `deadline` and logs the one line an invocation gets;
    /// what Lambda should be told.
    ///
    /// # Errors
    ///
    /// [`Diagnostic`] `ResponseNotDelivered` when no answer settled it before the deadline, so
    /// that Lambda delivers the event again.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn deliver(
        &self,
        url: &ResponseUrl,
        request_type: &str,
        logical_id: &str,
        response: Response,
        record: Option<&Record>,
        start: Instant,
        deadline: Instant,
    ) -> Result<Value, Diagnostic> {
        // What a NoEcho answer carries never goes to disk: such a request runs again.
        let record = record.filter(|_| !response.no_echo);
        let body = response.into_body();
        self.deliver_body(url, request_type, logical_id, body, record, start, deadline)
            .await
    }

    /// As [`Answerer::deliver`], for a body already made (a recorded answer sent again);
    /// once delivered, the body is recorded in `record`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn deliver_body(
        &self,
        url: &ResponseUrl,
        request_type: &str,
        logical_id: &str,
        body: Vec<u8>,
        record: Option<&Record>,
        start: Instant,
        deadline: Instant,
    ) -> Result<Value, Diagnostic> {
        let sent: Value = serde_json::from_slice(&body).unwrap_or_default();
        let status = sent["Status"].as_str().unwrap_or_default().to_owned();
        let physical_id = sent["PhysicalResourceId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let reason = sent["Reason"].as_str().unwrap_or_default().to_owned();
        let kept = record.map(|_| body.clone());
        let delivered = deliver::put(&self.client, url, body, deadline).await;
        if let (Ok(Delivered::Accepted { .. }), Some(record), Some(body)) =
            (&delivered, record, kept)
        {
            record.store(&body);
        }
        let duration_ms = start.elapsed().as_millis() as u64;
        match delivered {
            Ok(Delivered::Refused {
                attempts,
                status: answered,
            }) => {
                // Expired, forged, or not CloudFormation's: said once, and Ok to Lambda, so it
                // does not replay the event and run its side effects again.
                tracing::error!(
                    request_type,
                    logical_id,
                    physical_id,
                    status = %status,
                    duration_ms,
                    attempts,
                    http_status = answered,
                    response_host = url.host(),
                    "the ResponseURL refused the response (expired, or not a URL CloudFormation \
                     made; a presigned ResponseURL expires two hours after the request); \
                     not retried, and Lambda is told it is done so the event is not replayed"
                );
                Ok(json!({
                    "Status": status,
                    "PhysicalResourceId": physical_id,
                    "Delivered": false,
                    "Refused": answered,
                }))
            }
            Ok(Delivered::Accepted { attempts }) => {
                tracing::info!(
                    request_type,
                    logical_id,
                    physical_id,
                    status = %status,
                    reason,
                    duration_ms,
                    attempts,
                    response_host = url.host(),
                    "answered CloudFormation"
                );
                Ok(json!({"Status": status, "PhysicalResourceId": physical_id, "Delivered": true}))
            }
            Err(err) => {
                tracing::error!(
                    request_type,
                    logical_id,
                    physical_id,
                    status = %status,
                    duration_ms,
                    error = %err,
                    "could not answer CloudFormation; Lambda will deliver the event again"
                );
                Err(Diagnostic {
                    error_type: "ResponseNotDelivered".into(),
                    error_message: err.to_string(),
                })
            }
        }
    }
}
