//! The database behind narrow functions: one connection per invocation to the database being
//! migrated ([`Store`]), and a maintenance connection to create or drop it. Engine-specific
//! SQL lives in [`postgres`] and [`mysql`]; bookkeeping shared with sqlx-cli goes through
//! sqlx's own `Migrate` implementation, so `_sqlx_migrations` is exactly what `sqlx migrate
//! run` writes.

pub mod mysql;
pub mod postgres;

use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use custom_resource::Secret;
use sha2::{Digest, Sha256};
use sqlx::migrate::{MigrateError, Migration, MigrationType};
use sqlx::{AssertSqlSafe, SqlSafeStr as _};

use crate::Error;
use crate::budget::Budget;
use crate::error::db_message;
use crate::plan::{Applied, AppliedSeed, TriggerKey};
use crate::secret::Engine;
use crate::source::SeedFile;
use crate::target::Target;
use crate::tls::TlsSettings;

/// The table sqlx and sqlx-cli keep their history in.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations";
/// Down scripts recorded at apply time (an older function can run them on rollback).
pub const DOWNS_TABLE: &str = "_stackwright_downs";
/// Seed files applied, with their checksums.
pub const SEEDS_TABLE: &str = "_stackwright_seeds";
/// Which stack resource created the database (only a database created here is ever dropped).
pub const OWNER_TABLE: &str = "_stackwright_owner";
/// Each resource's Triggers and the version each brought the database to (where a rollback to
/// that Trigger goes back to).
pub const TRIGGERS_TABLE: &str = "_stackwright_triggers";

/// The login for the server, from the secret.
#[derive(Debug)]
pub struct Credentials<'a> {
    /// The login's user name.
    pub username: &'a str,
    /// The password, printed as `***`.
    pub password: &'a Secret<String>,
}

/// Everything needed to open a connection.
#[derive(Debug)]
pub struct Connection<'a> {
    /// Server and database.
    pub target: &'a Target,
    /// Who connects.
    pub credentials: Credentials<'a>,
    /// How the connection is encrypted and the server verified.
    pub tls: &'a TlsSettings,
}

/// A down script as recorded in [`DOWNS_TABLE`], ready for sqlx to run.
#[derive(Debug, Clone)]
pub struct RecordedDown {
    /// The checksum of the forward migration it undoes.
    pub up_checksum: Vec<u8>,
    /// The down script as sqlx reverts it: the migration's version and description, the
    /// recorded SQL (its `checksum` is the SHA-384 of that SQL) and `no_tx` as recorded.
    pub script: Migration,
}

impl RecordedDown {
    /// A row of [`DOWNS_TABLE`]: the down script of migration `version` (`description`),
    /// recorded with the checksum of the forward migration it undoes.
    pub fn new(
        version: i64,
        description: String,
        up_checksum: Vec<u8>,
        sql: String,
        no_tx: bool,
    ) -> Self {
        let script = Migration::new(
            version,
            description.into(),
            MigrationType::ReversibleDown,
            AssertSqlSafe(sql).into_sql_str(),
            no_tx,
        );
        Self {
            up_checksum,
            script,
        }
    }
}

/// The stack resource that created a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The stack's ARN (its id survives a stack of the same name being re-created).
    pub stack_id: String,
    /// The resource's logical id.
    pub logical_id: String,
}

/// A resource's Trigger, as [`TRIGGERS_TABLE`] keys it.
#[derive(Debug, Clone, Copy)]
pub struct TriggerRecord<'a> {
    /// The resource: its stack and logical id (two stacks may both pass a Trigger `3`,
    /// each its own function's version 3, to one database).
    pub resource: &'a Owner,
    /// The `Trigger` value, in its recorded form.
    pub trigger: &'a TriggerKey,
}

impl TriggerRecord<'_> {
    /// The row's key: SHA-256 (hex) of the stack id, logical id and Trigger, so that no
    /// stack id, however long, meets an index limit on either engine.
    pub fn key_hash(&self) -> String {
        let parts = serde_json::json!([
            self.resource.stack_id,
            self.resource.logical_id,
            self.trigger.as_str()
        ]);
        Sha256::digest(parts.to_string().as_bytes()).iter().fold(
            String::with_capacity(64),
            |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            },
        )
    }
}

/// One connection to the database being migrated.
pub trait Store: Send {
    /// The engine family.
    fn engine(&self) -> Engine;
    /// Tries sqlx's migration lock once; `true` when taken.
    fn try_lock(&mut self) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;
    /// Releases the lock.
    fn unlock(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Creates the bookkeeping tables that do not exist yet.
    fn prepare(&mut self) -> impl Future<Output = Result<(), MigrateError>> + Send;
    /// Bounds each statement from now on (where the engine can).
    fn set_statement_timeout(
        &mut self,
        limit: Duration,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The first migration marked failed (partly applied), as sqlx sees it.
    fn dirty_version(&mut self) -> impl Future<Output = Result<Option<i64>, MigrateError>> + Send;
    /// The applied migrations.
    fn applied(&mut self) -> impl Future<Output = Result<Vec<Applied>, MigrateError>> + Send;
    /// The recorded down scripts.
    fn recorded_downs(
        &mut self,
    ) -> impl Future<Output = Result<Vec<RecordedDown>, sqlx::Error>> + Send;
    /// Records (or replaces) `down`, the down script of the forward migration `up`, under
    /// `up`'s version, description and checksum.
    fn record_down(
        &mut self,
        up: &Migration,
        down: &Migration,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Forgets a down script once its migration is reverted.
    fn forget_down(&mut self, version: i64)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Applies a migration with sqlx's bookkeeping.
    fn apply(
        &mut self,
        migration: &Migration,
    ) -> impl Future<Output = Result<(), MigrateError>> + Send;
    /// Reverts a migration (its down script) with sqlx's bookkeeping.
    fn revert(
        &mut self,
        migration: &Migration,
    ) -> impl Future<Output = Result<(), MigrateError>> + Send;
    /// The applied seed files.
    fn applied_seeds(
        &mut self,
    ) -> impl Future<Output = Result<Vec<AppliedSeed>, sqlx::Error>> + Send;
    /// Applies a seed file and records it, in one transaction unless it opts out.
    fn apply_seed(
        &mut self,
        seed: &SeedFile,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// The version recorded for a resource's Trigger by its last successful run, if any.
    fn trigger_version(
        &mut self,
        record: &TriggerRecord<'_>,
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send;
    /// Records (or replaces) the version a resource's Trigger brought the database to.
    fn record_trigger(
        &mut self,
        record: &TriggerRecord<'_>,
        version: i64,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Who created this database, if this function did.
    fn owner(&mut self) -> impl Future<Output = Result<Option<Owner>, sqlx::Error>> + Send;
    /// Records who created this database.
    fn set_owner(&mut self, owner: &Owner) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Closes the connection (the server releases a lock still held).
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// A connection to the database being migrated, on either engine: every [`Store`] call goes
/// to the engine's own implementation.
pub enum AnyStore {
    /// A PostgreSQL connection.
    Postgres(postgres::PgStore),
    /// MySQL or MariaDB.
    MySql(mysql::MyStore),
}

/// Calls `$call` on the engine's store, bound as `$s`.
macro_rules! on_engine {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            AnyStore::Postgres($s) => $call,
            AnyStore::MySql($s) => $call,
        }
    };
}

impl Store for AnyStore {
    fn engine(&self) -> Engine {
        on_engine!(self, s => s.engine())
    }

    async fn try_lock(&mut self) -> Result<bool, sqlx::Error> {
        on_engine!(self, s => s.try_lock().await)
    }

    async fn unlock(&mut self) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.unlock().await)
    }

    async fn prepare(&mut self) -> Result<(), MigrateError> {
        on_engine!(self, s => s.prepare().await)
    }

    async fn set_statement_timeout(&mut self, limit: Duration) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.set_statement_timeout(limit).await)
    }

    async fn dirty_version(&mut self) -> Result<Option<i64>, MigrateError> {
        on_engine!(self, s => s.dirty_version().await)
    }

    async fn applied(&mut self) -> Result<Vec<Applied>, MigrateError> {
        on_engine!(self, s => s.applied().await)
    }

    async fn recorded_downs(&mut self) -> Result<Vec<RecordedDown>, sqlx::Error> {
        on_engine!(self, s => s.recorded_downs().await)
    }

    async fn record_down(&mut self, up: &Migration, down: &Migration) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.record_down(up, down).await)
    }

    async fn forget_down(&mut self, version: i64) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.forget_down(version).await)
    }

    async fn apply(&mut self, migration: &Migration) -> Result<(), MigrateError> {
        on_engine!(self, s => s.apply(migration).await)
    }

    async fn revert(&mut self, migration: &Migration) -> Result<(), MigrateError> {
        on_engine!(self, s => s.revert(migration).await)
    }

    async fn applied_seeds(&mut self) -> Result<Vec<AppliedSeed>, sqlx::Error> {
        on_engine!(self, s => s.applied_seeds().await)
    }

    async fn apply_seed(&mut self, seed: &SeedFile) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.apply_seed(seed).await)
    }

    async fn trigger_version(
        &mut self,
        record: &TriggerRecord<'_>,
    ) -> Result<Option<i64>, sqlx::Error> {
        on_engine!(self, s => s.trigger_version(record).await)
    }

    async fn record_trigger(
        &mut self,
        record: &TriggerRecord<'_>,
        version: i64,
    ) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.record_trigger(record, version).await)
    }

    async fn owner(&mut self) -> Result<Option<Owner>, sqlx::Error> {
        on_engine!(self, s => s.owner().await)
    }

    async fn set_owner(&mut self, owner: &Owner) -> Result<(), sqlx::Error> {
        on_engine!(self, s => s.set_owner(owner).await)
    }

    async fn close(self) {
        on_engine!(self, s => s.close().await)
    }
}

/// What to say when the database to open does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A new physical id without `CreateDatabase`.
    CreateIt,
    /// An existing physical id: the database was there before.
    Vanished,
}

impl Missing {
    fn advice(self) -> &'static str {
        match self {
            Self::CreateIt => "create it, or set `CreateDatabase: true`",
            Self::Vanished => {
                "it existed when this resource was created; restore it (databases are created only when the physical id is new, so a dropped database is never silently re-created empty)"
            }
        }
    }
}

/// Opens one connection to the target database, within the connect timeout.
///
/// # Errors
///
/// [`Error::NoSuchDatabase`], [`Error::Connect`] or [`Error::ConnectTimeout`].
pub async fn open(
    conn: &Connection<'_>,
    budget: &Budget,
    missing: Missing,
) -> Result<AnyStore, Error> {
    let target = conn.target;
    let limit = budget.connect_timeout();
    let statement = budget.statement_timeout();
    let opened = match target.engine {
        Engine::Postgres => {
            tokio::time::timeout(limit, Box::pin(postgres::PgStore::open(conn, statement)))
                .await
                .map(|r| r.map(AnyStore::Postgres))
        }
        Engine::MySql => {
            tokio::time::timeout(limit, Box::pin(mysql::MyStore::open(conn, statement)))
                .await
                .map(|r| r.map(AnyStore::MySql))
        }
    };
    match opened {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(err)) if is_unknown_database(target.engine, &err) => Err(Error::NoSuchDatabase {
            server: target.server(),
            database: target.database.clone(),
            advice: missing.advice(),
        }),
        Ok(Err(err)) => Err(connect_error(target, &target.database, &err)),
        Err(_) => Err(Error::ConnectTimeout {
            server: target.server(),
            database: target.database.clone(),
            after: limit,
        }),
    }
}

/// Creates the target database through a maintenance connection unless it exists; `true`
/// when this call created it ("already exists" from a concurrent run counts as existing).
///
/// # Errors
///
/// As [`open`], or [`Error::Admin`].
pub async fn create_database(conn: &Connection<'_>, budget: &Budget) -> Result<bool, Error> {
    let target = conn.target;
    let admin = |message: String| Error::Admin {
        action: "create",
        database: target.database.clone(),
        server: target.server(),
        message,
    };
    // Boxed: sqlx's connect futures are large (about 18 kB).
    let work = Box::pin(async {
        match target.engine {
            Engine::Postgres => postgres::create_database(conn, budget).await,
            Engine::MySql => mysql::create_database(conn, budget).await,
        }
    });
    budget
        .within(&format!("creating database `{}`", target.database), work)
        .await?
        .map_err(|e| match e {
            AdminError::Connect(e) => connect_error(target, "maintenance", &e),
            AdminError::ConnectTimeout(after) => Error::ConnectTimeout {
                server: target.server(),
                database: target.database.clone(),
                after,
            },
            AdminError::Sql(e) => admin(db_message(&e)),
        })
}

/// Drops the target database, terminating its connections first.
///
/// # Errors
///
/// As [`open`], or [`Error::Admin`].
pub async fn drop_database(conn: &Connection<'_>, budget: &Budget) -> Result<(), Error> {
    let target = conn.target;
    let work = Box::pin(async {
        match target.engine {
            Engine::Postgres => postgres::drop_database(conn, budget).await,
            Engine::MySql => mysql::drop_database(conn, budget).await,
        }
    });
    budget
        .within(&format!("dropping database `{}`", target.database), work)
        .await?
        .map_err(|e| match e {
            AdminError::Connect(e) => connect_error(target, "maintenance", &e),
            AdminError::ConnectTimeout(after) => Error::ConnectTimeout {
                server: target.server(),
                database: target.database.clone(),
                after,
            },
            AdminError::Sql(e) => Error::Admin {
                action: "drop",
                database: target.database.clone(),
                server: target.server(),
                message: db_message(&e),
            },
        })
}

/// Failures of the maintenance connection's work.
#[derive(Debug)]
pub enum AdminError {
    /// The connection could not be opened.
    Connect(sqlx::Error),
    /// Connecting took too long.
    ConnectTimeout(Duration),
    /// A statement failed.
    Sql(sqlx::Error),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

/// Opens a maintenance connection within the connect timeout.
async fn admin_connect<C>(
    budget: &Budget,
    connect: impl Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, AdminError> {
    let limit = budget.connect_timeout();
    match tokio::time::timeout(limit, connect).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(AdminError::Connect(e)),
        Err(_) => Err(AdminError::ConnectTimeout(limit)),
    }
}

fn connect_error(target: &Target, database: &str, err: &sqlx::Error) -> Error {
    Error::Connect {
        server: target.server(),
        database: database.to_owned(),
        message: db_message(err),
    }
}

/// "Database does not exist": PostgreSQL's `3D000`, MySQL's error 1049.
fn is_unknown_database(engine: Engine, err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    match engine {
        Engine::Postgres => db.code().as_deref() == Some("3D000"),
        Engine::MySql => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| e.number() == 1049),
    }
}

/// A PostgreSQL identifier, quoted.
pub fn quote_pg(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A MySQL identifier, quoted.
pub fn quote_mysql(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_pg("app-dev"), "\"app-dev\"");
        assert_eq!(quote_pg("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_mysql("a`b"), "`a``b`");
    }

    #[test]
    fn trigger_rows_are_keyed_by_resource_and_trigger() {
        let owner = |stack: &str, logical: &str| Owner {
            stack_id: stack.into(),
            logical_id: logical.into(),
        };
        let (a, b) = (owner("arn:stack/a/1", "Db"), owner("arn:stack/b/2", "Db"));
        let v3 = TriggerKey::of(&"3".into()).unwrap();
        let v4 = TriggerKey::of(&"4".into()).unwrap();
        let key =
            |resource: &Owner, trigger: &TriggerKey| TriggerRecord { resource, trigger }.key_hash();
        assert_eq!(key(&a, &v3).len(), 64);
        assert_eq!(key(&a, &v3), key(&owner("arn:stack/a/1", "Db"), &v3));
        assert_ne!(key(&a, &v3), key(&b, &v3));
        assert_ne!(key(&a, &v3), key(&a, &v4));
        assert_ne!(key(&a, &v3), key(&owner("arn:stack/a/1", "Db2"), &v3));
    }

    #[test]
    fn missing_databases_are_explained() {
        assert!(Missing::CreateIt.advice().contains("CreateDatabase: true"));
        assert!(Missing::Vanished.advice().contains("restore it"));
    }
}
