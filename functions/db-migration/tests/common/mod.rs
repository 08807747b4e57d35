//! Shared set-up for the integration tests: the real `db-migration` binary under the harness,
//! moto holding RDS-format secrets, and direct connections to the local PostgreSQL and MariaDB
//! to check what the function did.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Invocation, Lambda, LambdaConfig, Moto, ResponseServer, SecretsManager, Stack};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

pub const TYPE: &str = "Custom::DatabaseMigration";
pub const PG_PORT: u16 = 5432;
pub const MYSQL_PORT: u16 = 3306;

/// A unique database name for one test: `swt_<tag>_<random>`.
pub fn db_name(tag: &str) -> String {
    format!("swt_{tag}_{:08x}", fastrand::u32(..))
}

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
    /// Values that must never be printed or answered.
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

    /// Stores an RDS-format secret in moto and returns its ARN.
    pub async fn secret(&self, name: &str, value: &Value) -> String {
        if let Some(p) = value["password"].as_str()
            && !p.is_empty()
        {
            self.secrets.lock().unwrap().push(p.to_owned());
        }
        self.sm
            .create_secret(name, &value.to_string(), &[])
            .await
            .unwrap()
    }

    /// An RDS-format secret for the local PostgreSQL (trust auth: any password is accepted,
    /// so a distinctive one shows any leak).
    pub async fn pg_secret(&self, name: &str, dbname: Option<&str>, port: u16) -> String {
        let mut value = json!({
            "engine": "postgres", "host": "127.0.0.1", "port": port,
            "username": "postgres", "password": password(),
        });
        if let Some(db) = dbname {
            value["dbname"] = json!(db);
        }
        self.secret(name, &value).await
    }

    /// Also checked by [`Env::invoke`]: a value that must never be printed.
    pub fn forbid(&self, value: &str) {
        self.secrets.lock().unwrap().push(value.to_owned());
    }

    /// The function under the harness; `migrations`/`seeds` folders for the test-folders build.
    pub async fn lambda(&self, migrations: Option<&Path>, seeds: Option<&Path>) -> Lambda {
        self.lambda_with(migrations, seeds, |c| c).await
    }

    pub async fn lambda_with(
        &self,
        migrations: Option<&Path>,
        seeds: Option<&Path>,
        configure: impl FnOnce(LambdaConfig) -> LambdaConfig,
    ) -> Lambda {
        let mut config =
            LambdaConfig::new(harness::pinned(env!("CARGO_BIN_EXE_db-migration")).unwrap())
                .responses(&self.responses)
                .timeout(Duration::from_secs(30))
                .env("RUST_LOG", "debug");
        for (k, v) in self.moto.env() {
            config = config.env(k, v);
        }
        if let Some(dir) = migrations {
            config = config.env("STACKWRIGHT_MIGRATIONS_DIR", dir.display().to_string());
        }
        if let Some(dir) = seeds {
            config = config.env("STACKWRIGHT_SEEDS_DIR", dir.display().to_string());
        }
        Lambda::start(configure(config)).await.unwrap()
    }

    /// Invokes, checks that no secret and no ResponseURL signature leaked, returns the
    /// invocation.
    pub async fn invoke(&self, lambda: &Lambda, event: Value) -> Invocation {
        let invocation = lambda.invoke(event).await.unwrap();
        self.assert_no_leak(lambda);
        invocation
    }

    /// Invokes and returns the one response CloudFormation received.
    pub async fn respond(&self, lambda: &Lambda, event: Value) -> Value {
        self.invoke(lambda, event).await.response()
    }

    /// As [`Env::respond`], for a rollback's Update: CloudFormation says the stack is in
    /// `UPDATE_ROLLBACK_IN_PROGRESS` meanwhile.
    pub async fn roll_back(&self, lambda: &Lambda, event: Value) -> Value {
        let invocation = lambda
            .invoke_during(event, "UPDATE_ROLLBACK_IN_PROGRESS")
            .await
            .unwrap();
        self.assert_no_leak(lambda);
        invocation.response()
    }

    /// As [`Env::respond`], for an event CloudFormation did not send (nothing is in progress
    /// for it).
    pub async fn forge(&self, lambda: &Lambda, event: Value) -> Value {
        let invocation = lambda.invoke_forged(event).await.unwrap();
        self.assert_no_leak(lambda);
        invocation.response()
    }

    #[track_caller]
    pub fn assert_no_leak(&self, lambda: &Lambda) {
        let secrets = self.secrets.lock().unwrap().clone();
        harness::assert_no_leak(lambda, &self.responses, &secrets);
    }

    pub fn create(&self, props: Value) -> Value {
        self.stack.create("Db", TYPE, props)
    }

    pub fn update(&self, id: &str, props: Value, old: Value) -> Value {
        self.stack.update("Db", TYPE, id, props, old)
    }

    pub fn delete(&self, id: &str, props: Value) -> Value {
        self.stack.delete("Db", TYPE, id, props)
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
pub fn assert_failed(response: &Value) -> &str {
    assert_eq!(
        response["Status"], "FAILED",
        "expected FAILED, got {response:#}"
    );
    response["Reason"].as_str().unwrap()
}

/// A folder of migration (or seed) files that tests write and rewrite.
pub struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, sql: &str) -> &Self {
        let path: PathBuf = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, sql).unwrap();
        self
    }

    pub fn remove(&self, name: &str) -> &Self {
        std::fs::remove_file(self.dir.path().join(name)).unwrap();
        self
    }
}

pub async fn pg(database: &str) -> PgConnection {
    PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(PG_PORT)
        .username("postgres")
        .database(database)
        .connect()
        .await
        .unwrap()
}

pub async fn pg_exists(database: &str) -> bool {
    let mut c = pg("postgres").await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut c)
            .await
            .unwrap();
    let _ = c.close().await;
    exists
}

pub async fn pg_create(database: &str) {
    let mut c = pg("postgres").await;
    c.execute(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
        .await
        .unwrap();
    let _ = c.close().await;
}

pub async fn pg_drop(database: &str) {
    let mut c = pg("postgres").await;
    c.execute(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .await
    .unwrap();
    let _ = c.close().await;
}

/// `(version, success)` rows of `_sqlx_migrations`.
pub async fn pg_versions(database: &str) -> Vec<(i64, bool)> {
    let mut c = pg(database).await;
    let rows = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    rows
}

/// Every `_sqlx_migrations` row as sqlx wrote it: `(version, checksum, success, installed_on)`,
/// to show a run changed nothing at all.
pub async fn pg_history(database: &str) -> Vec<(i64, Vec<u8>, bool, String)> {
    let mut c = pg(database).await;
    let rows = sqlx::query_as(
        "SELECT version, checksum, success, installed_on::text FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let _ = c.close().await;
    rows
}

/// Migrations 1 to `n` (reversible), each creating a table `t<version>`.
pub fn numbered(n: i64) -> Folder {
    let f = Folder::new();
    for v in 1..=n {
        f.write(
            &format!("{v}_create_t{v}.up.sql"),
            &format!("CREATE TABLE t{v} (id INT);\n"),
        );
        f.write(
            &format!("{v}_create_t{v}.down.sql"),
            &format!("DROP TABLE t{v};\n"),
        );
    }
    f
}

/// The lines of a function's log that contain `text`.
pub fn log_lines(lambda: &Lambda, text: &str) -> Vec<String> {
    lambda
        .logs()
        .into_iter()
        .filter(|l| l.contains(text))
        .collect()
}

pub async fn pg_scalar_i64(database: &str, sql: &str) -> i64 {
    let mut c = pg(database).await;
    let v: i64 = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    v
}

pub async fn pg_table_exists(database: &str, table: &str) -> bool {
    let mut c = pg(database).await;
    let v: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    v
}

pub async fn my(database: Option<&str>) -> MySqlConnection {
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
    let mut c = my(database).await;
    c.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
    let _ = c.close().await;
}

pub async fn my_versions(database: &str) -> Vec<(i64, bool)> {
    let mut c = my(Some(database)).await;
    let rows = sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut c)
        .await
        .unwrap();
    let _ = c.close().await;
    rows
}

/// Every `_sqlx_migrations` row: `(version, checksum, success, installed_on)`.
pub async fn my_history(database: &str) -> Vec<(i64, Vec<u8>, bool, String)> {
    let mut c = my(Some(database)).await;
    let rows = sqlx::query_as(
        "SELECT version, checksum, success, CAST(installed_on AS CHAR) FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let _ = c.close().await;
    rows
}

pub async fn my_exists(database: &str) -> bool {
    let mut c = my(None).await;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(database)
    .fetch_one(&mut c)
    .await
    .unwrap();
    let _ = c.close().await;
    n > 0
}

/// A port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Drops a database (or a MariaDB user) when the test ends, passed or failed: a panicking
/// test must not leave `swt_` databases behind. Runs on its own thread and runtime, since
/// `Drop` cannot await.
pub struct Cleanup(Option<(Kind, String)>);

enum Kind {
    Pg,
    My,
    MyUser,
}

impl Cleanup {
    pub fn pg(database: &str) -> Self {
        Self(Some((Kind::Pg, database.to_owned())))
    }

    pub fn my(database: &str) -> Self {
        Self(Some((Kind::My, database.to_owned())))
    }

    pub fn my_user(user: &str) -> Self {
        Self(Some((Kind::MyUser, user.to_owned())))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some((kind, name)) = self.0.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let sql = match kind {
                    Kind::Pg => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    Kind::My => format!("DROP DATABASE IF EXISTS `{name}`"),
                    Kind::MyUser => format!("DROP USER IF EXISTS '{name}'@'%'"),
                };
                match kind {
                    Kind::Pg => {
                        if let Ok(mut c) = PgConnectOptions::new_without_pgpass()
                            .host("127.0.0.1")
                            .port(PG_PORT)
                            .username("postgres")
                            .database("postgres")
                            .connect()
                            .await
                        {
                            let _ = c.execute(AssertSqlSafe(sql)).await;
                            let _ = c.close().await;
                        }
                    }
                    Kind::My | Kind::MyUser => {
                        if let Ok(mut c) = MySqlConnectOptions::new()
                            .host("127.0.0.1")
                            .port(MYSQL_PORT)
                            .username("root")
                            .connect()
                            .await
                        {
                            let _ = c.execute(AssertSqlSafe(sql)).await;
                            let _ = c.close().await;
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// A TCP listener on 127.0.0.1 that counts connections and records what clients send: alone,
/// a server that answers nothing ("does anything connect here?"); with an upstream, a proxy in
/// front of a local server ("what went over the wire?").
pub struct Recorder {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    sent: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Accepts, records, answers nothing.
    pub async fn listen() -> Self {
        Self::start(None).await
    }

    /// Forwards every connection to `127.0.0.1:<upstream>`, recording what the client sends.
    pub async fn proxy(upstream: u16) -> Self {
        Self::start(Some(upstream)).await
    }

    async fn start(upstream: Option<u16>) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (count, record) = (connections.clone(), sent.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let record = record.clone();
                tokio::spawn(async move {
                    let mut server = match upstream {
                        Some(port) => {
                            match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                                Ok(s) => Some(s),
                                Err(_) => return,
                            }
                        }
                        None => None,
                    };
                    let (mut from_client, mut to_client) = client.split();
                    let (mut from_server, mut to_server) = match server.as_mut() {
                        Some(s) => {
                            let (r, w) = s.split();
                            (Some(r), Some(w))
                        }
                        None => (None, None),
                    };
                    let upward = async {
                        let mut buf = [0u8; 8192];
                        loop {
                            let n = match from_client.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            record.lock().unwrap().extend_from_slice(&buf[..n]);
                            if let Some(w) = to_server.as_mut()
                                && w.write_all(&buf[..n]).await.is_err()
                            {
                                break;
                            }
                        }
                        if let Some(w) = to_server.as_mut() {
                            let _ = w.shutdown().await;
                        }
                    };
                    let downward = async {
                        if let Some(r) = from_server.as_mut() {
                            let _ = tokio::io::copy(r, &mut to_client).await;
                            let _ = to_client.shutdown().await;
                        }
                    };
                    tokio::join!(upward, downward);
                });
            }
        });
        Self {
            port,
            connections,
            sent,
            task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Everything clients sent so far.
    pub fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().clone()
    }

    /// Forgets what was counted and recorded.
    pub fn clear(&self) {
        self.connections
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.sent.lock().unwrap().clear();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `haystack` holds `needle` anywhere.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
