//! A throwaway PostgreSQL cluster that checks passwords (scram-sha-256) and logs every
//! statement, for the tests of every crate that logs users in (`db-user`, `secret-rotation`,
//! which includes this file with `#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

/// A password that is easy to find if it ever leaks.
pub fn password() -> String {
    format!("pw-{:016x}-Leak!", fastrand::u64(..))
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
