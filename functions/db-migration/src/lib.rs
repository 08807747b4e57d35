//! `Custom::DatabaseMigration`: brings a database's schema to the migrations this function
//! carries, applies per-stage seed data, and survives CloudFormation's rollbacks.
//!
//! # A tour
//!
//! - [`properties`]: the resource's properties and [`parse_properties`].
//! - [`secret`]: the RDS-format secret, read with the protocol library's
//!   [`SecretsManager`] reader.
//! - [`target`]: the database a request is about and its physical id.
//! - [`source`]: the migrations (`sqlx::migrate!`) and seeds (`build.rs`) the binary carries.
//! - [`plan`]: the decisions, plain functions: what to apply, revert, record and seed.
//! - [`lock`]: sqlx's lock key, and the try-lock schedule.
//! - [`budget`]: connect and statement timeouts from the time left.
//! - [`tls`]: `Tls`/`CaBundle` on sqlx's options, and the embedded RDS CA bundle.
//! - [`store`]: the database I/O behind the [`store::Store`] trait, one module per engine.
//! - [`run`]: one run on one connection, holding the lock.
//!
//! # Trust
//!
//! The protocol library checks that CloudFormation is asking and that the stack is served
//! before any of this runs; what the properties ask that could destroy or weaken is the
//! stage's to allow ([`CustomResource::switches`]): `AllowDown` (down scripts), `OnDelete:
//! DropDatabase`, and any `Tls` but `VerifyFull` (`InsecureTls`). Not allowed, an Update runs
//! as if it had not asked (the database left ahead, `VerifyFull`) and a Delete retains.
//! Credentials go only to the server the secret names: a physical id naming another server
//! holds nothing of ours, so a Delete of it retains without connecting, and an Update
//! migrates the secret's server under a new id.
//!
//! The compatibility promise: `_sqlx_migrations` is sqlx's own table, written by sqlx's own
//! code with sqlx's checksums, and the lock is sqlx's, so `sqlx migrate run` on a laptop and
//! this resource agree about every database.

pub mod budget;
mod error;
pub mod lock;
mod names;
pub mod plan;
pub mod properties;
pub mod run;
pub mod secret;
pub mod source;
pub mod store;
pub mod target;
pub mod tls;

use custom_resource::{CustomResource, Outcome, Request, Switch};
use serde_json::{Map, Value};
use tokio::time::Instant;

pub use custom_resource::secrets::{SecretSource, SecretsManager};
pub use error::{Error, db_message};
pub use properties::{OnDelete, Properties, TlsMode, parse_properties};

use crate::budget::Budget;
use crate::secret::{DbSecret, parse_secret};
use crate::source::Sources;
use crate::store::{Connection, Credentials, Missing, Owner, Store};
use crate::target::{DatabaseFrom, Target, choose_database};
use crate::tls::TlsSettings;

/// The custom resource, over a source of secrets built once in `main`.
#[derive(Debug, Clone)]
pub struct DatabaseMigration<S> {
    secrets: S,
}

impl<S: SecretSource> DatabaseMigration<S> {
    /// The resource reading secrets from `secrets`.
    pub fn new(secrets: S) -> Self {
        Self { secrets }
    }

    /// The database secret, read through the library's reader: its password is taught to
    /// the request's redactor, which the runner applies to the `Reason`, should a server ever
    /// echo it back in a message.
    async fn read_secret(
        &self,
        request: &Request<Properties>,
        budget: &Budget,
    ) -> Result<DbSecret, Error> {
        let id = &request.properties.secret_arn;
        let deadline = Instant::now() + budget.connect_timeout();
        let text = self
            .secrets
            .secret_string(id, "SecretArn", &request.redactor, deadline)
            .await?;
        parse_secret(id, &text)
    }

    /// Create and Update: create the database if asked, migrate, seed.
    async fn converge(
        &self,
        request: &Request<Properties>,
        current: Option<&str>,
    ) -> Result<Outcome, Error> {
        let props = &request.properties;
        let budget = Budget::new(request.deadline);
        let sources = Sources::load().await?;
        tracing::info!(
            origin = %sources.origin,
            migrations = sources.migrations.ups().count(),
            newest = sources.migrations.newest(),
            "migrations carried"
        );
        plan::check_sets(&props.seeds, &sources.seeds.names()).map_err(|e| {
            Error::UnknownSeedSet {
                set: e.set,
                known: e
                    .known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        if let Some(target) = props.target_version
            && target != 0
            && sources.migrations.up(target).is_none()
        {
            return Err(Error::UnknownTarget {
                target,
                newest: sources.migrations.newest(),
            });
        }

        let secret = self.read_secret(request, &budget).await?;
        self.converge_with(request, current, &budget, &sources, &secret)
            .await
    }

    async fn converge_with(
        &self,
        request: &Request<Properties>,
        current: Option<&str>,
        budget: &Budget,
        sources: &Sources,
        secret: &DbSecret,
    ) -> Result<Outcome, Error> {
        let props = &request.properties;
        let (database, from) = choose_database(
            secret.engine,
            props.database.as_deref(),
            secret.dbname.as_deref(),
        )
        .map_err(Error::NoDatabase)?;
        if from == DatabaseFrom::EngineDefault {
            tracing::info!(
                "the secret has no `dbname` and the resource no `Database`: migrating PostgreSQL's default database `postgres`"
            );
        }
        let target = Target::new(secret.engine, &secret.host, secret.port, &database);
        let id = target.physical_id();
        let is_new = current != Some(id.as_str());
        if let Some(old) = current
            && is_new
        {
            // Whatever the old id names, this run connects only to the secret's server: an old
            // id on another server (the secret moved, or an id this function never issued) is
            // not ours, and the Delete CloudFormation then sends for it retains.
            tracing::info!(old, new = %id, "the database changed: a replacement; CloudFormation then deletes the old id, which keeps that database unless its OnDelete says DropDatabase and it is on the secret's server");
        }
        let tls = tls_for(request);
        let conn = Connection {
            target: &target,
            credentials: Credentials {
                username: &secret.username,
                password: &secret.password,
            },
            tls: &tls,
        };

        let created = if is_new && props.create_database {
            let created = store::create_database(&conn, budget)
                .await
                .map_err(|e| explain_tls(e, request))?;
            tracing::info!(
                database,
                server = %target.server(),
                created,
                "{}",
                if created {
                    "created the database"
                } else {
                    "the database exists already"
                }
            );
            created
        } else {
            false
        };
        let report = self
            .migrate(request, &conn, budget, sources, is_new, created)
            .await;
        let report = match report {
            Ok(report) => report,
            // What this request made it unmakes: a database it created and then failed to
            // migrate would otherwise be left behind by the rollback, whose Delete (of a failed
            // Create's id, or of a replacement's new id) never touches it. Only for a script of
            // its own that failed under its lock: any other failure (the lock not had, a
            // connection lost, an applied migration it does not know) may mean a concurrent
            // delivery of the same request is using the database, or has answered for it.
            Err(e)
                if created
                    && matches!(e, Error::MigrationFailed { .. } | Error::SeedFailed { .. }) =>
            {
                return Err(self.drop_created(&conn, budget, e).await);
            }
            Err(e) => return Err(e),
        };
        tracing::info!(
            database,
            version = report.version,
            applied = report.applied,
            reverted = report.reverted,
            seeds_applied = report.seeds_applied,
            ahead = %run::versions(&report.ahead),
            "migrated"
        );
        Ok(Outcome::new(id).with_data(data(&database, &report)))
    }

    /// Drops the database this request created after `failure`, and says so in the error; if
    /// the drop fails too, the original error stands (and the log says what is left).
    async fn drop_created(&self, conn: &Connection<'_>, budget: &Budget, failure: Error) -> Error {
        let database = conn.target.database.clone();
        match store::drop_database(conn, budget).await {
            Ok(()) => {
                tracing::warn!(
                    database,
                    "the request failed: dropped the database it created"
                );
                Error::CreatedThenDropped {
                    source: Box::new(failure),
                    database,
                }
            }
            Err(e) => {
                tracing::error!(database, error = %e, "the request failed, and the database it created could not be dropped: it is left on the server");
                failure
            }
        }
    }

    /// Opens the database and runs the migrations and seeds.
    async fn migrate(
        &self,
        request: &Request<Properties>,
        conn: &Connection<'_>,
        budget: &Budget,
        sources: &Sources,
        is_new: bool,
        created: bool,
    ) -> Result<run::Report, Error> {
        let props = &request.properties;
        let database = &conn.target.database;
        let missing = if is_new {
            Missing::CreateIt
        } else {
            Missing::Vanished
        };
        let mut store = store::open(conn, budget, missing)
            .await
            .map_err(|e| explain_tls(e, request))?;
        let owner = Owner {
            stack_id: request.stack_id.clone(),
            logical_id: request.logical_resource_id.clone(),
        };
        let kind = run::Kind::of(request);
        let allow_down = props.allow_down && request.allows(Switch::AllowDown);
        if props.allow_down && !allow_down {
            tracing::warn!(
                "`AllowDown: true`, but this stage does not allow `AllowDown` (STACKWRIGHT_ALLOW): no down script runs"
            );
        }
        let run = run::Run {
            database,
            sources,
            props,
            resource: &owner,
            kind: &kind,
            budget,
            created,
            allow_down,
        };
        let report = run::migrate(&mut store, &run).await;
        store.close().await;
        report
    }

    /// Delete: retain (the default) without connecting, or drop a database this resource
    /// created, on the secret's server, where the stage allows it.
    async fn remove(&self, request: &Request<Properties>) -> Result<(), Error> {
        let props = &request.properties;
        let id = request.physical_id();
        if props.on_delete == OnDelete::Retain {
            tracing::info!(
                physical_id = id,
                "OnDelete is Retain: the database is left as it is"
            );
            return Ok(());
        }
        if !props.create_database {
            tracing::warn!(
                physical_id = id,
                "OnDelete is DropDatabase but CreateDatabase is not true, so this resource created no database: nothing is dropped"
            );
            return Ok(());
        }
        if !request.allows(Switch::DropDatabase) {
            tracing::warn!(
                physical_id = id,
                "OnDelete is DropDatabase, but this stage does not allow `DropDatabase` (STACKWRIGHT_ALLOW): retained"
            );
            return Ok(());
        }
        if props.tls != TlsMode::VerifyFull && !request.allows(Switch::InsecureTls) {
            tracing::warn!(
                physical_id = id,
                tls = %props.tls,
                "OnDelete is DropDatabase with `Tls` other than VerifyFull, which this stage does not allow (`InsecureTls`, STACKWRIGHT_ALLOW): retained without connecting"
            );
            return Ok(());
        }
        let Some(target) = Target::parse(id) else {
            tracing::warn!(
                physical_id = id,
                "not a physical id this function issues: nothing is dropped"
            );
            return Ok(());
        };
        let budget = Budget::new(request.deadline);
        let secret = self.read_secret(request, &budget).await?;
        if !on_the_secret_s_server(&target, &secret) {
            tracing::warn!(
                physical_id = id,
                server = %target.server(),
                "the physical id names another server than the secret's: nothing of ours is there, and the secret's credentials go only to its own server: retained without connecting"
            );
            return Ok(());
        }
        self.drop_if_ours(request, &target, &secret, &budget).await
    }

    async fn drop_if_ours(
        &self,
        request: &Request<Properties>,
        target: &Target,
        secret: &DbSecret,
        budget: &Budget,
    ) -> Result<(), Error> {
        let tls = tls_for(request);
        let conn = Connection {
            target,
            credentials: Credentials {
                username: &secret.username,
                password: &secret.password,
            },
            tls: &tls,
        };
        let store = match store::open(&conn, budget, Missing::Vanished).await {
            Ok(store) => store,
            Err(Error::NoSuchDatabase { .. }) => {
                tracing::info!(database = %target.database, "the database does not exist (dropped already): nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let what = "reading who created the database";
        let mut store = store;
        let owner = budget.within(what, store.owner()).await;
        store.close().await;
        let owner = owner?.map_err(|e| Error::Database {
            what: what.into(),
            database: target.database.clone(),
            message: db_message(&e),
        })?;
        let ours = owner.as_ref().is_some_and(|o| {
            o.stack_id == request.stack_id && o.logical_id == request.logical_resource_id
        });
        if !ours {
            tracing::warn!(
                database = %target.database,
                created_by = ?owner.map(|o| format!("{} {}", o.stack_id, o.logical_id)),
                "OnDelete is DropDatabase, but this resource did not create the database (it existed before, or another resource created it): retained"
            );
            return Ok(());
        }
        store::drop_database(&conn, budget).await?;
        tracing::info!(database = %target.database, server = %target.server(), "dropped the database this resource created");
        Ok(())
    }
}

/// The TLS a request connects with: its `Tls` where the stage allows `InsecureTls` or it asks
/// for `VerifyFull`, else `VerifyFull` (the runner names `InsecureTls` in an Update's
/// `Data.Ignored`; a Create asking for it never gets here).
fn tls_for(request: &Request<Properties>) -> TlsSettings {
    let props = &request.properties;
    let allowed = request.allows(Switch::InsecureTls);
    if props.tls != TlsMode::VerifyFull && !allowed {
        tracing::warn!(
            tls = %props.tls,
            "`Tls` is not VerifyFull, which this stage does not allow (`InsecureTls`, STACKWRIGHT_ALLOW): connecting with VerifyFull"
        );
    }
    TlsSettings::for_request(props.tls, props.ca_bundle.as_deref(), allowed)
}

/// A connection error, saying why `VerifyFull` was used when the request asked for weaker
/// TLS and the stage does not allow it: otherwise "unknown issuer" from a server the template
/// reaches with `Tls: Disable` would be a puzzle.
fn explain_tls(error: Error, request: &Request<Properties>) -> Error {
    let asked = request.properties.tls;
    if asked == TlsMode::VerifyFull || request.allows(Switch::InsecureTls) {
        return error;
    }
    match error {
        Error::Connect {
            server,
            database,
            message,
        } => Error::Connect {
            server,
            database,
            message: format!(
                "{message} (connected with `Tls: VerifyFull`: `Tls` is `{asked}`, which this \
                 function's stage does not allow: `InsecureTls` is not in `STACKWRIGHT_ALLOW`)"
            ),
        },
        other => other,
    }
}

/// Whether `target` is on the server the secret names (engine, host and port): the only
/// server its credentials are ever sent to.
fn on_the_secret_s_server(target: &Target, secret: &DbSecret) -> bool {
    let server = Target::new(secret.engine, &secret.host, secret.port, &target.database);
    server == *target
}

/// The switches `props` ask for ([`CustomResource::switches`]).
pub fn switches(props: &Properties) -> Vec<Switch> {
    let mut switches = Vec::new();
    if props.allow_down {
        switches.push(Switch::AllowDown);
    }
    if props.on_delete == OnDelete::DropDatabase {
        switches.push(Switch::DropDatabase);
    }
    if props.tls != TlsMode::VerifyFull {
        switches.push(Switch::InsecureTls);
    }
    switches
}

/// `Data`: strings, as `Fn::GetAtt` returns them.
fn data(database: &str, report: &run::Report) -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("Version".into(), report.version.to_string().into());
    data.insert("Applied".into(), report.applied.to_string().into());
    data.insert("Reverted".into(), report.reverted.to_string().into());
    data.insert(
        "SeedsApplied".into(),
        report.seeds_applied.to_string().into(),
    );
    data.insert("Database".into(), database.into());
    if !report.ahead.is_empty() {
        data.insert("Ahead".into(), run::versions(&report.ahead).into());
    }
    data
}

impl<S: SecretSource> CustomResource for DatabaseMigration<S> {
    type Properties = Properties;
    type Error = Error;

    async fn create(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.converge(request, None).await
    }

    async fn update(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.converge(request, Some(request.physical_id())).await
    }

    async fn delete(&self, request: &Request<Properties>) -> Result<(), Error> {
        self.remove(request).await
    }

    fn issued(&self, physical_id: &str, _resource: custom_resource::Resource<'_>) -> bool {
        Target::parse(physical_id).is_some()
    }

    fn switches(&self, properties: &Properties) -> Vec<Switch> {
        switches(properties)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::secret::Engine;

    #[test]
    fn switches_are_what_the_properties_ask_for() {
        let asked = |raw: Value| switches(&parse_properties(&raw).unwrap());
        assert_eq!(asked(json!({"SecretArn": "s"})), []);
        assert_eq!(
            asked(json!({"SecretArn": "s", "Tls": "VerifyFull", "AllowDown": false})),
            []
        );
        assert_eq!(
            asked(json!({
                "SecretArn": "s", "AllowDown": "true", "CreateDatabase": true,
                "OnDelete": "DropDatabase", "Tls": "Disable"
            })),
            [Switch::AllowDown, Switch::DropDatabase, Switch::InsecureTls]
        );
        assert_eq!(
            asked(json!({"SecretArn": "s", "Tls": "Require"})),
            [Switch::InsecureTls]
        );
    }

    #[test]
    fn only_the_secret_s_server_is_ours() {
        let secret = |engine, host: &str, port| DbSecret {
            engine,
            host: host.into(),
            port,
            username: "admin".into(),
            password: custom_resource::Secret::new("pw".into()),
            dbname: None,
        };
        let target = Target::parse("postgres://db.example.com:5432/app").unwrap();
        assert!(on_the_secret_s_server(
            &target,
            &secret(Engine::Postgres, " DB.Example.com ", 5432)
        ));
        for other in [
            secret(Engine::Postgres, "evil.example.com", 5432),
            secret(Engine::Postgres, "db.example.com", 5433),
            secret(Engine::MySql, "db.example.com", 5432),
        ] {
            assert!(!on_the_secret_s_server(&target, &other), "{other:?}");
        }
    }

    #[test]
    fn data_has_every_key_and_ahead_only_when_ahead() {
        let report = run::Report {
            version: 3,
            applied: 2,
            reverted: 0,
            seeds_applied: 1,
            ahead: vec![],
        };
        let d = data("app", &report);
        assert_eq!(d["Version"], "3");
        assert_eq!(d["Applied"], "2");
        assert_eq!(d["SeedsApplied"], "1");
        assert_eq!(d["Database"], "app");
        assert!(!d.contains_key("Ahead"));
        let d = data(
            "app",
            &run::Report {
                ahead: vec![5, 4],
                ..report
            },
        );
        assert_eq!(d["Ahead"], "5,4");
    }
}
