//! The runner: drives a [`CustomResource`] through one request and answers CloudFormation
//! exactly once, whatever the resource does.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::Error;
use crate::answer::Answerer;
use crate::aws::Aws;
use crate::confirm::{self, CloudFormation, Phase, Unconfirmed};
use crate::properties;
use crate::redact::Redactor;
use crate::replay::{Record, Seen};
use crate::request::{
    Envelope, Ids, Rejected, Request, RequestType, Resource, parse_event, stack_name,
};
use crate::response::{
    MAX_PHYSICAL_ID_BYTES, Response, failed_create_id, invented_by_cloudformation,
    is_failed_create_id,
};
use crate::response_url::path_matches;
use crate::trust::{ALLOW_VARIABLE, Allowed, STACKS_VARIABLE, Switch, not_allowed, not_listed};

/// A custom resource: create, update and delete over typed properties.
///
/// The runner parses the properties, calls one of these, and turns what comes back (a value,
/// an error, a panic, or nothing before the deadline) into the one response CloudFormation
/// waits for. An error's `Display` becomes the `Reason` CloudFormation shows, so it must say
/// what went wrong and how to fix it, and never carry a secret; its source chain goes only to
/// the log.
pub trait CustomResource: Send + Sync + 'static {
    /// The resource's properties. Use `#[serde(rename_all = "PascalCase", deny_unknown_fields)]`
    /// and the helpers in [`properties::de`].
    type Properties: DeserializeOwned + Send + Sync + 'static;
    /// The resource's error; its `Display` is the public `Reason`.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Creates the resource. Return [`Outcome::new`] with its physical id.
    fn create(
        &self,
        request: &Request<Self::Properties>,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;

    /// Updates the resource, or replaces it by returning a new physical id (CloudFormation then
    /// deletes the old one). Rollbacks arrive here too, with the old properties as the new.
    fn update(
        &self,
        request: &Request<Self::Properties>,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;

    /// Deletes the resource, or retains it, as its properties say.
    fn delete(
        &self,
        request: &Request<Self::Properties>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Whether `physical_id` has the shape of an id this resource issues for `resource`. A
    /// Delete for any other id succeeds without calling [`CustomResource::delete`]. Ids the
    /// library made for a failed Create, and ids CloudFormation invents when a Create never
    /// answered, are recognised before this is asked.
    fn issued(&self, physical_id: &str, resource: Resource<'_>) -> bool {
        let _ = (physical_id, resource);
        true
    }

    /// The destructive switches these properties ask for ([`Switch`]). The runner fails a
    /// Create asking for one the stage does not allow, and names it in an Update's
    /// `Data.Ignored`; the resource itself consults [`Request::allows`] before acting on one
    /// (an Update goes on as if it were off, a Delete retains).
    ///
    /// [`Request::allows`]: crate::Request::allows
    fn switches(&self, properties: &Self::Properties) -> Vec<Switch> {
        let _ = properties;
        Vec::new()
    }
}

/// What a successful create or update returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    physical_id: Option<String>,
    data: Map<String, Value>,
    no_echo: bool,
}

impl Outcome {
    /// An outcome with this physical id (a new id on Update means a replacement).
    pub fn new(physical_id: impl Into<String>) -> Self {
        Self {
            physical_id: Some(physical_id.into()),
            ..Self::default()
        }
    }

    /// An Update outcome that keeps the current physical id.
    pub fn keep_id() -> Self {
        Self::default()
    }

    /// Adds an attribute for `Fn::GetAtt`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }

    /// Sets all attributes at once.
    #[must_use]
    pub fn with_data(mut self, data: Map<String, Value>) -> Self {
        self.data = data;
        self
    }

    /// Masks `Data` in CloudFormation's output.
    #[must_use]
    pub fn no_echo(mut self, no_echo: bool) -> Self {
        self.no_echo = no_echo;
        self
    }

    /// The physical id, if set.
    pub fn physical_id(&self) -> Option<&str> {
        self.physical_id.as_deref()
    }

    /// The attributes, as `Fn::GetAtt` reads them.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }
}

/// Starts the Lambda runtime with `resource` behind the custom-resource protocol.
///
/// Call it from `main` once clients and pools are built (after [`crate::init_tracing`]).
///
/// # Errors
///
/// When the runtime itself stops (the Runtime API is gone).
pub async fn run<R: CustomResource>(resource: R) -> Result<(), lambda_runtime::Error> {
    let runner = Arc::new(Runner::new(resource)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let runner = Arc::clone(&runner);
        async move { runner.handle(event).await }
    }))
    .await
}

/// Drives one resource through requests. [`run`] builds one; tests may call
/// [`Runner::handle_payload`] directly.
pub struct Runner<R> {
    resource: Arc<R>,
    answerer: Answerer,
    /// `None` when confirmation is off.
    confirm: Option<CloudFormation>,
    /// Whether answered requests are recorded in the temporary directory ([`crate::replay`]).
    replay: bool,
    allowed: Allowed,
}

/// The instants one invocation works against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub(crate) start: Instant,
    /// The resource is stopped here, leaving time to answer.
    pub(crate) soft: Instant,
    /// The time kept between `soft` and the earlier of the two deadlines.
    pub(crate) margin: Duration,
}

/// How long before the deadline the resource is stopped: a tenth of the time it has,
/// at least half a second and at most five, but never more than half of it.
fn margin(budget: Duration) -> Duration {
    (budget / 10)
        .clamp(Duration::from_millis(500), Duration::from_secs(5))
        .min(budget / 2)
}

impl Deadlines {
    pub(crate) fn new(
        start: Instant,
        lambda_left: Duration,
        service_timeout: Option<Duration>,
    ) -> Self {
        let lambda = start + lambda_left;
        let cloudformation = service_timeout.map_or(lambda, |t| start + t);
        let earliest = lambda.min(cloudformation);
        let budget = earliest.saturating_duration_since(start);
        let margin = margin(budget);
        Self {
            start,
            soft: earliest - margin,
            margin,
        }
    }
}

/// What the resource's task came back with.
enum Finished {
    Done(Option<Outcome>),
    Failed(String),
}

impl<R: CustomResource> Runner<R> {
    /// A runner with the shared HTTP client set-up.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn new(resource: R) -> Result<Self, Error> {
        Ok(Self {
            resource: Arc::new(resource),
            answerer: Answerer::from_env()?,
            confirm: (!confirm::off_in_env()).then(|| CloudFormation::new(Aws::from_env())),
            replay: true,
            allowed: Allowed::from_env(),
        })
    }

    /// Acts without asking CloudFormation, as `STACKWRIGHT_CONFIRM=off` does for a process:
    /// for tests that drive a runner in-process, with no CloudFormation to ask.
    #[must_use]
    pub fn without_confirmation(mut self) -> Self {
        self.confirm = None;
        self
    }

    /// Neither records answered requests nor answers from the record: for tests that drive a
    /// runner in-process, where the process's temporary directory is not a sandbox's.
    #[must_use]
    pub fn without_replay_record(mut self) -> Self {
        self.replay = false;
        self
    }

    /// Allows `switch` too, as [`crate::trust::ALLOW_VARIABLE`] does for a process: for tests
    /// that drive a runner in-process.
    #[must_use]
    pub fn allow_switch(mut self, switch: Switch) -> Self {
        self.allowed.allow(switch);
        self
    }

    /// Acts for `stack` too (a stack ARN, or a prefix ending in `*`), as
    /// [`crate::trust::STACKS_VARIABLE`] does for a process: for tests that drive a runner
    /// in-process.
    #[must_use]
    pub fn allow_stack(mut self, stack: &str) -> Self {
        self.answerer.allow_stack(stack);
        self
    }

    /// Allows answering `origin` (`scheme://host[:port]`) too, as
    /// [`crate::response_url::RESPONSE_HOSTS_VARIABLE`] does for a process: for tests that
    /// drive a runner in-process against a local `ResponseURL` server.
    ///
    /// # Errors
    ///
    /// [`Error::ResponseUrl`] when `origin` is not an origin.
    pub fn allow_response_origin(mut self, origin: &str) -> Result<Self, Error> {
        self.answerer.allow_response_origin(origin)?;
        Ok(self)
    }

    /// Handles one invocation as lambda_runtime delivers it.
    ///
    /// # Errors
    ///
    /// Only when no response could be delivered, so that Lambda delivers the event again.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let lambda_left = match event.context.deadline {
            0 => Duration::from_secs(900),
            deadline => Duration::from_millis(deadline.saturating_sub(now_ms)),
        };
        self.handle_payload(event.payload, lambda_left).await
    }

    /// Handles one event with `lambda_left` until Lambda's deadline.
    ///
    /// # Errors
    ///
    /// As [`Runner::handle`].
    pub async fn handle_payload(
        &self,
        payload: Value,
        lambda_left: Duration,
    ) -> Result<Value, Diagnostic> {
        let start = Instant::now();
        let (envelope, response) = match parse_event(&payload) {
            Ok(envelope) => {
                if let Some(refusal) = self.answerer.refused(&envelope.response_url) {
                    return Err(refusal);
                }
                let ids = &envelope.ids;
                if !path_matches(
                    &envelope.response_url,
                    &ids.stack_id,
                    &ids.logical_resource_id,
                    &ids.request_id,
                ) {
                    tracing::warn!(
                        response_host = envelope.response_url.host(),
                        "the ResponseURL's path is not `StackId|LogicalResourceId|RequestId`; answering it all the same"
                    );
                }
                // Answered before in this sandbox: the same answer again, nothing run again.
                let record = self.replay.then(|| Record::for_event(&payload, ids));
                match record.as_ref().map_or(Seen::New, Record::seen) {
                    Seen::New => {}
                    Seen::Answered(body) => {
                        tracing::info!(
                            request_type = %envelope.request_type,
                            logical_id = %ids.logical_resource_id,
                            "this request was answered before in this sandbox: sending the same answer again, running nothing"
                        );
                        return self
                            .answerer
                            .deliver_body(
                                &envelope.response_url,
                                &envelope.request_type.to_string(),
                                &ids.logical_resource_id,
                                body,
                                None,
                                start,
                                start + lambda_left,
                            )
                            .await;
                    }
                    Seen::Mismatch => {
                        tracing::error!(
                            logical_id = %ids.logical_resource_id,
                            "a request with these ids was answered here for another event: refused"
                        );
                        return Err(Diagnostic {
                            error_type: "RequestMismatch".into(),
                            error_message: "a request with the same StackId, LogicalResourceId \
                                and RequestId was answered in this sandbox for another event: \
                                refused, nothing was done or sent"
                                .into(),
                        });
                    }
                }
                let deadlines = Deadlines::new(start, lambda_left, envelope.service_timeout);
                let response = self.respond(&envelope, deadlines).await;
                (Ok((envelope, record)), response)
            }
            Err(rejected) => {
                let Rejected {
                    response_url,
                    ids,
                    problem,
                } = *rejected;
                let Ok(url) = response_url else {
                    let why = response_url.err().unwrap_or_default();
                    tracing::error!(problem = %problem, response_url = %why, "cannot answer this event: no usable ResponseURL");
                    return Err(Diagnostic {
                        error_type: "InvalidEvent".into(),
                        error_message: format!(
                            "{problem} ({why}); nothing was sent to CloudFormation"
                        ),
                    });
                };
                if let Some(refusal) = self.answerer.refused(&url) {
                    return Err(refusal);
                }
                let physical_id = ids
                    .physical_resource_id
                    .clone()
                    .unwrap_or_else(|| failed_create_id(&ids.logical_resource_id, &ids.request_id));
                tracing::warn!(problem = %problem, "answering an invalid event with FAILED");
                let response = Response::failed(&ids, physical_id, problem);
                (Err(url), response)
            }
        };
        let (url, request_type, logical_id, record) = match &envelope {
            Ok((e, record)) => (
                e.response_url.clone(),
                e.request_type.to_string(),
                e.ids.logical_resource_id.clone(),
                record.as_ref(),
            ),
            Err(url) => (
                url.clone(),
                "Invalid".to_owned(),
                response.logical_resource_id.clone(),
                None,
            ),
        };
        self.answerer
            .deliver(
                &url,
                &request_type,
                &logical_id,
                response,
                record,
                start,
                start + lambda_left,
            )
            .await
    }

    /// Decides the response for a valid request, calling the resource where needed.
    async fn respond(&self, envelope: &Envelope, deadlines: Deadlines) -> Response {
        let ids = &envelope.ids;
        let current = ids.physical_resource_id.clone().unwrap_or_default();
        if !self.answerer.serves(&ids.stack_id) {
            tracing::warn!(
                stack_id = %ids.stack_id,
                listed = %self.answerer.stacks().map(ToString::to_string).unwrap_or_default(),
                "a request for a stack not listed in {STACKS_VARIABLE}: nothing is done"
            );
            return match envelope.request_type {
                // A Delete never strands a stack: it retains.
                RequestType::Delete => Response::success(ids, current, Map::new(), false),
                RequestType::Create => Response::failed(
                    ids,
                    failed_create_id(&ids.logical_resource_id, &ids.request_id),
                    not_listed(&ids.stack_id, self.answerer.stacks()),
                ),
                RequestType::Update => Response::failed(
                    ids,
                    current,
                    not_listed(&ids.stack_id, self.answerer.stacks()),
                ),
            };
        }
        match envelope.request_type {
            RequestType::Delete => {
                if is_failed_create_id(&current) {
                    tracing::info!(physical_id = %current, "Delete of a Create that failed: nothing to delete");
                    return Response::success(ids, current, Map::new(), false);
                }
                if invented(ids, &current) {
                    tracing::info!(physical_id = %current, "Delete of an id CloudFormation invented for a Create that never answered: nothing to delete");
                    return Response::success(ids, current, Map::new(), false);
                }
                let resource = Resource {
                    stack_name: stack_name(&ids.stack_id),
                    logical_id: &ids.logical_resource_id,
                };
                if !self.resource.issued(&current, resource) {
                    tracing::warn!(physical_id = %current, "Delete of a physical id this function never issues: nothing to delete");
                    return Response::success(ids, current, Map::new(), false);
                }
                let properties = match properties::parse(&envelope.properties) {
                    Ok(p) => p,
                    Err(err) => {
                        tracing::warn!(error = %err, "Delete with properties this function cannot read: retaining, nothing deleted");
                        return Response::success(ids, current, Map::new(), false);
                    }
                };
                let phase = match self.confirmed(envelope, deadlines).await {
                    Ok(phase) => phase,
                    Err(why) => {
                        tracing::warn!(why = %why, "a Delete CloudFormation does not confirm: retaining, nothing deleted");
                        return Response::success(ids, current, Map::new(), false);
                    }
                };
                let refused = self.allowed.refused(&self.resource.switches(&properties));
                if !refused.is_empty() {
                    tracing::warn!(
                        refused = %names(&refused),
                        "the Delete asks for switches this stage does not allow ({ALLOW_VARIABLE}): the resource retains what they guard"
                    );
                }
                let request = self.request(
                    envelope,
                    RequestType::Delete,
                    properties,
                    None,
                    phase,
                    deadlines,
                );
                match self.call(request, deadlines).await {
                    Finished::Done(_) => Response::success(ids, current, Map::new(), false),
                    Finished::Failed(reason) => Response::failed(ids, current, reason),
                }
            }
            RequestType::Create => {
                let failed_id = failed_create_id(&ids.logical_resource_id, &ids.request_id);
                self.create(envelope, failed_id, deadlines).await
            }
            RequestType::Update if is_failed_create_id(&current) || invented(ids, &current) => {
                // The resource never existed (its Create failed or never answered and the stack
                // kept it, as with --disable-rollback): create it now; the new id makes
                // CloudFormation delete the old one.
                self.create(envelope, current, deadlines).await
            }
            RequestType::Update => {
                let properties = match properties::parse(&envelope.properties) {
                    Ok(p) => p,
                    Err(err) => return Response::failed(ids, current, err.to_string()),
                };
                let old = envelope.old_properties.as_ref().and_then(|old| {
                    properties::parse(old)
                        .inspect_err(|err| tracing::warn!(error = %err, "the old properties no longer parse; the resource sees none"))
                        .ok()
                });
                let phase = match self.confirmed(envelope, deadlines).await {
                    Ok(phase) => phase,
                    Err(why) => {
                        return Response::failed(ids, current, why.reason());
                    }
                };
                let ignored = self.ignored(&properties);
                let request = self.request(
                    envelope,
                    RequestType::Update,
                    properties,
                    old,
                    phase,
                    deadlines,
                );
                match self.call(request, deadlines).await {
                    Finished::Done(outcome) => {
                        let outcome = with_ignored(outcome.unwrap_or_default(), &ignored);
                        let id = outcome
                            .physical_id
                            .clone()
                            .unwrap_or_else(|| current.clone());
                        self.success(ids, id, outcome, current)
                    }
                    Finished::Failed(reason) => Response::failed(ids, current, reason),
                }
            }
        }
    }

    async fn create(
        &self,
        envelope: &Envelope,
        failed_id: String,
        deadlines: Deadlines,
    ) -> Response {
        let ids = &envelope.ids;
        let properties = match properties::parse(&envelope.properties) {
            Ok(p) => p,
            Err(err) => return Response::failed(ids, failed_id, err.to_string()),
        };
        // A Create asking for what its stage does not allow fails; an Update that creates (the
        // earlier Create failed) may be a rollback, and goes on without the switches.
        let ignored = if envelope.request_type == RequestType::Create {
            let refused = self.allowed.refused(&self.resource.switches(&properties));
            if !refused.is_empty() {
                tracing::warn!(refused = %names(&refused), "the Create asks for switches this stage does not allow ({ALLOW_VARIABLE}): nothing is done");
                return Response::failed(ids, failed_id, not_allowed(&refused));
            }
            Vec::new()
        } else {
            self.ignored(&properties)
        };
        let phase = match self.confirmed(envelope, deadlines).await {
            Ok(phase) => phase,
            Err(why) => return Response::failed(ids, failed_id, why.reason()),
        };
        let request = self.request(
            envelope,
            RequestType::Create,
            properties,
            None,
            phase,
            deadlines,
        );
        match self.call(request, deadlines).await {
            Finished::Done(outcome) => {
                let outcome = with_ignored(outcome.unwrap_or_default(), &ignored);
                let id = outcome
                    .physical_id
                    .clone()
                    .unwrap_or_else(|| default_physical_id(ids));
                self.success(ids, id, outcome, failed_id)
            }
            Finished::Failed(reason) => Response::failed(ids, failed_id, reason),
        }
    }

    /// Asks CloudFormation whether the request is part of a stack operation in progress.
    /// `Ok(None)` when confirmation is off.
    async fn confirmed(
        &self,
        envelope: &Envelope,
        deadlines: Deadlines,
    ) -> Result<Option<Phase>, Unconfirmed> {
        let Some(cloudformation) = &self.confirm else {
            return Ok(None);
        };
        let ids = &envelope.ids;
        let started = Instant::now();
        // Boxed: the SDK's futures are deep, and every function's `main` future holds this one.
        let observed = Box::pin(cloudformation.observe(
            &ids.stack_id,
            &ids.logical_resource_id,
            deadlines.soft,
        ))
        .await
        .map_err(|problem| {
            tracing::warn!(problem = %problem, "could not ask CloudFormation whether the request is real: nothing is done");
            Unconfirmed::Unreachable(problem)
        })?;
        let verdict = confirm::judge(
            envelope.request_type,
            ids.physical_resource_id.as_deref(),
            &observed,
        );
        let took_ms = started.elapsed().as_millis() as u64;
        match &verdict {
            Ok(phase) => {
                tracing::debug!(stack_status = %phase, took_ms, "CloudFormation confirms the request")
            }
            Err(why) => {
                tracing::warn!(why = %why, took_ms, "CloudFormation does not confirm the request: nothing is done")
            }
        }
        let phase = verdict.map_err(Unconfirmed::Refused)?;
        if envelope.request_type != RequestType::Update
            || !phase.is_rollback()
            || phase.is_cleanup()
        {
            return Ok(Some(phase));
        }
        // The rollback of an update: was the resource replaced by the failed operation?
        let current = ids.physical_resource_id.as_deref().unwrap_or_default();
        match Box::pin(cloudformation.replaced_id(
            &ids.stack_id,
            &ids.logical_resource_id,
            current,
            deadlines.soft,
        ))
        .await
        {
            Ok(replaced) => {
                if let Some(id) = &replaced {
                    tracing::info!(replaced_id = %id, "CloudFormation's events show the failed update replaced this resource");
                }
                Ok(Some(phase.with_replaced(replaced)))
            }
            Err(problem) => {
                tracing::warn!(problem = %problem, "could not read the stack's events; whether the failed update replaced this resource is not known");
                Ok(Some(phase))
            }
        }
    }

    /// The switches an Update's properties ask for that the stage does not allow: the
    /// resource goes on without them, and `Data.Ignored` names them.
    fn ignored(&self, properties: &R::Properties) -> Vec<Switch> {
        let refused = self.allowed.refused(&self.resource.switches(properties));
        if !refused.is_empty() {
            tracing::warn!(
                ignored = %names(&refused),
                "the Update asks for switches this stage does not allow ({ALLOW_VARIABLE}): going on as if they were off"
            );
        }
        refused
    }

    fn success(&self, ids: &Ids, id: String, outcome: Outcome, fallback_id: String) -> Response {
        if let Some(reason) = unusable_physical_id(&id) {
            tracing::error!(
                len = id.len(),
                "the resource returned an unusable physical id"
            );
            return Response::failed(ids, fallback_id, reason);
        }
        Response::success(ids, id, outcome.data, outcome.no_echo)
    }

    fn request(
        &self,
        envelope: &Envelope,
        request_type: RequestType,
        properties: R::Properties,
        old_properties: Option<R::Properties>,
        phase: Option<Phase>,
        deadlines: Deadlines,
    ) -> Request<R::Properties> {
        Request {
            request_type,
            request_id: envelope.ids.request_id.clone(),
            stack_id: envelope.ids.stack_id.clone(),
            logical_resource_id: envelope.ids.logical_resource_id.clone(),
            resource_type: envelope.resource_type.clone(),
            physical_resource_id: match request_type {
                RequestType::Create => None,
                _ => envelope.ids.physical_resource_id.clone(),
            },
            properties,
            old_properties,
            old_properties_raw: envelope.old_properties.clone(),
            deadline: deadlines.soft,
            redactor: Redactor::new(),
            phase,
            allowed: self.allowed.clone(),
        }
    }

    /// Runs the resource on its own task, so that neither a panic nor a hang can keep the
    /// response from being sent.
    async fn call(&self, request: Request<R::Properties>, deadlines: Deadlines) -> Finished {
        let resource = Arc::clone(&self.resource);
        let request_type = request.request_type;
        // What the resource teaches its copy, this one masks in the reason and log lines.
        let redactor = request.redactor.clone();
        let mut task = tokio::spawn(async move {
            match request.request_type {
                RequestType::Create => resource.create(&request).await.map(Some),
                RequestType::Update => resource.update(&request).await.map(Some),
                RequestType::Delete => resource.delete(&request).await.map(|()| None),
            }
        });
        match tokio::time::timeout_at(deadlines.soft, &mut task).await {
            Ok(Ok(Ok(outcome))) => Finished::Done(outcome),
            Ok(Ok(Err(err))) => {
                let reason = redactor.redact_known(&err.to_string());
                let detail = redactor.redact_known(&chain(&err));
                tracing::error!(error = %reason, detail = %detail, "the {request_type} failed");
                Finished::Failed(reason)
            }
            Ok(Err(join)) => {
                let detail = if join.is_panic() {
                    redactor.redact_known(&panic_message(join.into_panic()))
                } else {
                    "the task was cancelled".into()
                };
                tracing::error!(panic = %detail, "internal error: the resource panicked during the {request_type}");
                Finished::Failed(format!(
                    "internal error while handling the {request_type}; the function's log has the detail. This is a bug in the function: please report it"
                ))
            }
            Err(_) => {
                task.abort();
                let after = deadlines.soft.saturating_duration_since(deadlines.start);
                tracing::error!(
                    after_ms = after.as_millis() as u64,
                    "the {request_type} did not finish before the deadline"
                );
                Finished::Failed(format!(
                    "timed out after {:.1} s: the {request_type} did not finish before the deadline \
                    (the earlier of the function's Timeout and the resource's ServiceTimeout, less \
                    {:.1} s kept to answer CloudFormation). Raise the function's Timeout or the \
                    resource's ServiceTimeout, or find out why the work hangs",
                    after.as_secs_f64(),
                    deadlines.margin.as_secs_f64(),
                ))
            }
        }
    }
}

/// The switches' names, comma-separated.
fn names(switches: &[Switch]) -> String {
    let names: Vec<&str> = switches.iter().map(|s| s.name()).collect();
    names.join(",")
}

/// Names the switches the stage did not allow in `Data.Ignored`.
fn with_ignored(outcome: Outcome, ignored: &[Switch]) -> Outcome {
    if ignored.is_empty() {
        outcome
    } else {
        outcome.with("Ignored", names(ignored))
    }
}

/// Whether CloudFormation made `physical_id` up for this resource.
fn invented(ids: &Ids, physical_id: &str) -> bool {
    invented_by_cloudformation(
        physical_id,
        stack_name(&ids.stack_id),
        &ids.logical_resource_id,
    )
}

/// The physical id for a Create whose resource did not choose one: stable for the request.
fn default_physical_id(ids: &Ids) -> String {
    let digest = Sha256::digest(ids.request_id.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{hex}",
        stack_name(&ids.stack_id),
        ids.logical_resource_id
    )
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast::<&'static str>()
            .map_or_else(|_| "a panic without a message".into(), |s| (*s).to_owned()),
    }
}

/// Why CloudFormation could not take `id` as a physical id, if it could not: empty, over
/// [`MAX_PHYSICAL_ID_BYTES`], or with control characters, which the body would carry escaped at
/// six bytes each, past its 4096 (found by the fuzzer's response target).
fn unusable_physical_id(id: &str) -> Option<String> {
    let control = id.chars().any(char::is_control);
    (id.is_empty() || id.len() > MAX_PHYSICAL_ID_BYTES || control).then(|| {
        format!(
            "internal error: the resource returned a physical id of {} bytes{}; CloudFormation \
             needs 1 to {MAX_PHYSICAL_ID_BYTES}, without control characters",
            id.len(),
            if control {
                " with control characters"
            } else {
                ""
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_a_long_or_a_control_character_id_is_unusable() {
        assert_eq!(unusable_physical_id("example:a"), None);
        assert_eq!(
            unusable_physical_id(&"a".repeat(MAX_PHYSICAL_ID_BYTES)),
            None
        );
        assert!(unusable_physical_id("").is_some());
        assert!(unusable_physical_id(&"a".repeat(MAX_PHYSICAL_ID_BYTES + 1)).is_some());
        let control = unusable_physical_id("id\u{1}").unwrap();
        assert!(control.contains("with control characters"), "{control}");
    }

    #[test]
    fn margins_leave_room_to_answer() {
        assert_eq!(margin(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(margin(Duration::from_secs(30)), Duration::from_secs(3));
        assert_eq!(margin(Duration::from_secs(900)), Duration::from_secs(5));
        assert_eq!(
            margin(Duration::from_millis(600)),
            Duration::from_millis(300)
        );
    }

    #[test]
    fn service_timeout_bounds_the_deadline() {
        let start = Instant::now();
        let d = Deadlines::new(
            start,
            Duration::from_secs(900),
            Some(Duration::from_secs(60)),
        );
        assert_eq!(d.soft - start, Duration::from_secs(55));
        let d = Deadlines::new(
            start,
            Duration::from_secs(20),
            Some(Duration::from_secs(60)),
        );
        assert_eq!(d.soft - start, Duration::from_secs(18));
    }

    #[test]
    fn default_ids_are_stable_per_request() {
        let ids = Ids {
            request_id: "r-1".into(),
            stack_id: "arn:aws:cloudformation:eu-west-1:1:stack/app/uuid".into(),
            logical_resource_id: "Thing".into(),
            physical_resource_id: None,
        };
        let id = default_physical_id(&ids);
        assert!(id.starts_with("app-Thing-"), "{id}");
        assert_eq!(id, default_physical_id(&ids));
    }
}
