//! CloudFormation's own API, the read-only calls a function makes to confirm a request
//! (`DescribeStacks` and `DescribeStackResource`, and `DescribeStackEvents` for an Update
//! during a rollback), served from what the harness knows: the stack operations it is
//! driving, and the events they made.
//!
//! [`crate::Lambda::invoke`] records the operation each event belongs to as in progress
//! before delivering it, and as complete once answered, so every test runs with the check
//! on; [`crate::Lambda::invoke_forged`] delivers an event CloudFormation knows nothing of.
//! Functions reach it through the SDK's standard `AWS_ENDPOINT_URL_CLOUDFORMATION`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::Error;

#[derive(Debug, Clone, Default)]
struct Resource {
    status: String,
    physical_id: Option<String>,
}

#[derive(Debug, Default)]
struct Known {
    /// Stack ARN → status.
    stacks: HashMap<String, String>,
    /// Operations in flight per stack: the stack stays `…_IN_PROGRESS` until the last ends.
    in_flight: HashMap<String, usize>,
    /// (stack ARN, logical id) → resource.
    resources: HashMap<(String, String), Resource>,
    /// Every call received: `Action`.
    calls: Vec<String>,
    /// Stack ARN → its events, oldest first.
    events: HashMap<String, Vec<StackEvent>>,
}

/// One stack event, as `DescribeStackEvents` lists it.
#[derive(Debug, Clone)]
struct StackEvent {
    logical_id: String,
    kind: String,
    status: String,
    physical_id: Option<String>,
}

impl Known {
    /// Records a resource's event.
    fn event(&mut self, ids: &Ids<'_>, status: &str, physical_id: Option<String>) {
        self.events
            .entry(ids.stack_id.clone())
            .or_default()
            .push(StackEvent {
                logical_id: ids.logical_id.clone(),
                kind: ids.kind.to_owned(),
                status: status.to_owned(),
                physical_id,
            });
    }

    /// Records the stack's own event when its status changed since the last one recorded
    /// (every event of an operation carries the operation's status).
    fn stack_event(&mut self, stack_id: &str, status: &str) {
        let events = self.events.entry(stack_id.to_owned()).or_default();
        let last = events
            .iter()
            .rev()
            .find(|e| e.kind == STACK_TYPE)
            .map(|e| e.status.as_str());
        if last != Some(status) {
            events.push(StackEvent {
                logical_id: stack_id.split('/').nth(1).unwrap_or_default().to_owned(),
                kind: STACK_TYPE.to_owned(),
                status: status.to_owned(),
                physical_id: Some(stack_id.to_owned()),
            });
        }
    }
}

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// CloudFormation's `DescribeStacks` and `DescribeStackResource` on 127.0.0.1. Cheap to clone;
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct CloudFormationApi {
    known: Arc<Mutex<Known>>,
    endpoint: String,
    _task: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for CloudFormationApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CloudFormationApi({})", self.endpoint)
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the harness tells the function's stand-in CloudFormation while an event is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// The stack operation the event describes is in progress; the stack's status is the
    /// usual one for the request type (`CREATE_IN_PROGRESS`, `UPDATE_IN_PROGRESS`,
    /// `DELETE_IN_PROGRESS`), or the one given (`UPDATE_ROLLBACK_IN_PROGRESS`,
    /// `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`, …).
    InProgress(Option<&'a str>),
    /// CloudFormation knows nothing of this request: whatever it knew before stands.
    Forged,
}

impl CloudFormationApi {
    /// Starts the API on a free port.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no port can be bound.
    pub async fn start() -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("binding the CloudFormation API"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("reading the bound port"))?
            .port();
        let known = Arc::new(Mutex::new(Known::default()));
        let app = Router::new().fallback(serve).with_state(Arc::clone(&known));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            known,
            endpoint: format!("http://127.0.0.1:{port}"),
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_CLOUDFORMATION`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets a stack's status (a stack ARN, as events carry it).
    pub fn set_stack(&self, stack_id: &str, status: &str) {
        if let Ok(mut known) = self.known.lock() {
            known.stacks.insert(stack_id.to_owned(), status.to_owned());
            known.stack_event(stack_id, status);
        }
    }

    /// The stack's status, if the stack is known.
    pub fn stack_status(&self, stack_id: &str) -> Option<String> {
        self.known.lock().ok()?.stacks.get(stack_id).cloned()
    }

    /// Sets a resource's status and physical id.
    pub fn set_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
        status: &str,
        physical_id: Option<&str>,
    ) {
        if let Ok(mut known) = self.known.lock() {
            known.resources.insert(
                (stack_id.to_owned(), logical_id.to_owned()),
                Resource {
                    status: status.to_owned(),
                    physical_id: physical_id.map(str::to_owned),
                },
            );
        }
    }

    /// The actions received so far, in order (`DescribeStacks`, `DescribeStackResource`,
    /// `DescribeStackEvents`).
    pub fn calls(&self) -> Vec<String> {
        self.known
            .lock()
            .map(|k| k.calls.clone())
            .unwrap_or_default()
    }

    /// Records the operation `event` belongs to as in progress, as CloudFormation does before
    /// it invokes the function.
    pub(crate) fn begin(&self, event: &Value, operation: Operation<'_>) {
        let Operation::InProgress(stack_status) = operation else {
            return;
        };
        let Some(ids) = Ids::of(event) else {
            return;
        };
        let (stack_default, resource_status) = match ids.request_type {
            "Create" => ("CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"),
            "Update" => ("UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"),
            _ => ("DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS"),
        };
        let stack_status = stack_status.unwrap_or(stack_default);
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        known
            .stacks
            .insert(ids.stack_id.clone(), stack_status.to_owned());
        known.stack_event(&ids.stack_id, stack_status);
        known.event(&ids, resource_status, ids.physical_id.clone());
        *known.in_flight.entry(ids.stack_id.clone()).or_default() += 1;
        // In a cleanup phase a replaced resource keeps its new id and status while the Delete
        // names the old one; a resource removed from the template is deleted under its own.
        let cleanup =
            stack_status.ends_with("_CLEANUP_IN_PROGRESS") && ids.request_type == "Delete";
        let key = (ids.stack_id, ids.logical_id);
        if cleanup
            && known
                .resources
                .get(&key)
                .is_some_and(|r| r.physical_id != ids.physical_id)
        {
            return;
        }
        known.resources.insert(
            key,
            Resource {
                status: resource_status.to_owned(),
                physical_id: ids.physical_id,
            },
        );
    }

    /// Records the end of what [`CloudFormationApi::begin`] started: the resource gets the id
    /// the function answered with, and the stack ends its operation once nothing else of it
    /// is in flight.
    pub(crate) fn end(&self, event: &Value, operation: Operation<'_>, answer: Option<&Value>) {
        if operation == Operation::Forged {
            return;
        }
        let Some(ids) = Ids::of(event) else {
            return;
        };
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        let succeeded = answer.is_some_and(|a| a["Status"] == "SUCCESS");
        let key = (ids.stack_id.clone(), ids.logical_id.clone());
        let cleanup = known
            .stacks
            .get(&ids.stack_id)
            .is_some_and(|s| s.ends_with("_CLEANUP_IN_PROGRESS"));
        let replaced = cleanup
            && ids.request_type == "Delete"
            && known
                .resources
                .get(&key)
                .is_some_and(|r| r.physical_id != ids.physical_id);
        if !replaced {
            let verb = match ids.request_type {
                "Create" => "CREATE",
                "Update" => "UPDATE",
                _ => "DELETE",
            };
            let status = format!("{verb}_{}", if succeeded { "COMPLETE" } else { "FAILED" });
            let physical_id = answer
                .and_then(|a| a["PhysicalResourceId"].as_str())
                .map(str::to_owned)
                .or_else(|| ids.physical_id.clone());
            known.event(&ids, &status, physical_id.clone());
            known.resources.insert(
                key,
                Resource {
                    status,
                    physical_id,
                },
            );
        }
        let left = known.in_flight.entry(ids.stack_id.clone()).or_default();
        *left = left.saturating_sub(1);
        if *left == 0
            && let Some(status) = known.stacks.get_mut(&ids.stack_id)
        {
            *status = ended(status);
        }
    }
}

/// The status a stack operation ends in.
fn ended(status: &str) -> String {
    if let Some(base) = status.strip_suffix("_CLEANUP_IN_PROGRESS") {
        return base.to_owned();
    }
    status.replace("_IN_PROGRESS", "_COMPLETE")
}

struct Ids<'a> {
    request_type: &'a str,
    kind: &'a str,
    stack_id: String,
    logical_id: String,
    physical_id: Option<String>,
}

impl<'a> Ids<'a> {
    fn of(event: &'a Value) -> Option<Self> {
        Some(Self {
            request_type: event["RequestType"].as_str()?,
            kind: event["ResourceType"]
                .as_str()
                .unwrap_or("AWS::CloudFormation::CustomResource"),
            stack_id: event["StackId"].as_str()?.to_owned(),
            logical_id: event["LogicalResourceId"].as_str()?.to_owned(),
            physical_id: event["PhysicalResourceId"].as_str().map(str::to_owned),
        })
    }
}

async fn serve(AxumState(known): AxumState<Arc<Mutex<Known>>>, body: Bytes) -> impl IntoResponse {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let action = form.get("Action").cloned().unwrap_or_default();
    let stack = form.get("StackName").cloned().unwrap_or_default();
    let Ok(mut known) = known.lock() else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "poisoned",
        );
    };
    known.calls.push(action.clone());
    // A stack is asked for by ARN (what events carry) or by name.
    let stack_id = known
        .stacks
        .keys()
        .find(|id| **id == stack || id.split('/').nth(1) == Some(stack.as_str()))
        .cloned();
    let Some(stack_id) = stack_id else {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            &format!("Stack with id {stack} does not exist"),
        );
    };
    let stack_name = stack_id.split('/').nth(1).unwrap_or_default().to_owned();
    match action.as_str() {
        "DescribeStacks" => {
            let status = known.stacks.get(&stack_id).cloned().unwrap_or_default();
            ok(
                "DescribeStacks",
                &format!(
                    "<Stacks><member><StackName>{}</StackName><StackId>{}</StackId>\
                     <CreationTime>2026-12-01T00:00:00.000Z</CreationTime>\
                     <StackStatus>{}</StackStatus></member></Stacks>",
                    xml(&stack_name),
                    xml(&stack_id),
                    xml(&status)
                ),
            )
        }
        "DescribeStackResource" => {
            let logical_id = form.get("LogicalResourceId").cloned().unwrap_or_default();
            let Some(resource) = known
                .resources
                .get(&(stack_id.clone(), logical_id.clone()))
                .cloned()
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    &format!("Resource {logical_id} does not exist for stack {stack_name}"),
                );
            };
            let physical = resource
                .physical_id
                .map(|id| format!("<PhysicalResourceId>{}</PhysicalResourceId>", xml(&id)))
                .unwrap_or_default();
            ok(
                "DescribeStackResource",
                &format!(
                    "<StackResourceDetail><StackName>{}</StackName><StackId>{}</StackId>\
                     <LogicalResourceId>{}</LogicalResourceId>{physical}\
                     <ResourceType>AWS::CloudFormation::CustomResource</ResourceType>\
                     <LastUpdatedTimestamp>2026-12-01T00:00:00.000Z</LastUpdatedTimestamp>\
                     <ResourceStatus>{}</ResourceStatus></StackResourceDetail>",
                    xml(&stack_name),
                    xml(&stack_id),
                    xml(&logical_id),
                    xml(&resource.status)
                ),
            )
        }
        "DescribeStackEvents" => {
            // Newest first, on one page.
            let members: String = known
                .events
                .get(&stack_id)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .enumerate()
                .rev()
                .map(|(n, e)| {
                    let physical = e
                        .physical_id
                        .as_deref()
                        .map(|id| format!("<PhysicalResourceId>{}</PhysicalResourceId>", xml(id)))
                        .unwrap_or_default();
                    format!(
                        "<member><StackId>{}</StackId><EventId>{n}</EventId>\
                         <StackName>{}</StackName><LogicalResourceId>{}</LogicalResourceId>\
                         {physical}<ResourceType>{}</ResourceType>\
                         <Timestamp>2026-12-01T00:00:00.000Z</Timestamp>\
                         <ResourceStatus>{}</ResourceStatus></member>",
                        xml(&stack_id),
                        xml(&stack_name),
                        xml(&e.logical_id),
                        xml(&e.kind),
                        xml(&e.status)
                    )
                })
                .collect();
            ok(
                "DescribeStackEvents",
                &format!("<StackEvents>{members}</StackEvents>"),
            )
        }
        other => error(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            &format!(
                "the harness serves DescribeStacks, DescribeStackResource and \
                 DescribeStackEvents, not {other}"
            ),
        ),
    }
}

const NAMESPACE: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

fn ok(action: &str, result: &str) -> axum::response::Response {
    let body = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        uuid::Uuid::new_v4()
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        xml(message),
        uuid::Uuid::new_v4()
    );
    (status, [(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_end_in_their_complete_status() {
        assert_eq!(ended("UPDATE_IN_PROGRESS"), "UPDATE_COMPLETE");
        assert_eq!(
            ended("UPDATE_ROLLBACK_IN_PROGRESS"),
            "UPDATE_ROLLBACK_COMPLETE"
        );
        assert_eq!(
            ended("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
            "UPDATE_COMPLETE"
        );
        assert_eq!(ended("DELETE_IN_PROGRESS"), "DELETE_COMPLETE");
    }
}
