//! One migration run on one connection: take the lock, aim (forward, or back to where a
//! recorded Trigger left the database), plan, revert, record, apply, seed, record the Trigger,
//! release the lock on every path. The decisions are in [`crate::plan`]; this only does what
//! the plan says, each step bounded by the budget.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use custom_resource::{Request, RequestType};
use sqlx::migrate::{MigrateError, Migration, MigrationType};
use tokio::time::Instant;

use crate::Error;
use crate::budget::Budget;
use crate::error::db_message;
use crate::lock::{self, Next};
use crate::plan::{
    self, Aim, Carried, DownFrom, Event, PlanError, Recorded, SeedEntry, Stop, TriggerKey,
};
use crate::properties::Properties;
use crate::secret::Engine;
use crate::source::{Sources, checksum, file_name};
use crate::store::{Owner, RecordedDown, Store, TriggerRecord};

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
    },
}

impl Kind {
    /// The kind of a Create or Update request. The old Trigger is read from the old
    /// properties as CloudFormation sent them, which are there even when this function
    /// would no longer accept them.
    pub fn of<P>(request: &Request<P>) -> Self {
        Self::from_parts(request.request_type, request.old_properties_raw.as_ref())
    }

    fn from_parts(request_type: RequestType, old_properties: Option<&serde_json::Value>) -> Self {
        match request_type {
            RequestType::Update => Self::Update {
                old_trigger: old_properties
                    .and_then(|old| old.get("Trigger"))
                    .and_then(TriggerKey::of),
            },
            RequestType::Create | RequestType::Delete => Self::Create,
        }
    }

    fn event(&self) -> Event<'_> {
        match self {
            Self::Create => Event::Create,
            Self::Update { old_trigger } => Event::Update {
                old_trigger: old_trigger.as_ref(),
            },
        }
    }
}

/// The database a run works on, and its time budget.
struct Ctx<'a> {
    database: &'a str,
    budget: &'a Budget,
}

impl Ctx<'_> {
    /// Runs one database call within the budget, naming it in any error.
    async fn db<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, Error> {
        self.budget
            .within(what, work)
            .await?
            .map_err(|e| self.database_error(what, &e))
    }

    /// As [`Ctx::db`], for sqlx's migrator calls.
    async fn migrate<T>(
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

    fn database_error(&self, what: &str, err: &sqlx::Error) -> Error {
        Error::Database {
            what: what.to_owned(),
            database: self.database.to_owned(),
            message: db_message(err),
        }
    }
}

fn migrate_message(err: &MigrateError) -> String {
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => db_message(e),
        other => other.to_string(),
    }
}

/// Migrates the database behind `store` as `props` ask, holding sqlx's migration lock, for
/// the `resource` and the `kind` of request (which decide, with the resource's Trigger
/// records, whether the run goes forward or back: [`plan::aim`]).
///
/// # Errors
///
/// Every [`Error`] a run can meet; the lock is released whatever happens.
#[allow(clippy::too_many_arguments)]
pub async fn migrate<S: Store>(
    store: &mut S,
    database: &str,
    sources: &Sources,
    props: &Properties,
    resource: &Owner,
    kind: &Kind,
    budget: &Budget,
) -> Result<Report, Error> {
    let ctx = Ctx { database, budget };
    take_lock(&ctx, store, props.lock_timeout_seconds).await?;
    let result = locked(&ctx, store, sources, props, resource, kind).await;
    // Released on every path; should the connection be stuck, closing it (the caller does,
    // right after) ends the session and the server releases the lock.
    match tokio::time::timeout(budget.cleanup_timeout(), store.unlock()).await {
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

async fn take_lock<S: Store>(ctx: &Ctx<'_>, store: &mut S, limit_secs: u32) -> Result<(), Error> {
    let limit = Duration::from_secs(u64::from(limit_secs));
    let start = Instant::now();
    for attempt in 1.. {
        if ctx
            .db("taking the migration lock", store.try_lock())
            .await?
        {
            if attempt > 1 {
                tracing::info!(
                    database = ctx.database,
                    waited_ms = start.elapsed().as_millis() as u64,
                    "took the migration lock"
                );
            }
            return Ok(());
        }
        if attempt == 1 {
            tracing::info!(
                database = ctx.database,
                limit_s = limit_secs,
                "another migration holds the lock; waiting for it"
            );
        }
        match lock::next(
            attempt,
            start.elapsed(),
            limit,
            ctx.budget.statement_timeout(),
        ) {
            Next::Retry(pause) => tokio::time::sleep(pause).await,
            Next::GiveUp => break,
        }
    }
    Err(Error::Locked {
        database: ctx.database.to_owned(),
        waited: start.elapsed(),
        limit: limit_secs,
    })
}

async fn locked<S: Store>(
    ctx: &Ctx<'_>,
    store: &mut S,
    sources: &Sources,
    props: &Properties,
    resource: &Owner,
    kind: &Kind,
) -> Result<Report, Error> {
    let set = &sources.migrations;
    let file_of = |version: i64| {
        set.up(version)
            .map(|m| file_name(m.version, &m.description, m.migration_type))
    };
    ctx.migrate("creating the bookkeeping tables", store.prepare())
        .await?;
    if let Some(version) = ctx
        .migrate("reading `_sqlx_migrations`", store.dirty_version())
        .await?
    {
        return Err(Error::Dirty {
            version,
            file: file_of(version)
                .map(|f| format!(" (`{f}`)"))
                .unwrap_or_default(),
            database: ctx.database.to_owned(),
        });
    }
    let applied = ctx
        .migrate("reading `_sqlx_migrations`", store.applied())
        .await?;
    let recorded_full: BTreeMap<i64, RecordedDown> = ctx
        .db("reading the recorded down scripts", store.recorded_downs())
        .await?
        .into_iter()
        .map(|d| (d.version, d))
        .collect();
    let carried: Vec<Carried> = set
        .ups()
        .map(|m| Carried {
            version: m.version,
            checksum: m.checksum.to_vec(),
            down_checksum: set.down(m.version).map(|d| checksum(d.sql.as_str())),
        })
        .collect();
    let recorded: Vec<Recorded> = recorded_full
        .values()
        .map(|d| Recorded {
            version: d.version,
            up_checksum: d.up_checksum.clone(),
            down_checksum: checksum(&d.sql),
        })
        .collect();

    // Forward, or back to where this resource's Trigger left the database when it was
    // applied (a rollback, whichever release serves it).
    let trigger = props.trigger.as_ref().and_then(TriggerKey::of);
    let record = trigger
        .as_ref()
        .map(|trigger| TriggerRecord { resource, trigger });
    let recorded_version = match (&record, kind) {
        (Some(record), Kind::Update { .. }) => {
            ctx.db(
                "reading the Trigger's record",
                store.trigger_version(record),
            )
            .await?
        }
        _ => None,
    };
    let asked = props.target_version.unwrap_or_else(|| set.newest());
    let aim = plan::aim(kind.event(), trigger.as_ref(), recorded_version, asked);
    if let (
        Aim::Recorded {
            recorded,
            asked,
            target,
        },
        Some(trigger),
    ) = (aim, &trigger)
    {
        if aim.lowers() {
            tracing::info!(
                database = ctx.database,
                trigger = %trigger,
                recorded,
                target,
                asked,
                "rollback to Trigger `{trigger}`: target {target}, recorded when it was applied (the properties ask for {asked}): nothing newer is applied; {}",
                if props.allow_down {
                    "anything newer applied is reverted (AllowDown)"
                } else {
                    "anything newer applied stays (AllowDown is not set)"
                }
            );
        } else {
            tracing::info!(
                database = ctx.database,
                trigger = %trigger,
                recorded,
                target,
                "Trigger `{trigger}` was applied before, up to {recorded}: target {target}, as the properties ask"
            );
        }
    }
    let plan = match plan::plan_capped(
        &carried,
        &applied,
        &recorded,
        props.target_version,
        aim.cap(),
        props.allow_down,
    ) {
        Ok(plan) => plan,
        Err(e) => {
            let error = match e {
                PlanError::Edited(version) => Error::Edited {
                    version,
                    file: file_of(version).unwrap_or_else(|| version.to_string()),
                    database: ctx.database.to_owned(),
                },
                PlanError::Missing(version) => Error::Missing {
                    version,
                    database: ctx.database.to_owned(),
                    target: aim.cap().unwrap_or(asked),
                },
                PlanError::UnknownTarget { target, newest } => {
                    Error::UnknownTarget { target, newest }
                }
            };
            return match aim {
                // The Trigger was applied before: this goes back to a state the database
                // had. A history this release disagrees with (it edited or dropped an
                // applied migration: most likely why the forward Update failed) must not
                // fail it: a FAILED rollback leaves the stack in UPDATE_ROLLBACK_FAILED.
                Aim::Recorded { target, .. } => {
                    let held = hold(&applied, target);
                    tracing::error!(
                        database = ctx.database,
                        error = %error,
                        ahead = %versions(&held.ahead),
                        "going back to a Trigger applied before, and this function disagrees with the database's history: {error}. Nothing was changed (answering SUCCESS: a FAILED rollback would leave the stack in UPDATE_ROLLBACK_FAILED); fix the migrations before the next deploy"
                    );
                    Ok(held)
                }
                Aim::Forward => Err(error),
            };
        }
    };
    tracing::info!(
        database = ctx.database,
        target = plan.target,
        applied = applied.len(),
        to_apply = plan.apply.len(),
        to_revert = plan.revert.len(),
        "planned"
    );

    let mut report = Report::default();
    if plan.stop == Some(Stop::NotAllowed) {
        tracing::warn!(
            database = ctx.database,
            ahead = %versions(&plan.ahead),
            target = plan.target,
            "the database is ahead of this function's target (a rollback, or a lower TargetVersion): migrations {} are applied but newer than {}. Nothing was changed: the schema stays ahead, and the running code must tolerate it. With `AllowDown: true` their recorded down scripts would be run",
            versions(&plan.ahead),
            plan.target
        );
        report.ahead = plan.ahead;
        report.version = highest(&applied, &[], &[]);
        return Ok(report);
    }

    // Rollback: newest first, with the down script the plan chose.
    for (i, (version, from)) in plan.revert.iter().enumerate() {
        let down = match from {
            DownFrom::Carried => set.down(*version).cloned(),
            DownFrom::Recorded => recorded_full.get(version).map(|d| {
                Migration::new(
                    d.version,
                    d.description.clone().into(),
                    MigrationType::ReversibleDown,
                    sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(d.sql.clone())),
                    d.no_tx,
                )
            }),
        };
        let Some(down) = down else {
            // The plan only picks sources that exist; stop rather than guess.
            report.ahead = remaining(&plan, i);
            break;
        };
        let what = format!("reverting migration {version}");
        let outcome = async {
            ctx.db(
                &what,
                store.set_statement_timeout(ctx.budget.statement_timeout()),
            )
            .await?;
            ctx.budget.within(&what, store.revert(&down)).await
        }
        .await;
        match outcome {
            Ok(Ok(())) => {
                report.reverted += 1;
                tracing::info!(database = ctx.database, version, from = ?from, "reverted");
                if let Err(e) = ctx
                    .db("forgetting a down script", store.forget_down(*version))
                    .await
                {
                    tracing::warn!(database = ctx.database, version, error = %e, "reverted, but its recorded down script stays (harmless: it is replaced when the migration is applied again)");
                }
            }
            failed => {
                // A FAILED during a rollback leaves the stack in UPDATE_ROLLBACK_FAILED, which
                // is worse than a schema left ahead: stop the walk and say why.
                let message = match failed {
                    Ok(Err(e)) => migrate_message(&e),
                    Err(e) => e.to_string(),
                    Ok(Ok(())) => String::new(),
                };
                tracing::error!(
                    database = ctx.database,
                    version,
                    error = %message,
                    "the down script of migration {version} failed; the rollback stops here and the schema stays ahead (answering SUCCESS with `Ahead`: a FAILED rollback would be worse). Fix the down script or revert by hand"
                );
                report.ahead = remaining(&plan, i);
                break;
            }
        }
    }
    if let (Some(Stop::NoDown(version)), true) = (plan.stop, report.ahead.is_empty()) {
        report.ahead = plan.ahead.clone();
        tracing::warn!(
            database = ctx.database,
            version,
            ahead = %versions(&plan.ahead),
            "migration {version} has no down script (none carried, none recorded when it was applied), so the rollback stopped there: migrations {} stay applied, newer than the target {}",
            versions(&plan.ahead),
            plan.target
        );
    }
    let reverted: Vec<i64> = plan.revert[..report.reverted]
        .iter()
        .map(|(v, _)| *v)
        .collect();
    if !report.ahead.is_empty() {
        // From what is known, not a query: after a failed down script the connection may
        // be unusable, and a rollback must still answer SUCCESS.
        report.version = highest(&applied, &reverted, &[]);
        return Ok(report);
    }

    // Down scripts go in before their migrations: a rollback served by an older function
    // finds them even if this run stops halfway.
    for version in &plan.record {
        let (Some(up), Some(down)) = (set.up(*version), set.down(*version)) else {
            continue;
        };
        let recorded = RecordedDown {
            version: *version,
            description: up.description.to_string(),
            up_checksum: up.checksum.to_vec(),
            sql: down.sql.as_str().to_owned(),
            no_tx: down.no_tx,
        };
        ctx.db("recording a down script", store.record_down(&recorded))
            .await?;
    }

    for version in &plan.apply {
        let Some(migration) = set.up(*version) else {
            continue;
        };
        let file = file_name(
            migration.version,
            &migration.description,
            migration.migration_type,
        );
        let what = format!("applying migration {version} (`{file}`)");
        ctx.db(
            &what,
            store.set_statement_timeout(ctx.budget.statement_timeout()),
        )
        .await?;
        let started = Instant::now();
        match ctx.budget.within(&what, store.apply(migration)).await? {
            Ok(()) => {
                report.applied += 1;
                tracing::info!(
                    database = ctx.database,
                    version,
                    file,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "applied"
                );
            }
            Err(e) => {
                let message = migrate_message(&e);
                let advice = failure_advice(store, ctx, migration).await;
                return Err(Error::MigrationFailed {
                    version: *version,
                    file,
                    database: ctx.database.to_owned(),
                    message,
                    advice,
                });
            }
        }
    }

    if matches!(aim, Aim::Recorded { .. }) {
        // A Trigger is recorded only after its run applied its seeds; a release that added
        // seed files (for tables the rollback does not have) must not apply them now.
        if !props.seeds.is_empty() {
            tracing::info!(
                database = ctx.database,
                "seeds are not applied when going back to a Trigger applied before: they were applied then"
            );
        }
    } else {
        report.seeds_applied = seed(ctx, store, sources, props).await?;
    }
    report.version = highest(&applied, &reverted, &plan.apply);

    if let (Some(record), Some(version)) = (
        &record,
        plan::to_record(trigger.as_ref(), report.version, &report.ahead),
    ) {
        // The migrations are in: failing the run over a bookkeeping row would make
        // CloudFormation roll the stack back. Without the row, a rollback to this Trigger
        // goes forward as the properties say, as before Triggers were recorded.
        match ctx
            .db(
                "recording the Trigger",
                store.record_trigger(record, version),
            )
            .await
        {
            Ok(()) => tracing::debug!(
                database = ctx.database,
                trigger = %record.trigger,
                version,
                "Trigger recorded"
            ),
            Err(e) => tracing::error!(
                database = ctx.database,
                trigger = %record.trigger,
                error = %e,
                "could not record the Trigger; a rollback to it will not know where to go back to"
            ),
        }
    }
    Ok(report)
}

/// What a run reports when it changes nothing: the database as it is, and what is applied
/// above `target`, newest first.
fn hold(applied: &[plan::Applied], target: i64) -> Report {
    let mut ahead: Vec<i64> = applied
        .iter()
        .map(|a| a.version)
        .filter(|v| *v > target)
        .collect();
    ahead.sort_unstable_by(|a, b| b.cmp(a));
    Report {
        version: highest(applied, &[], &[]),
        ahead,
        ..Report::default()
    }
}

async fn seed<S: Store>(
    ctx: &Ctx<'_>,
    store: &mut S,
    sources: &Sources,
    props: &Properties,
) -> Result<usize, Error> {
    if props.seeds.is_empty() {
        return Ok(0);
    }
    let files: Vec<_> = props
        .seeds
        .iter()
        .filter_map(|set| sources.seeds.set(set))
        .flatten()
        .collect();
    let entries: Vec<SeedEntry> = files
        .iter()
        .map(|f| SeedEntry {
            set: f.set.clone(),
            file: f.file.clone(),
            checksum: f.checksum.clone(),
        })
        .collect();
    let applied = ctx
        .db("reading `_stackwright_seeds`", store.applied_seeds())
        .await?;
    let todo =
        plan::plan_seeds(&props.seeds, &entries, &applied).map_err(|e| Error::SeedEdited {
            set: e.set,
            file: e.file,
            database: ctx.database.to_owned(),
        })?;
    let mut count = 0;
    for entry in todo {
        let Some(file) = files
            .iter()
            .find(|f| f.set == entry.set && f.file == entry.file)
        else {
            continue;
        };
        let what = format!("applying seed `{}/{}`", file.set, file.file);
        ctx.db(
            &what,
            store.set_statement_timeout(ctx.budget.statement_timeout()),
        )
        .await?;
        match ctx.budget.within(&what, store.apply_seed(file)).await? {
            Ok(()) => {
                count += 1;
                tracing::info!(database = ctx.database, set = %file.set, file = %file.file, "seeded");
            }
            Err(e) => {
                return Err(Error::SeedFailed {
                    set: file.set.clone(),
                    file: file.file.clone(),
                    database: ctx.database.to_owned(),
                    message: db_message(&e),
                    advice: match (store.engine(), file.no_tx) {
                        (_, true) => {
                            "It ran outside a transaction (`-- no-transaction`), so its statements before the failing one took effect: make it safe to run again, then deploy again"
                        }
                        (Engine::Postgres, false) => {
                            "It was rolled back and is not recorded: fix it and deploy again"
                        }
                        (Engine::MySql, false) => {
                            "Its data changes were rolled back and it is not recorded, but any DDL in it took effect (MySQL commits DDL on its own): fix it and deploy again"
                        }
                    },
                });
            }
        }
    }
    Ok(count)
}

/// What happened to a failed migration and what to do, engine by engine.
async fn failure_advice<S: Store>(store: &mut S, ctx: &Ctx<'_>, migration: &Migration) -> String {
    let version = migration.version;
    match store.engine() {
        Engine::Postgres if migration.no_tx => format!(
            "It ran outside a transaction (`-- no-transaction`), so its statements before the failing one may have taken effect: check them, make the migration safe to run again (`IF NOT EXISTS`), then deploy again. The migrations before {version} stay applied"
        ),
        Engine::Postgres => format!(
            "It was rolled back, and the migrations before {version} stay applied: fix it (it was never applied, so editing it is safe) and deploy again; the next run continues from {version}"
        ),
        Engine::MySql => {
            let dirty = ctx
                .budget
                .within("reading `_sqlx_migrations`", store.dirty_version())
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            if dirty == Some(version) {
                format!(
                    "MySQL and MariaDB commit each DDL statement on its own, so its statements before the failing one took effect and version {version} is now marked dirty (`success = false`) in `_sqlx_migrations`. Check which of its statements took effect and undo them by hand, delete its row (`DELETE FROM _sqlx_migrations WHERE version = {version}`), fix the migration, then deploy again. The migrations before {version} stay applied"
                )
            } else {
                format!(
                    "None of it took effect, and the migrations before {version} stay applied: fix it and deploy again"
                )
            }
        }
    }
}

/// The highest version applied after a run: what was applied before, less what it reverted,
/// plus what it applied (a failed apply returns before this is asked).
fn highest(before: &[plan::Applied], reverted: &[i64], applied_now: &[i64]) -> i64 {
    before
        .iter()
        .map(|a| a.version)
        .filter(|v| !reverted.contains(v))
        .chain(applied_now.iter().copied())
        .max()
        .unwrap_or(0)
}

/// The versions still ahead when the walk stops at revert number `i`.
fn remaining(plan: &plan::Plan, i: usize) -> Vec<i64> {
    plan.revert[i..]
        .iter()
        .map(|(v, _)| *v)
        .chain(plan.ahead.iter().copied())
        .collect()
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

    #[test]
    fn the_version_after_a_run() {
        let before = [1, 2, 5].map(|version| plan::Applied {
            version,
            checksum: vec![],
        });
        assert_eq!(highest(&before, &[], &[]), 5);
        assert_eq!(highest(&before, &[5], &[]), 2);
        assert_eq!(highest(&before, &[5], &[3, 4]), 4);
        assert_eq!(highest(&[], &[], &[]), 0);
    }

    #[test]
    fn holding_reports_the_database_as_it_is() {
        let applied = [1, 2, 5, 4].map(|version| plan::Applied {
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
    fn the_kind_carries_the_old_trigger_of_an_update() {
        use serde_json::json;
        let v2 = TriggerKey::of(&json!("v2"));
        assert_eq!(Kind::from_parts(RequestType::Create, None), Kind::Create);
        // Old properties this function would refuse (an unknown key) still give their Trigger.
        let old = json!({"SecretArn": "s", "Trigger": "v2", "Removed": true});
        assert_eq!(
            Kind::from_parts(RequestType::Update, Some(&old)),
            Kind::Update { old_trigger: v2 }
        );
        assert_eq!(
            Kind::from_parts(RequestType::Update, Some(&json!({"SecretArn": "s"}))),
            Kind::Update { old_trigger: None }
        );
        assert_eq!(
            Kind::from_parts(RequestType::Update, None),
            Kind::Update { old_trigger: None }
        );
    }

    #[test]
    fn versions_are_listed_for_data() {
        assert_eq!(versions(&[4, 3]), "4,3");
        assert_eq!(versions(&[]), "");
    }

    #[test]
    fn a_stopped_walk_keeps_what_was_not_reverted() {
        let plan = plan::Plan {
            revert: vec![(5, DownFrom::Recorded), (4, DownFrom::Carried)],
            ahead: vec![3],
            ..plan::Plan::default()
        };
        assert_eq!(remaining(&plan, 1), [4, 3]);
        assert_eq!(remaining(&plan, 0), [5, 4, 3]);
    }
}
