//! Single rotation on the machine's MariaDB (root without a password; the users made here
//! have their passwords checked): the `mysql_native_password` hash set through an admin, the
//! old password refused afterwards.

use std::time::Duration;

use harness::{Lambda, LambdaConfig, Moto};
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
