//! Shared set-up for the integration tests: the real `db-user` binary under the harness, moto
//! holding RDS-format secrets, a throwaway PostgreSQL cluster that checks passwords (scram)
//! and logs every statement, and the machine's MariaDB (which checks passwords of new users).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::{Lambda, LambdaConfig, Moto, ResponseServer, SecretsManager, Stack};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

pub const TYPE: &str = "Custom::DatabaseUser";
pub const MYSQL_PORT: u16 = 3306;

/// A password that is easy to find if it ever leaks.
pub fn password() -> String {
    format!("pw-{:016x}-Leak!", fastrand::u64(..))
}

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

/// A throwaway PostgreSQL cluster that checks passwords on 127.0.0.1 (scram-sha-256) and logs
/// every statement it receives (`log_statement = all`); stopped and removed when dropped.
pub struct ScramCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    pub admin_password: String,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// Runs a PostgreSQL tool as the `postgres` OS user (initdb refuses root).
fn as_postgres(program: &Path, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl ScramCluster {
    pub fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("scram-pg-")
            .tempdir()
            .unwrap();
        let admin_password = password();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &admin_password).unwrap();
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let data = dir.path().join("data");
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                &format!("--pwfile={}", pwfile.display()),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        std::fs::remove_file(&pwfile).unwrap();
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nlog_statement = 'all'\nfsync = off\n");
        std::fs::write(&conf, text).unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        as_postgres(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                dir.path().join("server.log").to_str().unwrap(),
                "-o",
                &format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1",
                    dir.path().display()
                ),
                "-w",
                "start",
            ],
        );
        Self {
            dir,
            bin,
            port,
            admin_password,
        }
    }

    /// Everything the server logged, every statement included.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The admin secret's value.
    pub fn admin_secret(&self, dbname: &str) -> Value {
        json!({
            "engine": "postgres", "host": "127.0.0.1", "port": self.port,
            "username": "postgres", "password": self.admin_password, "dbname": dbname,
        })
    }

    /// A connection as `user` with `password`; the server's error when refused.
    pub async fn login(
        &self,
        database: &str,
        user: &str,
        password: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        PgConnectOptions::new_without_pgpass()
            .host("127.0.0.1")
            .port(self.port)
            .username(user)
            .password(password)
            .database(database)
            .connect()
            .await
    }

    /// A connection as the admin.
    pub async fn admin(&self, database: &str) -> PgConnection {
        self.login(database, "postgres", &self.admin_password.clone())
            .await
            .unwrap()
    }

    /// Runs SQL as the admin.
    pub async fn exec(&self, database: &str, sql: &str) {
        let mut c = self.admin(database).await;
        c.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
        let _ = c.close().await;
    }
}

impl Drop for ScramCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args([
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
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
