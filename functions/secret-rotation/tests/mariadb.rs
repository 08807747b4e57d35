//! Single and alternating rotation on the machine's MariaDB (root without a password; the
//! users made here have their passwords checked): the `mysql_native_password` hash set through
//! an admin, the old password refused afterwards; the clone made with the user's grants.

use std::time::Duration;

use harness::{Lambda, LambdaConfig, Moto, SecretsManager};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

const PORT: u16 = 3306;

fn password() -> String {
    format!("pw-{:016x}-Leak!", fastrand::u64(..))
}

async fn connect(user: &str, password: &str) -> Result<MySqlConnection, sqlx::Error> {
    MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(PORT)
        .username(user)
        .password(password)
        .connect()
        .await
}

async fn root(sql: &str) {
    let mut c = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(PORT)
        .username("root")
        .connect()
        .await
        .unwrap();
    c.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
    let _ = c.close().await;
}

async fn logs_in(user: &str, password: &str) -> bool {
    match connect(user, password).await {
        Ok(c) => {
            let _ = c.close().await;
            true
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn the_four_steps_rotate_a_mariadb_password_through_the_admin() {
    let tag = format!("{:08x}", fastrand::u32(..));
    let (admin, user) = (format!("swr_admin_{tag}"), format!("swr_{tag}"));
    let (admin_pw, old) = (password(), password());
    root(&format!(
        "CREATE USER '{admin}'@'%' IDENTIFIED BY '{admin_pw}'"
    ))
    .await;
    root(&format!(
        "GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"
    ))
    .await;
    root(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{old}'")).await;

    let moto = Moto::start().await.unwrap();
    let sm = moto.secrets_manager();
    let admin_arn = sm
        .create_secret(
            "admin",
            &json!({"engine": "mariadb", "host": "127.0.0.1", "port": PORT, "username": admin, "password": admin_pw}).to_string(),
            &[],
        )
        .await
        .unwrap();
    let arn = sm
        .create_secret(
            "user",
            &json!({"engine": "mariadb", "host": "127.0.0.1", "port": PORT, "username": user, "password": old, "masterarn": admin_arn}).to_string(),
            &[("stackwright:rotation", "single")],
        )
        .await
        .unwrap();
    sm.call(
        "RotateSecret",
        &json!({"SecretId": arn, "RotationRules": {"AutomaticallyAfterDays": 30}, "RotateImmediately": false}),
    )
    .await
    .unwrap();
    let mut config =
        LambdaConfig::new(harness::pinned(env!("CARGO_BIN_EXE_secret-rotation")).unwrap())
            .timeout(Duration::from_secs(30))
            .env("RUST_LOG", "debug")
            .env("STACKWRIGHT_TLS", "Disable")
            .env("STACKWRIGHT_ALLOW", "InsecureTls");
    for (k, v) in moto.env() {
        config = config.env(k, v);
    }
    let lambda = Lambda::start(config).await.unwrap();

    let token = uuid::Uuid::new_v4().to_string();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        for _ in 0..2 {
            let invocation = lambda
                .invoke(json!({"SecretId": arn, "ClientRequestToken": token, "Step": step}))
                .await
                .unwrap();
            assert!(
                invocation.lambda.is_ok(),
                "{step}: {:?}\n{}",
                invocation.lambda,
                invocation.logs.join("\n")
            );
        }
    }

    let current = sm
        .get_secret_value(&arn, Some("AWSCURRENT"), None)
        .await
        .unwrap();
    assert_eq!(current.version_id, token);
    let value: Value = serde_json::from_str(current.string.as_deref().unwrap()).unwrap();
    let new = value["password"].as_str().unwrap().to_owned();
    let new_works = logs_in(&user, &new).await;
    let old_works = logs_in(&user, &old).await;
    for line in lambda.logs() {
        for pw in [&admin_pw, &old, &new] {
            assert!(
                !line.contains(pw.as_str()),
                "a password leaked into: {line}"
            );
        }
    }
    root(&format!("DROP USER IF EXISTS '{user}'@'%', '{admin}'@'%'")).await;
    assert!(new_works, "the new password logs in");
    assert!(!old_works, "the old password is refused");
}

async fn can(user: &str, password: &str, sql: &str) -> bool {
    let Ok(mut c) = connect(user, password).await else {
        return false;
    };
    let done = c.execute(AssertSqlSafe(sql.to_owned())).await.is_ok();
    let _ = c.close().await;
    done
}

async fn run_steps(lambda: &Lambda, arn: &str, token: &str, steps: &[&str]) {
    for step in steps {
        for _ in 0..2 {
            let invocation = lambda
                .invoke(json!({"SecretId": arn, "ClientRequestToken": token, "Step": step}))
                .await
                .unwrap();
            assert!(
                invocation.lambda.is_ok(),
                "{step}: {:?}\n{}",
                invocation.lambda,
                invocation.logs.join("\n")
            );
        }
    }
}

async fn login_of(
    sm: &SecretsManager,
    arn: &str,
    stage: &str,
    token: Option<&str>,
) -> (String, String) {
    let v = sm.get_secret_value(arn, Some(stage), token).await.unwrap();
    let value: Value = serde_json::from_str(v.string.as_deref().unwrap()).unwrap();
    (
        value["username"].as_str().unwrap().to_owned(),
        value["password"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn alternating_on_mariadb_copies_the_users_grants_to_its_clone_on_each_turn() {
    let tag = format!("{:08x}", fastrand::u32(..));
    let (admin, user, db) = (
        format!("swr_admin_{tag}"),
        format!("swr_{tag}"),
        format!("swr_db_{tag}"),
    );
    let clone = format!("{user}_clone");
    let (admin_pw, old) = (password(), password());
    root(&format!(
        "CREATE USER '{admin}'@'%' IDENTIFIED BY '{admin_pw}'"
    ))
    .await;
    root(&format!(
        "GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"
    ))
    .await;
    root(&format!("CREATE DATABASE `{db}`")).await;
    root(&format!("CREATE TABLE `{db}`.t (x int)")).await;
    root(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{old}'")).await;
    root(&format!("GRANT SELECT ON `{db}`.* TO '{user}'@'%'")).await;

    let moto = Moto::start().await.unwrap();
    let sm = moto.secrets_manager();
    let admin_arn = sm
        .create_secret(
            "admin",
            &json!({"engine": "mariadb", "host": "127.0.0.1", "port": PORT, "username": admin, "password": admin_pw}).to_string(),
            &[],
        )
        .await
        .unwrap();
    let arn = sm
        .create_secret(
            "user",
            &json!({"engine": "mariadb", "host": "127.0.0.1", "port": PORT, "username": user, "password": old, "dbname": db, "masterarn": admin_arn}).to_string(),
            &[("stackwright:rotation", "alternating")],
        )
        .await
        .unwrap();
    sm.call(
        "RotateSecret",
        &json!({"SecretId": arn, "RotationRules": {"AutomaticallyAfterDays": 30}, "RotateImmediately": false}),
    )
    .await
    .unwrap();
    let mut config =
        LambdaConfig::new(harness::pinned(env!("CARGO_BIN_EXE_secret-rotation")).unwrap())
            .timeout(Duration::from_secs(30))
            .env("RUST_LOG", "debug")
            .env("STACKWRIGHT_TLS", "Disable")
            .env("STACKWRIGHT_ALLOW", "InsecureTls");
    for (k, v) in moto.env() {
        config = config.env(k, v);
    }
    let lambda = Lambda::start(config).await.unwrap();
    let select = format!("SELECT count(*) FROM `{db}`.t");
    let insert = format!("INSERT INTO `{db}`.t VALUES (1)");

    // First rotation: the clone is made with the user's grants; both log in during the switch.
    let first = uuid::Uuid::new_v4().to_string();
    run_steps(&lambda, &arn, &first, &["createSecret", "setSecret"]).await;
    let (pending_user, new1) = login_of(&sm, &arn, "AWSPENDING", Some(&first)).await;
    let during = (logs_in(&user, &old).await, logs_in(&clone, &new1).await);
    run_steps(&lambda, &arn, &first, &["testSecret", "finishSecret"]).await;
    let after_first = login_of(&sm, &arn, "AWSCURRENT", None).await;
    let clone_reads = can(&clone, &new1, &select).await;
    let clone_inserts_before = can(&clone, &new1, &insert).await;

    // A grant given to the user later reaches the clone at its next turn (copied each time).
    root(&format!("GRANT INSERT ON `{db}`.* TO '{user}'@'%'")).await;
    let second = uuid::Uuid::new_v4().to_string();
    run_steps(
        &lambda,
        &arn,
        &second,
        &["createSecret", "setSecret", "testSecret", "finishSecret"],
    )
    .await;
    let after_second = login_of(&sm, &arn, "AWSCURRENT", None).await;
    let third = uuid::Uuid::new_v4().to_string();
    run_steps(
        &lambda,
        &arn,
        &third,
        &["createSecret", "setSecret", "testSecret", "finishSecret"],
    )
    .await;
    let after_third = login_of(&sm, &arn, "AWSCURRENT", None).await;
    let clone_inserts_after = can(&clone, &after_third.1, &insert).await;

    let logs = lambda.logs();
    root(&format!(
        "DROP USER IF EXISTS '{user}'@'%', '{clone}'@'%', '{admin}'@'%'"
    ))
    .await;
    root(&format!("DROP DATABASE IF EXISTS `{db}`")).await;

    assert_eq!(pending_user, clone);
    assert_eq!(during, (true, true), "both logins work during the switch");
    assert_eq!(after_first, (clone.clone(), new1.clone()));
    assert!(clone_reads, "the clone has the user's SELECT");
    assert!(!clone_inserts_before, "and nothing more");
    assert_eq!(
        after_second.0, user,
        "the second rotation goes back to the user"
    );
    assert_eq!(after_third.0, clone);
    assert!(clone_inserts_after, "the grant given later was copied");
    // No password, nor the user's hash (SHOW GRANTS shows it on MariaDB), in the function's log.
    let hash = db_user::password::mysql_native_hash(&old);
    for line in &logs {
        for secret in [
            &admin_pw,
            &old,
            &new1,
            &after_second.1,
            &after_third.1,
            &hash,
        ] {
            assert!(
                !line.contains(secret.as_str()),
                "a secret leaked into: {line}"
            );
        }
    }
}
