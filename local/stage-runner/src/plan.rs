//! CloudFormation's decisions, as plain functions of plain data: what a resource's next
//! request is, which status names a stack operation goes through, whether a Delete is sent at
//! all (`DeletionPolicy`, `UpdateReplacePolicy`), and how a failed operation is undone. The
//! engine asks these and does the I/O; each rule cites what it follows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::ResourceState;

/// A resource's `DeletionPolicy` or `UpdateReplacePolicy`, resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    /// The default: the resource is deleted.
    #[default]
    Delete,
    /// Kept: no Delete is sent.
    Retain,
    /// Kept, except when the operation that created it rolls back.
    RetainExceptOnCreate,
    /// For resources that support snapshots; a custom resource does not, and CloudFormation
    /// deletes it as with `Delete`.
    Snapshot,
}

impl Policy {
    /// The policy a template names; `None` for a value CloudFormation would refuse.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Delete" => Some(Self::Delete),
            "Retain" => Some(Self::Retain),
            "RetainExceptOnCreate" => Some(Self::RetainExceptOnCreate),
            "Snapshot" => Some(Self::Snapshot),
            _ => None,
        }
    }

    fn keeps(self) -> bool {
        matches!(self, Self::Retain | Self::RetainExceptOnCreate)
    }
}

/// Why a physical resource is about to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The stack is deleted (`make down`).
    StackDeleted,
    /// The resource left the template (or its `Condition` turned false) in an update; deleted
    /// in the cleanup phase.
    LeftTemplate,
    /// The old physical resource of a replacement, deleted in the cleanup phase.
    Replaced,
    /// Created by the operation that is now rolling back.
    CreateRolledBack,
}

/// Whether CloudFormation sends the Delete, or skips it (`DELETE_SKIPPED`) and forgets the
/// resource.
///
/// - `DeletionPolicy` governs a stack delete and a resource removed from the template, and not
///   a replacement, which `UpdateReplacePolicy` governs ("aws-attribute-deletionpolicy",
///   "aws-attribute-updatereplacepolicy" in the CloudFormation User Guide).
/// - On the rollback of the operation that created it, `Retain` keeps it and
///   `RetainExceptOnCreate` deletes it ("retain_except_on_create": "newly created resources
///   are deleted when the operation rolls back", which plain `Retain` does not do).
pub fn sends_delete(removal: Removal, deletion: Policy, update_replace: Policy) -> bool {
    match removal {
        Removal::StackDeleted | Removal::LeftTemplate => !deletion.keeps(),
        Removal::Replaced => !update_replace.keeps(),
        Removal::CreateRolledBack => deletion != Policy::Retain,
    }
}

/// The next request for a resource present in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not recorded: a Create.
    Create,
    /// Recorded with other properties or another function: an Update with the recorded ones
    /// as `OldResourceProperties`.
    Update,
    /// Recorded with the same properties and function: CloudFormation sends nothing.
    Unchanged,
}

/// What to send a resource now, from what was recorded and what the template resolves to.
/// CloudFormation compares the resolved template: a property whose value is the same (even
/// one computed from another resource) is no change ("Update behaviors of stack resources").
pub fn step(recorded: Option<&ResourceState>, properties: &Value, function: &str) -> Step {
    match recorded {
        None => Step::Create,
        Some(r) if r.properties == *properties && r.function == function => Step::Unchanged,
        Some(_) => Step::Update,
    }
}

/// Whether an Update's answer replaced the resource: "if the physical ID changes,
/// CloudFormation treats the update as a replacement and sends a Delete request for the old
/// one" (the `Update` request type of custom resources, CloudFormation User Guide), and not
/// before the whole stack has succeeded: the old id waits for the cleanup phase.
pub fn replaced(before: &str, answered: &str) -> bool {
    !answered.is_empty() && answered != before
}

/// One step of `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cleanup {
    /// Send a Delete; `forget` once it succeeds (a resource that left the template).
    Delete {
        /// Logical id.
        id: String,
        /// The resource the Delete names (a replacement's old id and properties).
        old: ResourceState,
        /// Whether the record goes with it.
        forget: bool,
    },
    /// Send nothing (`DELETE_SKIPPED`, for `why`), and forget what is recorded.
    Skip {
        /// Logical id.
        id: String,
        /// The resource kept.
        old: ResourceState,
        /// The policy that keeps it.
        why: &'static str,
        /// Whether the record goes.
        forget: bool,
    },
}

/// The cleanup phase of an update that succeeded: "CloudFormation creates the new resources
/// first and then deletes the old resources" once the stack is updated (the
/// `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` stack status, "Stack status codes"). The old ids of
/// `replaced` go first, newest replacement first, each kept or deleted by the replacement's
/// `UpdateReplacePolicy` (`update_replace(id)`); then the resources that left the template,
/// newest first, by their own `DeletionPolicy`.
pub fn cleanup(
    replaced: Vec<(String, ResourceState)>,
    update_replace: impl Fn(&str) -> Policy,
    left_template: Vec<(String, ResourceState)>,
) -> Vec<Cleanup> {
    let mut steps = Vec::new();
    for (id, old) in replaced.into_iter().rev() {
        if sends_delete(Removal::Replaced, Policy::Delete, update_replace(&id)) {
            steps.push(Cleanup::Delete {
                id,
                old,
                forget: false,
            });
        } else {
            steps.push(Cleanup::Skip {
                id,
                old,
                why: "UpdateReplacePolicy: Retain",
                forget: false,
            });
        }
    }
    for (id, old) in left_template {
        if sends_delete(
            Removal::LeftTemplate,
            old.deletion_policy,
            old.update_replace_policy,
        ) {
            steps.push(Cleanup::Delete {
                id,
                old,
                forget: true,
            });
        } else {
            steps.push(Cleanup::Skip {
                id,
                old,
                why: "DeletionPolicy: Retain",
                forget: true,
            });
        }
    }
    steps
}

/// The status names of one stack operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// The operation starts.
    pub begin: &'static str,
    /// It succeeded.
    pub complete: &'static str,
    /// It failed and is rolling back.
    pub rolling_back: &'static str,
    /// The rollback succeeded.
    pub rolled_back: &'static str,
    /// The rollback itself failed.
    pub rollback_failed: &'static str,
}

/// A stack's first operation is a create, every later one an update ("Stack status codes").
pub fn phases(first: bool) -> Phases {
    if first {
        Phases {
            begin: "CREATE_IN_PROGRESS",
            complete: "CREATE_COMPLETE",
            rolling_back: "ROLLBACK_IN_PROGRESS",
            rolled_back: "ROLLBACK_COMPLETE",
            rollback_failed: "ROLLBACK_FAILED",
        }
    } else {
        Phases {
            begin: "UPDATE_IN_PROGRESS",
            complete: "UPDATE_COMPLETE",
            rolling_back: "UPDATE_ROLLBACK_IN_PROGRESS",
            rolled_back: "UPDATE_ROLLBACK_COMPLETE",
            rollback_failed: "UPDATE_ROLLBACK_FAILED",
        }
    }
}

/// What CloudFormation sends a custom resource that the failed operation replaced. It is not
/// documented. Practitioners say it deletes the new id and sends nothing to the old: "if the
/// stack update fails and a rollback occurs, the new physical resource id is sent in the
/// Delete event" (the accepted answer to Stack Overflow question 50599602, "Updating custom
/// resources causes them to be deleted?"), and aws-cdk's fix for its auto-delete handlers
/// (aws/aws-cdk#29581) describes a rollback that updates the custom resources updated in
/// place back ("new -> old") and deletes the replacement, keeping the existing one. For an
/// in-place update it sends an Update with the old properties. The runner plays either, so
/// every function can be shown to end right under both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReplacedRollback {
    /// A Delete of the new id; the old one is current again without a request.
    #[default]
    DeleteNew,
    /// An Update of the new id with the old properties; when the answer names another id (the
    /// old one, or a third), the new id is deleted in the rollback's cleanup phase.
    UpdateBack,
}

impl ReplacedRollback {
    /// `delete-new` or `update-back`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "delete-new" => Some(Self::DeleteNew),
            "update-back" => Some(Self::UpdateBack),
            _ => None,
        }
    }
}

/// The physical id CloudFormation makes up for a resource whose Create never answered (it
/// waited for `ServiceTimeout`): `<stack name>-<logical id>-<13 upper-case letters and
/// digits>`, the rollback's Delete then carries it (undocumented; observed and reported in
/// aws-cloudformation/cloudformation-coverage-roadmap#1814 and remind101/empire#918). `random`
/// picks the 13 characters.
pub fn invented_physical_id(stack_name: &str, logical_id: &str, random: u128) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut n = random;
    let suffix: String = (0..13)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect();
    format!("{stack_name}-{logical_id}-{suffix}")
}

/// What an operation did to one resource, for its rollback (kept in the state while the
/// stack is `UPDATE_ROLLBACK_FAILED`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Done {
    /// Created (or attempted: a failed Create that answered with an id leaves it to delete).
    Created(String),
    /// Updated (or attempted), replaced, or recreated after drift, from this earlier state,
    /// with the properties that were sent.
    Updated(String, ResourceState, Value),
}

impl Done {
    /// The resource's logical id.
    pub fn id(&self) -> &str {
        match self {
            Self::Created(id) | Self::Updated(id, ..) => id,
        }
    }
}

/// `ContinueUpdateRollback` with `ResourcesToSkip`: the steps still to undo, and the ones
/// skipped (CloudFormation marks them done without a request: "Continue rolling back an
/// update" in the CloudFormation User Guide). A name that is not a failed step is an error
/// naming the ones that are.
///
/// # Errors
///
/// The skipped name that is not among `pending`, with the ones that are.
pub fn continue_rollback(
    pending: &[Done],
    skip: &[String],
) -> Result<(Vec<Done>, Vec<Done>), String> {
    if let Some(unknown) = skip.iter().find(|s| !pending.iter().any(|d| d.id() == *s)) {
        let failed: Vec<&str> = pending.iter().map(Done::id).collect();
        return Err(format!(
            "`{unknown}` is not a resource whose rollback failed; those are: {}",
            failed.join(", ")
        ));
    }
    Ok(pending
        .iter()
        .cloned()
        .partition(|d| !skip.iter().any(|s| s == d.id())))
}

/// One request of a rollback.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    /// Delete what this operation created; on success, forget it.
    Delete {
        /// Logical id.
        id: String,
        /// The resource as created.
        current: ResourceState,
    },
    /// Skip the Delete of what this operation created (`DeletionPolicy: Retain`) and forget it.
    Skip {
        /// Logical id.
        id: String,
        /// The resource as created.
        current: ResourceState,
    },
    /// Delete the replacement this operation made; on success, the replaced one is current
    /// again.
    DeleteReplacement {
        /// Logical id.
        id: String,
        /// The replacement.
        current: ResourceState,
        /// The resource it replaced.
        previous: ResourceState,
    },
    /// An Update back to the previous properties, the attempted ones as the old; when the
    /// answer names an id other than the current one, the current one is deleted in the
    /// rollback's cleanup phase.
    UpdateBack {
        /// Logical id.
        id: String,
        /// The resource now.
        current: ResourceState,
        /// What it was before this operation.
        previous: ResourceState,
        /// The properties this operation sent (CloudFormation's `OldResourceProperties` for
        /// the rollback, even when that Update failed).
        attempted: Value,
    },
    /// Nothing to send: the record goes back to `previous` (a resource recreated after drift
    /// whose Create failed without an id).
    Restore {
        /// Logical id.
        id: String,
        /// What it was before this operation.
        previous: ResourceState,
    },
}

/// The rollback of `done`, newest first, given the current record of each resource
/// (`current(id)`): an Update with the old properties for what was updated in place, a Delete
/// for what was created or for a replacement ("Troubleshooting: update rollback" in the
/// CloudFormation User Guide; for a replaced custom resource, practitioners' accounts say
/// CloudFormation deletes the new id and sends nothing to the old: see [`ReplacedRollback`]).
pub fn rollback<'s>(
    done: &[Done],
    current: impl Fn(&str) -> Option<&'s ResourceState>,
    deletion: impl Fn(&str) -> Policy,
    replaced: ReplacedRollback,
) -> Vec<Undo> {
    let mut undo = Vec::new();
    for step in done.iter().rev() {
        match step {
            Done::Created(id) => {
                let Some(now) = current(id) else { continue };
                let current = now.clone();
                let id = id.clone();
                if sends_delete(Removal::CreateRolledBack, deletion(&id), Policy::Delete) {
                    undo.push(Undo::Delete { id, current });
                } else {
                    undo.push(Undo::Skip { id, current });
                }
            }
            Done::Updated(id, previous, attempted) => {
                let id = id.clone();
                let previous = previous.clone();
                match current(&id) {
                    None => undo.push(Undo::Restore { id, previous }),
                    Some(now)
                        if now.physical_id != previous.physical_id
                            && replaced == ReplacedRollback::DeleteNew =>
                    {
                        undo.push(Undo::DeleteReplacement {
                            id,
                            current: now.clone(),
                            previous,
                        });
                    }
                    Some(now) => undo.push(Undo::UpdateBack {
                        id,
                        current: now.clone(),
                        previous,
                        attempted: attempted.clone(),
                    }),
                }
            }
        }
    }
    undo
}

#[cfg(test)]
mod tests;
