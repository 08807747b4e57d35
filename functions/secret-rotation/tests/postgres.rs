//! The real `secret-rotation` binary under the harness, moto holding the secrets, and a
//! throwaway PostgreSQL cluster that checks passwords. The test plays Secrets Manager: it
//! makes the token and calls the steps itself (moto's `RotateSecret` invokes Lambda and
//! stages versions unlike AWS), reading versions with an explicit `VersionStage`.

use std::time::Duration;

use harness::{Lambda, LambdaConfig, LambdaResult, Moto, SecretsManager};
use serde_json::{Value, json};
use sqlx::Connection;

#[path = "../../db-user/tests/common/scram.rs"]
mod scram;

use scram::{ScramCluster, password};

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

struct Rig {
    pg: ScramCluster,
    _moto: Moto,
    sm: SecretsManager,
    lambda: Lambda,
    /// Every password made or seen, none of which may appear in the function's log.
    passwords: Vec<String>,
}

impl Rig {
    async fn start() -> Self {
        let pg = ScramCluster::start();
        let moto = Moto::start().await.unwrap();
        let sm = moto.secrets_manager();
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
        let passwords = vec![pg.admin_password.clone()];
        Self {
            pg,
            _moto: moto,
            sm,
            lambda,
            passwords,
        }
    }

    /// The admin secret, for a cluster at `host`.
    async fn admin(&self, name: &str, host: &str) -> String {
        let mut value = self.pg.admin_secret("postgres");
        value["host"] = json!(host);
        self.sm
            .create_secret(name, &value.to_string(), &[])
            .await
            .unwrap()
    }

    /// A user `user` with a password, its secret tagged `mode`, rotation on.
    async fn user(&mut self, user: &str, admin_arn: &str, mode: &str) -> (String, String) {
        self.user_with(user, admin_arn, mode, true).await
    }

    async fn user_with(
        &mut self,
        user: &str,
        admin_arn: &str,
        mode: &str,
        rotation: bool,
    ) -> (String, String) {
        let pw = password();
        self.passwords.push(pw.clone());
        self.pg
            .exec(
                "postgres",
                &format!("CREATE ROLE {user} LOGIN PASSWORD '{pw}'"),
            )
            .await;
        let value = json!({
            "engine": "postgres", "host": "127.0.0.1", "port": self.pg.port, "username": user,
            "password": pw, "dbname": "postgres", "masterarn": admin_arn,
        });
        let arn = self
            .sm
            .create_secret(
                &format!("{user}-secret"),
                &value.to_string(),
                &[("stackwright:rotation", mode)],
            )
            .await
            .unwrap();
        // Rotation on, as a RotationSchedule turns it on: without a Lambda ARN moto only
        // records the rules (and copies the value into a new AWSCURRENT version). Off is an
        // explicit `RotationEnabled: false`, which moto reports for rules with no day count
        // (a secret never rotated has no `RotationEnabled`, which AWS's functions take as on).
        let rules = if rotation {
            json!({"AutomaticallyAfterDays": 30})
        } else {
            json!({"ScheduleExpression": "rate(30 days)"})
        };
        self.sm
            .call(
                "RotateSecret",
                &json!({"SecretId": arn, "RotationRules": rules, "RotateImmediately": false}),
            )
            .await
            .unwrap();
        (arn, pw)
    }

    async fn step(&self, arn: &str, token: &str, step: &str) -> LambdaResult {
        let invocation = self
            .lambda
            .invoke(json!({"SecretId": arn, "ClientRequestToken": token, "Step": step}))
            .await
            .unwrap();
        invocation.lambda
    }

    async fn ok(&self, arn: &str, token: &str, step: &str) {
        let result = self.step(arn, token, step).await;
        assert!(
            result.is_ok(),
            "{step} failed: {result:?}\n{}",
            self.lambda.logs().join("\n")
        );
    }

    async fn failed(&self, arn: &str, token: &str, step: &str) -> String {
        match self.step(arn, token, step).await {
            LambdaResult::Error { error_message, .. } => error_message,
            other => panic!("{step} should have failed, got {other:?}"),
        }
    }

    async fn pending_password(&mut self, arn: &str, token: &str) -> String {
        let v = self
            .sm
            .get_secret_value(arn, Some("AWSPENDING"), Some(token))
            .await
            .unwrap();
        let value: Value = serde_json::from_str(v.string.as_deref().unwrap()).unwrap();
        let pw = value["password"].as_str().unwrap().to_owned();
        self.passwords.push(pw.clone());
        pw
    }

    async fn current(&self, arn: &str) -> (String, Value) {
        let v = self
            .sm
            .get_secret_value(arn, Some("AWSCURRENT"), None)
            .await
            .unwrap();
        (
            v.version_id,
            serde_json::from_str(v.string.as_deref().unwrap()).unwrap(),
        )
    }

    async fn logs_in(&self, user: &str, pw: &str) -> bool {
        match self.pg.login("postgres", user, pw).await {
            Ok(c) => {
                let _ = c.close().await;
                true
            }
            Err(_) => false,
        }
    }

    #[track_caller]
    fn assert_no_leak(&self) {
        for line in self.lambda.logs() {
            for pw in &self.passwords {
                assert!(
                    !line.contains(pw.as_str()),
                    "a password leaked into: {line}"
                );
            }
        }
    }
}

fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn the_four_steps_rotate_the_password_and_each_converges_when_repeated() {
    let mut rig = Rig::start().await;
    let admin = rig.admin("admin", "127.0.0.1").await;
    let (arn, old) = rig.user("app", &admin, "single").await;
    let (before, _) = rig.current(&arn).await;
    let token = token();

    // Given / when: each step twice, as Secrets Manager retries them.
    rig.ok(&arn, &token, "createSecret").await;
    let new = rig.pending_password(&arn, &token).await;
    rig.ok(&arn, &token, "createSecret").await;
    assert_eq!(
        rig.pending_password(&arn, &token).await,
        new,
        "a second createSecret keeps the pending value"
    );
    assert_ne!(new, old);
    assert_eq!(new.len(), 32);
    assert!(
        new.chars().all(|c| c.is_ascii_alphanumeric()),
        "the template's spec"
    );
    for step in &STEPS[1..] {
        rig.ok(&arn, &token, step).await;
        rig.ok(&arn, &token, step).await;
    }

    // Then: the new password logs in, the old one does not, AWSCURRENT is the token's.
    assert!(rig.logs_in("app", &new).await);
    assert!(!rig.logs_in("app", &old).await);
    let (current_version, current) = rig.current(&arn).await;
    assert_eq!(current_version, token);
    assert_eq!(current["password"], json!(new));
    assert_eq!(
        current["masterarn"],
        json!(admin),
        "only the password changes"
    );
    let description = rig
        .sm
        .call("DescribeSecret", &json!({"SecretId": arn}))
        .await
        .unwrap();
    let stages = &description["VersionIdsToStages"];
    assert!(
        stages[&before]
            .as_array()
            .unwrap()
            .contains(&json!("AWSPREVIOUS")),
        "{stages}"
    );

    // Every step of a finished rotation, run again, changes nothing.
    for step in STEPS {
        rig.ok(&arn, &token, step).await;
    }
    assert!(rig.logs_in("app", &new).await);

    // The password travelled to the server as a verifier only, and is in no log line.
    assert!(
        !rig.pg.log().contains(&new),
        "the new password reached the server's log"
    );
    rig.assert_no_leak();
}

#[tokio::test]
async fn a_stale_pending_version_from_a_failed_rotation_does_not_block_the_next() {
    let mut rig = Rig::start().await;
    let admin = rig.admin("admin", "127.0.0.1").await;
    let (arn, old) = rig.user("app", &admin, "single").await;

    // Given: a rotation that stopped after createSecret.
    let stale = token();
    rig.ok(&arn, &stale, "createSecret").await;
    let stale_pw = rig.pending_password(&arn, &stale).await;

    // When: the next rotation, with a new token.
    let token = token();
    for step in STEPS {
        rig.ok(&arn, &token, step).await;
    }

    // Then: its password is the one that works, and the stale one is not pending any more.
    let (version, current) = rig.current(&arn).await;
    assert_eq!(version, token);
    let new = current["password"].as_str().unwrap().to_owned();
    assert_ne!(new, stale_pw);
    assert!(rig.logs_in("app", &new).await);
    assert!(!rig.logs_in("app", &old).await);
    assert!(!rig.logs_in("app", &stale_pw).await);
    let msg = rig.failed(&arn, &stale, "setSecret").await;
    assert!(msg.contains("not staged AWSPENDING"), "{msg}");
    rig.assert_no_leak();
}

#[tokio::test]
async fn a_failing_test_secret_sets_the_current_password_back() {
    let mut rig = Rig::start().await;
    let admin = rig.admin("admin", "127.0.0.1").await;
    let (arn, old) = rig.user("app", &admin, "single").await;
    let token = token();
    rig.ok(&arn, &token, "createSecret").await;
    rig.ok(&arn, &token, "setSecret").await;
    let new = rig.pending_password(&arn, &token).await;
    assert!(rig.logs_in("app", &new).await);

    // Given: something changes the password between setSecret and testSecret.
    rig.pg
        .exec("postgres", "ALTER ROLE app PASSWORD NULL")
        .await;

    // When / then: testSecret fails, and AWSCURRENT's password works again.
    let msg = rig.failed(&arn, &token, "testSecret").await;
    assert!(
        msg.contains("does not log in") && msg.contains("set back"),
        "{msg}"
    );
    assert!(rig.logs_in("app", &old).await);
    let (version, _) = rig.current(&arn).await;
    assert_ne!(version, token);
    rig.assert_no_leak();
}

#[tokio::test]
async fn other_servers_rotation_off_and_a_secret_without_specs_fail_clearly() {
    let mut rig = Rig::start().await;
    let elsewhere = rig.admin("admin-elsewhere", "127.0.0.2").await;
    let (arn, old) = rig.user("app", &elsewhere, "single").await;
    let token = token();
    rig.ok(&arn, &token, "createSecret").await;
    let msg = rig.failed(&arn, &token, "setSecret").await;
    assert!(
        msg.contains("admin-elsewhere") && msg.contains("127.0.0.2") && msg.contains("same server"),
        "{msg}"
    );
    assert!(rig.logs_in("app", &old).await, "nothing changed");

    let admin = rig.admin("admin", "127.0.0.1").await;
    let (off, _) = rig.user_with("app_off", &admin, "single", false).await;
    let msg = rig.failed(&off, &token, "createSecret").await;
    assert!(msg.contains("not enabled for rotation"), "{msg}");
    // A user secret without recorded specs cannot be regenerated: it says which tag it needs.
    let (arn, _) = rig.user("app_regenerate", &admin, "regenerate").await;
    let msg = rig.failed(&arn, &token, "createSecret").await;
    assert!(msg.contains("`stackwright:spec:<key>`"), "{msg}");
    rig.assert_no_leak();
}

impl Rig {
    /// `SELECT current_user` and a read of `table`, logged in as `user`; `None` when the login
    /// is refused, the read's error text otherwise.
    async fn acts_as(
        &self,
        user: &str,
        pw: &str,
        table: &str,
    ) -> Option<(String, Result<(), String>)> {
        let mut c = self.pg.login("postgres", user, pw).await.ok()?;
        let who: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut c)
            .await
            .unwrap();
        let read = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut c)
            .await
            .map(drop)
            .map_err(|e| e.to_string());
        let _ = c.close().await;
        Some((who, read))
    }

    /// createSecret and setSecret, each twice; the pending password.
    async fn rotate_twice_each(&mut self, arn: &str, token: &str) -> String {
        for step in &STEPS[..2] {
            self.ok(arn, token, step).await;
            self.ok(arn, token, step).await;
        }
        self.pending_password(arn, token).await
    }
}

#[tokio::test]
async fn alternating_makes_a_clone_that_follows_the_users_grants_and_the_two_take_turns() {
    let mut rig = Rig::start().await;
    let admin = rig.admin("admin", "127.0.0.1").await;
    let (arn, old) = rig.user("app", &admin, "alternating").await;
    rig.pg
        .exec(
            "postgres",
            "CREATE TABLE t1 (x int); GRANT SELECT ON t1 TO app",
        )
        .await;

    // First rotation: createSecret and setSecret (each twice) make `app_clone`.
    let first = token();
    let new1 = rig.rotate_twice_each(&arn, &first).await;
    let (_, pending) = {
        let v = rig
            .sm
            .get_secret_value(&arn, Some("AWSPENDING"), Some(&first))
            .await
            .unwrap();
        (
            v.version_id,
            serde_json::from_str::<Value>(v.string.as_deref().unwrap()).unwrap(),
        )
    };
    assert_eq!(pending["username"], "app_clone");
    assert_eq!(pending["masterarn"], json!(admin), "only the login changes");

    // During the switch both logins work: clients still on AWSCURRENT are not cut off.
    assert!(
        rig.logs_in("app", &old).await,
        "the current login keeps working"
    );
    assert!(rig.logs_in("app_clone", &new1).await);
    for step in &STEPS[2..] {
        rig.ok(&arn, &first, step).await;
        rig.ok(&arn, &first, step).await;
    }

    // After finishSecret the secret names the clone, which acts as `app`: it reads what
    // `app` may read, and what it would create is `app`'s.
    let (version, current) = rig.current(&arn).await;
    assert_eq!(version, first);
    assert_eq!(current["username"], "app_clone");
    assert_eq!(current["password"], json!(new1));
    let (who, read) = rig.acts_as("app_clone", &new1, "t1").await.unwrap();
    assert_eq!((who.as_str(), read), ("app", Ok(())));

    // A grant given to `app` later reaches the clone.
    rig.pg.exec("postgres", "CREATE TABLE t2 (x int)").await;
    let (_, read) = rig.acts_as("app_clone", &new1, "t2").await.unwrap();
    assert!(read.is_err(), "not granted yet");
    rig.pg.exec("postgres", "GRANT SELECT ON t2 TO app").await;
    let (_, read) = rig.acts_as("app_clone", &new1, "t2").await.unwrap();
    assert_eq!(read, Ok(()));

    // Second rotation: back to `app`, with a new password; the clone is left as it is.
    let second = token();
    let new2 = rig.rotate_twice_each(&arn, &second).await;
    assert!(
        rig.logs_in("app_clone", &new1).await,
        "the current login keeps working"
    );
    assert!(rig.logs_in("app", &new2).await);
    for step in &STEPS[2..] {
        rig.ok(&arn, &second, step).await;
        rig.ok(&arn, &second, step).await;
    }
    let (version, current) = rig.current(&arn).await;
    assert_eq!(version, second);
    assert_eq!(current["username"], "app");
    assert_eq!(current["password"], json!(new2));
    assert!(
        !rig.logs_in("app", &old).await,
        "the first password is gone"
    );

    // Third rotation: the clone again, its password new; the role is reused.
    let third = token();
    for step in STEPS {
        rig.ok(&arn, &third, step).await;
    }
    let (_, current) = rig.current(&arn).await;
    let new3 = current["password"].as_str().unwrap().to_owned();
    rig.passwords.push(new3.clone());
    assert_eq!(current["username"], "app_clone");
    assert!(rig.logs_in("app_clone", &new3).await);
    assert!(!rig.logs_in("app_clone", &new1).await);

    // No password reached the server's statement log (only verifiers) or the function's log.
    let log = rig.pg.log();
    for pw in [&new1, &new2, &new3] {
        assert!(
            !log.contains(pw.as_str()),
            "a new password reached the server's log"
        );
    }
    rig.assert_no_leak();
}

#[tokio::test]
async fn alternating_refuses_a_secret_whose_current_login_does_not_work() {
    let mut rig = Rig::start().await;
    let admin = rig.admin("admin", "127.0.0.1").await;
    let (arn, _) = rig.user("app", &admin, "alternating").await;
    // Given: the password was changed outside rotation.
    rig.pg
        .exec("postgres", "ALTER ROLE app PASSWORD NULL")
        .await;
    let token = token();
    rig.ok(&arn, &token, "createSecret").await;
    let msg = rig.failed(&arn, &token, "setSecret").await;
    assert!(
        msg.contains("neither the AWSCURRENT nor the AWSPENDING password"),
        "{msg}"
    );
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = 'app_clone'")
            .fetch_optional(&mut rig.pg.admin("postgres").await)
            .await
            .unwrap();
    assert_eq!(exists, None, "no clone was made");
    rig.assert_no_leak();
}
