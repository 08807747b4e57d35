//! Forged and over-reaching events against the real binary under the harness: each attack on
//! `db-migration` from issue 14 does nothing and touches nothing (the databases and a
//! listener checked before and after, every log line and response checked for leaks), each
//! layer tested with the others passing; then the same event, confirmed and allowed, does
//! what it asks.
//!
//! - "Revert every migration": `allow_down_to_zero_forged_is_failed_and_reverts_nothing`,
//!   `allow_down_to_zero_not_allowed_by_the_stage_reverts_nothing_and_says_ignored`,
//!   `allow_down_to_zero_confirmed_and_allowed_reverts`.
//! - "Send the master password to any host":
//!   `a_delete_naming_another_host_connects_nowhere_and_drops_nothing` (PostgreSQL; MariaDB's
//!   is in `mysql.rs`), `an_update_naming_another_host_works_on_the_secret_s_server_only`.
//! - `OnDelete: DropDatabase` not allowed: `drop_database_not_allowed_on_a_delete_keeps_the_database`.
//! - `Tls` other than `VerifyFull` not allowed:
//!   `a_create_with_tls_disabled_where_the_stage_does_not_allow_it_fails_and_connects_nowhere`,
//!   `an_update_with_tls_disabled_where_the_stage_does_not_allow_it_uses_verify_full_and_sends_no_credentials`.

mod common;

use common::*;
use harness::Lambda;
use serde_json::{Value, json};

/// A stage that allows nothing destructive: only `InsecureTls`, since the local servers speak
/// no TLS.
const ONLY_INSECURE_TLS: &str = "InsecureTls";

fn data<'a>(response: &'a Value, key: &str) -> &'a str {
    response["Data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no Data.{key} in {response:#}"))
}

/// The function with `STACKWRIGHT_ALLOW` set to `allow`.
async fn lambda_allowing(env: &Env, migrations: Option<&std::path::Path>, allow: &str) -> Lambda {
    let allow = allow.to_owned();
    env.lambda_with(migrations, None, move |c| c.env("STACKWRIGHT_ALLOW", allow))
        .await
}

async fn pg_tables(database: &str, tables: &[&str]) -> Vec<bool> {
    let mut exist = Vec::new();
    for table in tables {
        exist.push(pg_table_exists(database, table).await);
    }
    exist
}

// ---- "make db-migration in prod revert every migration": an Update with `TargetVersion: 0`
// ---- and `AllowDown: true`.

/// A database at version 3 (tables t1 to t3), its physical id, and the attack's Update.
async fn at_version_three(env: &Env, lambda: &Lambda, db: &str) -> (String, Value) {
    let arn = env
        .pg_secret(&format!("{db}-secret"), Some(db), PG_PORT)
        .await;
    let props =
        json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable", "Trigger": "v1"});
    let created = env.respond(lambda, env.create(props.clone())).await;
    assert_success(&created);
    assert_eq!(data(&created, "Version"), "3");
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let mut attack = props.clone();
    attack["TargetVersion"] = json!(0);
    attack["AllowDown"] = json!(true);
    (id.clone(), env.update(&id, attack, props))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_down_to_zero_forged_is_failed_and_reverts_nothing() {
    let env = Env::new("swt-forged-down").await;
    let db = db_name("forgeddown");
    let _cleanup = Cleanup::pg(&db);
    let set = numbered(3);
    // Every switch allowed, the stack listed: only CloudFormation's word is missing.
    let lambda = env.lambda(Some(set.path()), None).await;
    let (id, attack) = at_version_three(&env, &lambda, &db).await;
    let history = pg_history(&db).await;

    // The stack is at rest: CloudFormation is not updating it.
    let cloudformation = lambda.cloudformation();
    cloudformation.set_stack(env.stack.stack_id(), "UPDATE_COMPLETE");
    cloudformation.set_resource(env.stack.stack_id(), "Db", "UPDATE_COMPLETE", Some(&id));
    let forged = env.forge(&lambda, attack).await;
    let reason = assert_failed(&forged);
    assert!(
        reason.starts_with("not part of a stack operation in progress"),
        "{reason}"
    );
    assert_eq!(forged["PhysicalResourceId"], id.as_str());
    assert_eq!(
        pg_history(&db).await,
        history,
        "`_sqlx_migrations` untouched"
    );
    assert_eq!(pg_tables(&db, &["t1", "t2", "t3"]).await, [true; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_down_to_zero_not_allowed_by_the_stage_reverts_nothing_and_says_ignored() {
    let env = Env::new("swt-ignored-down").await;
    let db = db_name("ignoreddown");
    let _cleanup = Cleanup::pg(&db);
    let set = numbered(3);
    let lambda = env.lambda(Some(set.path()), None).await;
    let (_, attack) = at_version_three(&env, &lambda, &db).await;
    let history = pg_history(&db).await;

    // Confirmed by CloudFormation, the stack listed, but prod allows no `AllowDown`.
    let prod = lambda_allowing(&env, Some(set.path()), ONLY_INSECURE_TLS).await;
    let kept = env.respond(&prod, attack).await;
    assert_success(&kept);
    assert_eq!(data(&kept, "Ignored"), "AllowDown");
    assert_eq!(data(&kept, "Ahead"), "3,2,1");
    assert_eq!(
        (data(&kept, "Reverted"), data(&kept, "Version")),
        ("0", "3")
    );
    assert_eq!(
        pg_history(&db).await,
        history,
        "`_sqlx_migrations` untouched"
    );
    assert_eq!(pg_tables(&db, &["t1", "t2", "t3"]).await, [true; 3]);
    assert!(!log_lines(&prod, "does not allow `AllowDown`").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_down_to_zero_confirmed_and_allowed_reverts() {
    let env = Env::new("swt-allowed-down").await;
    let db = db_name("alloweddown");
    let _cleanup = Cleanup::pg(&db);
    let set = numbered(3);
    let lambda = env.lambda(Some(set.path()), None).await;
    let (_, attack) = at_version_three(&env, &lambda, &db).await;

    let dev = lambda_allowing(&env, Some(set.path()), "AllowDown,InsecureTls").await;
    let reverted = env.respond(&dev, attack).await;
    assert_success(&reverted);
    assert!(reverted["Data"].get("Ignored").is_none(), "{reverted:#}");
    assert_eq!(
        (data(&reverted, "Reverted"), data(&reverted, "Version")),
        ("3", "0")
    );
    assert_eq!(pg_versions(&db).await, []);
    assert_eq!(pg_tables(&db, &["t1", "t2", "t3"]).await, [false; 3]);
}

// ---- "send the database master password to any host": a Delete whose `PhysicalResourceId`
// ---- names another host, `OnDelete: DropDatabase`, `Tls: Disable`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_naming_another_host_connects_nowhere_and_drops_nothing() {
    let env = Env::new("swt-other-host").await;
    let db = db_name("otherhost");
    let _cleanup = Cleanup::pg(&db);
    // Every switch allowed: only the secret's server stands between the event and the
    // password.
    let lambda = env.lambda(None, None).await;
    let arn = env.pg_secret("other-host", Some(&db), PG_PORT).await;
    let props = json!({
        "SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase", "Tls": "Disable",
    });
    let created = env.respond(&lambda, env.create(props.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(pg_exists(&db).await);

    // The attacker's server: anything that connects is recorded.
    let evil = Recorder::listen().await;
    let elsewhere = format!("postgres://127.0.0.1:{}/{db}", evil.port());
    assert_ne!(elsewhere, id);

    // Forged (CloudFormation is deleting nothing): retained.
    let forged = env
        .forge(&lambda, env.delete(&elsewhere, props.clone()))
        .await;
    assert_success(&forged);
    // Confirmed by CloudFormation (as if the id had been the resource's): still retained,
    // since the id names another server than the secret's.
    let confirmed = env
        .respond(&lambda, env.delete(&elsewhere, props.clone()))
        .await;
    assert_success(&confirmed);
    assert_eq!(confirmed["PhysicalResourceId"], elsewhere.as_str());
    assert!(!log_lines(&lambda, "names another server than the secret's").is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(evil.connections(), 0, "nothing connects to the other host");
    assert!(evil.sent().is_empty());
    assert!(pg_exists(&db).await, "nothing dropped");

    // The same Delete for the id on the secret's server drops the database it created.
    let dropped = env.respond(&lambda, env.delete(&id, props)).await;
    assert_success(&dropped);
    assert!(!pg_exists(&db).await);
    assert_eq!(evil.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_database_not_allowed_on_a_delete_keeps_the_database() {
    let env = Env::new("swt-no-drop").await;
    let db = db_name("nodrop");
    let _cleanup = Cleanup::pg(&db);
    let lambda = env.lambda(None, None).await;
    let arn = env.pg_secret("no-drop", Some(&db), PG_PORT).await;
    let props = json!({
        "SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase", "Tls": "Disable",
    });
    let created = env.respond(&lambda, env.create(props.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    // Confirmed, the database ours and on the secret's server, but prod allows no
    // `DropDatabase`: retained.
    let prod = lambda_allowing(&env, None, ONLY_INSECURE_TLS).await;
    let kept = env.respond(&prod, env.delete(&id, props.clone())).await;
    assert_success(&kept);
    assert!(pg_exists(&db).await, "the database stays");
    assert!(!log_lines(&prod, "does not allow `DropDatabase`").is_empty());

    // `InsecureTls` not allowed either: retained without connecting.
    let stricter = lambda_allowing(&env, None, "DropDatabase").await;
    let kept = env.respond(&stricter, env.delete(&id, props.clone())).await;
    assert_success(&kept);
    assert!(pg_exists(&db).await, "the database stays");
    assert!(!log_lines(&stricter, "retained without connecting").is_empty());

    // Allowed: dropped.
    let dev = lambda_allowing(&env, None, "DropDatabase,InsecureTls").await;
    let dropped = env.respond(&dev, env.delete(&id, props)).await;
    assert_success(&dropped);
    assert!(!pg_exists(&db).await);
}

// ---- `Tls` other than `VerifyFull` where the stage does not allow `InsecureTls`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_with_tls_disabled_where_the_stage_does_not_allow_it_fails_and_connects_nowhere() {
    let env = Env::new("swt-create-tls").await;
    let db = db_name("createtls");
    let _cleanup = Cleanup::pg(&db);
    let listener = Recorder::listen().await;
    let arn = env
        .pg_secret("create-tls", Some(&db), listener.port())
        .await;
    let prod = lambda_allowing(&env, None, "").await;
    let refused = env
        .respond(
            &prod,
            env.create(json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable"})),
        )
        .await;
    let reason = assert_failed(&refused);
    assert!(
        reason.contains("`InsecureTls`") && reason.contains("`STACKWRIGHT_ALLOW`"),
        "{reason}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(listener.connections(), 0, "nothing connects");

    // Allowed, against the real server: created.
    let arn = env.pg_secret("create-tls-ok", Some(&db), PG_PORT).await;
    let dev = lambda_allowing(&env, None, ONLY_INSECURE_TLS).await;
    let created = env
        .respond(
            &dev,
            env.create(json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable"})),
        )
        .await;
    assert_success(&created);
    assert!(pg_exists(&db).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_tls_disabled_where_the_stage_does_not_allow_it_uses_verify_full_and_sends_no_credentials()
 {
    let env = Env::new("swt-update-tls").await;
    let db = db_name("updatetls");
    let _cleanup = Cleanup::pg(&db);
    // The function reaches PostgreSQL through a proxy that records what it sends.
    let wire = Recorder::proxy(PG_PORT).await;
    let password = password();
    let arn = env
        .secret(
            "update-tls",
            &json!({
                "engine": "postgres", "host": "127.0.0.1", "port": wire.port(),
                "username": "postgres", "password": password, "dbname": db,
            }),
        )
        .await;
    let v1 = json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable", "Trigger": "v1"});
    let dev = env.lambda(None, None).await;
    let created = env.respond(&dev, env.create(v1.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(
        contains_bytes(&wire.sent(), b"postgres"),
        "the proxy sees the cleartext"
    );
    let history = pg_history(&db).await;

    // A stage without `InsecureTls`: the Update goes on as if `Tls` were `VerifyFull`, which
    // the local server (no TLS) cannot offer, so nothing is sent past the TLS request.
    wire.clear();
    let prod = lambda_allowing(&env, None, "").await;
    let mut v2 = v1.clone();
    v2["Trigger"] = json!("v2");
    let failed = env.respond(&prod, env.update(&id, v2, v1)).await;
    let reason = assert_failed(&failed);
    assert!(
        reason.starts_with(&format!("could not connect to `127.0.0.1:{}`", wire.port()))
            && reason.contains("invalid peer certificate")
            && reason.contains("connected with `Tls: VerifyFull`: `Tls` is `Disable`")
            && reason.contains("`InsecureTls` is not in `STACKWRIGHT_ALLOW`"),
        "{reason}"
    );
    assert!(!log_lines(&prod, "connecting with VerifyFull").is_empty());
    let sent = wire.sent();
    assert!(wire.connections() >= 1, "it tried, with TLS");
    // PostgreSQL's SSLRequest, then only TLS records (the local server offers TLS with a
    // certificate no embedded root signed, so the handshake ends in an alert): no startup
    // message in cleartext, no user name, no password.
    let ssl_request = [0, 0, 0, 8, 4, 210, 22, 47];
    assert!(sent.starts_with(&ssl_request), "{sent:?}");
    let mut records = &sent[ssl_request.len()..];
    while !records.is_empty() {
        assert!(
            records.len() >= 5 && matches!(records[0], 20..=23) && records[1] == 3,
            "not a TLS record: {records:?}"
        );
        let len = usize::from(u16::from_be_bytes([records[3], records[4]]));
        records = &records[(5 + len).min(records.len())..];
    }
    assert!(!contains_bytes(&sent, b"user\0postgres"));
    assert!(!contains_bytes(&sent, password.as_bytes()));
    assert_eq!(pg_history(&db).await, history, "nothing migrated");
}

/// The Update side of "credentials only to the secret's server": an Update whose physical id
/// names another server (confirmed, every switch allowed) connects only to the secret's
/// server and answers that server's id, a replacement; CloudFormation's Delete of the old id
/// then retains without connecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_naming_another_host_works_on_the_secret_s_server_only() {
    let env = Env::new("swt-update-host").await;
    let db = db_name("updatehost");
    let _cleanup = Cleanup::pg(&db);
    let lambda = env.lambda(None, None).await;
    let arn = env.pg_secret("update-host", Some(&db), PG_PORT).await;
    let props = json!({
        "SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase", "Tls": "Disable",
        "Trigger": "v1",
    });
    let created = env.respond(&lambda, env.create(props.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    let evil = Recorder::listen().await;
    let elsewhere = format!("postgres://127.0.0.1:{}/{db}", evil.port());
    let mut v2 = props.clone();
    v2["Trigger"] = json!("v2");
    let updated = env
        .respond(&lambda, env.update(&elsewhere, v2.clone(), props))
        .await;
    assert_success(&updated);
    assert_eq!(
        updated["PhysicalResourceId"],
        id.as_str(),
        "the secret's server"
    );
    // CloudFormation deletes the replaced id in its cleanup phase: retained.
    let cleanup = lambda
        .invoke_during(
            env.delete(&elsewhere, v2),
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        )
        .await
        .unwrap()
        .response();
    env.assert_no_leak(&lambda);
    assert_success(&cleanup);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(evil.connections(), 0, "nothing connects to the other host");
    assert!(pg_exists(&db).await);
}
