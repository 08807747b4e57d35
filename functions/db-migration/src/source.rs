//! The migrations and seeds the function carries: embedded at build time (`sqlx::migrate!`
//! and `build.rs`), or, in a build with the `test-folders` feature only, read from the folders
//! named by `STACKWRIGHT_MIGRATIONS_DIR` and `STACKWRIGHT_SEEDS_DIR`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha384};
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Error;

/// The variable naming a migrations folder (honoured only with the `test-folders` feature).
pub const MIGRATIONS_DIR_VAR: &str = "STACKWRIGHT_MIGRATIONS_DIR";
/// The variable naming a seeds folder (honoured only with the `test-folders` feature).
pub const SEEDS_DIR_VAR: &str = "STACKWRIGHT_SEEDS_DIR";
/// Whether this build reads folders named by those variables.
pub const FOLDERS_HONOURED: bool = cfg!(feature = "test-folders");

/// The workspace's `migrations/`, embedded.
static EMBEDDED: Migrator = sqlx::migrate!("../../migrations");

/// A seed file as `build.rs` embeds it.
#[derive(Debug)]
pub(crate) struct EmbeddedSeed {
    set: &'static str,
    file: &'static str,
    sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/seeds.rs"));

/// The migrations the function carries, ups and downs, in sqlx's order.
#[derive(Debug, Clone)]
pub struct MigrationSet {
    migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The set embedded in the binary.
    pub fn embedded() -> Self {
        Self {
            migrations: EMBEDDED.iter().cloned().collect(),
        }
    }

    /// A set from sqlx migrations, sorted as sqlx sorts them.
    pub fn new(mut migrations: Vec<Migration>) -> Self {
        migrations.sort();
        Self { migrations }
    }

    /// The forward migrations (simple and `.up.sql`), oldest first.
    pub fn ups(&self) -> impl Iterator<Item = &Migration> {
        self.migrations
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
    }

    /// The forward migration `version`.
    pub fn up(&self, version: i64) -> Option<&Migration> {
        self.ups().find(|m| m.version == version)
    }

    /// The down script of `version`, if the set has one.
    pub fn down(&self, version: i64) -> Option<&Migration> {
        self.migrations
            .iter()
            .find(|m| m.version == version && m.migration_type.is_down_migration())
    }

    /// The newest forward version, 0 when there is none.
    pub fn newest(&self) -> i64 {
        self.ups().map(|m| m.version).max().unwrap_or(0)
    }
}

/// The file name of a migration as sqlx names it: `<version>_<description>.sql`
/// (`.up.sql`/`.down.sql` when reversible). sqlx turned `_` into spaces in the description;
/// this turns them back.
pub fn file_name(version: i64, description: &str, kind: MigrationType) -> String {
    format!(
        "{version}_{}{}",
        description.replace(' ', "_"),
        kind.suffix()
    )
}

/// sqlx's checksum: SHA-384 of the text.
pub fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

/// Whether a script opts out of the transaction, exactly as sqlx decides it.
pub fn is_no_transaction(sql: &str) -> bool {
    sql.starts_with("-- no-transaction")
}

/// One seed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedFile {
    /// Its set: the folder under `seeds/`.
    pub set: String,
    /// Its file name, `<NNN>_<name>.sql`.
    pub file: String,
    /// Its SQL text, as the file holds it.
    pub sql: Cow<'static, str>,
    /// SHA-384 of the SQL, like a migration's.
    pub checksum: Vec<u8>,
    /// Starts with `-- no-transaction`.
    pub no_tx: bool,
}

impl SeedFile {
    /// The seed file `set/file` with this SQL, its checksum and `-- no-transaction` read from it.
    pub fn new(set: String, file: String, sql: Cow<'static, str>) -> Self {
        Self {
            checksum: checksum(&sql),
            no_tx: is_no_transaction(&sql),
            set,
            file,
            sql,
        }
    }
}

/// Every seed set the function carries.
#[derive(Debug, Clone, Default)]
pub struct SeedCatalog {
    sets: BTreeMap<String, Vec<SeedFile>>,
}

impl SeedCatalog {
    /// The sets embedded in the binary.
    pub fn embedded() -> Self {
        let mut sets: BTreeMap<String, Vec<SeedFile>> = EMBEDDED_SEED_SETS
            .iter()
            .map(|s| ((*s).to_owned(), Vec::new()))
            .collect();
        for seed in EMBEDDED_SEEDS {
            sets.entry(seed.set.to_owned())
                .or_default()
                .push(SeedFile::new(
                    seed.set.to_owned(),
                    seed.file.to_owned(),
                    Cow::Borrowed(seed.sql),
                ));
        }
        Self { sets }
    }

    /// A catalog from files (sorted by name within each set).
    pub fn new(files: impl IntoIterator<Item = SeedFile>, empty_sets: &[&str]) -> Self {
        let mut sets: BTreeMap<String, Vec<SeedFile>> = empty_sets
            .iter()
            .map(|s| ((*s).to_owned(), Vec::new()))
            .collect();
        for file in files {
            sets.entry(file.set.clone()).or_default().push(file);
        }
        for files in sets.values_mut() {
            files.sort_by(|a, b| a.file.cmp(&b.file));
        }
        Self { sets }
    }

    /// The files of `set`, in order; `None` for a set the function does not carry.
    pub fn set(&self, set: &str) -> Option<&[SeedFile]> {
        self.sets.get(set).map(Vec::as_slice)
    }

    /// The names of every set.
    pub fn names(&self) -> Vec<&str> {
        self.sets.keys().map(String::as_str).collect()
    }
}

/// Where the migrations and seeds of this invocation come from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The migrations the function carries, up and down.
    pub migrations: MigrationSet,
    /// The seed sets.
    pub seeds: SeedCatalog,
    /// `embedded`, or the folders read, for the log.
    pub origin: String,
}

impl Sources {
    /// The embedded migrations and seeds.
    pub fn embedded() -> Self {
        Self {
            migrations: MigrationSet::embedded(),
            seeds: SeedCatalog::embedded(),
            origin: "embedded".into(),
        }
    }

    /// The sources for this invocation: embedded, unless this is a `test-folders` build and a
    /// folder variable is set (read at every invocation, so a test can change the folder
    /// between two events as a deploy would change the code).
    ///
    /// # Errors
    ///
    /// [`Error::Source`] when a named folder cannot be read.
    pub async fn load() -> Result<Self, Error> {
        let choice = choose(
            FOLDERS_HONOURED,
            std::env::var_os(MIGRATIONS_DIR_VAR).map(PathBuf::from),
            std::env::var_os(SEEDS_DIR_VAR).map(PathBuf::from),
        );
        match choice {
            Choice::Embedded { ignored: false } => Ok(Self::embedded()),
            Choice::Embedded { ignored: true } => {
                tracing::warn!(
                    "{MIGRATIONS_DIR_VAR} / {SEEDS_DIR_VAR} are ignored: this build carries its migrations and seeds embedded (only a build with the `test-folders` feature reads folders)"
                );
                Ok(Self::embedded())
            }
            Choice::Folders { migrations, seeds } => Self::from_folders(migrations, seeds).await,
        }
    }

    #[cfg(feature = "test-folders")]
    async fn from_folders(
        migrations: Option<PathBuf>,
        seeds: Option<PathBuf>,
    ) -> Result<Self, Error> {
        let mut sources = Self::embedded();
        let mut origin = Vec::new();
        if let Some(dir) = migrations {
            let migrator = Migrator::new(dir.clone())
                .await
                .map_err(|e| Error::Source {
                    what: format!("the migrations in `{}`", dir.display()),
                    message: e.to_string(),
                })?;
            sources.migrations = MigrationSet::new(migrator.iter().cloned().collect());
            origin.push(format!("migrations from {}", dir.display()));
        }
        if let Some(dir) = seeds {
            sources.seeds = folder::seeds(&dir)?;
            origin.push(format!("seeds from {}", dir.display()));
        }
        sources.origin = format!("{} (test-folders build)", origin.join(", "));
        Ok(sources)
    }

    /// Without the feature there is no code that reads a folder at all.
    #[cfg(not(feature = "test-folders"))]
    async fn from_folders(_: Option<PathBuf>, _: Option<PathBuf>) -> Result<Self, Error> {
        Ok(Self::embedded())
    }
}

/// Where this invocation's migrations and seeds come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The embedded ones; `ignored` when a folder variable is set but not honoured.
    Embedded {
        /// A variable was set and ignored (worth a warning).
        ignored: bool,
    },
    /// Folders named by the variables (a `test-folders` build only).
    Folders {
        /// `STACKWRIGHT_MIGRATIONS_DIR`.
        migrations: Option<PathBuf>,
        /// `STACKWRIGHT_SEEDS_DIR`.
        seeds: Option<PathBuf>,
    },
}

/// The one decision about folders: honoured only when the build says so.
pub fn choose(honoured: bool, migrations: Option<PathBuf>, seeds: Option<PathBuf>) -> Choice {
    let any = migrations.is_some() || seeds.is_some();
    if honoured && any {
        Choice::Folders { migrations, seeds }
    } else {
        Choice::Embedded { ignored: any }
    }
}

#[cfg(feature = "test-folders")]
mod folder {
    use std::borrow::Cow;
    use std::path::Path;

    use super::{SeedCatalog, SeedFile};
    use crate::Error;
    use crate::names::{is_seed_file_name, is_seed_set_name};

    /// `dir/<set>/<NNN>_<name>.sql`, with the rules `build.rs` applies to `seeds/`.
    pub(super) fn seeds(dir: &Path) -> Result<SeedCatalog, Error> {
        let fail = |message: String| Error::Source {
            what: format!("the seeds in `{}`", dir.display()),
            message,
        };
        let mut files = Vec::new();
        let mut sets = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| fail(e.to_string()))?;
        for entry in entries {
            let path = entry.map_err(|e| fail(e.to_string()))?.path();
            let Some(set) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            if !path.is_dir() {
                continue;
            }
            if !is_seed_set_name(&set) {
                return Err(fail(format!("`{set}` is not a seed set name")));
            }
            for file in std::fs::read_dir(&path).map_err(|e| fail(e.to_string()))? {
                let file = file.map_err(|e| fail(e.to_string()))?.path();
                let Some(name) = file.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                if !file.is_file() || !name.ends_with(".sql") {
                    continue;
                }
                if !is_seed_file_name(&name) {
                    return Err(fail(format!(
                        "`{set}/{name}` is not named `<NNN>_<name>.sql`"
                    )));
                }
                let sql = std::fs::read_to_string(&file).map_err(|e| fail(e.to_string()))?;
                files.push(SeedFile::new(set.clone(), name, Cow::Owned(sql)));
            }
            sets.push(set);
        }
        let names: Vec<&str> = sets.iter().map(String::as_str).collect();
        Ok(SeedCatalog::new(files, &names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_schema_is_reversible_and_ordered() {
        let set = MigrationSet::embedded();
        let ups: Vec<i64> = set.ups().map(|m| m.version).collect();
        assert!(ups.len() >= 3, "{ups:?}");
        assert!(ups.windows(2).all(|w| w[0] < w[1]));
        for v in &ups {
            assert!(set.down(*v).is_some(), "migration {v} has no .down.sql");
        }
        assert_eq!(set.newest(), *ups.last().unwrap());
        let first = set.up(ups[0]).unwrap();
        assert_eq!(
            file_name(first.version, &first.description, first.migration_type),
            "20261126090000_create_plans.up.sql"
        );
        // sqlx's checksum is SHA-384 of the text: the one we compute for seeds and downs.
        assert_eq!(
            first.checksum.as_ref(),
            checksum(first.sql.as_str()).as_slice()
        );
    }

    #[test]
    fn the_embedded_seeds_have_common_and_dev() {
        let seeds = SeedCatalog::embedded();
        assert_eq!(seeds.names(), ["common", "dev"]);
        let dev: Vec<&str> = seeds
            .set("dev")
            .unwrap()
            .iter()
            .map(|f| f.file.as_str())
            .collect();
        assert_eq!(dev, ["001_demo_account.sql", "002_demo_projects.sql"]);
        assert!(seeds.set("prod").is_none());
    }

    #[test]
    fn file_names_come_back_from_descriptions() {
        assert_eq!(
            file_name(3, "add orders", MigrationType::Simple),
            "3_add_orders.sql"
        );
        assert_eq!(
            file_name(20261126, "create tasks", MigrationType::ReversibleDown),
            "20261126_create_tasks.down.sql"
        );
    }

    #[test]
    fn no_transaction_is_read_as_sqlx_reads_it() {
        assert!(is_no_transaction(
            "-- no-transaction\nCREATE INDEX CONCURRENTLY …"
        ));
        assert!(!is_no_transaction("\n-- no-transaction"));
    }

    #[test]
    fn folders_are_honoured_only_in_a_test_folders_build() {
        let dir = || Some(PathBuf::from("/tmp/m"));
        // The release package: the variables are ignored (and a warning says so).
        assert_eq!(
            choose(false, dir(), None),
            Choice::Embedded { ignored: true }
        );
        assert_eq!(
            choose(false, None, dir()),
            Choice::Embedded { ignored: true }
        );
        assert_eq!(
            choose(false, None, None),
            Choice::Embedded { ignored: false }
        );
        // A test-folders build.
        assert_eq!(
            choose(true, dir(), None),
            Choice::Folders {
                migrations: dir(),
                seeds: None
            }
        );
        assert_eq!(
            choose(true, None, None),
            Choice::Embedded { ignored: false }
        );
        // The switch is the feature, nothing else.
        assert_eq!(FOLDERS_HONOURED, cfg!(feature = "test-folders"));
    }
}
