//! Deletes, skipped Deletes and rollbacks: what [`crate::plan`] decides, sent to the
//! functions.

use super::*;

impl Run<'_> {
    /// Sends a Delete; true when it succeeded.
    pub(super) async fn delete(
        &mut self,
        id: &str,
        resource: &ResourceState,
    ) -> Result<bool, Error> {
        self.event(
            id,
            &resource.kind,
            "DELETE_IN_PROGRESS",
            &resource.physical_id,
        );
        let stack_id = self.stack.stack_id.clone();
        let request = Request {
            request_type: RequestType::Delete,
            stack_id: &stack_id,
            logical_id: id,
            resource_type: &resource.kind,
            physical_id: Some(&resource.physical_id),
            properties: &resource.properties,
            old_properties: None,
        };
        let response = self.send(&resource.function, request).await?;
        let reason = response.reason;
        if response.status == Status::Success {
            self.event(id, &resource.kind, "DELETE_COMPLETE", &reason);
            Ok(true)
        } else {
            self.event(id, &resource.kind, "DELETE_FAILED", &reason);
            Ok(false)
        }
    }

    /// Says that a Delete was not sent (`DELETE_SKIPPED`, as CloudFormation shows it).
    pub(super) fn skipped(&mut self, id: &str, resource: &ResourceState, why: &str) {
        self.event(
            id,
            &resource.kind,
            "DELETE_SKIPPED",
            &format!("{}: {why}", resource.physical_id),
        );
    }

    /// The resource's `DeletionPolicy` and `UpdateReplacePolicy`, resolved (either may be an
    /// `Fn::If`).
    pub(super) fn policies(&self, id: &str, ctx: &Context<'_>) -> Result<(Policy, Policy), Error> {
        let resource = &self.template.resources[id];
        let resolve = |value: &Option<Value>, attribute: &str| -> Result<Policy, Error> {
            let Some(value) = value else {
                return Ok(Policy::Delete);
            };
            let text = scalar_text(&ctx.resolve(value, id, &crate::intrinsics::NoResources)?);
            Policy::parse(&text).ok_or_else(|| {
                Error::Template(format!(
                    "resource `{id}`: `{attribute}` must be `Delete`, `Retain`, \
                     `RetainExceptOnCreate` or `Snapshot`, got `{text}`"
                ))
            })
        };
        Ok((
            resolve(&resource.deletion_policy, "DeletionPolicy")?,
            resolve(&resource.update_replace_policy, "UpdateReplacePolicy")?,
        ))
    }

    /// Undoes `done` as [`plan::rollback`] says; the steps whose request failed (none when the
    /// rollback is complete).
    pub(super) async fn rollback(&mut self, done: &[Done]) -> Result<Vec<Done>, Error> {
        let resources = self.state.resources.clone();
        let undo = plan::rollback(
            done,
            |id| resources.get(id),
            |id| {
                resources
                    .get(id)
                    .map_or(Policy::Delete, |r| r.deletion_policy)
            },
            self.options.replaced_rollback,
        );
        let mut failed: Vec<String> = Vec::new();
        // Ids an Update back left behind (it answered with another): deleted at cleanup.
        let mut left_behind: Vec<(String, ResourceState)> = Vec::new();
        for step in undo {
            match step {
                Undo::Delete { id, current } => {
                    if self.delete(&id, &current).await? {
                        self.forget(&id);
                    } else {
                        failed.push(id);
                    }
                }
                Undo::Skip { id, current } => {
                    self.skipped(&id, &current, "DeletionPolicy: Retain");
                    self.forget(&id);
                }
                Undo::DeleteReplacement {
                    id,
                    current,
                    previous,
                } => {
                    if self.delete(&id, &current).await? {
                        self.state.resources.insert(id, previous);
                    } else {
                        failed.push(id);
                    }
                }
                Undo::Restore { id, previous } => {
                    self.state.resources.insert(id, previous);
                }
                Undo::UpdateBack {
                    id,
                    current,
                    previous,
                    attempted,
                } => {
                    self.event(
                        &id,
                        &current.kind,
                        "UPDATE_IN_PROGRESS",
                        "rolling back to the previous properties",
                    );
                    let stack_id = self.stack.stack_id.clone();
                    let request = Request {
                        request_type: RequestType::Update,
                        stack_id: &stack_id,
                        logical_id: &id,
                        resource_type: &current.kind,
                        physical_id: Some(&current.physical_id),
                        properties: &previous.properties,
                        // As CloudFormation does: what was last sent, even by an Update that
                        // failed, is the old.
                        old_properties: Some(&attempted),
                    };
                    let response = self.send(&previous.function, request).await?;
                    let reason = response.reason;
                    if response.status == Status::Success {
                        self.event(&id, &current.kind, "UPDATE_COMPLETE", &reason);
                        let mut restored = previous;
                        restored.data = response.data;
                        if !response.physical_resource_id.is_empty() {
                            restored.physical_id = response.physical_resource_id;
                        }
                        if restored.physical_id != current.physical_id {
                            left_behind.push((id.clone(), current));
                        }
                        self.state.resources.insert(id, restored);
                    } else {
                        self.event(&id, &current.kind, "UPDATE_FAILED", &reason);
                        failed.push(id);
                    }
                }
            }
        }
        if !left_behind.is_empty() {
            let stack_name = self.stack.name.clone();
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                "",
            );
            for (id, old) in left_behind {
                if plan::sends_delete(Removal::Replaced, Policy::Delete, old.update_replace_policy)
                {
                    // A failed cleanup Delete leaves the id behind but does not fail the
                    // rollback, as CloudFormation reports it.
                    self.delete(&id, &old).await?;
                } else {
                    self.skipped(&id, &old, "UpdateReplacePolicy: Retain");
                }
            }
        }
        Ok(done
            .iter()
            .filter(|d| failed.iter().any(|f| f == d.id()))
            .cloned()
            .collect())
    }

    /// See [`super::continue_rollback`].
    pub(super) async fn continue_rollback(&mut self, skip: &[String]) -> Result<Report, Error> {
        let stack_name = self.stack.name.clone();
        if self.state.pending_rollback.is_empty() {
            let _ = writeln!(
                self.out,
                "Stack {stack_name} is not in UPDATE_ROLLBACK_FAILED: nothing to continue."
            );
            return Ok(self.report(true));
        }
        let (retry, skipped) =
            plan::continue_rollback(&self.state.pending_rollback, skip).map_err(Error::State)?;
        let _ = writeln!(self.out, "\nStack {stack_name} (continuing the rollback):");
        self.event(
            &stack_name,
            "AWS::CloudFormation::Stack",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "continuing the rollback",
        );
        for step in skipped {
            match step {
                Done::Created(id) => {
                    if let Some(current) = self.state.resources.get(&id).cloned() {
                        self.skipped(&id, &current, "skipped (ResourcesToSkip)");
                        self.forget(&id);
                    }
                }
                Done::Updated(id, previous, _) => {
                    let kind = previous.kind.clone();
                    // Recorded as rolled back; the resource itself was not asked.
                    self.state.resources.insert(id.clone(), previous);
                    self.event(&id, &kind, "UPDATE_COMPLETE", "skipped (ResourcesToSkip)");
                }
            }
        }
        let failed = self.rollback(&retry).await?;
        let ok = failed.is_empty();
        self.state.pending_rollback = failed;
        self.state
            .save(&self.options.state_dir, &self.options.stage)?;
        let status = if ok {
            "UPDATE_ROLLBACK_COMPLETE"
        } else {
            "UPDATE_ROLLBACK_FAILED"
        };
        self.event(&stack_name, "AWS::CloudFormation::Stack", status, "");
        self.summary();
        Ok(self.report(ok))
    }

    /// Drops a resource from the record.
    pub(super) fn forget(&mut self, id: &str) {
        self.state.resources.remove(id);
        self.state.created.retain(|c| c != id);
    }
}
