//! A whole local stage through CloudFormation's lifecycle, with the real template.yaml, the
//! real function binaries, moto, PostgreSQL and the HTTP stand-in: up; up again (nothing
//! changes); change a property; add a migration that fails (rolled back, earlier state
//! intact); fix it; down. Asserts the events and the real effects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::SecretsManager;
use serde_json::Value;
use stage_runner::engine::{self, Options, Report};
use stage_runner::plan::ReplacedRollback;
use stage_runner::services;

struct Stage {
    dir: tempfile::TempDir,
    name: String,
    database: String,
    options: Options,
}

impl Stage {
    /// A private copy of the project's stage: its own stack and database names, state and
    /// services, so it never meets a developer's `make up` or another test.
    fn new(stage_parameter: &str) -> Self {
        let root = harness::workspace_root();
        let dir = tempfile::tempdir().unwrap();
        let name = format!("swt-{:08x}", fastrand_u32());
        let database = name.replace('-', "_");
        // Roles are the server's, not a database's: each test's stage gets its own login, or
        // two stages on the shared server would create `app_user` at once.
        let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
        let own_user = template.replace("Value: app_user\n", &format!("Value: {database}_app\n"));
        assert_ne!(
            template, own_user,
            "template.yaml names the login `app_user`"
        );
        std::fs::write(dir.path().join("template.yaml"), own_user).unwrap();
        std::fs::write(
            dir.path().join("samconfig.toml"),
            format!(
                "version = 0.1\n[local.deploy.parameters]\nstack_name = \"{name}\"\nparameter_overrides = [\"Stage={stage_parameter}\"]\n"
            ),
        )
        .unwrap();
        let overrides = std::fs::read_to_string(root.join("local/overrides.yaml"))
            .unwrap()
            .replace("stackwright_${local:stage}", &database);
        assert!(
            overrides.contains(&database),
            "local/overrides.yaml names the database per stage"
        );
        std::fs::write(dir.path().join("overrides.yaml"), overrides).unwrap();
        copy_dir(&root.join("migrations"), &dir.path().join("migrations"));
        // Proves the binary reads this folder (db-migration's test-only `test-folders` feature).
        std::fs::write(
            dir.path()
                .join("migrations/29980101000000_local_marker.up.sql"),
            "CREATE TABLE local_marker (id int);\n",
        )
        .unwrap();
        std::fs::write(
            dir.path()
                .join("migrations/29980101000000_local_marker.down.sql"),
            "DROP TABLE local_marker;\n",
        )
        .unwrap();
        copy_dir(&root.join("seeds"), &dir.path().join("seeds"));
        let options = Options {
            stage: "local".into(),
            template: dir.path().join("template.yaml"),
            samconfig: dir.path().join("samconfig.toml"),
            overrides: dir.path().join("overrides.yaml"),
            state_dir: dir.path().join("state"),
            services: services::Options {
                root: root.clone(),
                dir: dir.path().join("services"),
                exe: harness::pinned(env!("CARGO_BIN_EXE_stackwright")).unwrap(),
            },
            // Built for this test (with db-migration's `test-folders`), never a stale one.
            bin_dir: harness::bin_dir(&[
                "db-migration",
                "secret-seeder",
                "http-resource",
                "db-user",
            ])
            .unwrap(),
            parameters: BTreeMap::new(),
            env: vec![
                (
                    "db-migration".into(),
                    "STACKWRIGHT_MIGRATIONS_DIR".into(),
                    dir.path().join("migrations").display().to_string(),
                ),
                (
                    "db-migration".into(),
                    "STACKWRIGHT_SEEDS_DIR".into(),
                    dir.path().join("seeds").display().to_string(),
                ),
            ],
            replaced_rollback: ReplacedRollback::DeleteNew,
        };
        Self {
            dir,
            name,
            database,
            options,
        }
    }

    async fn up(&self) -> (Report, String) {
        let mut out = Vec::new();
        let report = engine::up(&self.options, &mut out).await.unwrap();
        (report, String::from_utf8(out).unwrap())
    }

    async fn down(&self) -> (Report, String) {
        let mut out = Vec::new();
        let report = engine::down(&self.options, &mut out).await.unwrap();
        (report, String::from_utf8(out).unwrap())
    }

    fn port(&self, service: &str) -> u16 {
        std::fs::read_to_string(self.options.services.dir.join(format!("{service}.port")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn physical_id(&self, logical_id: &str) -> String {
        let state: Value = serde_json::from_str(
            &std::fs::read_to_string(self.options.state_dir.join("local.json")).unwrap(),
        )
        .unwrap();
        state["resources"][logical_id]["physical_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn sql(&self, database: &str, query: &str) -> Option<String> {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                query,
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn database_exists(&self) -> bool {
        self.sql(
            "postgres",
            &format!(
                "SELECT 1 FROM pg_database WHERE datname = '{}'",
                self.database
            ),
        )
        .is_some_and(|r| r == "1")
    }

    /// The stage's moto (started by `up`), through the harness's Secrets Manager client.
    fn secrets(&self) -> SecretsManager {
        SecretsManager::new(format!("http://127.0.0.1:{}", self.port("moto")))
    }

    async fn webhook(&self, id: &str) -> u16 {
        reqwest::get(format!(
            "http://127.0.0.1:{}/hooks/{id}",
            self.port("api-local")
        ))
        .await
        .unwrap()
        .status()
        .as_u16()
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        services::stop(&self.options.services.dir, &mut std::io::sink());
        let _ = self.sql(
            "postgres",
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
        );
        // The stage's login outlives its database (OnDelete: Retain); its grants went with it.
        let _ = self.sql(
            "postgres",
            &format!("DROP ROLE IF EXISTS \"{}_app\"", self.database),
        );
        let _ = &self.dir;
    }
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target: PathBuf = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn resource_events(report: &Report) -> Vec<(String, String)> {
    report
        .events
        .iter()
        .filter(|e| e.kind != "AWS::CloudFormation::Stack")
        .map(|e| (e.logical_id.clone(), e.status.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_stage_through_its_whole_lifecycle() {
    let stage = Stage::new("dev");

    // Given a fresh stage, when it comes up, then every custom resource is created in order.
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    assert_eq!(
        resource_events(&report),
        [
            ("AppSecret".to_owned(), "CREATE_IN_PROGRESS".to_owned()),
            ("AppSecret".into(), "CREATE_COMPLETE".into()),
            ("DatabaseMigration".into(), "CREATE_IN_PROGRESS".into()),
            ("DatabaseMigration".into(), "CREATE_COMPLETE".into()),
            ("AppDatabaseUserSecret".into(), "CREATE_IN_PROGRESS".into()),
            ("AppDatabaseUserSecret".into(), "CREATE_COMPLETE".into()),
            ("AppDatabaseUser".into(), "CREATE_IN_PROGRESS".into()),
            ("AppDatabaseUser".into(), "CREATE_COMPLETE".into()),
            ("DeployWebhook".into(), "CREATE_IN_PROGRESS".into()),
            ("DeployWebhook".into(), "CREATE_COMPLETE".into()),
        ],
        "{out}"
    );
    assert_eq!(
        stage
            .sql(&stage.database, "SELECT count(*) FROM local_marker")
            .as_deref(),
        Some("0"),
        "db-migration did not read the test's migrations folder: build it with its `test-folders` feature (`cargo test --workspace` and `make test` do)"
    );
    let migrations = stage
        .sql(&stage.database, "SELECT count(*) FROM _sqlx_migrations")
        .unwrap();
    assert!(migrations.parse::<u32>().unwrap() >= 3, "{migrations}");
    let secret_arn = stage.physical_id("AppSecret");
    let secret = stage
        .secrets()
        .get_secret_value(&secret_arn, None, None)
        .await
        .unwrap();
    let keys: Value = serde_json::from_str(secret.string.as_deref().unwrap()).unwrap();
    assert_eq!(keys["db_username"], "app");
    let hook = stage.physical_id("DeployWebhook");
    assert_eq!(stage.webhook(&hook).await, 200);

    // When nothing changed, then a second up changes nothing.
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    assert!(resource_events(&report).is_empty(), "{out}");

    // When a property changes, then only that resource is updated.
    let template = std::fs::read_to_string(&stage.options.template).unwrap();
    let changed = template.replace("Value: app\n", "Value: app_v2\n");
    assert_ne!(
        template, changed,
        "the template still seeds db_username with `app`"
    );
    std::fs::write(&stage.options.template, changed).unwrap();
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    assert_eq!(
        report.statuses("AppSecret"),
        ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
        "{out}"
    );
    assert!(report.statuses("DatabaseMigration").is_empty(), "{out}");
    let secret = stage
        .secrets()
        .get_secret_value(&secret_arn, None, None)
        .await
        .unwrap();
    let updated: Value = serde_json::from_str(secret.string.as_deref().unwrap()).unwrap();
    assert_eq!(updated["db_username"], "app_v2");
    assert_eq!(
        updated["db_password"], keys["db_password"],
        "a generated value survives an unrelated update"
    );

    // When a migration that fails ships, then the update fails and is rolled back, and the
    // database keeps what it had.
    let tables_before = stage.sql(&stage.database, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'");
    let broken_up = stage
        .dir
        .path()
        .join("migrations/29990101000000_broken.up.sql");
    let broken_down = stage
        .dir
        .path()
        .join("migrations/29990101000000_broken.down.sql");
    std::fs::write(
        &broken_up,
        "CREATE TABLE audit_log (id bigint PRIMARY KEY);\nSELECT no_such_function();\n",
    )
    .unwrap();
    std::fs::write(&broken_down, "DROP TABLE audit_log;\n").unwrap();
    let (report, out) = stage.up().await;
    assert!(!report.ok, "{out}");
    let statuses = report.statuses("DatabaseMigration");
    assert_eq!(
        statuses[..2],
        ["UPDATE_IN_PROGRESS", "UPDATE_FAILED"],
        "{out}"
    );
    assert_eq!(
        statuses.last(),
        Some(&"UPDATE_COMPLETE"),
        "rolled back with the old properties: {out}"
    );
    assert_eq!(
        report.statuses(&stage.name).last(),
        Some(&"UPDATE_ROLLBACK_COMPLETE"),
        "{out}"
    );
    assert_eq!(
        stage
            .sql(&stage.database, "SELECT count(*) FROM _sqlx_migrations")
            .unwrap(),
        migrations
    );
    assert_eq!(
        stage.sql(&stage.database, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"),
        tables_before
    );

    // When it is fixed, then the next up applies it.
    std::fs::write(
        &broken_up,
        "CREATE TABLE audit_log (id bigint PRIMARY KEY);\n",
    )
    .unwrap();
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    assert_eq!(
        report.statuses("DatabaseMigration"),
        ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
        "{out}"
    );
    let after: u32 = stage
        .sql(&stage.database, "SELECT count(*) FROM _sqlx_migrations")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(after, migrations.parse::<u32>().unwrap() + 1);

    // When the stage goes down, then everything is deleted in reverse order, as dev's
    // policies ask: the secret force-deleted, the webhook deleted, the database retained (on
    // AWS it goes with its RDS instance; locally the server is shared).
    let (report, out) = stage.down().await;
    assert!(report.ok, "{out}");
    let deletes: Vec<String> = report
        .events
        .iter()
        .filter(|e| e.status == "DELETE_COMPLETE" && e.kind != "AWS::CloudFormation::Stack")
        .map(|e| e.logical_id.clone())
        .collect();
    assert_eq!(
        deletes,
        [
            "DeployWebhook",
            "AppDatabaseUser",
            "AppDatabaseUserSecret",
            "DatabaseMigration",
            "AppSecret"
        ],
        "{out}"
    );
    assert!(stage.database_exists(), "OnDelete: Retain");
    assert_eq!(stage.webhook(&hook).await, 404);
    // `None`: moto answered ResourceNotFoundException.
    let described = stage.secrets().describe_secret(&secret_arn).await.unwrap();
    assert!(described.is_none(), "force-deleted in dev: {described:?}");
    // The master secret stands in for an AWS resource the stage does not own: it stays.
    let master = stage
        .secrets()
        .describe_secret(&format!("{}/database-master", stage.name))
        .await
        .unwrap();
    assert!(master.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_stage_retains_its_data_on_down() {
    let stage = Stage::new("stage");
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    assert!(
        report
            .statuses("DeployWebhook")
            .contains(&"CREATE_COMPLETE"),
        "{out}"
    );
    assert!(
        stage
            .sql(&stage.database, "SELECT count(*) FROM _sqlx_migrations")
            .is_some(),
        "migrated: {out}"
    );
    let secret_arn = stage.physical_id("AppSecret");

    let (report, out) = stage.down().await;
    assert!(report.ok, "{out}");
    assert!(
        stage.database_exists(),
        "OnDelete: Retain in stage keeps the database"
    );
    let described = stage
        .secrets()
        .describe_secret(&secret_arn)
        .await
        .unwrap()
        .expect("the secret is retained");
    assert!(
        described.deleted_date.is_none(),
        "not even scheduled for deletion"
    );

    // Local services lost their state (moto keeps nothing on disk): the next up says so and
    // creates again.
    let (report, _) = stage.up().await;
    assert!(report.ok);
    services::stop(&stage.options.services.dir, &mut std::io::sink());
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    assert_eq!(
        report.statuses("AppSecret"),
        ["DRIFTED", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"],
        "{out}"
    );
    stage.down().await;
}

/// The secrets moto holds, by name, scheduled deletions included.
async fn secret_names(stage: &Stage) -> Vec<String> {
    let mut names: Vec<String> = stage
        .secrets()
        .list_secrets(true)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    names
}

/// The ids of the objects in one of the HTTP stand-in's collections.
async fn hook_ids(stage: &Stage, collection: &str) -> Vec<String> {
    let body: Value = reqwest::get(format!(
        "http://127.0.0.1:{}/{collection}",
        stage.port("api-local")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut ids: Vec<String> = body
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// One deploy that replaces the app secret (a new `Name`) and the webhook (a new path),
/// narrows the app user's grants in place, and then fails on a resource added after them
/// all: the stack rolls back, under either of the two sequences CloudFormation may send a
/// replaced custom resource, to exactly what it was.
async fn a_failed_update_leaves_nothing_behind(sequence: ReplacedRollback) {
    let mut stage = Stage::new("dev");
    stage.options.replaced_rollback = sequence;
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    let ids: Vec<(String, String)> = [
        "AppSecret",
        "DatabaseMigration",
        "AppDatabaseUserSecret",
        "AppDatabaseUser",
        "DeployWebhook",
    ]
    .iter()
    .map(|id| (id.to_string(), stage.physical_id(id)))
    .collect();
    let secrets = secret_names(&stage).await;
    let hooks = hook_ids(&stage, "hooks").await;
    assert_eq!(hooks.len(), 1, "{out}");
    let login = format!("{}_app", stage.database);
    let can_insert = format!("SELECT has_table_privilege('{login}', 'local_marker', 'INSERT')");
    assert_eq!(
        stage.sql(&stage.database, &can_insert).as_deref(),
        Some("t")
    );

    // The deploy `make rollback-demo` plays: scripts/failing-update.py writes it.
    let status = Command::new("python3")
        .arg(harness::workspace_root().join("scripts/failing-update.py"))
        .arg(&stage.options.template)
        .arg(&stage.options.template)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "scripts/failing-update.py could not change the template"
    );

    // When the deploy runs, it replaces and updates, fails on `Broken`, and rolls back.
    let (report, out) = stage.up().await;
    assert!(!report.ok, "{out}");
    assert_eq!(
        report.statuses("Broken")[..2],
        ["CREATE_IN_PROGRESS", "CREATE_FAILED"],
        "{out}"
    );
    for replaced in ["AppSecret", "DeployWebhook"] {
        let statuses = report.statuses(replaced);
        assert_eq!(
            statuses[..2],
            ["UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"],
            "{replaced}: {out}"
        );
    }
    assert_eq!(
        report.statuses(&stage.name).last(),
        Some(&"UPDATE_ROLLBACK_COMPLETE"),
        "{out}"
    );

    // Then every resource has its pre-update id, and nothing the deploy made is left: no
    // secret under the new name, no hook in the new collection, the grant as it was.
    for (id, physical_id) in &ids {
        assert_eq!(
            &stage.physical_id(id),
            physical_id,
            "{id} under {sequence:?}: {out}"
        );
    }
    assert_eq!(secret_names(&stage).await, secrets, "{sequence:?}: {out}");
    assert_eq!(
        hook_ids(&stage, "hooks").await,
        hooks,
        "{sequence:?}: {out}"
    );
    assert_eq!(
        hook_ids(&stage, "hooks2").await,
        Vec::<String>::new(),
        "{sequence:?}: {out}"
    );
    assert_eq!(
        stage.sql(&stage.database, &can_insert).as_deref(),
        Some("t"),
        "{sequence:?}: {out}"
    );
    let value = stage
        .secrets()
        .get_secret_value(&ids[0].1, None, None)
        .await
        .unwrap();
    let keys: Value = serde_json::from_str(value.string.as_deref().unwrap()).unwrap();
    assert_eq!(keys["db_username"], "app", "{sequence:?}");

    // And the stage still goes down cleanly.
    let (report, out) = stage.down().await;
    assert!(report.ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_leaves_nothing_behind_when_replacements_are_deleted() {
    a_failed_update_leaves_nothing_behind(ReplacedRollback::DeleteNew).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_leaves_nothing_behind_when_replacements_are_updated_back() {
    a_failed_update_leaves_nothing_behind(ReplacedRollback::UpdateBack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_removed_behind_the_stacks_back_is_drifted_and_made_again() {
    let stage = Stage::new("dev");
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");

    // Given the app's login dropped by hand and the webhook deleted on the remote API,
    let login = format!("{}_app", stage.database);
    assert!(
        stage
            .sql(
                &stage.database,
                &format!("DROP OWNED BY \"{login}\"; DROP ROLE \"{login}\"")
            )
            .is_some(),
        "dropping `{login}`"
    );
    let hook = stage.physical_id("DeployWebhook");
    let deleted = reqwest::Client::new()
        .delete(format!(
            "http://127.0.0.1:{}/hooks/{hook}",
            stage.port("api-local")
        ))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());

    // when the stage comes up again, then each function's own physical id tells the runner
    // where to look, and both are reported and created again; the rest is untouched.
    let (report, out) = stage.up().await;
    assert!(report.ok, "{out}");
    for drifted in ["AppDatabaseUser", "DeployWebhook"] {
        assert_eq!(
            report.statuses(drifted),
            ["DRIFTED", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"],
            "{drifted}: {out}"
        );
    }
    for kept in ["AppSecret", "DatabaseMigration", "AppDatabaseUserSecret"] {
        assert!(report.statuses(kept).is_empty(), "{kept}: {out}");
    }
    let can_login = format!("SELECT rolcanlogin FROM pg_roles WHERE rolname = '{login}'");
    assert_eq!(stage.sql("postgres", &can_login).as_deref(), Some("t"));
    assert_eq!(
        stage.webhook(&stage.physical_id("DeployWebhook")).await,
        200
    );
    stage.down().await;
}
