//! The whole-run plan, decision by decision.

use sqlx::migrate::MigrationType;
use sqlx::{AssertSqlSafe, SqlSafeStr as _};

use super::*;
use crate::source::SeedCatalog;

fn script(version: i64, kind: MigrationType, sql: String) -> Migration {
    Migration::new(
        version,
        format!("step {version}").into(),
        kind,
        AssertSqlSafe(sql).into_sql_str(),
        false,
    )
}

fn up(version: i64) -> Migration {
    script(
        version,
        MigrationType::ReversibleUp,
        format!("CREATE TABLE t{version} (id INT);"),
    )
}

/// The function: migrations `ups`, a down script for each of `downs`, and seed files
/// `set/file`.
fn carrying(ups: &[i64], downs: &[i64], seeds: &[(&str, &str)]) -> Sources {
    let mut migrations: Vec<Migration> = ups.iter().map(|v| up(*v)).collect();
    migrations.extend(downs.iter().map(|v| {
        script(
            *v,
            MigrationType::ReversibleDown,
            format!("DROP TABLE t{v};"),
        )
    }));
    let files = seeds.iter().map(|(set, file)| {
        SeedFile::new(
            (*set).to_owned(),
            (*file).to_owned(),
            format!("INSERT INTO {set} VALUES ('{file}');").into(),
        )
    });
    Sources {
        migrations: MigrationSet::new(migrations),
        seeds: SeedCatalog::new(files, &[]),
        origin: "test".into(),
    }
}

/// The database: `applied` applied as the function carries them, a down recorded for
/// each of `downs`.
fn holding(applied: &[i64], downs: &[i64]) -> Found {
    Found {
        applied: applied
            .iter()
            .map(|v| Applied {
                version: *v,
                checksum: up(*v).checksum.to_vec(),
            })
            .collect(),
        downs: downs.iter().map(|v| recorded_down(*v)).collect(),
        ..Found::default()
    }
}

fn recorded_down(version: i64) -> RecordedDown {
    RecordedDown::new(
        version,
        format!("step {version}"),
        up(version).checksum.to_vec(),
        format!("DROP TABLE t{version};"),
        false,
    )
}

fn forward<'a>(trigger: Option<&'a TriggerKey>, seeds: &'a [String]) -> Asked<'a> {
    Asked {
        event: Event::Create,
        trigger,
        target_version: None,
        allow_down: false,
        seeds,
    }
}

fn key(text: &str) -> TriggerKey {
    TriggerKey::of(&text.into()).unwrap()
}

/// The steps as short sentences.
fn said(run: &RunPlan<'_>) -> Vec<String> {
    run.steps
        .iter()
        .map(|step| match step {
            Step::Refuse(refusal) => format!("refuse: {refusal:?}"),
            Step::Stop { why, ahead } => format!("stop ({why:?}) ahead {ahead:?}"),
            Step::Revert { down, from } => format!("revert {} ({from:?})", down.version),
            Step::ForgetDown(v) => format!("forget down {v}"),
            Step::RecordDown { up, down } => {
                assert_eq!(up.version, down.version);
                format!("record down {}", up.version)
            }
            Step::Apply(m) => format!("apply {}", m.version),
            Step::Seed(f) => format!("seed {}/{}", f.set, f.file),
            Step::RecordTrigger { trigger, version } => {
                format!("record trigger {trigger} at {version}")
            }
        })
        .collect()
}

#[test]
fn a_dirty_database_is_refused_before_anything_else() {
    let sources = carrying(&[1, 2], &[1, 2], &[]);
    let found = Found {
        dirty: Some(2),
        ..holding(&[1], &[])
    };
    let run = steps(&forward(None, &[]), &sources, &found);
    assert_eq!(said(&run), ["refuse: Dirty(2)"]);
    assert!(run.notes.is_empty());
}

#[test]
fn a_fresh_database_records_downs_applies_seeds_and_records_the_trigger_in_that_order() {
    let sources = carrying(&[1, 2, 3], &[1, 3], &[("dev", "001_a.sql")]);
    let found = holding(&[], &[]);
    let v1 = key("v1");
    let seeds = ["dev".to_owned()];
    let run = steps(&forward(Some(&v1), &seeds), &sources, &found);
    assert_eq!(
        said(&run),
        [
            "record down 1",
            "record down 3",
            "apply 1",
            "apply 2",
            "apply 3",
            "seed dev/001_a.sql",
            "record trigger v1 at 3",
        ]
    );
}

#[test]
fn an_up_to_date_database_only_records_the_trigger() {
    let sources = carrying(&[1, 2], &[1, 2], &[]);
    let found = holding(&[1, 2], &[1, 2]);
    let v1 = key("v1");
    let run = steps(&forward(Some(&v1), &[]), &sources, &found);
    assert_eq!(said(&run), ["record trigger v1 at 2"]);
}

#[test]
fn a_run_without_a_trigger_records_none() {
    let sources = carrying(&[1, 2], &[1, 2], &[]);
    let found = holding(&[1], &[1]);
    let run = steps(&forward(None, &[]), &sources, &found);
    assert_eq!(said(&run), ["record down 2", "apply 2"]);
}

#[test]
fn the_plan_is_announced_with_its_counts() {
    let sources = carrying(&[1, 2, 3], &[], &[]);
    let found = holding(&[1], &[]);
    let run = steps(&forward(None, &[]), &sources, &found);
    assert_eq!(
        run.notes,
        [Note::Planned {
            target: 3,
            applied: 1,
            to_apply: 2,
            to_revert: 0
        }]
    );
}

#[test]
fn a_forward_run_refuses_an_edited_migration() {
    let sources = carrying(&[1, 2], &[], &[]);
    let mut found = holding(&[1, 2], &[]);
    found.applied[1].checksum = vec![0; 48];
    let run = steps(&forward(None, &[]), &sources, &found);
    assert_eq!(said(&run), ["refuse: Edited(2)"]);
}

#[test]
fn a_forward_run_refuses_an_applied_migration_it_does_not_carry() {
    let sources = carrying(&[1, 3], &[], &[]);
    let found = holding(&[1, 2], &[]);
    let run = steps(&forward(None, &[]), &sources, &found);
    assert_eq!(said(&run), ["refuse: Missing { version: 2, target: 3 }"]);
}

#[test]
fn an_unknown_target_version_is_refused() {
    let sources = carrying(&[1, 2], &[], &[]);
    let asked = Asked {
        target_version: Some(7),
        ..forward(None, &[])
    };
    let found = holding(&[], &[]);
    let run = steps(&asked, &sources, &found);
    assert_eq!(
        said(&run),
        ["refuse: UnknownTarget { target: 7, newest: 2 }"]
    );
}

#[test]
fn ahead_without_allow_down_stops_before_any_step() {
    // The older function (carrying 1, 2) serves the rollback of a deploy that applied 3, 4.
    let sources = carrying(&[1, 2], &[1, 2], &[("dev", "001_a.sql")]);
    let v1 = key("v1");
    let seeds = ["dev".to_owned()];
    let found = holding(&[1, 2, 3, 4], &[1, 2, 3, 4]);
    let run = steps(&forward(Some(&v1), &seeds), &sources, &found);
    assert_eq!(said(&run), ["stop (NotAllowed { target: 2 }) ahead [4, 3]"]);
}

#[test]
fn ahead_with_allow_down_reverts_newest_first_forgetting_each_down_then_applies() {
    // The database has 1 and 5 (5 from a newer deploy); the function carries 1 to 3.
    let sources = carrying(&[1, 2, 3], &[1, 2, 3], &[]);
    let asked = Asked {
        allow_down: true,
        ..forward(None, &[])
    };
    let found = holding(&[1, 4, 5], &[1, 4, 5]);
    let run = steps(&asked, &sources, &found);
    assert_eq!(
        said(&run),
        [
            "revert 5 (Recorded)",
            "forget down 5",
            "revert 4 (Recorded)",
            "forget down 4",
            "record down 2",
            "record down 3",
            "apply 2",
            "apply 3",
        ]
    );
}

#[test]
fn a_recorded_down_runs_the_script_the_database_recorded() {
    let sources = carrying(&[1], &[1], &[]);
    let found = holding(&[1, 2], &[2]);
    let asked = Asked {
        allow_down: true,
        ..forward(None, &[])
    };
    let run = steps(&asked, &sources, &found);
    let Step::Revert { down, from } = &run.steps[0] else {
        panic!("{:?}", said(&run));
    };
    assert_eq!(*from, DownFrom::Recorded);
    assert!(std::ptr::eq(*down, &found.downs[0].script));
}

#[test]
fn a_carried_down_is_preferred_when_its_migration_matches_the_applied_one() {
    let sources = carrying(&[1, 2], &[1, 2], &[]);
    let asked = Asked {
        allow_down: true,
        target_version: Some(1),
        ..forward(None, &[])
    };
    let found = holding(&[1, 2], &[1, 2]);
    let run = steps(&asked, &sources, &found);
    let Step::Revert { down, from } = &run.steps[0] else {
        panic!("{:?}", said(&run));
    };
    assert_eq!(*from, DownFrom::Carried);
    assert!(std::ptr::eq(*down, sources.migrations.down(2).unwrap()));
}

#[test]
fn a_migration_without_a_down_stops_the_walk_after_the_reverts_before_it() {
    let sources = carrying(&[1], &[1], &[]);
    let v1 = key("v1");
    let asked = Asked {
        allow_down: true,
        ..forward(Some(&v1), &[])
    };
    // 4 has a recorded down, 3 has none: revert 4, stop at 3, record no Trigger.
    let found = holding(&[1, 2, 3, 4], &[2, 4]);
    let run = steps(&asked, &sources, &found);
    assert_eq!(
        said(&run),
        [
            "revert 4 (Recorded)",
            "forget down 4",
            "stop (NoDown { version: 3, target: 1 }) ahead [3, 2]",
        ]
    );
}

fn rollback<'a>(trigger: &'a TriggerKey, old: &'a TriggerKey) -> Asked<'a> {
    Asked {
        event: Event::Update {
            old_trigger: Some(old),
            rollback: None,
        },
        trigger: Some(trigger),
        target_version: None,
        allow_down: false,
        seeds: &[],
    }
}

#[test]
fn going_back_to_a_recorded_trigger_says_where_it_goes() {
    let (v1, v2) = (key("v1"), key("v2"));
    let sources = carrying(&[1, 2, 3], &[1, 2, 3], &[]);
    let found = Found {
        trigger_version: Some(2),
        ..holding(&[1, 2], &[1, 2])
    };
    let run = steps(&rollback(&v1, &v2), &sources, &found);
    assert_eq!(
        run.notes[0],
        Note::GoingBack {
            trigger: &v1,
            recorded: 2,
            asked: 3,
            target: 2,
            allow_down: false
        }
    );
    // Nothing above the record is applied; the Trigger is recorded again where it is.
    assert_eq!(said(&run), ["record trigger v1 at 2"]);
}

#[test]
fn a_trigger_recorded_at_the_target_says_it_was_applied_before() {
    let (v1, v2) = (key("v1"), key("v2"));
    let sources = carrying(&[1, 2], &[1, 2], &[]);
    let found = Found {
        trigger_version: Some(2),
        ..holding(&[1, 2], &[1, 2])
    };
    let run = steps(&rollback(&v2, &v1), &sources, &found);
    assert_eq!(
        run.notes[0],
        Note::AppliedBefore {
            trigger: &v2,
            recorded: 2,
            target: 2
        }
    );
}

#[test]
fn going_back_applies_no_seeds_and_says_so() {
    let (v1, v2) = (key("v1"), key("v2"));
    let sources = carrying(&[1, 2], &[1, 2], &[("dev", "001_a.sql")]);
    let found = Found {
        trigger_version: Some(2),
        ..holding(&[1, 2], &[1, 2])
    };
    let seeds = ["dev".to_owned()];
    let asked = Asked {
        seeds: &seeds,
        ..rollback(&v1, &v2)
    };
    let run = steps(&asked, &sources, &found);
    assert_eq!(said(&run), ["record trigger v1 at 2"]);
    assert_eq!(run.notes.last(), Some(&Note::SeedsNotApplied));
}

#[test]
fn going_back_over_a_history_the_function_disagrees_with_changes_nothing() {
    // The release edited migration 2 and the forward Update failed; its rollback to v1
    // (recorded at 3) is served by the same release.
    let (v1, v2) = (key("v1"), key("v2"));
    let sources = carrying(&[1, 2, 3, 4, 5], &[], &[]);
    let mut found = Found {
        trigger_version: Some(3),
        ..holding(&[1, 2, 5, 4], &[])
    };
    found.applied[1].checksum = vec![0; 48];
    let run = steps(&rollback(&v1, &v2), &sources, &found);
    assert_eq!(said(&run), ["stop (Disagrees(Edited(2))) ahead [5, 4]"]);
    // Nothing applied above the record: nothing ahead.
    let found = Found {
        trigger_version: Some(3),
        ..holding(&[1, 2], &[])
    };
    let sources = carrying(&[1, 3], &[], &[]);
    let run = steps(&rollback(&v1, &v2), &sources, &found);
    assert_eq!(
        said(&run),
        ["stop (Disagrees(Missing { version: 2, target: 3 })) ahead []"]
    );
}

#[test]
fn an_edited_seed_is_refused_after_the_migrations() {
    let sources = carrying(&[1, 2], &[], &[("dev", "001_a.sql")]);
    let found = Found {
        seeds: vec![AppliedSeed {
            set: "dev".into(),
            file: "001_a.sql".into(),
            checksum: vec![0; 48],
        }],
        ..holding(&[1], &[])
    };
    let v1 = key("v1");
    let seeds = ["dev".to_owned()];
    let run = steps(&forward(Some(&v1), &seeds), &sources, &found);
    assert_eq!(
        said(&run),
        [
            "apply 2",
            r#"refuse: SeedEdited(EditedSeed { set: "dev", file: "001_a.sql" })"#
        ]
    );
}

#[test]
fn seeds_applied_before_are_not_applied_again() {
    let sources = carrying(&[1], &[], &[("dev", "001_a.sql"), ("dev", "002_b.sql")]);
    let first = &sources.seeds.set("dev").unwrap()[0];
    let found = Found {
        seeds: vec![AppliedSeed {
            set: first.set.clone(),
            file: first.file.clone(),
            checksum: first.checksum.clone(),
        }],
        ..holding(&[1], &[])
    };
    let seeds = ["dev".to_owned()];
    let run = steps(&forward(None, &seeds), &sources, &found);
    assert_eq!(said(&run), ["seed dev/002_b.sql"]);
}

#[test]
fn the_trigger_is_recorded_at_the_version_the_run_reaches() {
    let sources = carrying(&[1, 2], &[1, 2], &[]);
    let v3 = key("v3");
    let asked = Asked {
        allow_down: true,
        target_version: Some(1),
        ..forward(Some(&v3), &[])
    };
    let found = holding(&[1, 2], &[1, 2]);
    let run = steps(&asked, &sources, &found);
    assert_eq!(
        said(&run),
        [
            "revert 2 (Carried)",
            "forget down 2",
            "record trigger v3 at 1"
        ]
    );
}

#[test]
fn a_stopped_walk_keeps_what_was_not_reverted() {
    let sources = carrying(&[1], &[1], &[]);
    let asked = Asked {
        allow_down: true,
        ..forward(None, &[])
    };
    // Reverts 5, then 4; 3 has no down.
    let found = holding(&[1, 3, 4, 5], &[4, 5]);
    let run = steps(&asked, &sources, &found);
    let reverts: Vec<usize> = run
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Step::Revert { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(still_ahead(&run.steps[reverts[1]..]), [4, 3]);
    assert_eq!(still_ahead(&run.steps[reverts[0]..]), [5, 4, 3]);
    assert_eq!(still_ahead(&[]), Vec::<i64>::new());
}

#[test]
fn the_version_after_a_run() {
    let before = [1, 2, 5].map(|version| Applied {
        version,
        checksum: vec![],
    });
    assert_eq!(highest(&before, &[], &[]), 5);
    assert_eq!(highest(&before, &[5], &[]), 2);
    assert_eq!(highest(&before, &[5], &[3, 4]), 4);
    assert_eq!(highest(&[], &[], &[]), 0);
}
