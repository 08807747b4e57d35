//! `Custom::DatabaseMigration` on MariaDB (the MySQL path): the real binary, the local MariaDB
//! with a user that has a real password, moto's Secrets Manager.

mod common;

use common::*;
use serde_json::{Value, json};
use sqlx::Connection;

/// A MariaDB user with a password, dropped by [`User::drop`].
struct User {
    name: String,
    password: String,
    _cleanup: Cleanup,
}

impl User {
    async fn new(tag: &str) -> Self {
        let name = format!("swt_u_{tag}_{:06x}", fastrand::u32(..0xff_ffff));
        let password = password();
        my_exec(
            None,
            &format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"),
        )
        .await;
        my_exec(
            None,
            &format!("GRANT ALL PRIVILEGES ON *.* TO '{name}'@'%'"),
        )
        .await;
        Self {
            _cleanup: Cleanup::my_user(&name),
            name,
            password,
        }
    }

    async fn secret(&self, env: &Env, secret_name: &str, dbname: Option<&str>) -> String {
        let mut value = json!({
            "engine": "mariadb", "host": "127.0.0.1", "port": MYSQL_PORT,
            "username": self.name, "password": self.password,
        });
        if let Some(db) = dbname {
            value["dbname"] = json!(db);
        }
        env.secret(secret_name, &value).await
    }
}

/// sqlx-mysql 0.9's `generate_lock_id`, copied from its `migrate.rs` (an independent
/// derivation, so the test does not check the function against itself).
fn sqlx_mysql_lock_name(database: &str) -> String {
    const CRC_IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    format!(
        "{:x}",
        0x3d32ad9e * (CRC_IEEE.checksum(database.as_bytes()) as i64)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_s_own_lock_is_a_no_op_on_mariadb() {
    // Why the lock test above holds the lock by hand: documented here so that an sqlx
    // release that fixes it is noticed (then `sqlx migrate run` excludes this function on
    // MariaDB too, as it already does on MySQL and PostgreSQL).
    use sqlx::migrate::Migrate;
    let db = db_name("nolock");
    let _cleanup = Cleanup::my(&db);
    my_exec(None, &format!("CREATE DATABASE `{db}`")).await;
    let mut a = my(Some(&db)).await;
    a.lock().await.unwrap();
    let mut b = my(Some(&db)).await;
    let free: Option<i64> = sqlx::query_scalar("SELECT IS_FREE_LOCK(?)")
        .bind(sqlx_mysql_lock_name(&db))
        .fetch_one(&mut b)
        .await
        .unwrap();
    assert_eq!(
        free,
        Some(1),
        "sqlx's lock is now taken on MariaDB: update the README"
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

fn data<'a>(response: &'a Value, key: &str) -> &'a str {
    response["Data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no Data.{key} in {response:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_schema_and_seeds_on_mariadb_then_drop() {
    let env = Env::new("swt-mysql").await;
    let user = User::new("schema").await;
    let db = db_name("my");
    let _cleanup = Cleanup::my(&db);
    let arn = user.secret(&env, "mysql", Some(&db)).await;
    let lambda = env.lambda(None, None).await;
    let props = json!({
        "SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase",
        "Seeds": "common,dev", "Tls": "Disable",
    });
    let event = env.create(props.clone());
    let created = env.respond(&lambda, event.clone()).await;
    assert_success(&created);
    let id = format!("mysql://127.0.0.1:3306/{db}");
    assert_eq!(created["PhysicalResourceId"], id.as_str());
    assert_eq!(data(&created, "Applied"), "4");
    assert_eq!(data(&created, "SeedsApplied"), "3");
    assert_eq!(my_versions(&db).await.len(), 4);

    // sqlx's own migrator on MySQL agrees: checksums and table as sqlx-cli writes them.
    let mut conn = my(Some(&db)).await;
    sqlx::migrate!("../../migrations")
        .run(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    // The same event delivered again in another sandbox (in this one, the recorded answer
    // would be sent again without running): applies nothing twice.
    let again = env.respond(&env.lambda(None, None).await, event).await;
    assert_success(&again);
    assert_eq!(
        (data(&again, "Applied"), data(&again, "SeedsApplied")),
        ("0", "0")
    );

    assert_success(&env.respond(&lambda, env.delete(&id, props)).await);
    assert!(!my_exists(&db).await, "created here, so dropped on Delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_applied_migration_is_reported_dirty_with_what_to_check() {
    let env = Env::new("swt-dirty").await;
    let user = User::new("dirty").await;
    let db = db_name("dirty");
    let _cleanup = Cleanup::my(&db);
    let arn = user.secret(&env, "dirty", Some(&db)).await;
    let set = Folder::new();
    set.write("1_a.sql", "CREATE TABLE a (id INT);\n");
    // DDL commits on its own in MySQL: `b` is created, then the second statement fails.
    set.write(
        "2_b_then_a.sql",
        "CREATE TABLE b (id INT);\nCREATE TABLE a (id INT);\n",
    );
    let lambda = env.lambda(Some(set.path()), None).await;
    let props = json!({"SecretArn": arn, "CreateDatabase": true, "Tls": "Disable"});
    // A database that exists already: one the request created would be dropped again on the
    // failure, dirty version and all (`postgres.rs` shows that).
    my_exec(None, &format!("CREATE DATABASE `{db}`")).await;

    let failed = env.respond(&lambda, env.create(props.clone())).await;
    let reason = assert_failed(&failed);
    assert!(
        reason.starts_with(&format!(
            "migration 2 (`2_b_then_a.sql`) failed on `{db}`: Table 'a' already exists"
        )),
        "{reason}"
    );
    assert!(reason.contains("marked dirty"), "{reason}");
    assert!(!reason.contains("dropped again"), "{reason}");
    assert!(
        reason.contains("DELETE FROM _sqlx_migrations WHERE version = 2"),
        "{reason}"
    );
    assert_eq!(my_versions(&db).await, [(1, true), (2, false)]);

    // Retried without a fix: the dirty version is named, with what to check.
    let again = env.respond(&lambda, env.create(props.clone())).await;
    let reason = assert_failed(&again);
    assert!(
        reason.starts_with(&format!(
            "migration 2 (`2_b_then_a.sql`) is partially applied on `{db}`"
        )),
        "{reason}"
    );
    assert!(reason.contains("Check which of them did"), "{reason}");

    // The operator does what the reason says; the next run continues.
    my_exec(Some(&db), "DROP TABLE b").await;
    my_exec(Some(&db), "DELETE FROM _sqlx_migrations WHERE version = 2").await;
    set.write("2_b_then_a.sql", "CREATE TABLE b (id INT);\n");
    let fixed = env.respond(&lambda, env.create(props)).await;
    assert_success(&fixed);
    assert_eq!(
        (data(&fixed, "Applied"), data(&fixed, "Version")),
        ("1", "2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mysql_lock_is_sqlx_s_and_rollback_uses_recorded_downs() {
    let env = Env::new("swt-mylock").await;
    let user = User::new("lock").await;
    let db = db_name("mylock");
    let _cleanup = Cleanup::my(&db);
    my_exec(None, &format!("CREATE DATABASE `{db}`")).await;
    let arn = user.secret(&env, "mylock", Some(&db)).await;
    let v1 = Folder::new();
    v1.write("1_a.up.sql", "CREATE TABLE a (id INT);\n")
        .write("1_a.down.sql", "DROP TABLE a;\n");
    let v2 = Folder::new();
    v2.write("1_a.up.sql", "CREATE TABLE a (id INT);\n")
        .write("1_a.down.sql", "DROP TABLE a;\n")
        .write("2_b.up.sql", "CREATE TABLE b (id INT);\n")
        .write("2_b.down.sql", "DROP TABLE b;\n");
    let old = env.lambda(Some(v1.path()), None).await;
    let new = env.lambda(Some(v2.path()), None).await;
    let props =
        json!({"SecretArn": arn, "Tls": "Disable", "LockTimeoutSeconds": 1, "AllowDown": true});

    // sqlx's MySQL migrator asks for `GET_LOCK(<key>, -1)`; MariaDB does not accept a
    // negative timeout and returns NULL without locking, so on MariaDB `Migrate::lock` is a
    // no-op. Hold sqlx's lock name the way MySQL would hold it for sqlx.
    let mut laptop = my(Some(&db)).await;
    let taken: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
        .bind(sqlx_mysql_lock_name(&db))
        .fetch_one(&mut laptop)
        .await
        .unwrap();
    assert_eq!(taken, Some(1));
    let locked = env.respond(&new, env.create(props.clone())).await;
    assert!(
        assert_failed(&locked).starts_with(&format!("another migration holds the lock on `{db}`")),
        "{locked:#}"
    );
    laptop.close().await.unwrap();

    let created = env.respond(&new, env.create(props.clone())).await;
    assert_success(&created);
    assert_eq!(data(&created, "Version"), "2");
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    // Release 1 serves the rollback and runs migration 2's recorded down script.
    let rolled = env
        .roll_back(&old, env.update(&id, props.clone(), props))
        .await;
    assert_success(&rolled);
    assert_eq!(
        (data(&rolled, "Reverted"), data(&rolled, "Version")),
        ("1", "1")
    );
    assert_eq!(my_versions(&db).await, [(1, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_served_by_the_new_release_skips_its_failing_migration_on_mariadb() {
    let env = Env::new("swt-my-back").await;
    let user = User::new("back").await;
    let db = db_name("myback");
    let _cleanup = Cleanup::my(&db);
    let arn = user.secret(&env, "my-back", Some(&db)).await;
    let set = numbered(4);
    let lambda = env.lambda(Some(set.path()), None).await;
    let v1 = json!({"SecretArn": arn, "Tls": "Disable", "CreateDatabase": true, "Trigger": "v1"});
    let mut v2 = v1.clone();
    v2["Trigger"] = json!("v2");
    let created = env.respond(&lambda, env.create(v1.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    // A migration 5 that fails on its one statement: nothing took effect, not dirty.
    set.write("5_broken.up.sql", "INSERT INTO no_such_table VALUES (1);\n")
        .write("5_broken.down.sql", "SELECT 1;\n");
    let failed = env
        .respond(&lambda, env.update(&id, v2.clone(), v1.clone()))
        .await;
    assert!(
        assert_failed(&failed).contains("None of it took effect"),
        "{failed:#}"
    );
    let history = my_history(&db).await;
    assert_eq!(history.len(), 4);

    // The rollback, served by the same release: SUCCESS, nothing applied.
    let back = env.roll_back(&lambda, env.update(&id, v1, v2)).await;
    assert_success(&back);
    assert_eq!((data(&back, "Applied"), data(&back, "Version")), ("0", "4"));
    assert!(back["Data"].get("Ahead").is_none(), "{back:#}");
    assert_eq!(my_history(&db).await, history);
    assert_eq!(
        log_lines(&lambda, "rollback to Trigger `v1`: target 4").len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_failed_and_never_printed() {
    let env = Env::new("swt-password").await;
    let user = User::new("pw").await;
    env.forbid(&user.password);
    let wrong = password();
    let arn = env
        .secret(
            "wrong",
            &json!({
                "engine": "mysql", "host": "127.0.0.1", "port": MYSQL_PORT,
                "username": user.name, "password": wrong, "dbname": "swt_never",
            }),
        )
        .await;
    // Everything the function and its libraries can print, printed.
    let lambda = env
        .lambda_with(None, None, |c| c.env("RUST_LOG", "trace"))
        .await;
    let response = env
        .respond(
            &lambda,
            env.create(json!({"SecretArn": arn, "Tls": "Disable"})),
        )
        .await;
    let reason = assert_failed(&response);
    assert!(
        reason.starts_with(
            "could not connect to `127.0.0.1:3306` (database `swt_never`): Access denied for user"
        ),
        "{reason}"
    );
    assert!(!reason.contains(&wrong) && !response.to_string().contains(&wrong));
    // `Env::respond` already checked every log line and every response body for both
    // passwords and the ResponseURL signature; check the trace level really printed a lot.
    assert!(lambda.logs().len() > 20, "{} lines", lambda.logs().len());
}

/// Issue 14's "send the database master password to any host", on MariaDB (a user with a real
/// password): a Delete whose physical id names another server, `OnDelete: DropDatabase`,
/// `Tls: Disable`, every switch allowed. Forged or confirmed, nothing connects there and
/// nothing is dropped; the same Delete for the id on the secret's server drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_naming_another_host_connects_nowhere_on_mariadb() {
    let env = Env::new("swt-my-other-host").await;
    let user = User::new("other").await;
    let db = db_name("myother");
    let _cleanup = Cleanup::my(&db);
    let arn = user.secret(&env, "my-other-host", Some(&db)).await;
    let lambda = env.lambda(None, None).await;
    let props = json!({
        "SecretArn": arn, "CreateDatabase": true, "OnDelete": "DropDatabase", "Tls": "Disable",
    });
    let created = env.respond(&lambda, env.create(props.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(my_exists(&db).await);

    let evil = Recorder::listen().await;
    let elsewhere = format!("mysql://127.0.0.1:{}/{db}", evil.port());
    let forged = env
        .forge(&lambda, env.delete(&elsewhere, props.clone()))
        .await;
    assert_success(&forged);
    let confirmed = env
        .respond(&lambda, env.delete(&elsewhere, props.clone()))
        .await;
    assert_success(&confirmed);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(evil.connections(), 0, "nothing connects to the other host");
    assert!(my_exists(&db).await, "nothing dropped");

    let dropped = env.respond(&lambda, env.delete(&id, props)).await;
    assert_success(&dropped);
    assert!(!my_exists(&db).await);
}
