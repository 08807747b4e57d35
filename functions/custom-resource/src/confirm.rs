//! Is CloudFormation really asking? Before a request may act, the library asks CloudFormation
//! itself whether it is part of a stack operation in progress.
//!
//! Anyone allowed to invoke a function can forge an event; only CloudFormation knows which
//! requests it sent. Two read-only calls, `DescribeStacks` and `DescribeStackResource` (and no
//! other), on the event's stack and resource, and the rules in [`judge`]:
//!
//! | request | the stack | the resource |
//! |---|---|---|
//! | Create | `*_IN_PROGRESS` | `CREATE_IN_PROGRESS` |
//! | Update | `*_IN_PROGRESS` | `UPDATE_IN_PROGRESS`, its physical id the event's |
//! | Delete | `*_IN_PROGRESS` | `DELETE_IN_PROGRESS` with the event's id |
//! | Delete | `*_CLEANUP_IN_PROGRESS` | any status; its current id is *not* the event's (the old id of a replacement) |
//!
//! A request that is not confirmed does nothing: a Create or Update is FAILED ("not part of a
//! stack operation in progress"), a Delete retains and answers SUCCESS (a Delete never strands
//! a stack). A request that would do nothing anyway (the Delete of an id the function never
//! issued) is not looked up. `STACKWRIGHT_CONFIRM=off` in the function's environment (never
//! the event) turns the check off, for StackSets whose function runs in another account than
//! the stack.
//!
//! The stack's status also says whether an Update is a rollback ([`Phase::is_rollback`]).
//!
//! One more read-only call, `DescribeStackEvents`, is made only for an Update during a
//! rollback: when the failed operation had replaced the resource, CloudFormation's events
//! name the physical id it had before ([`Phase::replaced`], found by [`replaced_id`]), so a
//! resource asked to go back can return to that object instead of making a third.

use std::fmt;

use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::time::Instant;

use crate::aws::{Aws, within};
use crate::request::RequestType;

/// The variable that turns confirmation off (`off`); anything else leaves it on.
pub const CONFIRM_VARIABLE: &str = "STACKWRIGHT_CONFIRM";

/// Whether [`CONFIRM_VARIABLE`] turns confirmation off.
pub fn off_in_env() -> bool {
    std::env::var(CONFIRM_VARIABLE).is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"))
}

/// The resource as `DescribeStackResource` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    /// `ResourceStatus`, as CloudFormation spells it (`UPDATE_IN_PROGRESS`).
    pub status: String,
    /// `PhysicalResourceId`; none while a Create is in progress.
    pub physical_id: Option<String>,
}

/// What CloudFormation says about the stack and the resource.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// `StackStatus`; `None` when CloudFormation knows no such stack.
    pub stack_status: Option<String>,
    /// The resource; `None` when the stack has no such resource.
    pub resource: Option<StackResource>,
}

/// The stack operation a confirmed request is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    stack_status: String,
    /// `None`: not looked up (not a rollback's Update) or the events could not be read.
    replaced: Option<Option<String>>,
}

impl Phase {
    /// The phase of a stack whose status is `stack_status`.
    pub fn new(stack_status: impl Into<String>) -> Self {
        Self {
            stack_status: stack_status.into(),
            replaced: None,
        }
    }

    /// Records the physical id the resource had before the operation now rolling back
    /// replaced it.
    #[must_use]
    pub fn with_replaced(mut self, replaced: Option<String>) -> Self {
        self.replaced = Some(replaced);
        self
    }

    /// For an Update during a rollback: the physical id the resource had before the failed
    /// operation replaced it, as CloudFormation's events tell (`None` when it was not
    /// replaced, or the events could not be read). That object still exists: CloudFormation
    /// deletes a replaced id only in the cleanup phase of an operation that succeeded.
    pub fn replaced(&self) -> Option<&str> {
        self.replaced.as_ref().and_then(Option::as_deref)
    }

    /// For an Update during a rollback, what CloudFormation's events say: `Some(Some(id))`
    /// when the failed operation replaced the resource (`id`: the one it had before),
    /// `Some(None)` when it did not (the current id is the one from before the operation),
    /// `None` when that is not known (not a rollback's Update, or the events could not be
    /// read).
    pub fn replacement(&self) -> Option<Option<&str>> {
        self.replaced.as_ref().map(Option::as_deref)
    }

    /// The stack's status when the request was confirmed (`UPDATE_IN_PROGRESS`).
    pub fn stack_status(&self) -> &str {
        &self.stack_status
    }

    /// Whether the stack is rolling back (`UPDATE_ROLLBACK_IN_PROGRESS`,
    /// `ROLLBACK_IN_PROGRESS`, and their cleanup phases): an Update then carries the old
    /// properties, and must not fail.
    pub fn is_rollback(&self) -> bool {
        self.stack_status.contains("ROLLBACK")
    }

    /// Whether the stack is in a cleanup phase (`UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`,
    /// `UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`): the old ids of replacements are
    /// deleted.
    pub fn is_cleanup(&self) -> bool {
        self.stack_status.ends_with("_CLEANUP_IN_PROGRESS")
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stack_status)
    }
}

/// Whether what CloudFormation says confirms a request of `request_type` for the resource
/// whose physical id the event gives as `event_id`. `Err` says, in CloudFormation's own words,
/// why not.
///
/// # Errors
///
/// When the request is not part of a stack operation in progress.
pub fn judge(
    request_type: RequestType,
    event_id: Option<&str>,
    observed: &Observed,
) -> Result<Phase, String> {
    let Some(stack_status) = observed.stack_status.as_deref() else {
        return Err("CloudFormation knows no such stack".into());
    };
    // Stack status codes: "…_IN_PROGRESS: ongoing …" for every operation, and
    // "…_COMPLETE"/"…_FAILED" once it has ended.
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes
    if !stack_status.ends_with("_IN_PROGRESS") {
        return Err(format!(
            "the stack is `{stack_status}`, not in the middle of an operation"
        ));
    }
    let phase = Phase::new(stack_status);
    // The cleanup phases delete the old physical ids of resources that were replaced: "for
    // stack updates that require resources to be replaced, CloudFormation creates the new
    // resources first and then deletes the old resources" (stack status codes, above); for a
    // custom resource, "if the physical ID changes, CloudFormation sends a Delete request for
    // the old one" once the update has succeeded (crpg-ref-requesttypes-update; seen in
    // practice: a Delete in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, never during a rollback,
    // iRobotCorporation/cfn-custom-resource#3). DescribeStackResource then describes the *new*
    // resource, so the old id is recognised by not being the current one. After a rollback
    // of a replacement, UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS deletes the new id the
    // same way. (A resource removed from the template is deleted in the same phase under its
    // current id, in `DELETE_IN_PROGRESS`: the general rule below covers it.)
    if request_type == RequestType::Delete && phase.is_cleanup() {
        let resource = observed.resource.as_ref();
        let current = resource.and_then(|r| r.physical_id.as_deref());
        let deleting = resource.is_some_and(|r| r.status == "DELETE_IN_PROGRESS");
        return match (event_id, current) {
            (Some(id), Some(current)) if id == current && !deleting => Err(format!(
                "the stack is `{stack_status}`, which deletes only the old physical ids of \
                 replaced resources and the resources removed from the template, and this id \
                 is the resource's current one"
            )),
            (Some(_), _) => Ok(phase),
            (None, _) => Err("a Delete without a physical id".into()),
        };
    }
    let Some(resource) = observed.resource.as_ref() else {
        return Err("the stack has no such resource".into());
    };
    // Each request is sent while CloudFormation holds the resource in the matching
    // `…_IN_PROGRESS` status (resource status codes, same page), including the Deletes of a
    // failed Create's rollback (ROLLBACK_IN_PROGRESS) and the Updates of an update's rollback
    // (UPDATE_ROLLBACK_IN_PROGRESS, which sends the old properties: crpg-ref-requesttypes-update).
    let expected = match request_type {
        RequestType::Create => "CREATE_IN_PROGRESS",
        RequestType::Update => "UPDATE_IN_PROGRESS",
        RequestType::Delete => "DELETE_IN_PROGRESS",
    };
    if resource.status != expected {
        return Err(format!(
            "the resource is `{}`, not `{expected}`",
            resource.status
        ));
    }
    // An Update or Delete names the resource's current physical id (the one the last answer
    // gave); a forger who names another (another stage's secret, another host) is refused.
    if request_type != RequestType::Create && resource.physical_id.as_deref() != event_id {
        return Err("the resource's current physical id is not the one this request names".into());
    }
    Ok(phase)
}

/// One of CloudFormation's stack events, as [`replaced_id`] reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackEvent {
    /// `LogicalResourceId`; the stack's name for the stack's own events.
    pub logical_id: String,
    /// `ResourceType`; `AWS::CloudFormation::Stack` for the stack's own events.
    pub resource_type: String,
    /// `ResourceStatus`.
    pub status: String,
    /// `PhysicalResourceId`, when not empty.
    pub physical_id: Option<String>,
}

/// Reads one page of `DescribeStackEvents` (newest first) for the physical id `logical_id`
/// had before the operation now rolling back replaced it: the newest event of that resource
/// naming an id other than `current`. A replacement shows as `UPDATE_IN_PROGRESS` under the
/// old id, then `UPDATE_COMPLETE` under the new one (stack events, "Monitor stack progress"
/// in the CloudFormation User Guide); the rollback's own events carry the current id.
///
/// `Break(Some(id))`: found. `Break(None)`: the stack's own `UPDATE_IN_PROGRESS`, the start
/// of the failed update, came first, so the resource was not replaced by it. `Continue`: read
/// the next page.
pub fn replaced_id(
    events: &[StackEvent],
    stack_name: &str,
    logical_id: &str,
    current: &str,
) -> std::ops::ControlFlow<Option<String>> {
    use std::ops::ControlFlow;
    for event in events {
        if event.resource_type == "AWS::CloudFormation::Stack" && event.logical_id == stack_name {
            if event.status == "UPDATE_IN_PROGRESS" {
                return ControlFlow::Break(None);
            }
            continue;
        }
        if event.logical_id != logical_id {
            continue;
        }
        if let Some(id) = event.physical_id.as_deref().filter(|id| *id != current) {
            return ControlFlow::Break(Some(id.to_owned()));
        }
    }
    ControlFlow::Continue(())
}

/// The reason a Create or Update that CloudFormation does not confirm is FAILED with.
pub fn not_confirmed(why: &str) -> String {
    format!(
        "not part of a stack operation in progress ({why}): nothing was done. Only a request \
         CloudFormation sends for a stack operation under way is acted on; set \
         `{CONFIRM_VARIABLE}=off` in the function's environment only where it cannot call \
         CloudFormation (StackSets in another account)"
    )
}

/// The reason a Create or Update is FAILED with when CloudFormation could not be asked.
pub fn unconfirmable(problem: &str) -> String {
    format!(
        "{problem}, so this request could not be confirmed as part of a stack operation in \
         progress: nothing was done"
    )
}

/// Why a request is not acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unconfirmed {
    /// CloudFormation answered, and the request is not part of an operation in progress.
    Refused(String),
    /// CloudFormation could not be asked (no answer, access denied, …).
    Unreachable(String),
}

impl Unconfirmed {
    /// The `Reason` a Create or Update is FAILED with.
    pub fn reason(&self) -> String {
        match self {
            Self::Refused(why) => not_confirmed(why),
            Self::Unreachable(problem) => unconfirmable(problem),
        }
    }
}

impl fmt::Display for Unconfirmed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(why) | Self::Unreachable(why) => f.write_str(why),
        }
    }
}

/// Asks CloudFormation about a stack and one of its resources.
#[derive(Debug, Clone)]
pub struct CloudFormation {
    aws: Aws,
}

impl CloudFormation {
    /// A client over `aws`, built on the first call.
    pub fn new(aws: Aws) -> Self {
        Self { aws }
    }

    /// `DescribeStacks` and `DescribeStackResource`, at once, by `deadline`.
    ///
    /// # Errors
    ///
    /// A reason naming the call and what to do, when either call fails for any reason other
    /// than "no such stack or resource".
    pub async fn observe(
        &self,
        stack_id: &str,
        logical_id: &str,
        deadline: Instant,
    ) -> Result<Observed, String> {
        let client = self.aws.cloudformation().await.map_err(|e| e.to_string())?;
        // Boxed: each SDK call's future is tens of kilobytes.
        let stacks = Box::pin(client.describe_stacks().stack_name(stack_id).send());
        let resource = Box::pin(
            client
                .describe_stack_resource()
                .stack_name(stack_id)
                .logical_resource_id(logical_id)
                .send(),
        );
        let started = Instant::now();
        let (stacks, resource) = within(deadline, async { tokio::join!(stacks, resource) })
            .await
            .map_err(|_| {
                format!(
                    "CloudFormation did not answer within {:.1} s: check that the function can \
                     reach it (the CloudFormation VPC endpoint or a NAT gateway)",
                    started.elapsed().as_secs_f64()
                )
            })?;
        let stack_status = match stacks {
            Ok(out) => out
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_owned()),
            Err(err) if no_such(&err) => None,
            Err(err) => return Err(call_problem("DescribeStacks", &err)),
        };
        let resource = match resource {
            Ok(out) => out.stack_resource_detail().map(|r| StackResource {
                status: r
                    .resource_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                physical_id: r
                    .physical_resource_id()
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned),
            }),
            Err(err) if no_such(&err) => None,
            Err(err) => return Err(call_problem("DescribeStackResource", &err)),
        };
        Ok(Observed {
            stack_status,
            resource,
        })
    }

    /// `DescribeStackEvents`, page after page (at most [`MAX_EVENT_PAGES`]) until
    /// [`replaced_id`] decides, by `deadline`.
    ///
    /// # Errors
    ///
    /// A reason naming the call, when it fails or does not answer in time.
    pub async fn replaced_id(
        &self,
        stack_id: &str,
        logical_id: &str,
        current: &str,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let client = self.aws.cloudformation().await.map_err(|e| e.to_string())?;
        let stack_name = crate::request::stack_name(stack_id);
        let mut token: Option<String> = None;
        for _ in 0..MAX_EVENT_PAGES {
            let call = Box::pin(
                client
                    .describe_stack_events()
                    .stack_name(stack_id)
                    .set_next_token(token.take())
                    .send(),
            );
            let page = within(deadline, call)
                .await
                .map_err(|_| {
                    "CloudFormation did not answer `DescribeStackEvents` in time".to_owned()
                })?
                .map_err(|err| call_problem("DescribeStackEvents", &err))?;
            let events: Vec<StackEvent> = page
                .stack_events()
                .iter()
                .map(|e| StackEvent {
                    logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: e.resource_type().unwrap_or_default().to_owned(),
                    status: e
                        .resource_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    physical_id: e
                        .physical_resource_id()
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned),
                })
                .collect();
            if let std::ops::ControlFlow::Break(found) =
                replaced_id(&events, stack_name, logical_id, current)
            {
                return Ok(found);
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// How many pages of stack events (100 each) [`CloudFormation::replaced_id`] reads at most.
pub const MAX_EVENT_PAGES: usize = 10;

/// CloudFormation's answer for a stack or resource it does not know: `ValidationError`,
/// "Stack with id … does not exist" / "Resource … does not exist for stack …".
fn no_such<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ValidationError")
        && err.message().is_some_and(|m| m.contains("does not exist"))
}

fn call_problem<E: ProvideErrorMetadata + std::error::Error + 'static, R: fmt::Debug>(
    operation: &str,
    err: &SdkError<E, R>,
) -> String {
    let hint = match err.code() {
        Some("AccessDenied" | "AccessDeniedException") => format!(
            "; give the function's role `cloudformation:DescribeStacks`, \
             `cloudformation:DescribeStackResource` and `cloudformation:DescribeStackEvents` \
             on its stack (the template does), or set \
             `{CONFIRM_VARIABLE}=off` where it cannot have them"
        ),
        _ => String::new(),
    };
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {}", message.trim().trim_end_matches('.')),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(err)
            .to_string()
            .chars()
            .take(200)
            .collect(),
    };
    format!("could not ask CloudFormation (`{operation}`: {detail}){hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "arn:aws:secretsmanager:eu-west-1:1:secret:app/Secret-AbCdEf";

    fn observed(stack: &str, status: &str, id: Option<&str>) -> Observed {
        Observed {
            stack_status: Some(stack.into()),
            resource: Some(StackResource {
                status: status.into(),
                physical_id: id.map(str::to_owned),
            }),
        }
    }

    fn event(logical_id: &str, kind: &str, status: &str, id: Option<&str>) -> StackEvent {
        StackEvent {
            logical_id: logical_id.into(),
            resource_type: kind.into(),
            status: status.into(),
            physical_id: id.map(str::to_owned),
        }
    }

    #[test]
    fn a_rolled_back_replacement_finds_the_id_the_failed_update_replaced() {
        use std::ops::ControlFlow;
        const HOOK: &str = "Custom::Http";
        const STACK: &str = "AWS::CloudFormation::Stack";
        // Newest first, as DescribeStackEvents lists them.
        let events = [
            event("Hook", HOOK, "UPDATE_IN_PROGRESS", Some("7")),
            event("app", STACK, "UPDATE_ROLLBACK_IN_PROGRESS", Some("arn")),
            event("Db", HOOK, "UPDATE_FAILED", Some("db")),
            event("Hook", HOOK, "UPDATE_COMPLETE", Some("7")),
            event("Hook", HOOK, "UPDATE_IN_PROGRESS", Some("3")),
            event("app", STACK, "UPDATE_IN_PROGRESS", Some("arn")),
            event("Hook", HOOK, "CREATE_COMPLETE", Some("1")),
        ];
        assert_eq!(
            replaced_id(&events, "app", "Hook", "7"),
            ControlFlow::Break(Some("3".into()))
        );
        // Updated in place by the failed operation: only the current id appears before its
        // start, so nothing older is taken for it.
        let in_place = [
            event("Hook", HOOK, "UPDATE_IN_PROGRESS", Some("3")),
            event("app", STACK, "UPDATE_ROLLBACK_IN_PROGRESS", Some("arn")),
            event("Hook", HOOK, "UPDATE_COMPLETE", Some("3")),
            event("Hook", HOOK, "UPDATE_IN_PROGRESS", Some("3")),
            event("app", STACK, "UPDATE_IN_PROGRESS", Some("arn")),
            event("Hook", HOOK, "CREATE_COMPLETE", Some("1")),
        ];
        assert_eq!(
            replaced_id(&in_place, "app", "Hook", "3"),
            ControlFlow::Break(None)
        );
        // The start of the operation is on a later page.
        assert_eq!(
            replaced_id(&events[..3], "app", "Hook", "7"),
            ControlFlow::Continue(())
        );
        // Another resource's ids are not this one's.
        assert_eq!(
            replaced_id(&events, "app", "Other", "7"),
            ControlFlow::Break(None)
        );
        // What the resource is told: not looked up, looked up and not replaced, replaced.
        let phase = Phase::new("UPDATE_ROLLBACK_IN_PROGRESS");
        assert_eq!(phase.replacement(), None);
        assert_eq!(phase.clone().with_replaced(None).replacement(), Some(None));
        let replaced = phase.with_replaced(Some("3".into()));
        assert_eq!(replaced.replacement(), Some(Some("3")));
        assert_eq!(replaced.replaced(), Some("3"));
    }

    #[test]
    fn a_create_needs_the_resource_being_created() {
        let create =
            |stack, status| judge(RequestType::Create, None, &observed(stack, status, None));
        assert!(create("CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS").is_ok());
        // A resource added by an update.
        assert!(create("UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS").is_ok());
        let err = create("UPDATE_COMPLETE", "CREATE_IN_PROGRESS").unwrap_err();
        assert!(err.contains("`UPDATE_COMPLETE`"), "{err}");
        assert!(create("UPDATE_IN_PROGRESS", "CREATE_COMPLETE").is_err());
    }

    #[test]
    fn an_update_needs_the_resource_being_updated_under_the_events_id() {
        let update = |stack, status, current| {
            judge(
                RequestType::Update,
                Some(ID),
                &observed(stack, status, current),
            )
        };
        let phase = update("UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", Some(ID)).unwrap();
        assert!(!phase.is_rollback());
        let phase = update(
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "UPDATE_IN_PROGRESS",
            Some(ID),
        )
        .unwrap();
        assert!(phase.is_rollback());
        // A forger naming another secret than the resource's.
        let err = update("UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", Some("other")).unwrap_err();
        assert!(err.contains("current physical id"), "{err}");
        // The operation is over.
        assert!(update("UPDATE_COMPLETE", "UPDATE_COMPLETE", Some(ID)).is_err());
        // Another resource of the stack is being updated, not this one.
        assert!(update("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE", Some(ID)).is_err());
    }

    #[test]
    fn a_delete_needs_the_resource_being_deleted_or_a_cleanup_of_an_old_id() {
        let delete = |stack, status, current: Option<&str>| {
            judge(
                RequestType::Delete,
                Some(ID),
                &observed(stack, status, current),
            )
        };
        assert!(delete("DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS", Some(ID)).is_ok());
        // The rollback of a failed Create deletes what was made.
        let phase = delete("ROLLBACK_IN_PROGRESS", "DELETE_IN_PROGRESS", Some(ID)).unwrap();
        assert!(phase.is_rollback());
        // Replaced: the old id is deleted in cleanup, while the resource has its new id.
        let phase = delete(
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_COMPLETE",
            Some("new"),
        )
        .unwrap();
        assert!(phase.is_cleanup() && !phase.is_rollback());
        assert!(
            delete(
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                "UPDATE_COMPLETE",
                Some("old")
            )
            .is_ok()
        );
        // A cleanup never deletes the current id.
        let err = delete(
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "UPDATE_COMPLETE",
            Some(ID),
        )
        .unwrap_err();
        assert!(err.contains("current one"), "{err}");
        // A resource removed from the template goes in the same phase, under its own id.
        assert!(
            delete(
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                "DELETE_IN_PROGRESS",
                Some(ID)
            )
            .is_ok()
        );
        // A stack at rest, or the wrong id.
        assert!(delete("UPDATE_COMPLETE", "UPDATE_COMPLETE", Some(ID)).is_err());
        assert!(delete("DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS", Some("other")).is_err());
        assert!(delete("DELETE_IN_PROGRESS", "DELETE_COMPLETE", Some(ID)).is_err());
    }

    #[test]
    fn an_unknown_stack_or_resource_confirms_nothing() {
        let none = Observed::default();
        for request_type in [
            RequestType::Create,
            RequestType::Update,
            RequestType::Delete,
        ] {
            let err = judge(request_type, Some(ID), &none).unwrap_err();
            assert!(err.contains("no such stack"), "{err}");
        }
        let no_resource = Observed {
            stack_status: Some("UPDATE_IN_PROGRESS".into()),
            resource: None,
        };
        assert!(judge(RequestType::Update, Some(ID), &no_resource).is_err());
    }

    #[test]
    fn the_reason_says_nothing_was_done_and_names_the_switch() {
        let reason = unconfirmable("could not ask CloudFormation (`DescribeStacks`: Throttling)");
        assert!(reason.contains("could not be confirmed"), "{reason}");
        let reason = not_confirmed("the stack is `UPDATE_COMPLETE`");
        assert!(reason.starts_with("not part of a stack operation in progress"));
        assert!(reason.contains("`STACKWRIGHT_CONFIRM=off`"), "{reason}");
    }
}
