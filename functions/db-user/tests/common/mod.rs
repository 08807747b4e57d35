//! Shared set-up for the integration tests: the real `db-user` binary under the harness, moto
//! holding RDS-format secrets, a throwaway PostgreSQL cluster that checks passwords (scram)
//! and logs every statement, and the machine's MariaDB (which checks passwords of new users).

#![allow(dead_code)]

use std::time::Duration;

use harness::{Lambda, LambdaConfig, Moto, ResponseServer, SecretsManager, Stack};
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

pub const TYPE: &str = "Custom::DatabaseUser";
pub const MYSQL_PORT: u16 = 3306;

mod scram;
#[allow(unused_imports)] // the MariaDB tests start no cluster
pub use scram::{ScramCluster, password};

/// A local CloudFormation (ResponseURL server, stack) and a moto Secrets Manager.
pub struct Env {
    pub responses: ResponseServer,
    pub moto: Moto,
    pub stack: Stack,
    pub sm: SecretsManager,
    secrets: std::sync::Mutex<Vec<String>>,
}

impl Env {
    pub async fn new(stack: &str) -> Self {
        let responses = ResponseServer::start().await.unwrap();
        let moto = Moto::start().await.unwrap();
        let sm = moto.secrets_manager();
        let stack = Stack::new(stack, &responses);
        Self {
            responses,
            moto,
            stack,
            sm,
            secrets: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Stores an RDS-format secret in moto and returns its ARN; its password is checked for
    /// leaks from then on.
    pub async fn secret(&self, name: &str, value: &Value) -> String {
        self.forbid_password(value);
        self.sm
            .create_secret(name, &value.to_string(), &[])
            .await
            .unwrap()
    }

    /// A new value for a secret (a new version, as the seeder makes when it regenerates).
    pub async fn put(&self, arn: &str, value: &Value) -> String {
        self.forbid_password(value);
        self.sm
            .put_secret_value(arn, &value.to_string())
            .await
            .unwrap()
    }

    fn forbid_password(&self, value: &Value) {
        if let Some(p) = value["password"].as_str()
            && !p.is_empty()
        {
            self.secrets.lock().unwrap().push(p.to_owned());
        }
    }

    /// The function with `STACKWRIGHT_ALLOW` set to `allow`, in a sandbox of its own.
    pub async fn lambda(&self, allow: &str) -> Lambda {
        let mut config = LambdaConfig::new(harness::pinned(env!("CARGO_BIN_EXE_db-user")).unwrap())
            .responses(&self.responses)
            .timeout(Duration::from_secs(30))
            .env("RUST_LOG", "debug")
            .env("STACKWRIGHT_ALLOW", allow);
        for (k, v) in self.moto.env() {
            config = config.env(k, v);
        }
        Lambda::start(config).await.unwrap()
    }

    /// Invokes, checks that no secret leaked, returns what CloudFormation received.
    pub async fn respond(&self, lambda: &Lambda, event: Value) -> Value {
        let invocation = lambda.invoke(event).await.unwrap();
        self.assert_no_leak(lambda);
        invocation.response()
    }

    /// As [`Env::respond`], during a rollback.
    pub async fn roll_back(&self, lambda: &Lambda, event: Value) -> Value {
        let invocation = lambda
            .invoke_during(event, "UPDATE_ROLLBACK_IN_PROGRESS")
            .await
            .unwrap();
        self.assert_no_leak(lambda);
        invocation.response()
    }

    #[track_caller]
    pub fn assert_no_leak(&self, lambda: &Lambda) {
        let secrets = self.secrets.lock().unwrap().clone();
        harness::assert_no_leak(lambda, &self.responses, &secrets);
    }

    pub fn create(&self, props: Value) -> Value {
        self.stack.create("AppUser", TYPE, props)
    }

    pub fn update(&self, id: &str, props: Value, old: Value) -> Value {
        self.stack.update("AppUser", TYPE, id, props, old)
    }

    pub fn delete(&self, id: &str, props: Value) -> Value {
        self.stack.delete("AppUser", TYPE, id, props)
    }
}

#[track_caller]
pub fn assert_success(response: &Value) {
    assert_eq!(
        response["Status"], "SUCCESS",
        "expected SUCCESS, got {response:#}"
    );
}

#[track_caller]
pub fn assert_failed(response: &Value) -> String {
    assert_eq!(
        response["Status"], "FAILED",
        "expected FAILED, got {response:#}"
    );
    response["Reason"].as_str().unwrap().to_owned()
}

/// Whether `sql` runs (`Ok`) or is refused (`Err` with the SQLSTATE).
pub async fn pg_try(conn: &mut PgConnection, sql: &str) -> Result<(), String> {
    conn.execute(AssertSqlSafe(sql.to_owned()))
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

/// Whether `sql` runs (`Ok`) or is refused (`Err` with the SQLSTATE).
pub async fn my_try(conn: &mut MySqlConnection, sql: &str) -> Result<(), String> {
    conn.execute(AssertSqlSafe(sql.to_owned()))
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

fn code(e: &sqlx::Error) -> String {
    e.as_database_error()
        .and_then(|d| d.code().map(|c| c.into_owned()))
        .unwrap_or_else(|| e.to_string())
}

pub async fn my_root(database: Option<&str>) -> MySqlConnection {
    let mut o = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(MYSQL_PORT)
        .username("root");
    if let Some(db) = database {
        o = o.database(db);
    }
    o.connect().await.unwrap()
}

pub async fn my_exec(database: Option<&str>, sql: &str) {
    let mut c = my_root(database).await;
    c.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
    let _ = c.close().await;
}

pub async fn my_login(
    database: &str,
    user: &str,
    password: &str,
) -> Result<MySqlConnection, sqlx::Error> {
    MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(MYSQL_PORT)
        .username(user)
        .password(password)
        .database(database)
        .connect()
        .await
}

/// Drops a MariaDB database and user when the test ends, passed or failed.
pub struct MyCleanup {
    pub database: String,
    pub user: String,
}

impl Drop for MyCleanup {
    fn drop(&mut self) {
        let (database, user) = (self.database.clone(), self.user.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = MySqlConnectOptions::new()
                    .host("127.0.0.1")
                    .port(MYSQL_PORT)
                    .username("root")
                    .connect()
                    .await
                {
                    let _ = c
                        .execute(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS `{database}`"
                        )))
                        .await;
                    let _ = c
                        .execute(AssertSqlSafe(format!("DROP USER IF EXISTS '{user}'@'%'")))
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}
