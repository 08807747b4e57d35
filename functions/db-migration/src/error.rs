//! The function's one error type. Its `Display` is the `Reason` CloudFormation shows: what
//! went wrong, where, and what to do, never a password or a connection string.

use std::time::Duration;

use custom_resource::PropertyError;

/// Everything that makes a Create, Update or Delete fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A property is wrong.
    #[error(transparent)]
    Property(#[from] PropertyError),

    /// The protocol library could not do its part: read the secret (its reason names the
    /// secret and says what to do), or set up the AWS SDK.
    #[error(transparent)]
    Library(#[from] custom_resource::Error),

    /// The request created the database, then failed; the database was dropped again, so the
    /// failed request leaves nothing behind.
    #[error(
        "{source} The database `{database}` this request created was dropped again, with all of the above: fix the cause and deploy again."
    )]
    CreatedThenDropped {
        /// What failed.
        source: Box<Error>,
        /// The database.
        database: String,
    },

    /// The secret is not in the RDS JSON format.
    #[error(
        "the secret `{secret}` is not in the RDS JSON format (`engine`, `host`, `port`, `username`, `password`, `dbname`): {problem}"
    )]
    SecretFormat {
        /// The ARN or name.
        secret: String,
        /// What is wrong (names a field, never its value).
        problem: String,
    },

    /// The secret's `engine` is not one this function migrates.
    #[error(
        "the secret `{secret}` has `engine` `{engine}`; this function migrates {}",
        crate::secret::ENGINES
    )]
    UnsupportedEngine {
        /// The ARN or name.
        secret: String,
        /// The engine named.
        engine: String,
    },

    /// No database name to use.
    #[error("no database to migrate: {0}")]
    NoDatabase(String),

    /// A named folder of migrations or seeds could not be read (test-folders builds).
    #[error("could not read {what}: {message}")]
    Source {
        /// What was being read.
        what: String,
        /// Why it failed.
        message: String,
    },

    /// `TargetVersion` names a migration the function does not carry.
    #[error(
        "`TargetVersion` is `{target}`, but this function carries no migration {target} (its newest is {newest}): use one of its versions, 0, or deploy the function built with that migration"
    )]
    UnknownTarget {
        /// The version asked for.
        target: i64,
        /// The newest carried.
        newest: i64,
    },

    /// `Seeds` names a set the function does not carry.
    #[error(
        "`Seeds` names the set `{set}`, but this function carries only {known}: add `seeds/{set}/` or fix the name"
    )]
    UnknownSeedSet {
        /// The set asked for.
        set: String,
        /// The sets carried, as a list for the reason.
        known: String,
    },

    /// The server could not be reached or refused the login.
    #[error("could not connect to `{server}` (database `{database}`): {message}")]
    Connect {
        /// The server, as `host:port`.
        server: String,
        /// The database the run was working on.
        database: String,
        /// Why (the driver's message, without credentials).
        message: String,
    },

    /// The server accepted the connection and said nothing.
    #[error(
        "`{server}` did not complete the connection within {:.1} s (database `{database}`): check \
        the host and port in the secret, the security groups, and that the function's subnets can \
        reach the database",
        after.as_secs_f64()
    )]
    ConnectTimeout {
        /// The server, as `host:port`.
        server: String,
        /// The database the run was working on.
        database: String,
        /// How long was waited.
        after: Duration,
    },

    /// The database does not exist and may not be created here.
    #[error("database `{database}` does not exist on `{server}`: {advice}")]
    NoSuchDatabase {
        /// The server, as `host:port`.
        server: String,
        /// The database the run was working on.
        database: String,
        /// What to do.
        advice: &'static str,
    },

    /// The database did not answer in time.
    #[error(
        "the database did not answer within {:.1} s while {what}: it may be overloaded or a statement may be waiting for a lock; raise the function's Timeout or find what blocks it",
        after.as_secs_f64()
    )]
    Timeout {
        /// What was being done.
        what: String,
        /// How long was waited.
        after: Duration,
    },

    /// Another run holds the migration lock.
    #[error(
        "another migration holds the lock on `{database}` (waited {:.0} s, `LockTimeoutSeconds` is \
        {limit}{}): wait for it to finish and retry, or raise `LockTimeoutSeconds`; a `sqlx migrate \
        run` elsewhere takes the same lock",
        waited.as_secs_f64(),
        if *waited < Duration::from_secs(u64::from(*limit)) { ", but the function's time ran out first" } else { "" }
    )]
    Locked {
        /// The database the run was working on.
        database: String,
        /// How long was waited.
        waited: Duration,
        /// The `LockTimeoutSeconds` the resource gave.
        limit: u32,
    },

    /// An applied migration's file was edited.
    #[error(
        "migration {version} (`{file}`) was applied to `{database}` with different content: a \
        migration must not change once applied. Restore the file as it was applied and put the \
        change in a new migration (or, on a scratch database only, revert it first)"
    )]
    Edited {
        /// The migration's version (the number its file name starts with).
        version: i64,
        /// Its file name.
        file: String,
        /// The database the run was working on.
        database: String,
    },

    /// An applied migration the function does not carry.
    #[error(
        "migration {version} is applied to `{database}` but this function does not carry it, and it is not newer than the target {target}: restore the migration file (was it renamed or deleted?)"
    )]
    Missing {
        /// The migration's version (the number its file name starts with).
        version: i64,
        /// The database the run was working on.
        database: String,
        /// The target version.
        target: i64,
    },

    /// A down script failed in a request that is not a rollback (CloudFormation said so): the
    /// template asked to go back, and did not get there.
    #[error(
        "the down script of migration {version} failed on `{database}`: {message}. This is not a rollback, so it is a failure: the schema stays at {version}; fix the down script (or revert by hand) and deploy again"
    )]
    DownFailed {
        /// The migration's version.
        version: i64,
        /// The database.
        database: String,
        /// The database's message.
        message: String,
    },

    /// A migration failed.
    #[error("migration {version} (`{file}`) failed on `{database}`: {message}. {advice}")]
    MigrationFailed {
        /// The migration's version (the number its file name starts with).
        version: i64,
        /// Its file name.
        file: String,
        /// The database the run was working on.
        database: String,
        /// The database's message.
        message: String,
        /// What happened to it and what to do.
        advice: String,
    },

    /// A migration is marked dirty (partly applied) in `_sqlx_migrations`.
    #[error(
        "migration {version}{file} is partially applied on `{database}` (marked `success = false` in \
        `_sqlx_migrations`): MySQL and MariaDB commit each DDL statement on its own, so some of its \
        statements took effect. Check which of them did and undo or finish them by hand, delete its \
        row (`DELETE FROM _sqlx_migrations WHERE version = {version}`), fix the migration, then \
        deploy again"
    )]
    Dirty {
        /// The migration's version (the number its file name starts with).
        version: i64,
        /// ` (`file`)` when the function carries it, else empty.
        file: String,
        /// The database the run was working on.
        database: String,
    },

    /// A seed file was edited after it was applied.
    #[error(
        "seed `{set}/{file}` was applied to `{database}` with different content: seeds are applied \
        once per database, so put changes in a new seed file (or delete its row from \
        `_stackwright_seeds` to have it applied again)"
    )]
    SeedEdited {
        /// The seed set (a folder under `seeds/`).
        set: String,
        /// The seed file's name.
        file: String,
        /// The database the run was working on.
        database: String,
    },

    /// A seed file failed.
    #[error("seed `{set}/{file}` failed on `{database}`: {message}. {advice}")]
    SeedFailed {
        /// The seed set (a folder under `seeds/`).
        set: String,
        /// The seed file's name.
        file: String,
        /// The database the run was working on.
        database: String,
        /// The database's message.
        message: String,
        /// What to do.
        advice: &'static str,
    },

    /// Creating or dropping the database failed.
    #[error("could not {action} database `{database}` on `{server}`: {message}")]
    Admin {
        /// `create` or `drop`.
        action: &'static str,
        /// The database the run was working on.
        database: String,
        /// The server, as `host:port`.
        server: String,
        /// The database's message.
        message: String,
    },

    /// Any other database error.
    #[error("database error on `{database}` while {what}: {message}")]
    Database {
        /// What was being done.
        what: String,
        /// The database the run was working on.
        database: String,
        /// What the server said (never a connection string).
        message: String,
    },
}

/// The message of a driver error, without anything but what the server said.
pub fn db_message(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (code {code})", db.message()),
            None => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_what_to_do() {
        let locked = Error::Locked {
            database: "app".into(),
            waited: Duration::from_secs(5),
            limit: 5,
        }
        .to_string();
        assert!(
            locked.starts_with(
                "another migration holds the lock on `app` (waited 5 s, `LockTimeoutSeconds` is 5): "
            ),
            "{locked}"
        );
        let early = Error::Locked {
            database: "app".into(),
            waited: Duration::from_secs(20),
            limit: 60,
        }
        .to_string();
        assert!(
            early.contains("is 60, but the function's time ran out first"),
            "{early}"
        );
        let edited = Error::Edited {
            version: 3,
            file: "3_x.sql".into(),
            database: "app".into(),
        }
        .to_string();
        assert!(edited.contains("migration 3 (`3_x.sql`)") && edited.contains("new migration"));
        let dirty = Error::Dirty {
            version: 2,
            file: " (`2_b.sql`)".into(),
            database: "app".into(),
        }
        .to_string();
        assert!(
            dirty.contains("migration 2 (`2_b.sql`) is partially applied"),
            "{dirty}"
        );
        assert!(dirty.contains("DELETE FROM _sqlx_migrations WHERE version = 2"));
    }
}
