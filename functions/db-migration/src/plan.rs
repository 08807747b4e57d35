//! What to apply, revert, record and seed, and where a rollback aims: plain functions of
//! what the function carries, what the database says it has and what the request says,
//! unit-tested without a database.
//!
//! - [`plan_capped`]: which migrations to revert, record and apply.
//! - [`aim`]: forward, or back to where a recorded Trigger left the database.
//! - [`plan_seeds`]: which seed files to apply.
//! - [`steps()`]: the whole run as a list of [`Step`]s, from all of the above and what the
//!   database holds; [`crate::run`] only executes them.

mod seeds;
mod steps;
mod trigger;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

pub use seeds::{AppliedSeed, EditedSeed, UnknownSet, check_sets, plan_seeds};
pub use steps::{
    Asked, Found, Note, Refusal, RunPlan, Step, Why, above, highest, steps, still_ahead,
};
pub use trigger::{MAX_TRIGGER_TEXT, TriggerKey};

/// A forward migration the function carries, its checksums borrowed where it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried<'a> {
    /// The migration's version.
    pub version: i64,
    /// SHA-384 of its SQL (sqlx's checksum).
    pub checksum: Cow<'a, [u8]>,
    /// SHA-384 of its down script, if it has one.
    pub down_checksum: Option<Cow<'a, [u8]>>,
}

/// A migration `_sqlx_migrations` lists as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The migration's version.
    pub version: i64,
    /// The checksum it was applied with.
    pub checksum: Vec<u8>,
}

/// A down script recorded in the database when its migration was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded<'a> {
    /// The migration's version.
    pub version: i64,
    /// The checksum of the forward migration it undoes.
    pub up_checksum: Cow<'a, [u8]>,
    /// SHA-384 of the down script.
    pub down_checksum: Cow<'a, [u8]>,
}

/// Where a down script comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownFrom {
    /// The function carries it (its forward migration matches the applied one).
    Carried,
    /// The database has it, recorded when the migration was applied (the function serving a
    /// rollback may be the older one, which never carried it).
    Recorded,
}

/// Why a rollback walk stopped with the database still ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `AllowDown` is not set: nothing is touched.
    NotAllowed,
    /// This migration has no down script, carried or recorded.
    NoDown(i64),
}

/// What one run does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The version the database is brought to.
    pub target: i64,
    /// Migrations to revert, newest first.
    pub revert: Vec<(i64, DownFrom)>,
    /// Migrations to apply, oldest first.
    pub apply: Vec<i64>,
    /// Carried migrations whose down script to record (or refresh) before applying.
    pub record: Vec<i64>,
    /// Applied versions above the target that stay applied after this run, newest first.
    pub ahead: Vec<i64>,
    /// Why `ahead` is not empty.
    pub stop: Option<Stop>,
}

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// An applied migration's file changed since.
    Edited(i64),
    /// An applied migration (at or below the target) the function does not carry.
    Missing(i64),
    /// `TargetVersion` names no migration the function carries.
    UnknownTarget {
        /// The asked version.
        target: i64,
        /// The newest the function carries (0: none).
        newest: i64,
    },
}

/// Plans a run.
///
/// - The target is `TargetVersion`, else the newest migration carried.
/// - Applied migrations at or below the target must be carried unchanged (sqlx's rules).
/// - Applied migrations above the target mean the database is *ahead* (a rollback, or a lower
///   `TargetVersion`): without `allow_down` nothing is touched; with it, they are reverted
///   newest first, each with its carried down script when its forward migration matches,
///   else the recorded one, and the walk stops at the first with neither.
/// - Pending migrations are applied only when nothing is left ahead (never out of order).
///
/// # Errors
///
/// [`PlanError`] when the database and the function disagree about history.
pub fn plan(
    carried: &[Carried<'_>],
    applied: &[Applied],
    recorded: &[Recorded<'_>],
    target_version: Option<i64>,
    allow_down: bool,
) -> Result<Plan, PlanError> {
    plan_capped(carried, applied, recorded, target_version, None, allow_down)
}

/// As [`plan`], with the target lowered to `cap` when it is lower: the version a Trigger's
/// record says the database stood at (see [`aim`]). Unlike `TargetVersion`, the cap need
/// not be a version the function carries (it may be one a newer release removed); an applied
/// migration at or below it that the function does not carry is still [`PlanError::Missing`].
///
/// # Errors
///
/// As [`plan`].
pub fn plan_capped(
    carried: &[Carried<'_>],
    applied: &[Applied],
    recorded: &[Recorded<'_>],
    target_version: Option<i64>,
    cap: Option<i64>,
    allow_down: bool,
) -> Result<Plan, PlanError> {
    let newest = carried.iter().map(|c| c.version).max().unwrap_or(0);
    let asked = match target_version {
        None => newest,
        Some(0) => 0,
        Some(t) if carried.iter().any(|c| c.version == t) => t,
        Some(t) => return Err(PlanError::UnknownTarget { target: t, newest }),
    };
    let target = cap.map_or(asked, |cap| cap.min(asked));
    let carried_by: BTreeMap<i64, &Carried<'_>> = carried.iter().map(|c| (c.version, c)).collect();
    let applied_by: BTreeMap<i64, &Applied> = applied.iter().map(|a| (a.version, a)).collect();
    let recorded_by: BTreeMap<i64, &Recorded<'_>> =
        recorded.iter().map(|r| (r.version, r)).collect();

    for a in applied.iter().filter(|a| a.version <= target) {
        match carried_by.get(&a.version) {
            Some(c) if c.checksum != a.checksum => return Err(PlanError::Edited(a.version)),
            Some(_) => {}
            None => return Err(PlanError::Missing(a.version)),
        }
    }

    let mut plan = Plan {
        target,
        ..Plan::default()
    };
    let ahead: Vec<&Applied> = applied_by
        .values()
        .rev()
        .filter(|a| a.version > target)
        .copied()
        .collect();
    if !ahead.is_empty() {
        if !allow_down {
            plan.ahead = ahead.iter().map(|a| a.version).collect();
            plan.stop = Some(Stop::NotAllowed);
            return Ok(plan);
        }
        for (i, a) in ahead.iter().enumerate() {
            let carried_down = carried_by
                .get(&a.version)
                .is_some_and(|c| c.checksum == a.checksum && c.down_checksum.is_some());
            let recorded_down = recorded_by
                .get(&a.version)
                .is_some_and(|r| r.up_checksum == a.checksum);
            let from = if carried_down {
                DownFrom::Carried
            } else if recorded_down {
                DownFrom::Recorded
            } else {
                plan.ahead = ahead[i..].iter().map(|a| a.version).collect();
                plan.stop = Some(Stop::NoDown(a.version));
                return Ok(plan);
            };
            plan.revert.push((a.version, from));
        }
    }

    plan.apply = carried
        .iter()
        .filter(|c| c.version <= target && !applied_by.contains_key(&c.version))
        .map(|c| c.version)
        .collect();
    plan.apply.sort_unstable();
    let will_be_applied: BTreeSet<i64> = applied
        .iter()
        .map(|a| a.version)
        .filter(|v| *v <= target)
        .chain(plan.apply.iter().copied())
        .collect();
    plan.record = carried
        .iter()
        .filter(|c| will_be_applied.contains(&c.version))
        .filter_map(|c| {
            let down = c.down_checksum.as_ref()?;
            let fresh = recorded_by
                .get(&c.version)
                .is_some_and(|r| r.up_checksum == c.checksum && &r.down_checksum == down);
            (!fresh).then_some(c.version)
        })
        .collect();
    plan.record.sort_unstable();
    Ok(plan)
}

/// The request a run serves, as [`aim`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A Create: a first run, or the same Create delivered again.
    Create,
    /// An Update.
    Update {
        /// The Trigger of its old properties (`OldResourceProperties`), if they had one.
        old_trigger: Option<&'a TriggerKey>,
        /// Whether CloudFormation says the stack is rolling back
        /// ([`custom_resource::Request::rolling_back`]); `None` when confirmation is off, and
        /// [`aim`] infers it from the Trigger's history.
        rollback: Option<bool>,
    },
}

/// Where a run aims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    /// Where the properties say: `TargetVersion`, else the newest migration carried.
    Forward,
    /// Back to where the database stood when this Trigger was last applied.
    Recorded {
        /// The highest version applied at the end of that run.
        recorded: i64,
        /// What the properties ask: `TargetVersion`, else the newest migration carried.
        asked: i64,
        /// The run's target: the smaller of the two.
        target: i64,
    },
}

impl Aim {
    /// The cap for [`plan_capped`].
    pub fn cap(self) -> Option<i64> {
        match self {
            Self::Forward => None,
            Self::Recorded { target, .. } => Some(target),
        }
    }

    /// Whether the record lowers the target below what the properties ask: a rollback that
    /// must not move the schema forward.
    pub fn lowers(self) -> bool {
        matches!(self, Self::Recorded { target, asked, .. } if target < asked)
    }
}

/// Where a run aims, from its Trigger and the version recorded for that Trigger (on this
/// resource, by its last successful run).
///
/// CloudFormation rolls an Update back with another Update carrying the old properties, and
/// since a custom resource's `ServiceToken` never changes and dependents roll back first, that
/// Update is usually served by the *new* function, carrying the new migrations. So an Update
/// whose Trigger was recorded, and differs from its old Trigger, goes back to where the
/// database stood then: the target is the smaller of `asked` (`TargetVersion`, else the newest
/// carried) and the recorded version. Everything else goes forward as the properties say:
/// - a Create (a first run, or the same Create delivered again);
/// - no Trigger;
/// - a Trigger never recorded: a deploy (the template passes the function's version, new
///   each time), or one whose run failed;
/// - a Trigger the same as the old one: an Update of other properties, with the Trigger left
///   as it was (a constant Trigger must not pin the schema for ever).
///
/// The same Update delivered twice aims the same way both times: the first delivery recorded
/// the version it reached, and the second aims there.
///
/// That is the inference, used when confirmation is off (`rollback: None`). When CloudFormation
/// has said whether the stack is rolling back, its word decides instead: a rollback goes back
/// to the Trigger's record whenever there is one (whatever the old Trigger was), and an Update
/// that is not a rollback goes forward as the properties say, so no event can pass for a
/// rollback by its Trigger alone.
pub fn aim(
    event: Event<'_>,
    trigger: Option<&TriggerKey>,
    recorded: Option<i64>,
    asked: i64,
) -> Aim {
    let (
        Event::Update {
            old_trigger,
            rollback,
        },
        Some(trigger),
        Some(recorded),
    ) = (event, trigger, recorded)
    else {
        return Aim::Forward;
    };
    let back = match rollback {
        Some(rollback) => rollback,
        None => old_trigger != Some(trigger),
    };
    if !back {
        return Aim::Forward;
    }
    Aim::Recorded {
        recorded,
        asked,
        target: recorded.min(asked),
    }
}

/// The version to record for the run's Trigger once the run has succeeded: the highest
/// applied, when the run has a Trigger and left nothing ahead of its target. A database left
/// ahead does not stand for this Trigger, so an earlier record of it is kept.
pub fn to_record(trigger: Option<&TriggerKey>, version: i64, ahead: &[i64]) -> Option<i64> {
    (trigger.is_some() && ahead.is_empty()).then_some(version)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn sum(tag: &str) -> Vec<u8> {
        tag.as_bytes().to_vec()
    }

    fn carried(version: i64, down: bool) -> Carried<'static> {
        Carried {
            version,
            checksum: sum(&format!("up{version}")).into(),
            down_checksum: down.then(|| sum(&format!("down{version}")).into()),
        }
    }

    fn applied(version: i64) -> Applied {
        Applied {
            version,
            checksum: sum(&format!("up{version}")),
        }
    }

    fn recorded(version: i64) -> Recorded<'static> {
        Recorded {
            version,
            up_checksum: sum(&format!("up{version}")).into(),
            down_checksum: sum(&format!("down{version}")).into(),
        }
    }

    #[test]
    fn a_fresh_database_gets_everything_and_its_downs_recorded_first() {
        let c = [carried(1, true), carried(2, false), carried(3, true)];
        let p = plan(&c, &[], &[], None, false).unwrap();
        assert_eq!(p.target, 3);
        assert_eq!(p.apply, [1, 2, 3]);
        assert_eq!(p.record, [1, 3]);
        assert!(p.revert.is_empty() && p.ahead.is_empty() && p.stop.is_none());
    }

    #[test]
    fn an_up_to_date_database_gets_nothing() {
        let c = [carried(1, true), carried(2, true)];
        let p = plan(
            &c,
            &[applied(1), applied(2)],
            &[recorded(1), recorded(2)],
            None,
            false,
        )
        .unwrap();
        assert_eq!(
            p,
            Plan {
                target: 2,
                ..Plan::default()
            }
        );
    }

    #[test]
    fn downs_missing_or_changed_in_the_database_are_recorded_again() {
        // Applied by `sqlx migrate run` on a laptop: nothing recorded yet.
        let c = [carried(1, true), carried(2, true)];
        let p = plan(&c, &[applied(1), applied(2)], &[], None, false).unwrap();
        assert_eq!((p.apply.len(), p.record.clone()), (0, vec![1, 2]));
        // A fixed down script replaces the recorded one.
        let mut stale = recorded(2);
        stale.down_checksum = sum("old down").into();
        let p = plan(
            &c,
            &[applied(1), applied(2)],
            &[recorded(1), stale],
            None,
            false,
        )
        .unwrap();
        assert_eq!(p.record, [2]);
    }

    #[test]
    fn target_version_limits_and_must_exist() {
        let c = [carried(1, true), carried(2, true), carried(3, true)];
        let p = plan(&c, &[], &[], Some(2), false).unwrap();
        assert_eq!((p.target, p.apply), (2, vec![1, 2]));
        assert_eq!(
            plan(&c, &[], &[], Some(0), false).unwrap().apply,
            Vec::<i64>::new()
        );
        assert_eq!(
            plan(&c, &[], &[], Some(4), false),
            Err(PlanError::UnknownTarget {
                target: 4,
                newest: 3
            })
        );
    }

    #[test]
    fn an_edited_or_missing_migration_is_refused() {
        let c = [carried(1, true), carried(2, true)];
        let mut edited = applied(2);
        edited.checksum = sum("other");
        assert_eq!(
            plan(&c, &[applied(1), edited], &[], None, false),
            Err(PlanError::Edited(2))
        );
        let c = [carried(1, true), carried(3, true)];
        assert_eq!(
            plan(&c, &[applied(1), applied(2)], &[], None, false),
            Err(PlanError::Missing(2))
        );
    }

    #[test]
    fn ahead_without_allow_down_touches_nothing() {
        // The older function (carrying 1 and 2) serves the rollback of a deploy that applied 3, 4.
        let c = [carried(1, true), carried(2, true)];
        let a = [applied(1), applied(2), applied(3), applied(4)];
        let p = plan(&c, &a, &[recorded(3), recorded(4)], None, false).unwrap();
        assert_eq!(p.ahead, [4, 3]);
        assert_eq!(p.stop, Some(Stop::NotAllowed));
        assert!(p.revert.is_empty() && p.apply.is_empty() && p.record.is_empty());
    }

    #[test]
    fn ahead_with_allow_down_reverts_with_recorded_downs() {
        let c = [carried(1, true), carried(2, true)];
        let a = [applied(1), applied(2), applied(3), applied(4)];
        let p = plan(
            &c,
            &a,
            &[recorded(1), recorded(2), recorded(3), recorded(4)],
            None,
            true,
        )
        .unwrap();
        assert_eq!(p.revert, [(4, DownFrom::Recorded), (3, DownFrom::Recorded)]);
        assert!(p.ahead.is_empty() && p.stop.is_none() && p.apply.is_empty());
    }

    #[test]
    fn carried_downs_are_preferred_when_the_up_matches() {
        let c = [carried(1, true), carried(2, true), carried(3, true)];
        let a = [applied(1), applied(2), applied(3)];
        let p = plan(&c, &a, &[recorded(3)], Some(1), true).unwrap();
        assert_eq!(p.revert, [(3, DownFrom::Carried), (2, DownFrom::Carried)]);
        assert_eq!(p.target, 1);
    }

    #[test]
    fn a_migration_without_a_down_stops_the_walk() {
        let c = [carried(1, true)];
        let a = [applied(1), applied(2), applied(3), applied(4)];
        // 4 has a recorded down, 3 has none, 2 has one: the walk reverts 4, stops at 3.
        let p = plan(&c, &a, &[recorded(4), recorded(2)], None, true).unwrap();
        assert_eq!(p.revert, [(4, DownFrom::Recorded)]);
        assert_eq!(p.ahead, [3, 2]);
        assert_eq!(p.stop, Some(Stop::NoDown(3)));
        assert!(p.apply.is_empty());
        // A recorded down for another version of the up does not count.
        let mut other = recorded(4);
        other.up_checksum = sum("a different up").into();
        let p = plan(&c, &a, &[other], None, true).unwrap();
        assert_eq!(p.stop, Some(Stop::NoDown(4)));
    }

    #[test]
    fn after_a_full_revert_pending_migrations_apply() {
        // Database has 1 and 5 (5 from a newer deploy); the function carries 1..3.
        let c = [carried(1, true), carried(2, true), carried(3, true)];
        let a = [applied(1), applied(5)];
        let p = plan(&c, &a, &[recorded(5)], None, true).unwrap();
        assert_eq!(p.revert, [(5, DownFrom::Recorded)]);
        assert_eq!(p.apply, [2, 3]);
        let p = plan(&c, &a, &[recorded(5)], None, false).unwrap();
        assert!(p.apply.is_empty(), "never applied out of order while ahead");
    }

    fn key(value: Value) -> TriggerKey {
        TriggerKey::of(&value).unwrap()
    }

    #[test]
    fn a_create_or_a_trigger_never_seen_goes_forward() {
        let v1 = key("v1".into());
        let v2 = key("v2".into());
        // The Create path is unchanged, even when the same Create is delivered again.
        assert_eq!(aim(Event::Create, Some(&v1), Some(4), 5), Aim::Forward);
        assert_eq!(aim(Event::Create, Some(&v1), None, 5), Aim::Forward);
        // A deploy: the new Trigger was never recorded.
        let update = Event::Update {
            old_trigger: Some(&v1),
            rollback: None,
        };
        assert_eq!(aim(update, Some(&v2), None, 5), Aim::Forward);
        // No Trigger at all.
        assert_eq!(aim(update, None, None, 5), Aim::Forward);
        assert_eq!(
            aim(
                Event::Update {
                    old_trigger: None,
                    rollback: None
                },
                None,
                None,
                5
            ),
            Aim::Forward
        );
    }

    #[test]
    fn an_unchanged_trigger_goes_forward() {
        // An Update of other properties with the Trigger left as it was (a constant Trigger,
        // say): its record must not pin the schema.
        let c = key("constant".into());
        let update = Event::Update {
            old_trigger: Some(&c),
            rollback: None,
        };
        assert_eq!(aim(update, Some(&c), Some(4), 5), Aim::Forward);
    }

    #[test]
    fn a_recorded_trigger_goes_back_to_its_version() {
        let v1 = key("v1".into());
        let v2 = key("v2".into());
        // The rollback Update: properties with the old Trigger v1 (recorded at 4), old
        // properties with v2; the new function carries up to 5.
        let rollback = Event::Update {
            old_trigger: Some(&v2),
            rollback: None,
        };
        let a = aim(rollback, Some(&v1), Some(4), 5);
        assert_eq!(
            a,
            Aim::Recorded {
                recorded: 4,
                asked: 5,
                target: 4
            }
        );
        assert!(a.lowers());
        assert_eq!(a.cap(), Some(4));
        // The old properties had no Trigger (the failed attempt removed it).
        assert_eq!(
            aim(
                Event::Update {
                    old_trigger: None,
                    rollback: None
                },
                Some(&v1),
                Some(4),
                5
            )
            .cap(),
            Some(4)
        );
        // An explicit TargetVersion lower than the record wins: the smaller of the two.
        let a = aim(rollback, Some(&v1), Some(4), 2);
        assert_eq!(a.cap(), Some(2));
        assert!(!a.lowers());
        // The record may be 0 (a Trigger applied to a database with no migrations).
        assert_eq!(aim(rollback, Some(&v1), Some(0), 5).cap(), Some(0));
    }

    #[test]
    fn cloudformation_s_word_on_a_rollback_replaces_the_inference() {
        let v1 = key("v1".into());
        let v2 = key("v2".into());
        let event = |old_trigger, rollback| Event::Update {
            old_trigger,
            rollback,
        };
        let back = Aim::Recorded {
            recorded: 4,
            asked: 5,
            target: 4,
        };
        // Not a rollback, though the history looks like one: forward, as the properties say.
        assert_eq!(
            aim(event(Some(&v2), Some(false)), Some(&v1), Some(4), 5),
            Aim::Forward
        );
        // A rollback goes back to the record, even with the Trigger unchanged.
        assert_eq!(
            aim(event(Some(&v2), Some(true)), Some(&v1), Some(4), 5),
            back
        );
        assert_eq!(
            aim(event(Some(&v1), Some(true)), Some(&v1), Some(4), 5),
            back
        );
        // A rollback with nothing recorded, or no Trigger, goes forward.
        assert_eq!(
            aim(event(Some(&v2), Some(true)), Some(&v1), None, 5),
            Aim::Forward
        );
        assert_eq!(aim(event(None, Some(true)), None, None, 5), Aim::Forward);
        // Confirmation off: the inference from the history, as before.
        assert_eq!(aim(event(Some(&v2), None), Some(&v1), Some(4), 5), back);
        assert_eq!(
            aim(event(Some(&v1), None), Some(&v1), Some(4), 5),
            Aim::Forward
        );
    }

    #[test]
    fn the_same_update_delivered_again_changes_nothing() {
        // The forward Update v1 -> v2 reached 5 and recorded it; delivered again, it aims at
        // 5, where the database already is.
        let v1 = key("v1".into());
        let v2 = key("v2".into());
        let forward = Event::Update {
            old_trigger: Some(&v1),
            rollback: None,
        };
        let a = aim(forward, Some(&v2), Some(5), 5);
        assert_eq!(a.cap(), Some(5));
        assert!(!a.lowers());
        let c = [
            carried(1, true),
            carried(2, true),
            carried(3, true),
            carried(4, true),
            carried(5, true),
        ];
        let a5 = [applied(1), applied(2), applied(3), applied(4), applied(5)];
        let r5 = [
            recorded(1),
            recorded(2),
            recorded(3),
            recorded(4),
            recorded(5),
        ];
        let p = plan_capped(&c, &a5, &r5, None, a.cap(), true).unwrap();
        assert_eq!(
            p,
            Plan {
                target: 5,
                ..Plan::default()
            }
        );
        // The rollback Update delivered twice: the first reverted 5, the second finds 4.
        let back = aim(
            Event::Update {
                old_trigger: Some(&v2),
                rollback: None,
            },
            Some(&v1),
            Some(4),
            5,
        );
        let p = plan_capped(&c, &a5[..4], &r5[..4], None, back.cap(), true).unwrap();
        assert_eq!(
            p,
            Plan {
                target: 4,
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_capped_plan_applies_nothing_above_the_record() {
        // The new function carries a migration 5 that failed: the database is at 4.
        let c = [
            carried(1, true),
            carried(2, true),
            carried(3, true),
            carried(4, true),
            carried(5, true),
        ];
        let a = [applied(1), applied(2), applied(3), applied(4)];
        let r = [recorded(1), recorded(2), recorded(3), recorded(4)];
        let p = plan_capped(&c, &a, &r, None, Some(4), false).unwrap();
        assert_eq!(p.target, 4);
        assert!(p.apply.is_empty() && p.revert.is_empty() && p.ahead.is_empty());
        assert!(p.stop.is_none());
        // Without the cap, 5 would be applied (the forward plan).
        assert_eq!(plan(&c, &a, &r, None, false).unwrap().apply, [5]);

        // 5 was applied and a later resource failed: the database is ahead of the record.
        let a5 = [applied(1), applied(2), applied(3), applied(4), applied(5)];
        let p = plan_capped(&c, &a5, &r, None, Some(4), false).unwrap();
        assert_eq!((p.ahead.clone(), p.stop), (vec![5], Some(Stop::NotAllowed)));
        assert!(p.revert.is_empty());
        let p = plan_capped(&c, &a5, &r, None, Some(4), true).unwrap();
        assert_eq!(p.revert, [(5, DownFrom::Carried)]);
        assert!(p.apply.is_empty() && p.ahead.is_empty());

        // A database below the record (a migration reverted by hand) is brought up to it,
        // and no further.
        let p = plan_capped(&c, &a[..2], &r[..2], None, Some(4), false).unwrap();
        assert_eq!(p.apply, [3, 4]);
        // A cap above what is asked changes nothing; TargetVersion is still checked.
        assert_eq!(
            plan_capped(&c, &a, &r, Some(3), Some(4), true)
                .unwrap()
                .target,
            3
        );
        assert_eq!(
            plan_capped(&c, &a, &r, Some(9), Some(4), true),
            Err(PlanError::UnknownTarget {
                target: 9,
                newest: 5
            })
        );
    }

    #[test]
    fn a_recorded_version_the_function_no_longer_carries() {
        // A newer release removed migration 4 (squashed it, say). The cap need not be
        // carried: nothing above it is applied...
        let c = [
            carried(1, true),
            carried(2, true),
            carried(3, true),
            carried(5, true),
        ];
        let p = plan_capped(
            &c,
            &[applied(1), applied(2), applied(3)],
            &[],
            None,
            Some(4),
            false,
        )
        .unwrap();
        assert_eq!(p.target, 4);
        assert!(p.apply.is_empty() && p.ahead.is_empty());
        // ...but a database where 4 is applied disagrees with this function: the run
        // decides what to do (on a rollback, touch nothing and answer SUCCESS).
        let a = [applied(1), applied(2), applied(3), applied(4)];
        assert_eq!(
            plan_capped(&c, &a, &[], None, Some(4), false),
            Err(PlanError::Missing(4))
        );
    }

    #[test]
    fn only_a_run_that_reached_its_target_is_recorded() {
        let v1 = key("v1".into());
        assert_eq!(to_record(Some(&v1), 4, &[]), Some(4));
        assert_eq!(to_record(Some(&v1), 0, &[]), Some(0));
        assert_eq!(to_record(Some(&v1), 5, &[5]), None);
        assert_eq!(to_record(None, 4, &[]), None);
    }
}
