//! `Custom::DatabaseMigration` on PostgreSQL: the real binary under the harness, the real local
//! PostgreSQL, moto's Secrets Manager. Every invocation is checked for leaked secrets and
//! ResponseURL signatures (`Env::invoke`).

mod common;

use std::time::{Duration, Instant};

use common::*;
use harness::LambdaResult;
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::migrate::Migrate;

const V1: [(&str, &str); 4] = [
    (
        "1_create_items.up.sql",
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL);\n",
    ),
    ("1_create_items.down.sql", "DROP TABLE items;\n"),
    (
        "2_create_item_tags.up.sql",
        "CREATE TABLE item_tags (item_id BIGINT NOT NULL REFERENCES items (id), tag TEXT NOT NULL);\n",
    ),
    ("2_create_item_tags.down.sql", "DROP TABLE item_tags;\n"),
];
const V2_EXTRA: [(&str, &str); 2] = [
    (
        "3_create_audit.up.sql",
        "CREATE TABLE audit (at TIMESTAMPTZ NOT NULL DEFAULT now(), what TEXT NOT NULL);\n",
    ),
    ("3_create_audit.down.sql", "DROP TABLE audit;\n"),
];

fn folder(files: &[(&str, &str)]) -> Folder {
    let f = Folder::new();
    for (name, sql) in files {
        f.write(name, sql);
    }
    f
}

fn data<'a>(response: &'a Value, key: &str) -> &'a str {
    response["Data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no Data.{key} in {response:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_create_with_the_embedded_schema_then_the_same_create_again() {
    let env = Env::new("swt-fresh").await;
    let db = db_name("fresh");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("fresh", Some(&db), PG_PORT).await;
    // No folder variables: the migrations and seeds embedded in the binary.
    let lambda = env.lambda(None, None).await;
    let props = json!({
        "SecretArn": arn, "CreateDatabase": "true", "Seeds": "common,dev", "Tls": "Disable",
        "Trigger": "1.0.0",
    });
    let event = env.create(props.clone());

    // Given a database that does not exist, when the stack is created:
    let first = env.respond(&lambda, event.clone()).await;
    assert_success(&first);
    let id = format!("postgres://127.0.0.1:5432/{db}");
    assert_eq!(first["PhysicalResourceId"], id.as_str());
    assert_eq!(data(&first, "Version"), "20261126090300");
    assert_eq!(data(&first, "Applied"), "4");
    assert_eq!(data(&first, "SeedsApplied"), "3");
    assert_eq!(data(&first, "Database"), db);
    assert!(first["Data"].get("Ahead").is_none());
    assert_eq!(pg_versions(&db).await.len(), 4);
    assert_eq!(pg_scalar_i64(&db, "SELECT count(*) FROM plans").await, 2);
    assert_eq!(pg_scalar_i64(&db, "SELECT count(*) FROM tasks").await, 2);

    // sqlx itself agrees with the bookkeeping: its migrator validates every checksum in
    // `_sqlx_migrations` (an edited or foreign checksum would be VersionMismatch) and finds
    // nothing to do.
    let mut conn = pg(&db).await;
    sqlx::migrate!("../../migrations")
        .run(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(pg_versions(&db).await.len(), 4);

    // When CloudFormation delivers the same Create again, in another sandbox (in this one
    // the recorded answer is sent again without running): nothing is applied twice.
    let again = env.respond(&env.lambda(None, None).await, event).await;
    assert_success(&again);
    assert_eq!(again["PhysicalResourceId"], id.as_str());
    assert_eq!(data(&again, "Applied"), "0");
    assert_eq!(data(&again, "SeedsApplied"), "0");
    assert_eq!(data(&again, "Version"), "20261126090300");
    assert_eq!(pg_scalar_i64(&db, "SELECT count(*) FROM plans").await, 2);

    // The default OnDelete is Retain.
    assert_success(&env.respond(&lambda, env.delete(&id, props)).await);
    assert!(pg_exists(&db).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_applies_new_migrations_and_a_rollback_does_no_damage() {
    let env = Env::new("swt-rollback").await;
    let db = db_name("rollback");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("rollback", None, PG_PORT).await;
    let v1 = folder(&V1);
    let v2 = folder(&[&V1[..], &V2_EXTRA[..]].concat());
    // The function of release 1 and of release 2: a rollback is served by release 1 again.
    let old = env.lambda(Some(v1.path()), None).await;
    let new = env.lambda(Some(v2.path()), None).await;
    let p1 = json!({"SecretArn": arn, "Database": db, "CreateDatabase": true, "Tls": "Disable", "Trigger": "1"});
    let mut p2 = p1.clone();
    p2["Trigger"] = json!("2");

    let created = env.respond(&old, env.create(p1.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_eq!(
        (data(&created, "Applied"), data(&created, "Version")),
        ("2", "2")
    );

    // A deploy that ships migration 3.
    let updated = env
        .respond(&new, env.update(&id, p2.clone(), p1.clone()))
        .await;
    assert_success(&updated);
    assert_eq!(updated["PhysicalResourceId"], id.as_str());
    assert_eq!(
        (data(&updated, "Applied"), data(&updated, "Version")),
        ("1", "3")
    );
    let mut c = pg(&db).await;
    sqlx::query("INSERT INTO audit (what) VALUES ('kept')")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();

    // The stack rolls back: release 1 gets an Update with the old properties. It never
    // carried migration 3; without AllowDown it touches nothing and says the schema is ahead.
    let rollback = env
        .roll_back(&old, env.update(&id, p1.clone(), p2.clone()))
        .await;
    assert_success(&rollback);
    assert_eq!(rollback["PhysicalResourceId"], id.as_str());
    assert_eq!(data(&rollback, "Ahead"), "3");
    assert_eq!(data(&rollback, "Version"), "3");
    assert_eq!(data(&rollback, "Applied"), "0");
    assert_eq!(pg_scalar_i64(&db, "SELECT count(*) FROM audit").await, 1);
    assert!(
        old.logs()
            .iter()
            .any(|l| l.contains("the database is ahead"))
    );

    // With AllowDown, release 1 runs migration 3's down script, recorded when 3 was applied.
    let mut p1_down = p1.clone();
    p1_down["AllowDown"] = json!("true");
    let down = env
        .roll_back(&old, env.update(&id, p1_down.clone(), p2.clone()))
        .await;
    assert_success(&down);
    assert_eq!(
        (data(&down, "Reverted"), data(&down, "Version")),
        ("1", "2")
    );
    assert!(down["Data"].get("Ahead").is_none());
    assert!(!pg_table_exists(&db, "audit").await);
    assert_eq!(pg_versions(&db).await, [(1, true), (2, true)]);

    // Release 2 again: migration 3 is applied afresh (and its down recorded afresh).
    let again = env
        .respond(&new, env.update(&id, p2.clone(), p1_down.clone()))
        .await;
    assert_eq!(
        (data(&again, "Applied"), data(&again, "Version")),
        ("1", "3")
    );

    // Release 3 adds a migration without a down script, outside a transaction (CREATE INDEX
    // CONCURRENTLY cannot run inside one, so this also proves `-- no-transaction`).
    let v3 = folder(&[&V1[..], &V2_EXTRA[..]].concat());
    v3.write(
        "4_index_item_names.sql",
        "-- no-transaction\nCREATE INDEX CONCURRENTLY items_by_name ON items (name);\n",
    );
    let newest = env.lambda(Some(v3.path()), None).await;
    let mut p3 = p2.clone();
    p3["Trigger"] = json!("3");
    let third = env
        .respond(&newest, env.update(&id, p3.clone(), p2.clone()))
        .await;
    assert_success(&third);
    assert_eq!(
        (data(&third, "Applied"), data(&third, "Version")),
        ("1", "4")
    );

    // A rollback to release 1 with AllowDown: migration 4 has no down, so the walk stops at
    // once; still SUCCESS, with both versions reported ahead and nothing reverted.
    let stuck = env.roll_back(&old, env.update(&id, p1_down, p3)).await;
    assert_success(&stuck);
    assert_eq!(data(&stuck, "Ahead"), "4,3");
    assert_eq!(data(&stuck, "Reverted"), "0");
    assert!(pg_table_exists(&db, "audit").await);
    assert!(old.logs().iter().any(|l| l.contains("has no down script")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_served_by_the_new_release_skips_its_failing_migration() {
    let env = Env::new("swt-back-failing").await;
    let db = db_name("backfail");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("back-failing", Some(&db), PG_PORT).await;
    let set = numbered(4);
    let seeds = folder(&[("common/001_one.sql", "INSERT INTO t1 VALUES (1);\n")]);
    // One binary throughout: the ServiceToken never changes, and CloudFormation rolls the
    // custom resource back before the function's alias, so the new release serves it.
    let lambda = env.lambda(Some(set.path()), Some(seeds.path())).await;
    let v1 = json!({"SecretArn": arn, "Tls": "Disable", "CreateDatabase": true, "Seeds": "common", "Trigger": "v1"});
    let mut v2 = v1.clone();
    v2["Trigger"] = json!("v2");
    let created = env.respond(&lambda, env.create(v1.clone())).await;
    assert_success(&created);
    assert_eq!(
        (data(&created, "Version"), data(&created, "SeedsApplied")),
        ("4", "1")
    );
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_eq!(
        pg_scalar_i64(
            &db,
            "SELECT version FROM _stackwright_triggers WHERE trigger_key = '\"v1\"'"
        )
        .await,
        4
    );

    // Given a deploy whose migration 5 fails (PostgreSQL rolls it back: not applied), with a
    // seed for the table 5 was to create...
    seeds.write("common/002_five.sql", "INSERT INTO t5 VALUES (5);\n");
    set.write(
        "5_broken.up.sql",
        "CREATE TABLE t5 (id INT);\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .write("5_broken.down.sql", "DROP TABLE t5;\n");
    let failed = env
        .respond(&lambda, env.update(&id, v2.clone(), v1.clone()))
        .await;
    assert!(
        assert_failed(&failed).starts_with("migration 5 (`5_broken.up.sql`) failed"),
        "{failed:#}"
    );
    let history = pg_history(&db).await;
    assert_eq!(history.len(), 4);

    // ...when CloudFormation rolls back (the old properties, Trigger v1) and the same
    // release, still carrying the failing 5 and the seed, serves it: SUCCESS, nothing applied.
    let rollback = env.update(&id, v1.clone(), v2.clone());
    let back = env.roll_back(&lambda, rollback.clone()).await;
    assert_success(&back);
    assert_eq!(back["PhysicalResourceId"], id.as_str());
    assert_eq!(
        (
            data(&back, "Applied"),
            data(&back, "Reverted"),
            data(&back, "Version"),
            data(&back, "SeedsApplied")
        ),
        ("0", "0", "4", "0")
    );
    assert!(back["Data"].get("Ahead").is_none(), "{back:#}");
    assert_eq!(
        pg_history(&db).await,
        history,
        "`_sqlx_migrations` unchanged"
    );
    assert!(!pg_table_exists(&db, "t5").await);
    let said = log_lines(
        &lambda,
        "rollback to Trigger `v1`: target 4, recorded when it was applied",
    );
    assert_eq!(said.len(), 1, "{:#?}", lambda.logs());

    // Delivered again: the same answer, still nothing done.
    let again = env.roll_back(&lambda, rollback).await;
    assert_success(&again);
    assert_eq!(
        (data(&again, "Applied"), data(&again, "Version")),
        ("0", "4")
    );
    assert_eq!(pg_history(&db).await, history);

    // The fix ships with a new Trigger: never recorded, so forward as usual.
    set.write("5_broken.up.sql", "CREATE TABLE t5 (id INT);\n");
    let mut v3 = v1.clone();
    v3["Trigger"] = json!("v3");
    let fixed = env.respond(&lambda, env.update(&id, v3, v1)).await;
    assert_success(&fixed);
    assert_eq!(
        (
            data(&fixed, "Applied"),
            data(&fixed, "Version"),
            data(&fixed, "SeedsApplied")
        ),
        ("1", "5", "1")
    );
    assert_eq!(
        pg_scalar_i64(
            &db,
            "SELECT version FROM _stackwright_triggers WHERE trigger_key = '\"v3\"'"
        )
        .await,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_a_later_failure_goes_back_to_the_recorded_version() {
    let env = Env::new("swt-back-ahead").await;
    let db = db_name("backahead");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("back-ahead", Some(&db), PG_PORT).await;
    let set = numbered(4);
    let lambda = env.lambda(Some(set.path()), None).await;
    let v1 = json!({"SecretArn": arn, "Tls": "Disable", "CreateDatabase": true, "Trigger": "v1"});
    let created = env.respond(&lambda, env.create(v1.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    // Given a deploy whose migration 5 is applied, while a later resource of the stack fails.
    set.write("5_create_t5.up.sql", "CREATE TABLE t5 (id INT);\n")
        .write("5_create_t5.down.sql", "DROP TABLE t5;\n");
    let mut v2 = v1.clone();
    v2["Trigger"] = json!("v2");
    let forward = env.update(&id, v2.clone(), v1.clone());
    let updated = env.respond(&lambda, forward.clone()).await;
    assert_success(&updated);
    assert_eq!(
        (data(&updated, "Applied"), data(&updated, "Version")),
        ("1", "5")
    );
    // The same Update delivered again, in another sandbox (in this one the recorded answer
    // is sent again without running), changes nothing.
    let elsewhere = env.lambda(Some(set.path()), None).await;
    let redelivered = env.respond(&elsewhere, forward).await;
    assert_success(&redelivered);
    assert_eq!(
        (data(&redelivered, "Applied"), data(&redelivered, "Version")),
        ("0", "5")
    );
    assert!(redelivered["Data"].get("Ahead").is_none());
    let history = pg_history(&db).await;

    // The rollback without AllowDown: the schema is not moved forward or back; SUCCESS
    // with Data.Ahead.
    let kept = env
        .roll_back(&lambda, env.update(&id, v1.clone(), v2.clone()))
        .await;
    assert_success(&kept);
    assert_eq!(data(&kept, "Ahead"), "5");
    assert_eq!(
        (data(&kept, "Reverted"), data(&kept, "Version")),
        ("0", "5")
    );
    assert_eq!(pg_history(&db).await, history, "nothing touched");
    assert!(pg_table_exists(&db, "t5").await);
    assert!(!log_lines(&lambda, "rollback to Trigger `v1`: target 4").is_empty());

    // With AllowDown: migration 5 is reverted, and the database is where v1 left it.
    let mut v1_down = v1.clone();
    v1_down["AllowDown"] = json!("true");
    let rollback = env.update(&id, v1_down.clone(), v2.clone());
    let back = env.roll_back(&lambda, rollback.clone()).await;
    assert_success(&back);
    assert_eq!(
        (data(&back, "Reverted"), data(&back, "Version")),
        ("1", "4")
    );
    assert!(back["Data"].get("Ahead").is_none(), "{back:#}");
    assert!(!pg_table_exists(&db, "t5").await);
    assert_eq!(pg_history(&db).await[..], history[..4]);
    assert_eq!(
        pg_scalar_i64(
            &db,
            "SELECT count(*) FROM _stackwright_downs WHERE version = 5"
        )
        .await,
        0,
        "a reverted migration's down script is forgotten"
    );
    // Delivered again, in another sandbox: nothing more is reverted.
    let again = env.roll_back(&elsewhere, rollback).await;
    assert_eq!(
        (data(&again, "Reverted"), data(&again, "Version")),
        ("0", "4")
    );

    // The next deploy, a new Trigger, applies 5 again: the rollback pinned nothing.
    let mut v3 = v1_down.clone();
    v3["Trigger"] = json!("v3");
    let next = env.respond(&lambda, env.update(&id, v3, v1_down)).await;
    assert_eq!((data(&next, "Applied"), data(&next, "Version")), ("1", "5"));
    // One row per Trigger this resource applied, with where it left the database.
    let mut c = pg(&db).await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT trigger_key, version FROM _stackwright_triggers ORDER BY trigger_key",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    c.close().await.unwrap();
    assert_eq!(
        rows,
        [
            ("\"v1\"".to_owned(), 4),
            ("\"v2\"".to_owned(), 5),
            ("\"v3\"".to_owned(), 5)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_concurrent_creates_apply_each_migration_once() {
    let env = Env::new("swt-race").await;
    let db = db_name("race");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("race", Some(&db), PG_PORT).await;
    // Not idempotent on purpose: applied twice, migration 2 would fail.
    let set = folder(&[
        (
            "1_slow.sql",
            "SELECT pg_sleep(0.5);\nCREATE TABLE a (id INT);\n",
        ),
        ("2_b.sql", "CREATE TABLE b (id INT);\n"),
        ("3_c.sql", "CREATE TABLE c (id INT);\n"),
    ]);
    let lambda = env
        .lambda_with(Some(set.path()), None, |c| c.concurrency(4))
        .await;
    let props = json!({"SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase", "Tls": "Disable"});
    let events: Vec<Value> = (0..4).map(|_| env.create(props.clone())).collect();
    let runs = futures_join(&env, &lambda, events).await;
    let mut applied: Vec<String> = Vec::new();
    for r in &runs {
        assert_success(r);
        assert_eq!(
            r["PhysicalResourceId"],
            format!("postgres://127.0.0.1:5432/{db}")
        );
        assert_eq!(data(r, "Version"), "3");
        applied.push(data(r, "Applied").to_owned());
    }
    applied.sort();
    // One run applied all three under the lock; the others waited and found nothing to do.
    assert_eq!(applied, ["0", "0", "0", "3"]);
    assert_eq!(pg_versions(&db).await, [(1, true), (2, true), (3, true)]);
    // Four raced to create the database; exactly one created it and recorded that.
    assert_eq!(
        pg_scalar_i64(&db, "SELECT count(*) FROM _stackwright_owner").await,
        1
    );
}

async fn futures_join(env: &Env, lambda: &harness::Lambda, events: Vec<Value>) -> Vec<Value> {
    let mut handles = Vec::new();
    for event in events {
        handles.push(lambda.invoke(event));
    }
    let mut out = Vec::new();
    for invocation in join_all(handles).await {
        out.push(invocation.unwrap().response());
    }
    env.assert_no_leak(lambda);
    out
}

/// Polls every future to completion concurrently (no extra crate for one helper).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_migration_is_refused_naming_it() {
    let env = Env::new("swt-edited").await;
    let db = db_name("edited");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("edited", Some(&db), PG_PORT).await;
    let set = folder(&V1);
    let lambda = env.lambda(Some(set.path()), None).await;
    let p1 = json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable", "Trigger": "1"});
    let created = env.respond(&lambda, env.create(p1.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    set.write(
        "2_create_item_tags.up.sql",
        "CREATE TABLE item_tags (item_id BIGINT NOT NULL REFERENCES items (id), tag TEXT NOT NULL, weight INT);\n",
    );
    let mut p2 = p1.clone();
    p2["Trigger"] = json!("2");
    let refused = env
        .respond(&lambda, env.update(&id, p2.clone(), p1.clone()))
        .await;
    let reason = assert_failed(&refused);
    assert!(
        reason.starts_with(&format!(
            "migration 2 (`2_create_item_tags.up.sql`) was applied to `{db}` with different content"
        )),
        "{reason}"
    );
    assert!(
        reason.contains("put the change in a new migration"),
        "{reason}"
    );
    // A failed Update keeps the physical id; nothing changed in the database.
    assert_eq!(refused["PhysicalResourceId"], id.as_str());
    assert_eq!(pg_versions(&db).await, [(1, true), (2, true)]);

    // The rollback to Trigger 1, served by the same release (still carrying the edited
    // file): the database is where Trigger 1 left it, so SUCCESS, nothing touched, and the
    // disagreement in the log rather than a stack stuck in UPDATE_ROLLBACK_FAILED.
    let history = pg_history(&db).await;
    let back = env.roll_back(&lambda, env.update(&id, p1, p2)).await;
    assert_success(&back);
    assert_eq!((data(&back, "Applied"), data(&back, "Version")), ("0", "2"));
    assert!(back["Data"].get("Ahead").is_none(), "{back:#}");
    assert_eq!(pg_history(&db).await, history);
    assert_eq!(
        log_lines(
            &lambda,
            "disagrees with the database's history: migration 2"
        )
        .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_fails_keeps_the_earlier_ones_and_continues_after_the_fix() {
    let env = Env::new("swt-failing").await;
    let db = db_name("failing");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("failing", Some(&db), PG_PORT).await;
    let set = folder(&[
        ("1_a.sql", "CREATE TABLE a (id INT);\n"),
        (
            "2_broken.sql",
            "CREATE TABLE b (id INT);\nINSERT INTO no_such_table VALUES (1);\n",
        ),
        ("3_c.sql", "CREATE TABLE c (id INT);\n"),
    ]);
    let lambda = env.lambda(Some(set.path()), None).await;
    let props = json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable"});

    // Given no database, a Create that makes it and then fails drops it again: the rollback's
    // Delete (of a failed Create's id) would never touch it, and it would be left behind.
    let failed = env.respond(&lambda, env.create(props.clone())).await;
    let reason = assert_failed(&failed);
    assert!(
        reason.starts_with(&format!("migration 2 (`2_broken.sql`) failed on `{db}`: relation \"no_such_table\" does not exist")),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!(
            "The database `{db}` this request created was dropped again, with all of the above: fix the cause and deploy again."
        )),
        "{reason}"
    );
    assert!(
        !pg_exists(&db).await,
        "the database this Create made is gone"
    );

    // Given a database that exists, a failing migration keeps the earlier ones (and the
    // database) and rolls back only itself.
    pg_create(&db).await;
    let failed = env.respond(&lambda, env.create(props.clone())).await;
    let reason = assert_failed(&failed);
    assert!(reason.contains("It was rolled back"), "{reason}");
    assert!(!reason.contains("dropped again"), "{reason}");
    assert_eq!(pg_versions(&db).await, [(1, true)]);
    assert!(
        !pg_table_exists(&db, "b").await,
        "the failed migration was rolled back whole"
    );

    // The fix ships; the next run continues from migration 2.
    set.write("2_broken.sql", "CREATE TABLE b (id INT);\n");
    let fixed = env.respond(&lambda, env.create(props)).await;
    assert_success(&fixed);
    assert_eq!(
        (data(&fixed, "Applied"), data(&fixed, "Version")),
        ("2", "3")
    );
    assert_eq!(pg_versions(&db).await, [(1, true), (2, true), (3, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_down_script_fails_a_forward_update_and_not_a_rollback() {
    let env = Env::new("swt-downfail").await;
    let db = db_name("downfail");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("downfail", None, PG_PORT).await;
    let set = folder(&V1);
    // Migration 2's down script fails.
    set.write("2_create_item_tags.down.sql", "DROP TABLE no_such_table;\n");
    let lambda = env.lambda(Some(set.path()), None).await;
    let at2 = json!({"SecretArn": arn, "Database": db, "CreateDatabase": true, "Tls": "Disable"});
    let created = env.respond(&lambda, env.create(at2.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let mut at1 = at2.clone();
    at1["TargetVersion"] = json!("1");
    at1["AllowDown"] = json!(true);

    // A forward Update asking for version 1: the down script fails, and so does the request.
    let forward = env
        .respond(&lambda, env.update(&id, at1.clone(), at2.clone()))
        .await;
    let reason = assert_failed(&forward);
    assert!(
        reason.starts_with(&format!(
            "the down script of migration 2 failed on `{db}`: "
        )) && reason.contains("This is not a rollback"),
        "{reason}"
    );
    assert_eq!(pg_versions(&db).await, [(1, true), (2, true)]);

    // The same request in a rollback: the walk stops there and the stack is not failed.
    let rollback = env.roll_back(&lambda, env.update(&id, at1, at2)).await;
    assert_success(&rollback);
    assert_eq!(data(&rollback, "Ahead"), "2");
    assert_eq!(data(&rollback, "Reverted"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_database_and_drop_database_round_trip() {
    let env = Env::new("swt-drop").await;
    let db = db_name("drop");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("drop", Some(&db), PG_PORT).await;
    let set = folder(&V1);
    let lambda = env.lambda(Some(set.path()), None).await;
    let props = json!({"SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase", "Tls": "Disable"});

    let created = env.respond(&lambda, env.create(props.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(pg_exists(&db).await);

    // An application still connected does not block the drop.
    let mut app = pg(&db).await;
    let deleted = env.respond(&lambda, env.delete(&id, props.clone())).await;
    assert_success(&deleted);
    assert!(!pg_exists(&db).await);
    assert!(
        sqlx::query("SELECT 1").execute(&mut app).await.is_err(),
        "its connection was terminated"
    );
    // Delivered again: already gone, still SUCCESS.
    assert_success(&env.respond(&lambda, env.delete(&id, props.clone())).await);
    // An Update never re-creates a database that vanished under an existing id.
    let vanished = env
        .respond(&lambda, env.update(&id, props.clone(), props.clone()))
        .await;
    assert!(
        assert_failed(&vanished).starts_with(&format!(
            "database `{db}` does not exist on `127.0.0.1:5432`: it existed when this resource was created; restore it"
        )),
        "{vanished:#}"
    );
    assert!(!pg_exists(&db).await);

    // A database that existed before is never dropped, even with DropDatabase.
    let theirs = db_name("theirs");
    let _cleanup_theirs = Cleanup::pg(&theirs);
    pg_create(&theirs).await;
    let mut props_theirs = props.clone();
    props_theirs["Database"] = json!(theirs);
    let adopted = env.respond(&lambda, env.create(props_theirs.clone())).await;
    assert_success(&adopted);
    let theirs_id = adopted["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_success(
        &env.respond(&lambda, env.delete(&theirs_id, props_theirs))
            .await,
    );
    assert!(
        pg_exists(&theirs).await,
        "a database this resource did not create is retained"
    );
    assert!(
        lambda
            .logs()
            .iter()
            .any(|l| l.contains("did not create the database"))
    );

    // OnDelete: DropDatabase without CreateDatabase is refused on Create...
    let mut contradictory = props.clone();
    contradictory["Database"] = json!(theirs);
    contradictory["CreateDatabase"] = json!(false);
    let refused = env
        .respond(&lambda, env.create(contradictory.clone()))
        .await;
    assert!(assert_failed(&refused).starts_with(
        "property `OnDelete`: `DropDatabase` drops only a database this resource created"
    ));
    // ...but a Delete never fails over it, and drops nothing.
    assert_success(
        &env.respond(&lambda, env.delete(&theirs_id, contradictory))
            .await,
    );
    assert!(pg_exists(&theirs).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_delete_succeeds_while_the_database_is_down() {
    let env = Env::new("swt-down").await;
    let port = closed_port();
    let arn = env.pg_secret("down", Some("swt_gone"), port).await;
    let lambda = env.lambda(None, None).await;
    let props = json!({"SecretArn": arn, "Tls": "Disable"});
    let id = format!("postgres://127.0.0.1:{port}/swt_gone");

    let started = Instant::now();
    let deleted = env.respond(&lambda, env.delete(&id, props.clone())).await;
    assert_success(&deleted);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        lambda
            .logs()
            .iter()
            .any(|l| l.contains("OnDelete is Retain"))
    );

    // A Create against the refused port fails at once, naming the server.
    let started = Instant::now();
    let failed = env.respond(&lambda, env.create(props)).await;
    let reason = assert_failed(&failed);
    assert!(
        reason.starts_with(&format!("could not connect to `127.0.0.1:{port}`")),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_fails_well_before_the_deadline() {
    let env = Env::new("swt-silent").await;
    // Accepts TCP connections and never answers a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let arn = env.pg_secret("silent", Some("swt_silent"), port).await;
    let lambda = env
        .lambda_with(None, None, |c| c.timeout(Duration::from_secs(12)))
        .await;
    let invocation = env
        .invoke(
            &lambda,
            env.create(json!({"SecretArn": arn, "Tls": "Disable"})),
        )
        .await;
    let response = invocation.response();
    let reason = assert_failed(&response);
    assert!(
        reason.starts_with(&format!(
            "`127.0.0.1:{port}` did not complete the connection within"
        )),
        "{reason}"
    );
    // The library would stop the resource at 10.8 s; the connect timeout fires far sooner.
    assert!(
        invocation.duration < Duration::from_secs(7),
        "{:?}",
        invocation.duration
    );
    assert!(matches!(invocation.lambda, LambdaResult::Response(_)));
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_are_applied_once_and_edits_refused() {
    let env = Env::new("swt-seeds").await;
    let db = db_name("seeds");
    let _cleanup = Cleanup::pg(&db);
    let arn = env.pg_secret("seeds", Some(&db), PG_PORT).await;
    let migrations = folder(&[(
        "1_kv.sql",
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);\n",
    )]);
    let seeds = folder(&[
        ("common/001_a.sql", "INSERT INTO kv VALUES ('a', '1');\n"),
        ("dev/001_b.sql", "INSERT INTO kv VALUES ('b', '2');\n"),
        ("dev/002_c.sql", "INSERT INTO kv VALUES ('c', '3');\n"),
    ]);
    let lambda = env
        .lambda(Some(migrations.path()), Some(seeds.path()))
        .await;
    let p1 = json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable", "Seeds": "common"});
    let created = env.respond(&lambda, env.create(p1.clone())).await;
    assert_success(&created);
    assert_eq!(data(&created, "SeedsApplied"), "1");
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    let p2 = json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable", "Seeds": ["common", "dev"]});
    let more = env
        .respond(&lambda, env.update(&id, p2.clone(), p1.clone()))
        .await;
    assert_eq!(data(&more, "SeedsApplied"), "2");
    let none = env
        .respond(&lambda, env.update(&id, p2.clone(), p2.clone()))
        .await;
    assert_eq!(data(&none, "SeedsApplied"), "0");
    assert_eq!(pg_scalar_i64(&db, "SELECT count(*) FROM kv").await, 3);
    assert_eq!(
        pg_scalar_i64(&db, "SELECT count(*) FROM _stackwright_seeds").await,
        3
    );

    seeds.write("dev/001_b.sql", "INSERT INTO kv VALUES ('b', 'changed');\n");
    let refused = env
        .respond(&lambda, env.update(&id, p2.clone(), p2.clone()))
        .await;
    let reason = assert_failed(&refused);
    assert!(
        reason.starts_with(&format!(
            "seed `dev/001_b.sql` was applied to `{db}` with different content"
        )),
        "{reason}"
    );

    let unknown = json!({"SecretArn": arn, "Tls": "Disable", "Seeds": "common,prod"});
    let refused = env.respond(&lambda, env.update(&id, unknown, p2)).await;
    assert!(
        assert_failed(&refused).starts_with(
            "`Seeds` names the set `prod`, but this function carries only `common`, `dev`"
        ),
        "{refused:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_sqlx_is_waited_for_then_reported() {
    let env = Env::new("swt-lock").await;
    let db = db_name("lock");
    let _cleanup = Cleanup::pg(&db);
    pg_create(&db).await;
    let arn = env.pg_secret("lock", Some(&db), PG_PORT).await;
    let set = folder(&V1);
    let lambda = env.lambda(Some(set.path()), None).await;
    let props = json!({"SecretArn": arn, "Tls": "Disable", "LockTimeoutSeconds": "2"});

    // sqlx's own migrator takes its lock, as `sqlx migrate run` on a laptop would.
    let mut laptop = pg(&db).await;
    laptop.lock().await.unwrap();
    let invocation = env.invoke(&lambda, env.create(props.clone())).await;
    let response = invocation.response();
    let reason = assert_failed(&response);
    assert!(
        reason.starts_with(&format!(
            "another migration holds the lock on `{db}` (waited 2 s"
        )),
        "{reason}"
    );
    assert!(
        invocation.duration >= Duration::from_secs(2),
        "{:?}",
        invocation.duration
    );
    assert!(
        invocation.duration < Duration::from_secs(8),
        "{:?}",
        invocation.duration
    );
    assert!(!pg_table_exists(&db, "items").await);

    // Released: the next run takes it, and releases it in turn (sqlx can take it again).
    laptop.unlock().await.unwrap();
    let done = env.respond(&lambda, env.create(props)).await;
    assert_success(&done);
    assert_eq!(data(&done, "Applied"), "2");
    laptop.lock().await.unwrap();
    laptop.unlock().await.unwrap();
    laptop.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_failed_with_a_reason() {
    let env = Env::new("swt-input").await;
    let lambda = env.lambda(None, None).await;
    let unknown = env
        .respond(
            &lambda,
            env.create(json!({"SecretArn": "x", "Databse": "a"})),
        )
        .await;
    assert!(
        assert_failed(&unknown)
            .starts_with("unknown property `Databse`; expected one of `SecretArn`, `Database`")
    );
    let missing = env
        .respond(&lambda, env.create(json!({"SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope", "Tls": "Disable"})))
        .await;
    assert_eq!(
        assert_failed(&missing),
        "could not read the secret `arn:aws:secretsmanager:us-east-1:123456789012:secret:nope`: ResourceNotFoundException: Secrets Manager can't find the specified secret; check `SecretArn` (the secret must be in the function's account and region)"
    );
    let not_rds = env
        .secret("not-rds", &json!({"user": "u", "password": password()}))
        .await;
    let bad = env
        .respond(&lambda, env.create(json!({"SecretArn": not_rds})))
        .await;
    assert!(
        assert_failed(&bad).contains("is not in the RDS JSON format"),
        "{bad:#}"
    );
    let target = env.pg_secret("target", Some("swt_target"), PG_PORT).await;
    let bad = env
        .respond(
            &lambda,
            env.create(json!({"SecretArn": target, "TargetVersion": 42, "Tls": "Disable"})),
        )
        .await;
    assert!(
        assert_failed(&bad)
            .starts_with("`TargetVersion` is `42`, but this function carries no migration 42"),
        "{bad:#}"
    );
}
