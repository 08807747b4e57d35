//! The database I/O, narrow: connect as the admin (with `db-migration`'s connection options,
//! so TLS and credentials are handled one way), ask whether a user exists, try a login, and
//! run a plan's statements. The rotation function connects and runs its SQL through these.

use db_migration::budget::Budget;
use db_migration::db_message;
use db_migration::secret::{DbSecret, Engine};
use db_migration::store::{Connection, Credentials};
use db_migration::target::Target;
use db_migration::tls::TlsSettings;
use sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection as _, Executor, Row as _, query_scalar};

use crate::Error;
use crate::password::MySqlAuth;
use crate::plan::{Existing, Statement};

/// The name sessions show in `pg_stat_activity`.
const APPLICATION_NAME: &str = "stackwright-db-user";

/// One open connection, as the admin or as the user.
pub enum Conn {
    /// PostgreSQL.
    Pg(PgConnection),
    /// MySQL or MariaDB.
    My(MySqlConnection),
}

/// A login that failed for its credentials, told apart from a server that could not be
/// reached.
#[derive(Debug)]
pub enum LoginError {
    /// The server refused the user name or password.
    Refused,
    /// Anything else (unreachable, TLS, timeout): the reason to report.
    Other(Error),
}

/// Connects to `target` as `secret`'s user, within the connect timeout; statement logging off
/// (the SQL may hold a verifier).
///
/// # Errors
///
/// [`LoginError::Refused`] when the server refuses the credentials, else the connection error.
pub async fn connect(
    target: &Target,
    secret: &DbSecret,
    tls: &TlsSettings,
    budget: &Budget,
) -> Result<Conn, LoginError> {
    let conn = Connection {
        target,
        credentials: Credentials {
            username: &secret.username,
            password: &secret.password,
        },
        tls,
    };
    let limit = budget.connect_timeout();
    let statement = budget.statement_timeout();
    let opened = match target.engine {
        Engine::Postgres => {
            let options =
                db_migration::store::postgres::options(&conn, &target.database, statement)
                    .application_name(APPLICATION_NAME)
                    .disable_statement_logging();
            tokio::time::timeout(limit, Box::pin(options.connect()))
                .await
                .map(|r| r.map(Conn::Pg))
        }
        Engine::MySql => {
            let options =
                db_migration::store::mysql::options(&conn, None).disable_statement_logging();
            tokio::time::timeout(limit, Box::pin(options.connect()))
                .await
                .map(|r| r.map(Conn::My))
        }
    };
    match opened {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) if refused(&e) => Err(LoginError::Refused),
        Ok(Err(e)) => Err(LoginError::Other(
            db_migration::Error::Connect {
                server: target.server(),
                database: target.database.clone(),
                message: db_message(&e),
            }
            .into(),
        )),
        Err(_) => Err(LoginError::Other(
            db_migration::Error::ConnectTimeout {
                server: target.server(),
                database: target.database.clone(),
                after: limit,
            }
            .into(),
        )),
    }
}

/// Connects as the admin: a refused login is an error like any other.
///
/// # Errors
///
/// [`db_migration::Error::Connect`] and the like.
pub async fn connect_admin(
    target: &Target,
    admin: &DbSecret,
    tls: &TlsSettings,
    budget: &Budget,
) -> Result<Conn, Error> {
    match connect(target, admin, tls, budget).await {
        Ok(c) => Ok(c),
        Err(LoginError::Other(e)) => Err(e),
        Err(LoginError::Refused) => Err(db_migration::Error::Connect {
            server: target.server(),
            database: target.database.clone(),
            message: format!(
                "the server refused the admin secret's user `{}` (its password, or it may not log in)",
                admin.username
            ),
        }
        .into()),
    }
}

/// Whether `user`'s secret logs in now: a connection opened and closed at once.
///
/// # Errors
///
/// When the server cannot be asked (unreachable, TLS, timeout).
pub async fn logs_in(
    target: &Target,
    user: &DbSecret,
    tls: &TlsSettings,
    budget: &Budget,
) -> Result<bool, Error> {
    match connect(target, user, tls, budget).await {
        Ok(c) => {
            c.close().await;
            Ok(true)
        }
        Err(LoginError::Refused) => Ok(false),
        Err(LoginError::Other(e)) => Err(e),
    }
}

/// Authentication refused: PostgreSQL `28P01` (password) and `28000` (no such role, or not
/// allowed to log in); MySQL 1045 (access denied) and 1698 (access denied without the
/// password clause: MariaDB's answer for a user that does not exist, after its auth switch).
fn refused(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    if let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>() {
        return matches!(my.number(), 1045 | 1698);
    }
    matches!(db.code().as_deref(), Some("28P01" | "28000"))
}

impl Conn {
    /// The engine.
    pub fn engine(&self) -> Engine {
        match self {
            Self::Pg(_) => Engine::Postgres,
            Self::My(_) => Engine::MySql,
        }
    }

    /// The user, if it exists (MySQL: the account `'user'@'%'`).
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn user(&mut self, user: &str) -> Result<Option<Existing>, sqlx::Error> {
        match self {
            Self::Pg(c) => {
                let iam: Option<bool> = query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid \
                     WHERE m.member = r.oid AND g.rolname = 'rds_iam') FROM pg_roles r WHERE r.rolname = $1",
                )
                .bind(user)
                .fetch_optional(&mut *c)
                .await?;
                Ok(iam.map(|iam| Existing { iam }))
            }
            Self::My(c) => {
                let plugin: Option<String> =
                    query_scalar("SELECT plugin FROM mysql.user WHERE User = ? AND Host = '%'")
                        .bind(user)
                        .fetch_optional(&mut *c)
                        .await?;
                Ok(plugin.map(|p| Existing {
                    iam: p == "AWSAuthenticationPlugin",
                }))
            }
        }
    }

    /// The password form the server takes: from `SELECT VERSION()` on MySQL and MariaDB
    /// ([`MySqlAuth::for_version`]); PostgreSQL has one form (the answer is not used).
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn mysql_auth(&mut self) -> Result<MySqlAuth, sqlx::Error> {
        match self {
            Self::Pg(_) => Ok(MySqlAuth::Native),
            Self::My(c) => {
                let version: String = query_scalar("SELECT VERSION()").fetch_one(&mut *c).await?;
                Ok(MySqlAuth::for_version(&version))
            }
        }
    }

    /// MySQL: `SHOW GRANTS FOR 'user'@'%'`, one line per grant (on MariaDB the first may
    /// carry the password hash: treat the lines as secret). PostgreSQL has no such listing:
    /// empty.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn show_grants(&mut self, user: &str) -> Result<Vec<String>, sqlx::Error> {
        let Self::My(c) = self else {
            return Ok(Vec::new());
        };
        let sql = format!("SHOW GRANTS FOR {}", crate::plan::mysql_account(user));
        let rows = c.fetch_all(AssertSqlSafe(sql)).await?;
        rows.iter()
            .map(|row| {
                row.try_get::<String, _>(0).or_else(|_| {
                    row.try_get::<Vec<u8>, _>(0)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                })
            })
            .collect()
    }

    /// Runs `statements` in order: on PostgreSQL in one transaction (roles and grants are
    /// transactional there: all or nothing); on MySQL one by one (each commits on its own, so
    /// a re-run converges instead), a `REVOKE` of a grant that is gone already counting as
    /// done.
    ///
    /// # Errors
    ///
    /// The first statement's error, as the server said it (never the SQL).
    pub async fn execute(&mut self, statements: &[Statement]) -> Result<(), sqlx::Error> {
        match self {
            Self::Pg(c) => {
                let mut tx = c.begin().await?;
                for s in statements {
                    tx.execute(AssertSqlSafe(s.sql.clone())).await?;
                }
                tx.commit().await
            }
            Self::My(c) => {
                for s in statements {
                    match c.execute(AssertSqlSafe(s.sql.clone())).await {
                        Ok(_) => {}
                        Err(e) if s.revoke && no_such_grant(&e) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = match self {
            Self::Pg(c) => c.close().await,
            Self::My(c) => c.close().await,
        };
    }
}

/// MySQL's "there is no such grant" (1141, 1147).
fn no_such_grant(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.try_downcast_ref::<MySqlDatabaseError>())
        .is_some_and(|e| matches!(e.number(), 1141 | 1147))
}

/// Runs `work` within the statements' share of the budget, mapping a driver error to
/// [`Error::Sql`].
///
/// # Errors
///
/// [`db_migration::Error::Timeout`] or [`Error::Sql`].
pub async fn within<T>(
    budget: &Budget,
    what: &'static str,
    user: &str,
    server: &str,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, Error> {
    budget.within(what, work).await?.map_err(|e| Error::Sql {
        what,
        user: user.to_owned(),
        server: server.to_owned(),
        message: db_message(&e),
    })
}
