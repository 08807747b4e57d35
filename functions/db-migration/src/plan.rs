//! What to apply, revert, record and seed, and where a rollback aims: plain functions of
//! what the function carries, what the database says it has and what the request says,
//! unit-tested without a database.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A forward migration the function carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// Its version.
    pub version: i64,
    /// SHA-384 of its SQL (sqlx's checksum).
    pub checksum: Vec<u8>,
    /// SHA-384 of its down script, if it has one.
    pub down_checksum: Option<Vec<u8>>,
}

/// A migration `_sqlx_migrations` lists as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Its version.
    pub version: i64,
    /// The checksum it was applied with.
    pub checksum: Vec<u8>,
}

/// A down script recorded in the database when its migration was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The migration's version.
    pub version: i64,
    /// The checksum of the forward migration it undoes.
    pub up_checksum: Vec<u8>,
    /// SHA-384 of the down script.
    pub down_checksum: Vec<u8>,
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
    carried: &[Carried],
    applied: &[Applied],
    recorded: &[Recorded],
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
    carried: &[Carried],
    applied: &[Applied],
    recorded: &[Recorded],
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
    let carried_by: BTreeMap<i64, &Carried> = carried.iter().map(|c| (c.version, c)).collect();
    let applied_by: BTreeMap<i64, &Applied> = applied.iter().map(|a| (a.version, a)).collect();
    let recorded_by: BTreeMap<i64, &Recorded> = recorded.iter().map(|r| (r.version, r)).collect();

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

/// Longest canonical `Trigger` text recorded as it is, in bytes; a longer one is recorded by
/// its SHA-256.
pub const MAX_TRIGGER_TEXT: usize = 128;

/// A `Trigger` as `_stackwright_triggers` records it: its canonical JSON text (object keys
/// sorted, numbers and booleans as the strings CloudFormation delivers them as, so `3` and
/// `"3"` are one Trigger), or `sha256:<hex>` of that text when it is longer than
/// [`MAX_TRIGGER_TEXT`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerKey(String);

impl TriggerKey {
    /// The key of a `Trigger` value; `None` for `null`, which is no Trigger.
    pub fn of(value: &Value) -> Option<Self> {
        if value.is_null() {
            return None;
        }
        let mut text = String::new();
        write_canonical(value, &mut text);
        if text.len() > MAX_TRIGGER_TEXT {
            let digest = Sha256::digest(text.as_bytes());
            text = digest
                .iter()
                .fold(String::from("sha256:"), |mut hex, byte| {
                    let _ = write!(hex, "{byte:02x}");
                    hex
                });
        }
        Some(Self(text))
    }

    /// The recorded text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TriggerKey {
    /// For log lines: a string Trigger without its JSON quotes, anything else as recorded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::from_str::<Value>(&self.0) {
            Ok(Value::String(s)) => f.write_str(&s),
            _ => f.write_str(&self.0),
        }
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    let string = |s: &str, out: &mut String| out.push_str(&Value::String(s.to_owned()).to_string());
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => string(&b.to_string(), out),
        Value::Number(n) => string(&n.to_string(), out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted here, whatever order the map keeps (serde_json's `preserve_order`).
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
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
pub fn aim(
    event: Event<'_>,
    trigger: Option<&TriggerKey>,
    recorded: Option<i64>,
    asked: i64,
) -> Aim {
    let (Event::Update { old_trigger }, Some(trigger), Some(recorded)) = (event, trigger, recorded)
    else {
        return Aim::Forward;
    };
    if old_trigger == Some(trigger) {
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

/// A seed file the function carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedEntry {
    /// Its set.
    pub set: String,
    /// Its file name.
    pub file: String,
    /// SHA-384 of its SQL.
    pub checksum: Vec<u8>,
}

/// A seed file the database has applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedSeed {
    /// Its set.
    pub set: String,
    /// Its file name.
    pub file: String,
    /// The checksum it was applied with.
    pub checksum: Vec<u8>,
}

/// `Seeds` names a set the function does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSet {
    /// The name asked for.
    pub set: String,
    /// The sets carried.
    pub known: Vec<String>,
}

/// A seed file was applied with other content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditedSeed {
    /// Its set.
    pub set: String,
    /// Its file name.
    pub file: String,
}

/// Checks the requested sets exist (before connecting: a typo fails fast).
///
/// # Errors
///
/// [`UnknownSet`] for the first set not carried.
pub fn check_sets(requested: &[String], known: &[&str]) -> Result<(), UnknownSet> {
    match requested.iter().find(|s| !known.contains(&s.as_str())) {
        Some(set) => Err(UnknownSet {
            set: set.clone(),
            known: known.iter().map(|s| (*s).to_owned()).collect(),
        }),
        None => Ok(()),
    }
}

/// The seed files to apply, in order: each requested set in the order asked, its files by
/// name, those not yet applied. Each file is applied once per database.
///
/// # Errors
///
/// [`EditedSeed`] when an applied file has changed.
pub fn plan_seeds<'a>(
    requested: &[String],
    files: &'a [SeedEntry],
    applied: &[AppliedSeed],
) -> Result<Vec<&'a SeedEntry>, EditedSeed> {
    let applied: BTreeMap<(&str, &str), &[u8]> = applied
        .iter()
        .map(|a| ((a.set.as_str(), a.file.as_str()), a.checksum.as_slice()))
        .collect();
    let mut todo = Vec::new();
    for set in requested {
        let mut in_set: Vec<&SeedEntry> = files.iter().filter(|f| &f.set == set).collect();
        in_set.sort_by(|a, b| a.file.cmp(&b.file));
        for file in in_set {
            match applied.get(&(file.set.as_str(), file.file.as_str())) {
                Some(sum) if *sum == file.checksum.as_slice() => {}
                Some(_) => {
                    return Err(EditedSeed {
                        set: file.set.clone(),
                        file: file.file.clone(),
                    });
                }
                None => todo.push(file),
            }
        }
    }
    Ok(todo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(tag: &str) -> Vec<u8> {
        tag.as_bytes().to_vec()
    }

    fn carried(version: i64, down: bool) -> Carried {
        Carried {
            version,
            checksum: sum(&format!("up{version}")),
            down_checksum: down.then(|| sum(&format!("down{version}"))),
        }
    }

    fn applied(version: i64) -> Applied {
        Applied {
            version,
            checksum: sum(&format!("up{version}")),
        }
    }

    fn recorded(version: i64) -> Recorded {
        Recorded {
            version,
            up_checksum: sum(&format!("up{version}")),
            down_checksum: sum(&format!("down{version}")),
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
        stale.down_checksum = sum("old down");
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
        other.up_checksum = sum("a different up");
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
    fn trigger_keys_are_canonical() {
        use serde_json::json;
        assert_eq!(key(json!("v1")).as_str(), r#""v1""#);
        assert_eq!(key(json!("v1")).to_string(), "v1");
        // CloudFormation delivers numbers and booleans as strings: one Trigger either way.
        assert_eq!(key(json!(3)), key(json!("3")));
        assert_eq!(key(json!(true)), key(json!("true")));
        assert_ne!(key(json!("3")), key(json!("v3")));
        // Object keys in any order, nested values normalised the same way.
        let a = key(json!({"b": [1, {"y": true, "x": null}], "a": "z"}));
        let b = key(
            serde_json::from_str(r#"{"a": "z", "b": ["1", {"x": null, "y": "true"}]}"#).unwrap(),
        );
        assert_eq!(a, b);
        assert_eq!(a.as_str(), r#"{"a":"z","b":["1",{"x":null,"y":"true"}]}"#);
        assert_eq!(a.to_string(), a.as_str());
        // No Trigger.
        assert_eq!(TriggerKey::of(&json!(null)), None);
        // Long values are recorded by their hash: bounded, and still one key per value.
        let long = key(json!("x".repeat(MAX_TRIGGER_TEXT)));
        assert!(long.as_str().starts_with("sha256:"), "{long:?}");
        assert_eq!(long.as_str().len(), "sha256:".len() + 64);
        assert_eq!(long, key(json!("x".repeat(MAX_TRIGGER_TEXT))));
        assert_ne!(long, key(json!("x".repeat(MAX_TRIGGER_TEXT + 1))));
        let fits = "x".repeat(MAX_TRIGGER_TEXT - 2);
        assert_eq!(key(json!(fits)).to_string(), fits);
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
        };
        assert_eq!(aim(update, Some(&v2), None, 5), Aim::Forward);
        // No Trigger at all.
        assert_eq!(aim(update, None, None, 5), Aim::Forward);
        assert_eq!(
            aim(Event::Update { old_trigger: None }, None, None, 5),
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
            aim(Event::Update { old_trigger: None }, Some(&v1), Some(4), 5).cap(),
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
    fn the_same_update_delivered_again_changes_nothing() {
        // The forward Update v1 -> v2 reached 5 and recorded it; delivered again, it aims at
        // 5, where the database already is.
        let v1 = key("v1".into());
        let v2 = key("v2".into());
        let forward = Event::Update {
            old_trigger: Some(&v1),
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

    fn seed(set: &str, file: &str, tag: &str) -> SeedEntry {
        SeedEntry {
            set: set.into(),
            file: file.into(),
            checksum: sum(tag),
        }
    }

    #[test]
    fn seeds_apply_once_in_the_order_asked() {
        let files = [
            seed("dev", "002_b.sql", "b"),
            seed("common", "001_x.sql", "x"),
            seed("dev", "001_a.sql", "a"),
        ];
        let req = vec!["dev".to_owned(), "common".to_owned()];
        let todo: Vec<&str> = plan_seeds(&req, &files, &[])
            .unwrap()
            .iter()
            .map(|f| f.file.as_str())
            .collect();
        assert_eq!(todo, ["001_a.sql", "002_b.sql", "001_x.sql"]);
        let done = [AppliedSeed {
            set: "dev".into(),
            file: "001_a.sql".into(),
            checksum: sum("a"),
        }];
        let todo = plan_seeds(&req, &files, &done).unwrap();
        assert_eq!(todo.len(), 2);
        let common_only = plan_seeds(&["common".to_owned()], &files, &done).unwrap();
        assert_eq!(common_only.len(), 1);
    }

    #[test]
    fn an_edited_seed_is_refused_and_unknown_sets_named() {
        let files = [seed("dev", "001_a.sql", "a2")];
        let done = [AppliedSeed {
            set: "dev".into(),
            file: "001_a.sql".into(),
            checksum: sum("a"),
        }];
        assert_eq!(
            plan_seeds(&["dev".to_owned()], &files, &done),
            Err(EditedSeed {
                set: "dev".into(),
                file: "001_a.sql".into()
            })
        );
        assert_eq!(
            check_sets(&["dev".to_owned(), "prod".to_owned()], &["common", "dev"]),
            Err(UnknownSet {
                set: "prod".into(),
                known: vec!["common".into(), "dev".into()]
            })
        );
        assert!(check_sets(&["dev".to_owned()], &["common", "dev"]).is_ok());
    }
}
