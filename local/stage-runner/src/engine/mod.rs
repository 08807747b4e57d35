//! CloudFormation's lifecycle for a stage's custom resources, on one machine: Create what is
//! new, Update what changed, replace when the physical id changes (the old one is deleted at
//! cleanup), roll back on failure, and recreate what local services lost (drift).
//!
//! What to do is [`crate::plan`]'s; this module runs it. [`functions`] starts and invokes
//! the function binaries (events built by the harness's typed [`harness::Request`], answers
//! read as the library's [`custom_resource::Response`]), [`values`] resolves a resource's
//! properties, [`drift`] keeps the local services' side (moto's secrets, and what they lost,
//! found with each function's own physical-id parser), [`undo`] sends the Deletes and the
//! rollback [`crate::plan`] decides.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use custom_resource::{Response, Status};
use harness::{Lambda, LambdaConfig, Request, RequestType, ResponseServer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::graph;
use crate::intrinsics::{Context, Lookup, Mode, StackInfo, scalar_text};
use crate::overrides::Overrides;
use crate::plan::{self, Cleanup, Done, Policy, Removal, Step, Undo};
use crate::samconfig;
use crate::services::{self, Services};
use crate::state::{ResourceState, StageState};
use crate::template::Template;

/// Where the stage's inputs and state are.
#[derive(Debug, Clone)]
pub struct Options {
    /// dev, test, stage or prod.
    pub stage: String,
    /// `template.yaml`.
    pub template: PathBuf,
    /// `samconfig.toml`.
    pub samconfig: PathBuf,
    /// `local/overrides.yaml`.
    pub overrides: PathBuf,
    /// Where per-stage state is kept.
    pub state_dir: PathBuf,
    /// Local services.
    pub services: services::Options,
    /// Where the function binaries are.
    pub bin_dir: PathBuf,
    /// Parameter values given on the command line (over samconfig and overrides).
    pub parameters: BTreeMap<String, String>,
    /// Extra environment per function binary: (binary, key, value).
    pub env: Vec<(String, String, String)>,
    /// What a resource the failed operation replaced is sent on rollback.
    pub replaced_rollback: plan::ReplacedRollback,
}

/// One line of the event log, as CloudFormation shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Seconds since the run started.
    pub at: Duration,
    /// The resource's (or the stack's) logical id.
    pub logical_id: String,
    /// Its type.
    pub kind: String,
    /// `CREATE_COMPLETE`, `UPDATE_FAILED`, …
    pub status: String,
    /// Why, when CloudFormation would say.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The events, in order.
    pub events: Vec<Event>,
    /// Whether the stack ended where it was asked to go.
    pub ok: bool,
}

impl Report {
    /// The statuses of `logical_id`, in order.
    pub fn statuses(&self, logical_id: &str) -> Vec<&str> {
        self.events
            .iter()
            .filter(|e| e.logical_id == logical_id)
            .map(|e| e.status.as_str())
            .collect()
    }
}

struct Function {
    binary: String,
    name: String,
    timeout: Duration,
    env: Vec<(String, String)>,
}

struct Run<'o> {
    options: &'o Options,
    template: Template,
    stack: StackInfo,
    overrides: Overrides,
    services: Services,
    secrets: BTreeMap<String, String>,
    functions: BTreeMap<String, Function>,
    versions: BTreeMap<String, String>,
    state: StageState,
    responses: ResponseServer,
    lambdas: BTreeMap<String, Lambda>,
    http: reqwest::Client,
    events: Vec<Event>,
    /// The stack's status, as the last stack event set it.
    stack_status: String,
    started: Instant,
    out: &'o mut dyn Write,
}

/// Brings the stage up: starts services, then creates, updates or replaces its custom
/// resources, rolling back on failure.
///
/// # Errors
///
/// For problems before any resource is touched (template, configuration, services); a failed
/// resource is a `Report` with `ok == false`, after rollback.
pub async fn up(options: &Options, out: &mut dyn Write) -> Result<Report, Error> {
    let mut run = Run::prepare(options, out).await?;
    run.up().await
}

/// Continues the rollback of a stack left `UPDATE_ROLLBACK_FAILED`, as CloudFormation's
/// `ContinueUpdateRollback` does: the failed steps are tried again, except the resources in
/// `skip`, which are marked rolled back without a request.
///
/// # Errors
///
/// As [`up`], and [`Error::State`] for a name in `skip` whose rollback did not fail.
pub async fn continue_rollback(
    options: &Options,
    skip: &[String],
    out: &mut dyn Write,
) -> Result<Report, Error> {
    let mut run = Run::prepare(options, out).await?;
    run.continue_rollback(skip).await
}

/// Deletes the stage's custom resources in reverse dependency order.
///
/// # Errors
///
/// As [`up`].
pub async fn down(options: &Options, out: &mut dyn Write) -> Result<Report, Error> {
    let mut run = Run::prepare(options, out).await?;
    run.down().await
}

/// Prints the stage's state.
///
/// # Errors
///
/// [`Error::State`] when the state file cannot be read.
pub fn status(options: &Options, out: &mut dyn Write) -> Result<(), Error> {
    let Some(state) = StageState::load(&options.state_dir, &options.stage)? else {
        let _ = writeln!(out, "Stage `{}`: nothing deployed locally.", options.stage);
        return Ok(());
    };
    let _ = writeln!(
        out,
        "Stack {} ({} custom resources)",
        state.stack_name,
        state.resources.len()
    );
    if !state.pending_rollback.is_empty() {
        let failed: Vec<&str> = state.pending_rollback.iter().map(Done::id).collect();
        let _ = writeln!(
            out,
            "  UPDATE_ROLLBACK_FAILED: the rollback of {} failed; `stackwright local \
             continue-rollback` tries again (`--skip <LogicalId>` leaves one as it is)",
            failed.join(", ")
        );
    }
    for id in &state.created {
        if let Some(r) = state.resources.get(id) {
            let _ = writeln!(out, "  {id:<22} {:<27} {}", r.kind, r.physical_id);
            for (k, v) in &r.data {
                let _ = writeln!(out, "      {k} = {}", scalar_text(v));
            }
        }
    }
    Ok(())
}

mod drift;
mod functions;
mod undo;
mod values;

impl<'o> Run<'o> {
    async fn prepare(options: &'o Options, out: &'o mut dyn Write) -> Result<Run<'o>, Error> {
        let template = Template::load(&options.template)?;
        let config = samconfig::load(&options.samconfig, &options.stage)?;
        let raw_overrides = Overrides::load(&options.overrides)?;
        let state = StageState::load(&options.state_dir, &options.stage)?;
        let stack_id = state
            .as_ref()
            .map(|s| s.stack_id.clone())
            .unwrap_or_else(|| {
                format!(
                    "arn:aws:cloudformation:{}:123456789012:stack/{}/{}",
                    config.region,
                    config.stack_name,
                    uuid::Uuid::new_v4()
                )
            });
        let stack = StackInfo {
            name: config.stack_name.clone(),
            region: config.region.clone(),
            account: "123456789012".into(),
            stack_id: stack_id.clone(),
        };
        let state = state.unwrap_or(StageState {
            stack_name: config.stack_name.clone(),
            stack_id,
            ..StageState::default()
        });
        let services = services::ensure(&options.services, &options.stage, out)?;
        let overrides = raw_overrides.fill(&services.placeholders(&stack.name, &options.stage))?;
        let responses = ResponseServer::start()
            .await
            .map_err(|e| Error::Invoke(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Service(e.to_string()))?;
        let mut run = Run {
            options,
            template,
            stack,
            overrides,
            services,
            secrets: BTreeMap::new(),
            functions: BTreeMap::new(),
            versions: BTreeMap::new(),
            state,
            responses,
            lambdas: BTreeMap::new(),
            http,
            events: Vec::new(),
            stack_status: String::new(),
            started: Instant::now(),
            out,
        };
        run.discover_functions(&config.parameters)?;
        Ok(run)
    }
}

impl Run<'_> {
    /// The parameter values: samconfig's, then the overrides file's, then the command line's.
    fn parameter_values(&self, samconfig: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut values = samconfig.clone();
        values.extend(self.overrides.parameters.clone());
        values.extend(self.options.parameters.clone());
        values
    }

    fn event(&mut self, logical_id: &str, kind: &str, status: &str, reason: &str) {
        let event = Event {
            at: self.started.elapsed(),
            logical_id: logical_id.to_owned(),
            kind: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
        };
        let clock = utc_time_of_day();
        let _ = writeln!(
            self.out,
            "{clock}  {logical_id:<24} {kind:<28} {status:<26} {reason}"
        );
        self.events.push(event);
        if kind == "AWS::CloudFormation::Stack" {
            // What the stand-in CloudFormation tells a function that asks.
            self.stack_status = status.to_owned();
        }
    }

    fn report(&mut self, ok: bool) -> Report {
        Report {
            events: std::mem::take(&mut self.events),
            ok,
        }
    }

    async fn up(&mut self) -> Result<Report, Error> {
        if !self.state.pending_rollback.is_empty() {
            // As CloudFormation refuses to update a stack in this state.
            return Err(Error::State(format!(
                "stack `{}` is in UPDATE_ROLLBACK_FAILED (the rollback of {} failed): fix the \
                 cause and run `stackwright local continue-rollback --stage {}`, adding \
                 `--skip <LogicalId>` for a resource to leave as it is, or `down` to delete the \
                 stack",
                self.stack.name,
                self.state
                    .pending_rollback
                    .iter()
                    .map(Done::id)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.options.stage
            )));
        }
        let config = samconfig::load(&self.options.samconfig, &self.options.stage)?;
        let values = self.parameter_values(&config.parameters);
        let template = self.template.clone();
        let ctx = Context::new(&template, &values, &self.stack, Mode::Strict)?;
        let mut included = BTreeSet::new();
        for (id, resource) in template.custom_resources() {
            let wanted = match &resource.condition {
                Some(c) => ctx.condition(c)?,
                None => true,
            };
            if wanted {
                included.insert(id.to_owned());
            }
        }
        let order = graph::order(&template, &included)?;
        self.ensure_secrets().await?;
        let _ = writeln!(
            self.out,
            "\nStack {} (stage {}):",
            self.stack.name, self.options.stage
        );
        let stack_name = self.stack.name.clone();
        let phases = plan::phases(self.state.resources.is_empty());
        self.event(&stack_name, "AWS::CloudFormation::Stack", phases.begin, "");
        let mut done: Vec<Done> = Vec::new();
        let mut replaced: Vec<(String, ResourceState)> = Vec::new();
        let mut failure: Option<String> = None;
        for id in &order {
            let kind = template.resources[id].kind.clone();
            let (properties, function) = match self.resolve(id, &config.parameters) {
                Ok(p) => p,
                Err(e) => {
                    self.event(
                        id,
                        &kind,
                        if self.state.resources.contains_key(id) {
                            "UPDATE_FAILED"
                        } else {
                            "CREATE_FAILED"
                        },
                        &e.to_string(),
                    );
                    failure = Some(format!("resource `{id}`: {e}"));
                    break;
                }
            };
            let (deletion_policy, update_replace_policy) = match self.policies(id, &ctx) {
                Ok(p) => p,
                Err(e) => {
                    let status = if self.state.resources.contains_key(id) {
                        "UPDATE_FAILED"
                    } else {
                        "CREATE_FAILED"
                    };
                    self.event(id, &kind, status, &e.to_string());
                    failure = Some(format!("resource `{id}`: {e}"));
                    break;
                }
            };
            if let Some(r) = self.state.resources.get_mut(id) {
                // CloudFormation applies a changed policy without a request to the resource.
                r.deletion_policy = deletion_policy;
                r.update_replace_policy = update_replace_policy;
            }
            let previous = self.state.resources.get(id).cloned();
            let previous = match previous {
                Some(p) => match self.drift(&p).await {
                    Some(why) => {
                        self.event(id, &kind, "DRIFTED", &format!("{why}: creating it again"));
                        done.push(Done::Updated(id.clone(), p.clone(), properties.clone()));
                        self.state.resources.remove(id);
                        None
                    }
                    None => Some(p),
                },
                None => None,
            };
            let outcome = match plan::step(previous.as_ref(), &properties, &function) {
                Step::Unchanged => continue,
                Step::Create => {
                    self.event(id, &kind, "CREATE_IN_PROGRESS", "");
                    let request = Request {
                        request_type: RequestType::Create,
                        stack_id: &self.stack.stack_id.clone(),
                        logical_id: id,
                        resource_type: &kind,
                        physical_id: None,
                        properties: &properties,
                        old_properties: None,
                    };
                    let response = self.send(&function, request).await?;
                    let ok = response.status == Status::Success;
                    let physical_id = response.physical_resource_id.clone();
                    if physical_id.is_empty() {
                        // Nothing was created and no id came back: there is nothing to delete.
                        self.event(id, &kind, "CREATE_FAILED", &response.reason);
                        failure = Some(format!("resource `{id}`: {}", response.reason));
                        break;
                    }
                    if !done
                        .iter()
                        .any(|d| matches!(d, Done::Updated(d_id, ..) if d_id == id))
                    {
                        done.push(Done::Created(id.clone()));
                    }
                    self.state.resources.insert(
                        id.clone(),
                        ResourceState {
                            kind: kind.clone(),
                            function: function.clone(),
                            physical_id,
                            properties: properties.clone(),
                            data: response.data.clone(),
                            deletion_policy,
                            update_replace_policy,
                        },
                    );
                    if !self.state.created.contains(id) {
                        self.state.created.push(id.clone());
                    }
                    (ok, "CREATE", response)
                }
                Step::Update => {
                    let Some(prev) = previous.as_ref() else {
                        continue;
                    };
                    self.event(id, &kind, "UPDATE_IN_PROGRESS", "");
                    let request = Request {
                        request_type: RequestType::Update,
                        stack_id: &self.stack.stack_id.clone(),
                        logical_id: id,
                        resource_type: &kind,
                        physical_id: Some(&prev.physical_id),
                        properties: &properties,
                        old_properties: Some(&prev.properties),
                    };
                    let response = self.send(&function, request).await?;
                    let ok = response.status == Status::Success;
                    done.push(Done::Updated(id.clone(), prev.clone(), properties.clone()));
                    if ok {
                        // An answer without an id keeps the current one.
                        let physical_id = if response.physical_resource_id.is_empty() {
                            prev.physical_id.clone()
                        } else {
                            response.physical_resource_id.clone()
                        };
                        if plan::replaced(&prev.physical_id, &physical_id) {
                            replaced.push((id.clone(), prev.clone()));
                        }
                        self.state.resources.insert(
                            id.clone(),
                            ResourceState {
                                kind: kind.clone(),
                                function: function.clone(),
                                physical_id,
                                properties: properties.clone(),
                                data: response.data.clone(),
                                deletion_policy,
                                update_replace_policy,
                            },
                        );
                    }
                    (ok, "UPDATE", response)
                }
            };
            let (ok, verb, response) = outcome;
            let reason = response.reason;
            if ok {
                self.event(id, &kind, &format!("{verb}_COMPLETE"), &reason);
                self.state
                    .save(&self.options.state_dir, &self.options.stage)?;
            } else {
                self.event(id, &kind, &format!("{verb}_FAILED"), &reason);
                failure = Some(format!("resource `{id}`: {reason}"));
                break;
            }
        }
        if let Some(why) = failure {
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                phases.rolling_back,
                &why,
            );
            let failed = self.rollback(&done).await?;
            let status = if failed.is_empty() {
                phases.rolled_back
            } else {
                phases.rollback_failed
            };
            if status == "UPDATE_ROLLBACK_FAILED" {
                self.state.pending_rollback = failed;
            }
            self.state
                .save(&self.options.state_dir, &self.options.stage)?;
            self.event(&stack_name, "AWS::CloudFormation::Stack", status, "");
            self.summary();
            return Ok(self.report(false));
        }
        // Cleanup: the replaced physical resources, and what left the template.
        if !replaced.is_empty() || self.state.resources.keys().any(|id| !included.contains(id)) {
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                "",
            );
        }
        let left_template: Vec<(String, ResourceState)> = self
            .state
            .created
            .iter()
            .rev()
            .filter(|id| !included.contains(*id))
            .filter_map(|id| Some((id.clone(), self.state.resources.get(id)?.clone())))
            .collect();
        // The replacement's own policy, as the template now gives it.
        let update_replace = |id: &str| {
            self.state
                .resources
                .get(id)
                .map_or(Policy::Delete, |r| r.update_replace_policy)
        };
        for step in plan::cleanup(replaced, update_replace, left_template) {
            let (id, gone, forget) = match step {
                Cleanup::Delete { id, old, forget } => {
                    let gone = self.delete(&id, &old).await?;
                    (id, gone, forget)
                }
                Cleanup::Skip {
                    id,
                    old,
                    why,
                    forget,
                } => {
                    self.skipped(&id, &old, why);
                    (id, true, forget)
                }
            };
            if gone && forget {
                self.state.resources.remove(&id);
                self.state.created.retain(|c| c != &id);
            }
        }
        self.state
            .save(&self.options.state_dir, &self.options.stage)?;
        self.event(
            &stack_name,
            "AWS::CloudFormation::Stack",
            phases.complete,
            "",
        );
        self.summary();
        Ok(self.report(true))
    }

    async fn down(&mut self) -> Result<Report, Error> {
        let stack_name = self.stack.name.clone();
        if self.state.resources.is_empty() {
            let _ = writeln!(
                self.out,
                "Stage `{}`: nothing deployed locally.",
                self.options.stage
            );
            StageState::remove(&self.options.state_dir, &self.options.stage)?;
            return Ok(self.report(true));
        }
        let _ = writeln!(
            self.out,
            "\nStack {stack_name} (stage {}):",
            self.options.stage
        );
        self.event(
            &stack_name,
            "AWS::CloudFormation::Stack",
            "DELETE_IN_PROGRESS",
            "",
        );
        // A stack in UPDATE_ROLLBACK_FAILED may be deleted: what is recorded goes.
        self.state.pending_rollback.clear();
        let order: Vec<String> = self.state.created.iter().rev().cloned().collect();
        let mut ok = true;
        for id in order {
            let Some(resource) = self.state.resources.get(&id).cloned() else {
                continue;
            };
            let gone = if plan::sends_delete(
                Removal::StackDeleted,
                resource.deletion_policy,
                resource.update_replace_policy,
            ) {
                self.delete(&id, &resource).await?
            } else {
                self.skipped(&id, &resource, "DeletionPolicy: Retain");
                true
            };
            if gone {
                self.forget(&id);
                self.state
                    .save(&self.options.state_dir, &self.options.stage)?;
            } else {
                ok = false;
                break;
            }
        }
        if ok {
            StageState::remove(&self.options.state_dir, &self.options.stage)?;
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "DELETE_COMPLETE",
                "",
            );
        } else {
            self.event(
                &stack_name,
                "AWS::CloudFormation::Stack",
                "DELETE_FAILED",
                "",
            );
        }
        let _ = writeln!(
            self.out,
            "\nLocal services keep running (see .local/services); retained data stays where it is."
        );
        Ok(self.report(ok))
    }

    fn summary(&mut self) {
        let _ = writeln!(self.out, "\nResources:");
        let ids = self.state.created.clone();
        for id in ids {
            if let Some(r) = self.state.resources.get(&id) {
                let data: Vec<String> = r
                    .data
                    .iter()
                    .map(|(k, v)| format!("{k}={}", scalar_text(v)))
                    .collect();
                let _ = writeln!(self.out, "  {id:<24} {:<28} {}", r.kind, r.physical_id);
                if !data.is_empty() {
                    let _ = writeln!(self.out, "  {:<24} {}", "", data.join(" "));
                }
            }
        }
    }
}

/// The time of day in UTC, `HH:MM:SS.mmm`, as CloudFormation's event log shows a timestamp.
fn utc_time_of_day() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}
