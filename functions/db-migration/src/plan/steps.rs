//! The whole run as a list of steps: from what the request asks, what the function carries and
//! what the database holds, every database action in order and where the run ends. Nothing
//! here does I/O; [`crate::run`] reads the database, calls [`steps()`], and walks the steps.

use std::borrow::Cow;
use std::collections::BTreeMap;

use sqlx::migrate::Migration;

use super::{
    Aim, Applied, AppliedSeed, Carried, DownFrom, EditedSeed, Event, PlanError, Recorded, Stop,
    TriggerKey, aim, plan_capped, plan_seeds, to_record,
};
use crate::source::{MigrationSet, SeedFile, Sources, checksum};
use crate::store::RecordedDown;

/// What the request asks of a run, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// A Create, or an Update with the Trigger of its old properties.
    pub event: Event<'a>,
    /// The Trigger of the properties, if they have one.
    pub trigger: Option<&'a TriggerKey>,
    /// `TargetVersion`: `None` for the newest migration carried.
    pub target_version: Option<i64>,
    /// `AllowDown`: whether applied migrations above the target are reverted.
    pub allow_down: bool,
    /// `Seeds`: the seed sets to apply after the migrations, in order.
    pub seeds: &'a [String],
}

/// What the database holds, read under the migration lock before anything is decided.
#[derive(Debug, Default)]
pub struct Found {
    /// The first migration sqlx marks failed (partly applied); nothing else is read then.
    pub dirty: Option<i64>,
    /// The migrations `_sqlx_migrations` lists as applied.
    pub applied: Vec<Applied>,
    /// The down scripts recorded when their migrations were applied.
    pub downs: Vec<RecordedDown>,
    /// For an Update whose Trigger was recorded: the version its last successful run reached.
    pub trigger_version: Option<i64>,
    /// The seed files applied (read only when `Seeds` names some).
    pub seeds: Vec<AppliedSeed>,
}

/// Why a run fails without changing anything more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This migration is marked failed (partly applied) in `_sqlx_migrations`.
    Dirty(i64),
    /// This applied migration's file changed since it was applied.
    Edited(i64),
    /// An applied migration at or below the run's target that the function does not carry.
    Missing {
        /// The migration's version.
        version: i64,
        /// The run's target (`TargetVersion`, the newest carried, or a recorded Trigger's).
        target: i64,
    },
    /// `TargetVersion` names no migration the function carries.
    UnknownTarget {
        /// The version asked for.
        target: i64,
        /// The newest the function carries (0: none).
        newest: i64,
    },
    /// A seed file applied before has changed.
    SeedEdited(EditedSeed),
}

impl Refusal {
    fn of(error: PlanError, target: i64) -> Self {
        match error {
            PlanError::Edited(version) => Self::Edited(version),
            PlanError::Missing(version) => Self::Missing { version, target },
            PlanError::UnknownTarget { target, newest } => Self::UnknownTarget { target, newest },
        }
    }
}

/// Why a run ends with SUCCESS and the database left ahead of its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Migrations above the target are applied and `AllowDown` is not set: nothing is touched.
    NotAllowed {
        /// The run's target.
        target: i64,
    },
    /// This applied migration has no down script, carried or recorded: reverting stops there.
    NoDown {
        /// The migration's version.
        version: i64,
        /// The run's target.
        target: i64,
    },
    /// Going back to where a recorded Trigger left the database, and the function disagrees
    /// with the database's history: nothing is touched, because a FAILED rollback would leave
    /// the stack in `UPDATE_ROLLBACK_FAILED`.
    Disagrees(Refusal),
}

/// One database action of a run, or where the run ends. A [`Step::Refuse`] or [`Step::Stop`]
/// is always the last step.
#[derive(Debug, Clone)]
pub enum Step<'a> {
    /// Fail with this reason; the steps before it stay done.
    Refuse(Refusal),
    /// End with SUCCESS; `ahead` (newest first) stays applied above the target.
    Stop {
        /// Why the database stays ahead.
        why: Why,
        /// The versions left applied above the target.
        ahead: Vec<i64>,
    },
    /// Run a down script with sqlx's bookkeeping. Should it fail, the run ends here with
    /// SUCCESS, this version and those of the later steps still ahead ([`still_ahead`]).
    Revert {
        /// The script: carried by the function, or recorded in the database.
        down: &'a Migration,
        /// Where it comes from.
        from: DownFrom,
    },
    /// Forget the recorded down script of the migration just reverted (a failure is only
    /// logged: the row is replaced when the migration is applied again).
    ForgetDown(i64),
    /// Record (or refresh) the down script of a migration before it is applied, so that an
    /// older function serving a rollback finds it.
    RecordDown {
        /// The forward migration.
        up: &'a Migration,
        /// Its down script.
        down: &'a Migration,
    },
    /// Apply a migration with sqlx's bookkeeping.
    Apply(&'a Migration),
    /// Apply a seed file and record it.
    Seed(&'a SeedFile),
    /// Record the version this run brought the database to for its Trigger (a failure is
    /// only logged: the migrations are in).
    RecordTrigger {
        /// The `Trigger` value, in its recorded form.
        trigger: &'a TriggerKey,
        /// The highest version applied at the end of the run.
        version: i64,
    },
}

/// What a run tells the log before its first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note<'a> {
    /// A rollback: the Trigger was recorded at a version below what the properties ask, so
    /// the run goes back there and applies nothing newer.
    GoingBack {
        /// The `Trigger` value, in its recorded form.
        trigger: &'a TriggerKey,
        /// The version recorded for it.
        recorded: i64,
        /// What the properties ask (`TargetVersion`, else the newest carried).
        asked: i64,
        /// The run's target.
        target: i64,
        /// `AllowDown`: whether anything newer applied is reverted.
        allow_down: bool,
    },
    /// The Trigger was applied before, at or above what the properties ask: their target
    /// stands.
    AppliedBefore {
        /// The `Trigger` value, in its recorded form.
        trigger: &'a TriggerKey,
        /// The version recorded for it.
        recorded: i64,
        /// The run's target.
        target: i64,
    },
    /// The function and the database agree: the run's target and its counts.
    Planned {
        /// The run's target.
        target: i64,
        /// Migrations applied before the run.
        applied: usize,
        /// Migrations the run applies.
        to_apply: usize,
        /// Migrations the run reverts.
        to_revert: usize,
    },
    /// `Seeds` names sets, but going back to a Trigger applies none: they were applied then.
    SeedsNotApplied,
}

/// A whole run: what to say, then what to do.
#[derive(Debug, Clone)]
pub struct RunPlan<'a> {
    /// For the log, in order, before the first step.
    pub notes: Vec<Note<'a>>,
    /// The database actions, in order.
    pub steps: Vec<Step<'a>>,
}

/// Plans a whole run over the borrowed `sources` and what the database holds:
///
/// - a dirty database is refused before anything else;
/// - the run aims forward, or back to where a recorded Trigger left the database ([`aim`]);
/// - [`plan_capped`] decides what to revert, record and apply; when it finds that the function
///   and the database disagree (an edited or missing migration, an unknown `TargetVersion`), a
///   forward run is refused and a run going back changes nothing and answers SUCCESS;
/// - migrations above the target stay when `AllowDown` is not set, and reverting stops at the
///   first without a down script: either way the run ends there, nothing applied or seeded;
/// - otherwise: reverts (each followed by forgetting its recorded down), down scripts
///   recorded, migrations applied, seeds applied (only going forward; an edited seed is
///   refused after the migrations), and the Trigger recorded at the version reached.
pub fn steps<'a>(asked: &Asked<'a>, sources: &'a Sources, found: &'a Found) -> RunPlan<'a> {
    let mut run = RunPlan {
        notes: Vec::new(),
        steps: Vec::new(),
    };
    if let Some(version) = found.dirty {
        run.steps.push(Step::Refuse(Refusal::Dirty(version)));
        return run;
    }
    let set = &sources.migrations;
    let requested = asked.target_version.unwrap_or_else(|| set.newest());
    let aim = aim(asked.event, asked.trigger, found.trigger_version, requested);
    run.notes
        .extend(aim_note(aim, asked.trigger, asked.allow_down));
    let carried = carried(&sources.migrations);
    let downs: BTreeMap<i64, &RecordedDown> =
        found.downs.iter().map(|d| (d.script.version, d)).collect();
    let recorded: Vec<Recorded<'_>> = downs
        .values()
        .map(|d| Recorded {
            version: d.script.version,
            up_checksum: Cow::Borrowed(&d.up_checksum),
            down_checksum: Cow::Borrowed(&d.script.checksum),
        })
        .collect();
    let plan = match plan_capped(
        &carried,
        &found.applied,
        &recorded,
        asked.target_version,
        aim.cap(),
        asked.allow_down,
    ) {
        Ok(plan) => plan,
        Err(error) => {
            let refusal = Refusal::of(error, aim.cap().unwrap_or(requested));
            run.steps.push(match aim {
                Aim::Recorded { target, .. } => Step::Stop {
                    why: Why::Disagrees(refusal),
                    ahead: above(&found.applied, target),
                },
                Aim::Forward => Step::Refuse(refusal),
            });
            return run;
        }
    };
    run.notes.push(Note::Planned {
        target: plan.target,
        applied: found.applied.len(),
        to_apply: plan.apply.len(),
        to_revert: plan.revert.len(),
    });
    let going_back = matches!(aim, Aim::Recorded { .. });
    if going_back && !asked.seeds.is_empty() && plan.stop.is_none() {
        run.notes.push(Note::SeedsNotApplied);
    }

    if plan.stop == Some(Stop::NotAllowed) {
        run.steps.push(Step::Stop {
            why: Why::NotAllowed {
                target: plan.target,
            },
            ahead: plan.ahead,
        });
        return run;
    }
    for (i, &(version, from)) in plan.revert.iter().enumerate() {
        let down = match from {
            DownFrom::Carried => set.down(version),
            DownFrom::Recorded => downs.get(&version).map(|d| &d.script),
        };
        let Some(down) = down else {
            // The plan picks only sources that exist; should one be missing, stop there.
            run.steps.push(Step::Stop {
                why: Why::NoDown {
                    version,
                    target: plan.target,
                },
                ahead: plan.revert[i..]
                    .iter()
                    .map(|(v, _)| *v)
                    .chain(plan.ahead.iter().copied())
                    .collect(),
            });
            return run;
        };
        run.steps.push(Step::Revert { down, from });
        run.steps.push(Step::ForgetDown(version));
    }
    if let Some(Stop::NoDown(version)) = plan.stop {
        run.steps.push(Step::Stop {
            why: Why::NoDown {
                version,
                target: plan.target,
            },
            ahead: plan.ahead,
        });
        return run;
    }

    // Down scripts go in before their migrations: a rollback served by an older function
    // finds them even if this run stops halfway.
    for version in &plan.record {
        if let (Some(up), Some(down)) = (set.up(*version), set.down(*version)) {
            run.steps.push(Step::RecordDown { up, down });
        }
    }
    run.steps.extend(
        plan.apply
            .iter()
            .filter_map(|v| set.up(*v))
            .map(Step::Apply),
    );
    // A Trigger is recorded only after its run applied its seeds; a release that added seed
    // files (for tables the rollback does not have) must not apply them when going back.
    if !going_back && !asked.seeds.is_empty() {
        match plan_seeds(asked.seeds, &sources.seeds, &found.seeds) {
            Ok(files) => run.steps.extend(files.into_iter().map(Step::Seed)),
            Err(edited) => {
                run.steps.push(Step::Refuse(Refusal::SeedEdited(edited)));
                return run;
            }
        }
    }
    let reverted: Vec<i64> = plan.revert.iter().map(|(v, _)| *v).collect();
    let reached = highest(&found.applied, &reverted, &plan.apply);
    if let (Some(trigger), Some(version)) = (
        asked.trigger,
        to_record(asked.trigger, reached, &plan.ahead),
    ) {
        run.steps.push(Step::RecordTrigger { trigger, version });
    }
    run
}

/// What to say about where a run aims, when a recorded Trigger decided it.
fn aim_note(aim: Aim, trigger: Option<&TriggerKey>, allow_down: bool) -> Option<Note<'_>> {
    let (
        Aim::Recorded {
            recorded,
            asked,
            target,
        },
        Some(trigger),
    ) = (aim, trigger)
    else {
        return None;
    };
    Some(if aim.lowers() {
        Note::GoingBack {
            trigger,
            recorded,
            asked,
            target,
            allow_down,
        }
    } else {
        Note::AppliedBefore {
            trigger,
            recorded,
            target,
        }
    })
}

/// The forward migrations `set` carries, as [`plan_capped`] compares them: their checksums
/// borrowed, their down scripts' computed as recorded ones are.
fn carried(set: &MigrationSet) -> Vec<Carried<'_>> {
    set.ups()
        .map(|m| Carried {
            version: m.version,
            checksum: Cow::Borrowed(&m.checksum),
            down_checksum: set
                .down(m.version)
                .map(|d| Cow::Owned(checksum(d.sql.as_str()))),
        })
        .collect()
}

/// The versions still applied above the target when a run ends at the first of `steps`: that
/// of each revert not done, then those a [`Step::Stop`] leaves ahead.
pub fn still_ahead(steps: &[Step<'_>]) -> Vec<i64> {
    steps
        .iter()
        .flat_map(|step| match step {
            Step::Revert { down, .. } => vec![down.version],
            Step::Stop { ahead, .. } => ahead.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// The highest version applied after a run: what was applied before, less what it reverted,
/// plus what it applied (0: none).
pub fn highest(before: &[Applied], reverted: &[i64], applied_now: &[i64]) -> i64 {
    before
        .iter()
        .map(|a| a.version)
        .filter(|v| !reverted.contains(v))
        .chain(applied_now.iter().copied())
        .max()
        .unwrap_or(0)
}

/// The applied versions above `target`, newest first: what a run that changes nothing leaves
/// ahead.
pub fn above(applied: &[Applied], target: i64) -> Vec<i64> {
    let mut ahead: Vec<i64> = applied
        .iter()
        .map(|a| a.version)
        .filter(|v| *v > target)
        .collect();
    ahead.sort_unstable_by(|a, b| b.cmp(a));
    ahead
}

#[cfg(test)]
mod tests;
