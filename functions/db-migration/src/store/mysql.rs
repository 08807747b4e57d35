//! MySQL and MariaDB: sqlx's `GET_LOCK` name, bookkeeping tables, and the maintenance
//! connection (to no database).

use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError, Migration};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{
    AssertSqlSafe, ConnectOptions, Connection as _, Executor, query, query_as, query_scalar,
};

use super::{
    AdminError, Connection, DOWNS_TABLE, MIGRATIONS_TABLE, OWNER_TABLE, Owner, RecordedDown,
    SEEDS_TABLE, Store, TRIGGERS_TABLE, TriggerRecord, admin_connect, quote_mysql,
};
use crate::budget::Budget;
use crate::lock;
use crate::plan::{Applied, AppliedSeed};
use crate::secret::Engine;
use crate::source::SeedFile;

/// The connection options, on `database` or on none.
pub fn options(conn: &Connection<'_>, database: Option<&str>) -> MySqlConnectOptions {
    let mut options = MySqlConnectOptions::new()
        .host(&conn.target.host)
        .port(conn.target.port)
        .username(conn.credentials.username)
        .password(conn.credentials.password.expose())
        .ssl_mode(conn.tls.mysql_mode())
        .charset("utf8mb4");
    if let Some(database) = database {
        options = options.database(database);
    }
    if let Some(pem) = &conn.tls.roots {
        options = options.ssl_ca_from_pem(pem.clone());
    }
    options
}

/// Bounds lock waits (metadata and row locks), in whole seconds; MySQL has no general
/// statement timeout for DDL, so the client-side limit does the rest.
async fn bound_waits(conn: &mut MySqlConnection, limit: Duration) -> Result<(), sqlx::Error> {
    let secs = limit.as_secs().max(1);
    conn.execute(AssertSqlSafe(format!(
        "SET SESSION lock_wait_timeout = {secs}, SESSION innodb_lock_wait_timeout = {secs}"
    )))
    .await?;
    Ok(())
}

/// One connection to the database being migrated.
pub struct MyStore {
    conn: MySqlConnection,
    lock_key: Option<String>,
}

impl MyStore {
    /// Connects to the target database.
    ///
    /// # Errors
    ///
    /// The driver's error.
    pub async fn open(conn: &Connection<'_>, statement: Duration) -> Result<Self, sqlx::Error> {
        let mut c = options(conn, Some(&conn.target.database)).connect().await?;
        bound_waits(&mut c, statement).await?;
        Ok(Self {
            conn: c,
            lock_key: None,
        })
    }
}

impl Store for MyStore {
    fn engine(&self) -> Engine {
        Engine::MySql
    }

    async fn try_lock(&mut self) -> Result<bool, sqlx::Error> {
        let database: String = query_scalar("SELECT DATABASE()")
            .fetch_one(&mut self.conn)
            .await?;
        let key = lock::mysql_key(&database);
        // 1: taken; 0: held elsewhere; NULL: an error.
        let taken: Option<i64> = query_scalar("SELECT GET_LOCK(?, 0)")
            .bind(&key)
            .fetch_one(&mut self.conn)
            .await?;
        let taken = taken == Some(1);
        if taken {
            self.lock_key = Some(key);
        }
        Ok(taken)
    }

    async fn unlock(&mut self) -> Result<(), sqlx::Error> {
        if let Some(key) = self.lock_key.take() {
            query("SELECT RELEASE_LOCK(?)")
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
                    up_checksum VARBINARY(64) NOT NULL,
                    down_sql LONGTEXT NOT NULL,
                    no_tx BOOLEAN NOT NULL,
                    recorded_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
                )"
            )))
            .await?;
        self.conn
            .execute(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {SEEDS_TABLE} (
                    seed_set VARCHAR(64) NOT NULL,
                    file_name VARCHAR(200) NOT NULL,
                    checksum VARBINARY(64) NOT NULL,
                    applied_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    PRIMARY KEY (seed_set, file_name)
                )"
            )))
            .await?;
        self.conn
            .execute(AssertSqlSafe(format!(
                "CREATE TABLE IF NOT EXISTS {TRIGGERS_TABLE} (
                    key_hash CHAR(64) NOT NULL PRIMARY KEY,
                    stack_id VARCHAR(2048) NOT NULL,
                    logical_id VARCHAR(255) NOT NULL,
                    trigger_key VARCHAR(255) NOT NULL,
                    version BIGINT NOT NULL,
                    recorded_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
                )"
            )))
            .await?;
        Ok(())
    }

    async fn set_statement_timeout(&mut self, limit: Duration) -> Result<(), sqlx::Error> {
        bound_waits(&mut self.conn, limit).await
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
             VALUES (?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE description = VALUES(description),
                 up_checksum = VALUES(up_checksum), down_sql = VALUES(down_sql),
                 no_tx = VALUES(no_tx), recorded_on = CURRENT_TIMESTAMP"
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
            "DELETE FROM {DOWNS_TABLE} WHERE version = ?"
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
        let record =
            format!("INSERT INTO {SEEDS_TABLE} (seed_set, file_name, checksum) VALUES (?, ?, ?)");
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
            "SELECT version FROM {TRIGGERS_TABLE} WHERE key_hash = ?"
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
             VALUES (?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE version = VALUES(version), recorded_on = CURRENT_TIMESTAMP"
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
        let exists: i64 = query_scalar(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        )
        .bind(OWNER_TABLE)
        .fetch_one(&mut self.conn)
        .await?;
        if exists == 0 {
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
                    stack_id VARCHAR(2048) NOT NULL,
                    logical_id VARCHAR(255) NOT NULL,
                    created_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
                ) COMMENT = 'stackwright db-migration: the stack resource that created this database; OnDelete: DropDatabase drops it only for that resource'"
            )))
            .await?;
        query(AssertSqlSafe(format!(
            "INSERT INTO {OWNER_TABLE} (stack_id, logical_id) VALUES (?, ?)"
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

async fn admin(conn: &Connection<'_>, budget: &Budget) -> Result<MySqlConnection, AdminError> {
    let mut c = admin_connect(budget, options(conn, None).connect()).await?;
    bound_waits(&mut c, budget.statement_timeout()).await?;
    Ok(c)
}

/// Creates the database unless it exists; `true` when this call created it.
///
/// # Errors
///
/// [`AdminError`].
pub async fn create_database(conn: &Connection<'_>, budget: &Budget) -> Result<bool, AdminError> {
    let mut admin = admin(conn, budget).await?;
    let name = &conn.target.database;
    let exists: i64 =
        query_scalar("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?")
            .bind(name)
            .fetch_one(&mut admin)
            .await?;
    if exists > 0 {
        let _ = admin.close().await;
        return Ok(false);
    }
    let created = admin
        .execute(AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            quote_mysql(name)
        )))
        .await;
    let _ = admin.close().await;
    match created {
        Ok(_) => Ok(true),
        // ER_DB_CREATE_EXISTS: another first run won the race.
        Err(e)
            if e.as_database_error()
                .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
                .is_some_and(|d| d.number() == 1007) =>
        {
            Ok(false)
        }
        Err(e) => Err(AdminError::Sql(e)),
    }
}

/// Kills the database's connections and drops it.
///
/// # Errors
///
/// [`AdminError`].
pub async fn drop_database(conn: &Connection<'_>, budget: &Budget) -> Result<(), AdminError> {
    let mut admin = admin(conn, budget).await?;
    let name = &conn.target.database;
    let ids: Vec<u64> = query_scalar(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
    )
    .bind(name)
    .fetch_all(&mut admin)
    .await?;
    for id in ids {
        // It may have ended meanwhile (ER_NO_SUCH_THREAD): nothing to do then.
        let _ = admin
            .execute(AssertSqlSafe(format!("KILL CONNECTION {id}")))
            .await;
    }
    let dropped = admin
        .execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {}",
            quote_mysql(name)
        )))
        .await;
    let _ = admin.close().await;
    dropped.map(|_| ()).map_err(AdminError::Sql)
}
