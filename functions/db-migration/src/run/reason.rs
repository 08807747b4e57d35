//! What a failed or refused run says: the reasons CloudFormation shows, naming the file and
//! the database, and what happened to a failed script on each engine.

use sqlx::migrate::{MigrateError, Migration};

use crate::Error;
use crate::budget::Budget;
use crate::error::db_message;
use crate::plan::Refusal;
use crate::secret::Engine;
use crate::source::{MigrationSet, file_name};
use crate::store::Store;

/// The reason a run refused by `refusal` fails with, naming the file of a carried migration.
pub(super) fn refused(refusal: &Refusal, database: &str, migrations: &MigrationSet) -> Error {
    let file_of = |version: i64| {
        migrations
            .up(version)
            .map(|m| file_name(m.version, &m.description, m.migration_type))
    };
    let database = database.to_owned();
    match refusal {
        Refusal::Dirty(version) => Error::Dirty {
            version: *version,
            file: file_of(*version)
                .map(|f| format!(" (`{f}`)"))
                .unwrap_or_default(),
            database,
        },
        Refusal::Edited(version) => Error::Edited {
            version: *version,
            file: file_of(*version).unwrap_or_else(|| version.to_string()),
            database,
        },
        Refusal::Missing { version, target } => Error::Missing {
            version: *version,
            database,
            target: *target,
        },
        Refusal::UnknownTarget { target, newest } => Error::UnknownTarget {
            target: *target,
            newest: *newest,
        },
        Refusal::SeedEdited(seed) => Error::SeedEdited {
            set: seed.set.clone(),
            file: seed.file.clone(),
            database,
        },
    }
}

/// The database's message in a migrator error.
pub(super) fn migrate_message(err: &MigrateError) -> String {
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => db_message(e),
        other => other.to_string(),
    }
}

/// What happened to a failed seed file and what to do.
pub(super) fn seed_advice(engine: Engine, no_tx: bool) -> &'static str {
    match (engine, no_tx) {
        (_, true) => {
            "It ran outside a transaction (`-- no-transaction`), so its statements before the failing one took effect: make it safe to run again, then deploy again"
        }
        (Engine::Postgres, false) => {
            "It was rolled back and is not recorded: fix it and deploy again"
        }
        (Engine::MySql, false) => {
            "Its data changes were rolled back and it is not recorded, but any DDL in it took effect (MySQL commits DDL on its own): fix it and deploy again"
        }
    }
}

/// What happened to a failed migration and what to do, engine by engine.
pub(super) async fn failure_advice<S: Store>(
    store: &mut S,
    budget: &Budget,
    migration: &Migration,
) -> String {
    let version = migration.version;
    match store.engine() {
        Engine::Postgres if migration.no_tx => format!(
            "It ran outside a transaction (`-- no-transaction`), so its statements before the \
            failing one may have taken effect: check them, make the migration safe to run again \
            (`IF NOT EXISTS`), then deploy again. The migrations before {version} stay applied"
        ),
        Engine::Postgres => format!(
            "It was rolled back, and the migrations before {version} stay applied: fix it (it was never applied, so editing it is safe) and deploy again; the next run continues from {version}"
        ),
        Engine::MySql => {
            let dirty = budget
                .within("reading `_sqlx_migrations`", store.dirty_version())
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            if dirty == Some(version) {
                format!(
                    "MySQL and MariaDB commit each DDL statement on its own, so its statements \
                    before the failing one took effect and version {version} is now marked dirty \
                    (`success = false`) in `_sqlx_migrations`. Check which of its statements took \
                    effect and undo them by hand, delete its row (`DELETE FROM _sqlx_migrations \
                    WHERE version = {version}`), fix the migration, then deploy again. The \
                    migrations before {version} stay applied"
                )
            } else {
                format!(
                    "None of it took effect, and the migrations before {version} stay applied: fix it and deploy again"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::EditedSeed;

    #[test]
    fn refusals_name_the_database_and_the_file() {
        let set = MigrationSet::embedded();
        let first = set.ups().next().unwrap().version;
        let reason = |refusal: Refusal| refused(&refusal, "app", &set).to_string();
        let dirty = reason(Refusal::Dirty(first));
        assert!(
            dirty.starts_with(&format!(
                "migration {first} (`{first}_create_plans.up.sql`) is partially applied on `app`"
            )),
            "{dirty}"
        );
        assert!(reason(Refusal::Dirty(9)).starts_with("migration 9 is partially applied"));
        assert!(reason(Refusal::Edited(9)).starts_with("migration 9 (`9`) was applied to `app`"));
        assert!(
            reason(Refusal::Missing {
                version: 2,
                target: 4
            })
            .contains("not newer than the target 4")
        );
        let seed = reason(Refusal::SeedEdited(EditedSeed {
            set: "dev".into(),
            file: "001_a.sql".into(),
        }));
        assert!(
            seed.starts_with("seed `dev/001_a.sql` was applied to `app`"),
            "{seed}"
        );
    }

    #[test]
    fn seed_advice_depends_on_the_engine_and_the_transaction() {
        assert!(seed_advice(Engine::Postgres, false).starts_with("It was rolled back"));
        assert!(seed_advice(Engine::MySql, false).contains("any DDL in it took effect"));
        assert!(seed_advice(Engine::MySql, true).contains("outside a transaction"));
    }
}
