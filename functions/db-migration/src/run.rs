//! One migration run on one connection: record who created the database (when this run did),
//! take the lock, read what the database holds, plan the whole run ([`plan::steps()`]), walk the
//! steps, release the lock on every path. Every decision is in [`crate::plan`]; this only
//! does what the steps say, each database call bounded by the budget.

use std::future::Future;
use std::time::Duration;

use custom_resource::{Request, RequestType};
use sqlx::migrate::{MigrateError, Migration};
use tokio::time::Instant;

mod reason;

use crate::Error;
use crate::budget::Budget;
use crate::error::db_message;
use crate::lock::{self, Next};
use crate::plan::{
    self, Applied, Asked, DownFrom, Event, Found, Note, Refusal, Step, TriggerKey, Why, highest,
    still_ahead,
};
use crate::properties::Properties;
use crate::source::{SeedFile, Sources, file_name};
use crate::store::{Owner, Store, TriggerRecord};
use reason::{failure_advice, migrate_message, refused, seed_advice};

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The highest applied version afterwards (0: none).
    pub version: i64,
    /// Migrations applied by this run.
    pub applied: usize,
    /// Migrations reverted by this run.
    pub reverted: usize,
    /// Seed files applied by this run.
    pub seeds_applied: usize,
    /// Applied versions above the target left applied, newest first.
    pub ahead: Vec<i64>,
}

/// The request a run serves, with what [`plan::aim`] needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A Create.
    Create,
    /// An Update.
    Update {
        /// The Trigger of its old properties, if they had one.
        old_trigger: Option<TriggerKey>,
        /// Whether CloudFormation says the stack is rolling back; `None` when confirmation
        /// is off.
        rollback: Option<bool>,
    },
}

impl Kind {
    /// Whether CloudFormation said this request is not part of a rollback: a Create, or an
    /// Update in a forward update. `None` from CloudFormation (confirmation off) is not
    /// forward: a failure then is treated as a rollback's, which never fails the stack.
    pub fn forward(&self) -> bool {
        match self {
            Self::Create => true,
            Self::Update { rollback, .. } => *rollback == Some(false),
        }
    }

    /// The kind of a Create or Update request. The old Trigger is read from the old
    /// properties as CloudFormation sent them, which are there even when this function
    /// would no longer accept them.
    /// Whether it is a rollback is CloudFormation's word when it was asked
    /// ([`Request::rolling_back`]).
    pub fn of<P>(request: &Request<P>) -> Self {
        Self::from_parts(
            request.request_type,
            request.old_properties_raw.as_ref(),
            request.rolling_back(),
        )
    }

    fn from_parts(
        request_type: RequestType,
        old_properties: Option<&serde_json::Value>,
        rollback: Option<bool>,
    ) -> Self {
        match request_type {
            RequestType::Update => Self::Update {
                old_trigger: old_properties
                    .and_then(|old| old.get("Trigger"))
                    .and_then(TriggerKey::of),
                rollback,
            },
            RequestType::Create | RequestType::Delete => Self::Create,
        }
    }

    fn event(&self) -> Event<'_> {
        match self {
            Self::Create => Event::Create,
            Self::Update {
                old_trigger,
                rollback,
            } => Event::Update {
                old_trigger: old_trigger.as_ref(),
                rollback: *rollback,
            },
        }
    }
}

/// One run, borrowed from the request and what the invocation set up for it.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The database's name, for reasons and logs.
    pub database: &'a str,
    /// The migrations and seeds the function carries.
    pub sources: &'a Sources,
    /// The resource's properties.
    pub props: &'a Properties,
    /// The stack resource served: who created the database, and whose Trigger is recorded.
    pub resource: &'a Owner,
    /// Create or Update, with the old Trigger of an Update.
    pub kind: &'a Kind,
    /// The time the request has left.
    pub budget: &'a Budget,
    /// This invocation created the database: the resource is recorded as its creator first,
    /// so that only a database this resource created is ever dropped.
    pub created: bool,
    /// `AllowDown`, where the stage allows it: whether down scripts may run.
    pub allow_down: bool,
}

impl Run<'_> {
    /// Runs one database call within the budget, naming it in any error.
    async fn db<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, Error> {
        self.budget
            .within(what, work)
            .await?
            .map_err(|e| Error::Database {
                what: what.to_owned(),
                database: self.database.to_owned(),
                message: db_message(&e),
            })
    }

    /// As [`Run::db`], for sqlx's migrator calls.
    async fn migrator<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, MigrateError>>,
    ) -> Result<T, Error> {
        self.budget
            .within(what, work)
            .await?
            .map_err(|e| Error::Database {
                what: what.to_owned(),
                database: self.database.to_owned(),
                message: migrate_message(&e),
            })
    }

    /// The reason a refused run fails with.
    fn refused(&self, refusal: &Refusal) -> Error {
        refused(refusal, self.database, &self.sources.migrations)
    }
}

/// Migrates the database behind `store` as `run` asks, holding sqlx's migration lock: forward,
/// or back to where the resource's Trigger left the database ([`plan::aim`]).
///
/// # Errors
///
/// Every [`Error`] a run can meet; the lock is released whatever happens.
pub async fn migrate<S: Store>(store: &mut S, run: &Run<'_>) -> Result<Report, Error> {
    if run.created {
        // Recorded in the database itself: only a database this resource created is ever
        // dropped, whichever copy of the function serves the Delete.
        run.db(
            "recording who created the database",
            store.set_owner(run.resource),
        )
        .await?;
    }
    take_lock(run, store).await?;
    let result = locked(run, store).await;
    // Released on every path; should the connection be stuck, closing it (the caller does,
    // right after) ends the session and the server releases the lock.
    let database = run.database;
    match tokio::time::timeout(run.budget.cleanup_timeout(), store.unlock()).await {
        Ok(Ok(())) => tracing::debug!(database, "migration lock released"),
        Ok(Err(e)) => {
            tracing::warn!(database, error = %db_message(&e), "could not release the migration lock; closing the connection releases it");
        }
        Err(_) => {
            tracing::warn!(
                database,
                "releasing the migration lock timed out; closing the connection releases it"
            );
        }
    }
    result
}

async fn take_lock<S: Store>(run: &Run<'_>, store: &mut S) -> Result<(), Error> {
    let limit_secs = run.props.lock_timeout_seconds;
    let limit = Duration::from_secs(u64::from(limit_secs));
    let start = Instant::now();
    for attempt in 1.. {
        if run
            .db("taking the migration lock", store.try_lock())
            .await?
        {
            if attempt > 1 {
                tracing::info!(
                    database = run.database,
                    waited_ms = start.elapsed().as_millis() as u64,
                    "took the migration lock"
                );
            }
            return Ok(());
        }
        if attempt == 1 {
            tracing::info!(
                database = run.database,
                limit_s = limit_secs,
                "another migration holds the lock; waiting for it"
            );
        }
        match lock::next(
            attempt,
            start.elapsed(),
            limit,
            run.budget.statement_timeout(),
        ) {
            Next::Retry(pause) => tokio::time::sleep(pause).await,
            Next::GiveUp => break,
        }
    }
    Err(Error::Locked {
        database: run.database.to_owned(),
        waited: start.elapsed(),
        limit: limit_secs,
    })
}

/// Under the lock: read, plan, say, walk.
async fn locked<S: Store>(run: &Run<'_>, store: &mut S) -> Result<Report, Error> {
    let props = run.props;
    let trigger = props.trigger.as_ref().and_then(TriggerKey::of);
    let asked = Asked {
        event: run.kind.event(),
        trigger: trigger.as_ref(),
        target_version: props.target_version,
        allow_down: run.allow_down,
        seeds: &props.seeds,
    };
    let found = read(run, store, &asked).await?;
    let plan = plan::steps(&asked, run.sources, &found);
    for note in &plan.notes {
        say(run.database, note);
    }
    walk(run, store, &plan.steps, &found.applied).await
}

/// What the database holds: everything [`plan::steps()`] decides from.
async fn read<S: Store>(run: &Run<'_>, store: &mut S, asked: &Asked<'_>) -> Result<Found, Error> {
    run.migrator("creating the bookkeeping tables", store.prepare())
        .await?;
    let dirty = run
        .migrator("reading `_sqlx_migrations`", store.dirty_version())
        .await?;
    if dirty.is_some() {
        return Ok(Found {
            dirty,
            ..Found::default()
        });
    }
    let applied = run
        .migrator("reading `_sqlx_migrations`", store.applied())
        .await?;
    let downs = run
        .db("reading the recorded down scripts", store.recorded_downs())
        .await?;
    let trigger_version = match (asked.event, asked.trigger) {
        (Event::Update { .. }, Some(trigger)) => {
            let record = TriggerRecord {
                resource: run.resource,
                trigger,
            };
            run.db(
                "reading the Trigger's record",
                store.trigger_version(&record),
            )
            .await?
        }
        _ => None,
    };
    let seeds = if asked.seeds.is_empty() {
        Vec::new()
    } else {
        run.db("reading `_stackwright_seeds`", store.applied_seeds())
            .await?
    };
    Ok(Found {
        dirty,
        applied,
        downs,
        trigger_version,
        seeds,
    })
}

/// How a step ended.
enum Flow {
    /// Done: on to the next step.
    Next,
    /// The run ends here with SUCCESS, the database left ahead.
    Halt,
}

/// Executes the steps in order until one halts the run; `before` is what was applied before.
async fn walk<S: Store>(
    run: &Run<'_>,
    store: &mut S,
    steps: &[Step<'_>],
    before: &[Applied],
) -> Result<Report, Error> {
    let mut done = steps.len();
    for (i, step) in steps.iter().enumerate() {
        if let Flow::Halt = execute(run, store, step).await? {
            done = i;
            break;
        }
    }
    Ok(tally(before, &steps[..done], &steps[done..]))
}

/// What a run reports: `done` are the steps it carried out, `left` those it did not reach
/// (starting with the one that halted it). The version comes from what is known, not a query:
/// after a failed down script the connection may be unusable, and a rollback must still
/// answer SUCCESS.
fn tally(before: &[Applied], done: &[Step<'_>], left: &[Step<'_>]) -> Report {
    let mut reverted = Vec::new();
    let mut applied = Vec::new();
    let mut seeds_applied = 0;
    for step in done {
        match step {
            Step::Revert { down, .. } => reverted.push(down.version),
            Step::Apply(migration) => applied.push(migration.version),
            Step::Seed(_) => seeds_applied += 1,
            _ => {}
        }
    }
    Report {
        version: highest(before, &reverted, &applied),
        applied: applied.len(),
        reverted: reverted.len(),
        seeds_applied,
        ahead: still_ahead(left),
    }
}

/// Executes one step.
async fn execute<S: Store>(run: &Run<'_>, store: &mut S, step: &Step<'_>) -> Result<Flow, Error> {
    let database = run.database;
    match step {
        Step::Refuse(refusal) => Err(run.refused(refusal)),
        Step::Stop { why, ahead } => {
            stopped(run, why, ahead);
            Ok(Flow::Halt)
        }
        Step::Revert { down, from } => revert(run, store, down, *from).await,
        Step::ForgetDown(version) => {
            if let Err(e) = run
                .db("forgetting a down script", store.forget_down(*version))
                .await
            {
                tracing::warn!(database, version, error = %e, "reverted, but its recorded down script stays (harmless: it is replaced when the migration is applied again)");
            }
            Ok(Flow::Next)
        }
        Step::RecordDown { up, down } => run
            .db("recording a down script", store.record_down(up, down))
            .await
            .map(|()| Flow::Next),
        Step::Apply(migration) => apply(run, store, migration).await.map(|()| Flow::Next),
        Step::Seed(file) => seed(run, store, file).await.map(|()| Flow::Next),
        Step::RecordTrigger { trigger, version } => {
            // The migrations are in: failing the run over a bookkeeping row would make
            // CloudFormation roll the stack back. Without the row, a rollback to this Trigger
            // goes forward as the properties say, as before Triggers were recorded.
            let record = TriggerRecord {
                resource: run.resource,
                trigger,
            };
            match run
                .db(
                    "recording the Trigger",
                    store.record_trigger(&record, *version),
                )
                .await
            {
                Ok(()) => {
                    tracing::debug!(database, trigger = %trigger, version, "Trigger recorded");
                }
                Err(e) => tracing::error!(
                    database,
                    trigger = %trigger,
                    error = %e,
                    "could not record the Trigger; a rollback to it will not know where to go back to"
                ),
            }
            Ok(Flow::Next)
        }
    }
}

/// Runs a down script. During a rollback (or when CloudFormation was not asked) a failure
/// halts the run rather than failing it: a FAILED then leaves the stack in
/// UPDATE_ROLLBACK_FAILED, which is worse than a schema left ahead. In a forward request (a
/// lower `TargetVersion`, CloudFormation says no rollback) it is a failure: the template asked
/// to go back and did not get there.
async fn revert<S: Store>(
    run: &Run<'_>,
    store: &mut S,
    down: &Migration,
    from: DownFrom,
) -> Result<Flow, Error> {
    let database = run.database;
    let version = down.version;
    let what = format!("reverting migration {version}");
    let outcome = async {
        run.db(
            &what,
            store.set_statement_timeout(run.budget.statement_timeout()),
        )
        .await?;
        run.budget.within(&what, store.revert(down)).await
    }
    .await;
    let message = match outcome {
        Ok(Ok(())) => {
            tracing::info!(database, version, from = ?from, "reverted");
            return Ok(Flow::Next);
        }
        Ok(Err(e)) => migrate_message(&e),
        Err(e) => e.to_string(),
    };
    if run.kind.forward() {
        return Err(Error::DownFailed {
            version,
            database: database.to_owned(),
            message,
        });
    }
    tracing::error!(
        database,
        version,
        error = %message,
        "the down script of migration {version} failed: the rollback stops here and the schema stays ahead (SUCCESS with `Ahead`); fix the down script or revert by hand"
    );
    Ok(Flow::Halt)
}

async fn apply<S: Store>(run: &Run<'_>, store: &mut S, migration: &Migration) -> Result<(), Error> {
    let version = migration.version;
    let file = file_name(version, &migration.description, migration.migration_type);
    let what = format!("applying migration {version} (`{file}`)");
    run.db(
        &what,
        store.set_statement_timeout(run.budget.statement_timeout()),
    )
    .await?;
    let started = Instant::now();
    match run.budget.within(&what, store.apply(migration)).await? {
        Ok(()) => {
            tracing::info!(
                database = run.database,
                version,
                file,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "applied"
            );
            Ok(())
        }
        Err(e) => {
            let message = migrate_message(&e);
            let advice = failure_advice(store, run.budget, migration).await;
            Err(Error::MigrationFailed {
                version,
                file,
                database: run.database.to_owned(),
                message,
                advice,
            })
        }
    }
}

async fn seed<S: Store>(run: &Run<'_>, store: &mut S, file: &SeedFile) -> Result<(), Error> {
    let what = format!("applying seed `{}/{}`", file.set, file.file);
    run.db(
        &what,
        store.set_statement_timeout(run.budget.statement_timeout()),
    )
    .await?;
    match run.budget.within(&what, store.apply_seed(file)).await? {
        Ok(()) => {
            tracing::info!(database = run.database, set = %file.set, file = %file.file, "seeded");
            Ok(())
        }
        Err(e) => Err(Error::SeedFailed {
            set: file.set.clone(),
            file: file.file.clone(),
            database: run.database.to_owned(),
            message: db_message(&e),
            advice: seed_advice(store.engine(), file.no_tx),
        }),
    }
}

/// Logs a note of the plan.
fn say(database: &str, note: &Note<'_>) {
    match *note {
        Note::GoingBack {
            trigger,
            recorded,
            asked,
            target,
            allow_down,
        } => tracing::info!(
            database,
            trigger = %trigger,
            recorded,
            target,
            asked,
            "rollback to Trigger `{trigger}`: target {target}, recorded when it was applied (the properties ask for {asked}): nothing newer is applied; {}",
            if allow_down {
                "anything newer applied is reverted (AllowDown)"
            } else {
                "anything newer applied stays (AllowDown is not set, or the stage does not allow it)"
            }
        ),
        Note::AppliedBefore {
            trigger,
            recorded,
            target,
        } => tracing::info!(
            database,
            trigger = %trigger,
            recorded,
            target,
            "Trigger `{trigger}` was applied before, up to {recorded}: target {target}, as the properties ask"
        ),
        Note::Planned {
            target,
            applied,
            to_apply,
            to_revert,
        } => tracing::info!(database, target, applied, to_apply, to_revert, "planned"),
        Note::SeedsNotApplied => tracing::info!(
            database,
            "seeds are not applied when going back to a Trigger applied before: they were applied then"
        ),
    }
}

/// Logs why a run ends with the database left ahead of its target.
fn stopped(run: &Run<'_>, why: &Why, ahead: &[i64]) {
    let database = run.database;
    let list = versions(ahead);
    match why {
        Why::NotAllowed { target } => tracing::warn!(
            database,
            ahead = %list,
            target,
            "the database is ahead of this function's target {target} (a rollback, or a lower TargetVersion): nothing was changed, migrations {list} stay applied; {}",
            if run.props.allow_down {
                "`AllowDown: true` would revert them, but this stage does not allow `AllowDown` (STACKWRIGHT_ALLOW)"
            } else {
                "`AllowDown: true` reverts them, where the stage allows `AllowDown`"
            }
        ),
        Why::NoDown { version, target } => tracing::warn!(
            database,
            version,
            ahead = %list,
            "migration {version} has no down script (none carried, none recorded when it was applied), so the rollback stopped there: migrations {list} stay applied, newer than the target {target}"
        ),
        Why::Disagrees(refusal) => {
            // Most likely why the forward Update failed; a FAILED rollback would leave the
            // stack in UPDATE_ROLLBACK_FAILED.
            let error = run.refused(refusal);
            tracing::error!(
                database,
                error = %error,
                ahead = %list,
                "going back to a Trigger applied before, and this function disagrees with the \
                database's history: {error}. Nothing was changed (SUCCESS: a FAILED rollback is \
                worse); fix the migrations"
            );
        }
    }
}

/// `3, 4` for logs and `Data.Ahead`.
pub fn versions(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MigrationSet;

    #[test]
    fn the_kind_carries_the_old_trigger_of_an_update_and_cloudformation_s_word() {
        use serde_json::json;
        let v2 = TriggerKey::of(&json!("v2"));
        assert_eq!(
            Kind::from_parts(RequestType::Create, None, None),
            Kind::Create
        );
        // Old properties this function would refuse (an unknown key) still give their Trigger.
        let old = json!({"SecretArn": "s", "Trigger": "v2", "Removed": true});
        assert_eq!(
            Kind::from_parts(RequestType::Update, Some(&old), Some(true)),
            Kind::Update {
                old_trigger: v2,
                rollback: Some(true)
            }
        );
        assert_eq!(
            Kind::from_parts(RequestType::Update, Some(&json!({"SecretArn": "s"})), None),
            Kind::Update {
                old_trigger: None,
                rollback: None
            }
        );
        assert_eq!(
            Kind::from_parts(RequestType::Update, None, Some(false)),
            Kind::Update {
                old_trigger: None,
                rollback: Some(false)
            }
        );
    }

    /// What a run that changes nothing reports.
    fn hold(applied: &[Applied], target: i64) -> Report {
        let stop = Step::Stop {
            why: Why::NotAllowed { target },
            ahead: plan::above(applied, target),
        };
        tally(applied, &[], &[stop])
    }

    #[test]
    fn holding_reports_the_database_as_it_is() {
        let applied = [1, 2, 5, 4].map(|version| Applied {
            version,
            checksum: vec![],
        });
        let held = hold(&applied, 3);
        assert_eq!((held.version, held.ahead), (5, vec![5, 4]));
        assert_eq!((held.applied, held.reverted, held.seeds_applied), (0, 0, 0));
        assert_eq!(hold(&applied, 5).ahead, Vec::<i64>::new());
        assert_eq!(hold(&[], 0), Report::default());
    }

    #[test]
    fn a_run_reports_what_it_did_and_what_it_left_ahead() {
        let set = MigrationSet::embedded();
        let ups: Vec<&Migration> = set.ups().collect();
        let (first, second) = (ups[0].version, ups[1].version);
        let before = [Applied {
            version: first,
            checksum: vec![],
        }];
        let done = [Step::Apply(ups[1]), Step::ForgetDown(first)];
        let report = tally(&before, &done, &[]);
        assert_eq!(
            report,
            Report {
                version: second,
                applied: 1,
                ..Report::default()
            }
        );
        // Halted at a revert: it and what follows stay ahead.
        let down = set.down(first).unwrap();
        let left = [Step::Revert {
            down,
            from: DownFrom::Carried,
        }];
        let report = tally(&before, &[], &left);
        assert_eq!((report.version, report.ahead), (first, vec![first]));
    }

    #[test]
    fn versions_are_listed_for_data() {
        assert_eq!(versions(&[4, 3]), "4,3");
        assert_eq!(versions(&[]), "");
    }
}
