//! PostgreSQL: sqlx's advisory lock key, bookkeeping tables, and the maintenance connection
//! (to `postgres`, or `template1` for the database `postgres` itself, as `createdb` does).

use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError, Migration};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection as _, Executor, query, query_as, query_scalar,
};

use super::{
    AdminError, Connection, DOWNS_TABLE, MIGRATIONS_TABLE, OWNER_TABLE, Owner, RecordedDown,
    SEEDS_TABLE, Store, TRIGGERS_TABLE, TriggerRecord, admin_connect, quote_pg,
};
use crate::budget::Budget;
use crate::lock;
use crate::plan::{Applied, AppliedSeed};
use crate::secret::Engine;
use crate::source::SeedFile;

/// The connection options for `database`, every statement bounded by `statement`.
pub fn options(conn: &Connection<'_>, database: &str, statement: Duration) -> PgConnectOptions {
    let ms = statement.as_millis().max(1).to_string();
    // `new_without_pgpass`: no `.pgpass`; everything that matters is set explicitly below.
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&conn.target.host)
        .port(conn.target.port)
        .username(conn.credentials.username)
        .password(conn.credentials.password.expose())
        .database(database)
        .ssl_mode(conn.tls.postgres_mode())
        .application_name("stackwright-db-migration")
        // `client_min_messages`: no NOTICE lines ("relation … already exists, skipping") in the log.
        .options([
            ("statement_timeout", ms.as_str()),
            ("lock_timeout", ms.as_str()),
            ("client_min_messages", "warning"),
        ]);
    if let Some(pem) = &conn.tls.roots {
        options = options.ssl_root_cert_from_pem(pem.clone());
    }
    options
}

/// One connection to the database being migrated.
pub struct PgStore {
    conn: PgConnection,
    lock_key: Option<i64>,
}

impl PgStore {
    /// Connects to the target database.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn open(conn: &Connection<'_>, statement: Duration) -> Result<Self, sqlx::Error> {
        let conn = options(conn, &conn.target.database, statement)
            .connect()
            .await?;
        Ok(Self {
            conn,
            lock_key: None,
        })
    }
}

impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    async fn try_lock(&mut self) -> Result<bool, sqlx::Error> {
        // sqlx keys the lock on `current_database()`; ask the server, as sqlx does.
        let database: String = query_scalar("SELECT current_database()")
            .fetch_one(&mut self.conn)
            .await?;
        let key = lock::postgres_key(&database);
        let taken: bool = query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut self.conn)
            .await?;
        if taken {
            self.lock_key = Some(key);
        }
        Ok(taken)
    }

    async fn unlock(&mut self) -> Result<(), sqlx::Error> {
        if let Some(key) = self.lock_key.take() {
            query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    async fn prepare(&mut self) -> Result<(), MigrateError> {
        self.conn.ensure_migrations_table(MIGRATIONS_TABLE).await?;
        self.conn
            .execute(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {DOWNS_TABLE} (
                    version BIGINT PRIMARY KEY,
                    description TEXT NOT NULL,
                    up_checksum BYTEA NOT NULL,
                    down_sql TEXT NOT NULL,
                    no_tx BOOLEAN NOT NULL,
                    recorded_on TIMESTAMPTZ NOT NULL DEFAULT now()
                );
                CREATE TABLE IF NOT EXISTS {SEEDS_TABLE} (
                    seed_set TEXT NOT NULL,
                    file_name TEXT NOT NULL,
                    checksum BYTEA NOT NULL,
                    applied_on TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (seed_set, file_name)
                );
                CREATE TABLE IF NOT EXISTS {TRIGGERS_TABLE} (
                    key_hash TEXT PRIMARY KEY,
                    stack_id TEXT NOT NULL,
                    logical_id TEXT NOT NULL,
                    trigger_key TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    recorded_on TIMESTAMPTZ NOT NULL DEFAULT now()
                );"
            )))
            .await?;
        Ok(())
    }

    async fn set_statement_timeout(&mut self, limit: Duration) -> Result<(), sqlx::Error> {
        let ms = limit.as_millis().max(1);
        self.conn
            .execute(AssertSqlSafe(format!(
                "SET statement_timeout = {ms}; SET lock_timeout = {ms}"
            )))
            .await?;
        Ok(())
    }

    async fn dirty_version(&mut self) -> Result<Option<i64>, MigrateError> {
        self.conn.dirty_version(MIGRATIONS_TABLE).await
    }

    async fn applied(&mut self) -> Result<Vec<Applied>, MigrateError> {
        Ok(self
            .conn
            .list_applied_migrations(MIGRATIONS_TABLE)
            .await?
            .into_iter()
            .map(|m| Applied {
                version: m.version,
                checksum: m.checksum.into_owned(),
            })
            .collect())
    }

    async fn recorded_downs(&mut self) -> Result<Vec<RecordedDown>, sqlx::Error> {
        let rows: Vec<(i64, String, Vec<u8>, String, bool)> = query_as(AssertSqlSafe(format!(
            "SELECT version, description, up_checksum, down_sql, no_tx FROM {DOWNS_TABLE} ORDER BY version"
        )))
        .fetch_all(&mut self.conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(version, description, up_checksum, sql, no_tx)| {
                RecordedDown::new(version, description, up_checksum, sql, no_tx)
            })
            .collect())
    }

    async fn record_down(&mut self, up: &Migration, down: &Migration) -> Result<(), sqlx::Error> {
        query(AssertSqlSafe(format!(
            "INSERT INTO {DOWNS_TABLE} (version, description, up_checksum, down_sql, no_tx)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (version) DO UPDATE SET description = EXCLUDED.description,
                 up_checksum = EXCLUDED.up_checksum, down_sql = EXCLUDED.down_sql,
                 no_tx = EXCLUDED.no_tx, recorded_on = now()"
        )))
        .bind(up.version)
        .bind(&*up.description)
        .bind(&*up.checksum)
        .bind(down.sql.as_str())
        .bind(down.no_tx)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    async fn forget_down(&mut self, version: i64) -> Result<(), sqlx::Error> {
        query(AssertSqlSafe(format!(
            "DELETE FROM {DOWNS_TABLE} WHERE version = $1"
        )))
        .bind(version)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    async fn apply(&mut self, migration: &Migration) -> Result<(), MigrateError> {
        self.conn
            .apply(MIGRATIONS_TABLE, migration)
            .await
            .map(|_| ())
    }

    async fn revert(&mut self, migration: &Migration) -> Result<(), MigrateError> {
        self.conn
            .revert(MIGRATIONS_TABLE, migration)
            .await
            .map(|_| ())
    }

    async fn applied_seeds(&mut self) -> Result<Vec<AppliedSeed>, sqlx::Error> {
        let rows: Vec<(String, String, Vec<u8>)> = query_as(AssertSqlSafe(format!(
            "SELECT seed_set, file_name, checksum FROM {SEEDS_TABLE}"
        )))
        .fetch_all(&mut self.conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(set, file, checksum)| AppliedSeed {
                set,
                file,
                checksum,
            })
            .collect())
    }

    async fn apply_seed(&mut self, seed: &SeedFile) -> Result<(), sqlx::Error> {
        let record = format!(
            "INSERT INTO {SEEDS_TABLE} (seed_set, file_name, checksum) VALUES ($1, $2, $3)"
        );
        if seed.no_tx {
            self.conn
                .execute(AssertSqlSafe(seed.sql.to_string()))
                .await?;
            query(AssertSqlSafe(record))
                .bind(&seed.set)
                .bind(&seed.file)
                .bind(&seed.checksum)
                .execute(&mut self.conn)
                .await?;
            return Ok(());
        }
        let mut tx = self.conn.begin().await?;
        tx.execute(AssertSqlSafe(seed.sql.to_string())).await?;
        query(AssertSqlSafe(record))
            .bind(&seed.set)
            .bind(&seed.file)
            .bind(&seed.checksum)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    async fn trigger_version(
        &mut self,
        record: &TriggerRecord<'_>,
    ) -> Result<Option<i64>, sqlx::Error> {
        query_scalar(AssertSqlSafe(format!(
            "SELECT version FROM {TRIGGERS_TABLE} WHERE key_hash = $1"
        )))
        .bind(record.key_hash())
        .fetch_optional(&mut self.conn)
        .await
    }

    async fn record_trigger(
        &mut self,
        record: &TriggerRecord<'_>,
        version: i64,
    ) -> Result<(), sqlx::Error> {
        query(AssertSqlSafe(format!(
            "INSERT INTO {TRIGGERS_TABLE} (key_hash, stack_id, logical_id, trigger_key, version)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (key_hash) DO UPDATE SET version = EXCLUDED.version, recorded_on = now()"
        )))
        .bind(record.key_hash())
        .bind(&record.resource.stack_id)
        .bind(&record.resource.logical_id)
        .bind(record.trigger.as_str())
        .bind(version)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    async fn owner(&mut self) -> Result<Option<Owner>, sqlx::Error> {
        let exists: bool = query_scalar(AssertSqlSafe(format!(
            "SELECT to_regclass('{OWNER_TABLE}') IS NOT NULL"
        )))
        .fetch_one(&mut self.conn)
        .await?;
        if !exists {
            return Ok(None);
        }
        let row: Option<(String, String)> = query_as(AssertSqlSafe(format!(
            "SELECT stack_id, logical_id FROM {OWNER_TABLE} ORDER BY created_on LIMIT 1"
        )))
        .fetch_optional(&mut self.conn)
        .await?;
        Ok(row.map(|(stack_id, logical_id)| Owner {
            stack_id,
            logical_id,
        }))
    }

    async fn set_owner(&mut self, owner: &Owner) -> Result<(), sqlx::Error> {
        self.conn
            .execute(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {OWNER_TABLE} (
                    stack_id TEXT NOT NULL,
                    logical_id TEXT NOT NULL,
                    created_on TIMESTAMPTZ NOT NULL DEFAULT now()
                );
                COMMENT ON TABLE {OWNER_TABLE} IS 'stackwright db-migration: the stack resource that created this database; OnDelete: DropDatabase drops it only for that resource'"
            )))
            .await?;
        query(AssertSqlSafe(format!(
            "INSERT INTO {OWNER_TABLE} (stack_id, logical_id) VALUES ($1, $2)"
        )))
        .bind(&owner.stack_id)
        .bind(&owner.logical_id)
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// The database to hold a maintenance connection to while creating or dropping `target`.
fn maintenance_database(target: &str) -> &'static str {
    if target == "postgres" {
        "template1"
    } else {
        "postgres"
    }
}

async fn admin(conn: &Connection<'_>, budget: &Budget) -> Result<PgConnection, AdminError> {
    let options = options(
        conn,
        maintenance_database(&conn.target.database),
        budget.statement_timeout(),
    );
    admin_connect(budget, options.connect()).await
}

/// Creates the database unless it exists; `true` when this call created it.
///
/// # Errors
///
/// [`AdminError`].
pub async fn create_database(conn: &Connection<'_>, budget: &Budget) -> Result<bool, AdminError> {
    let mut admin = admin(conn, budget).await?;
    let name = &conn.target.database;
    let exists: bool = query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    if exists {
        let _ = admin.close().await;
        return Ok(false);
    }
    let created = admin
        .execute(AssertSqlSafe(format!("CREATE DATABASE {}", quote_pg(name))))
        .await;
    let _ = admin.close().await;
    match created {
        Ok(_) => Ok(true),
        // Two first runs racing: `duplicate_database`, or the catalog's unique index.
        Err(e)
            if matches!(
                e.as_database_error().and_then(|d| d.code()).as_deref(),
                Some("42P04" | "23505")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(AdminError::Sql(e)),
    }
}

/// Terminates the database's connections and drops it.
///
/// # Errors
///
/// [`AdminError`].
pub async fn drop_database(conn: &Connection<'_>, budget: &Budget) -> Result<(), AdminError> {
    let mut admin = admin(conn, budget).await?;
    let name = &conn.target.database;
    let version: i32 = query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut admin)
        .await?;
    query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(&mut admin)
    .await?;
    // PostgreSQL 13+ also refuses new connections while it drops.
    let force = if version >= 130_000 {
        " WITH (FORCE)"
    } else {
        ""
    };
    let dropped = admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {}{force}",
            quote_pg(name)
        )))
        .await;
    let _ = admin.close().await;
    dropped.map(|_| ()).map_err(AdminError::Sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maintenance_database_is_never_the_target() {
        assert_eq!(maintenance_database("app"), "postgres");
        assert_eq!(maintenance_database("postgres"), "template1");
    }
}
