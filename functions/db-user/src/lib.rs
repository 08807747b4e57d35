//! `Custom::DatabaseUser`: an application's own database login on the server an admin secret
//! names, its password from its own secret (RDS JSON), and its grants.
//!
//! # A tour
//!
//! - [`properties`]: the resource's properties and [`parse_properties`].
//! - [`secret`]: the user secret (RDS JSON with `masterarn`) and the physical id
//!   `<engine>://<host>:<port>/<database>/<user>`.
//! - [`password`]: the password in the forms servers store (SCRAM-SHA-256 verifier,
//!   `mysql_native_password` hash), so the plain password never travels in SQL.
//! - [`plan`]: the decisions, plain functions: the privileges grants mean, what an Update
//!   revokes and grants, the SQL.
//! - [`store`]: connecting (as the admin, or as the user to check its password) and running a
//!   plan.
//!
//! The admin secret's parsing, TLS settings, connection options and time budget are
//! `db-migration`'s, used as a library: one way to reach a database in this workspace.
//! [`secret`], [`password`] and [`store`] are what the rotation function builds on.
//!
//! # Behaviour
//!
//! A Create makes the user, or adopts one of that name only when the user secret's current
//! password already logs in as it (with `IamAuth`, when it already uses IAM authentication).
//! An Update (a rollback too) applies the secret's password where it no longer logs in,
//! revokes what the old properties granted and the new do not, and grants what the new ones
//! do. A new user name, server or database is a new physical id: a replacement, after which
//! CloudFormation deletes the old id. A Delete retains unless `OnDelete: Drop` and the stage
//! allows `DropUser`.
//!
//! # Trust
//!
//! Both secrets must name the same server (engine, host, port): the admin's and the user's
//! credentials go only there. A Delete of an id naming another server retains without
//! connecting. `Tls` other than `VerifyFull` needs `InsecureTls`.

pub mod error;
pub mod password;
pub mod plan;
pub mod properties;
pub mod secret;
pub mod store;

use std::collections::BTreeSet;

use custom_resource::confirm::Phase;
use custom_resource::secrets::SecretSource;
use custom_resource::{CustomResource, Outcome, Request, Resource, Secret, Switch};
use db_migration::budget::Budget;
use db_migration::secret::{DbSecret, Engine, parse_secret};
use db_migration::target::{Target, choose_database};
use db_migration::tls::TlsSettings;
use serde_json::{Map, Value};
use tokio::time::Instant;

pub use custom_resource::secrets::SecretsManager;
pub use error::Error;
pub use properties::{OnDelete, Properties, TlsMode, parse_properties};

use crate::plan::{Ensure, Login, UserPlan};
use crate::secret::{UserSecret, UserTarget, parse_user_secret, same_server};
use crate::store::{Conn, within};

/// The custom resource, over a source of secrets built once in `main`.
#[derive(Debug, Clone)]
pub struct DatabaseUser<S> {
    secrets: S,
}

impl<S: SecretSource> DatabaseUser<S> {
    /// The resource reading secrets from `secrets`.
    pub fn new(secrets: S) -> Self {
        Self { secrets }
    }

    /// A secret's text, taught to the request's redactor by the library's reader.
    async fn read(
        &self,
        request: &Request<Properties>,
        id: &str,
        property: &str,
        budget: &Budget,
    ) -> Result<Secret<String>, Error> {
        let deadline = Instant::now() + budget.connect_timeout();
        Ok(self
            .secrets
            .secret_string(id, property, &request.redactor, deadline)
            .await?)
    }

    async fn admin_secret(
        &self,
        request: &Request<Properties>,
        budget: &Budget,
    ) -> Result<DbSecret, Error> {
        let id = &request.properties.secret_arn;
        Ok(parse_secret(
            id,
            &self.read(request, id, "SecretArn", budget).await?,
        )?)
    }

    /// Create and Update: the user, its login and its grants.
    async fn converge(
        &self,
        request: &Request<Properties>,
        current: Option<&str>,
    ) -> Result<Outcome, Error> {
        let props = &request.properties;
        let budget = Budget::new(request.deadline);
        let admin = self.admin_secret(request, &budget).await?;
        let user_id = &props.user_secret_arn;
        let user = parse_user_secret(
            user_id,
            &self
                .read(request, user_id, "UserSecretArn", &budget)
                .await?,
        )?;
        if !same_server(&admin, &user.login) {
            return Err(Error::OtherServer {
                user_secret: user_id.clone(),
                user_server: server_of(&user.login),
                admin_secret: props.secret_arn.clone(),
                admin_server: server_of(&admin),
            });
        }
        let engine = admin.engine;
        if engine == Engine::Postgres
            && props.on_delete == OnDelete::Drop
            && props.reassign_owned_to.is_none()
        {
            return Err(Error::NoReassignTarget);
        }
        let (database, _) = choose_database(
            engine,
            props.database.as_deref(),
            user.login.dbname.as_deref(),
        )
        .map_err(Error::NoDatabase)?;
        let default_schema = default_schema(engine, &database).to_owned();
        let wanted = plan::expand(engine, &props.grants, &default_schema).map_err(Error::Grants)?;
        let target = UserTarget {
            target: Target::new(engine, &admin.host, admin.port, &database),
            user: user.login.username.clone(),
        };
        let id = target.physical_id();
        let is_new = current != Some(id.as_str());
        if let Some(old) = current
            && is_new
        {
            tracing::info!(old, new = %id, "a new user, server or database: a replacement; CloudFormation then deletes the old id, which keeps that user unless its OnDelete says Drop");
        }
        let held = if is_new {
            BTreeSet::new()
        } else {
            held_before(request, engine, &default_schema)
        };
        let change = plan::diff(&held, &wanted);
        let tls = tls_for(request);
        let mut conn = store::connect_admin(&target.target, &admin, &tls, &budget).await?;
        let applied = self
            .apply(
                request,
                &mut conn,
                &Apply {
                    target: &target,
                    admin: &admin,
                    user: &user,
                    change: &change,
                    tls: &tls,
                    budget: &budget,
                    is_new,
                },
            )
            .await;
        conn.close().await;
        applied?;
        tracing::info!(
            user = %target.user,
            database,
            server = %target.target.server(),
            revoked = change.revoke.len(),
            added = change.added,
            "the user and its grants are as the properties say"
        );
        let mut data = Map::new();
        data.insert("Username".into(), Value::from(target.user.clone()));
        data.insert("Database".into(), Value::from(database));
        data.insert(
            "Grants".into(),
            Value::from(plan::summary(&props.grants, &default_schema)),
        );
        Ok(Outcome::new(id).with_data(data))
    }

    /// The user and grants on an open admin connection.
    async fn apply(
        &self,
        request: &Request<Properties>,
        conn: &mut Conn,
        a: &Apply<'_>,
    ) -> Result<(), Error> {
        let props = &request.properties;
        let name = &a.target.user;
        let server = a.target.target.server();
        let engine = a.target.target.engine;
        let existing = within(
            a.budget,
            "looking the user up",
            name,
            &server,
            conn.user(name),
        )
        .await?;
        let logs_in = match existing {
            Some(_) if !props.iam_auth => {
                store::logs_in(&a.target.target, &a.user.login, a.tls, a.budget).await?
            }
            _ => false,
        };
        let auth = if props.iam_auth {
            password::MySqlAuth::Native
        } else {
            within(
                a.budget,
                "reading the server's version",
                name,
                &server,
                conn.mysql_auth(),
            )
            .await?
        };
        let stored = (!props.iam_auth).then(|| {
            let stored =
                password::StoredPassword::new(engine, auth, a.user.login.password.expose());
            // The stored form is not the password, but no reason or log line shows it.
            request.redactor.add(stored.text());
            stored
        });
        let login = stored
            .as_ref()
            .map_or(Login::Iam, password::StoredPassword::login);
        let ensure = plan::ensure(engine, existing, a.is_new, login, logs_in).map_err(|why| {
            Error::NotAdoptable {
                user: name.clone(),
                server: server.clone(),
                why,
            }
        })?;
        match ensure {
            Ensure::Create(_) => tracing::info!(user = %name, server, "creating the user"),
            Ensure::Alter { login, .. } => {
                if a.is_new {
                    tracing::info!(user = %name, server, "the user exists and the secret logs in as it (or it uses IAM): adopted");
                }
                if login.is_some() && !props.iam_auth {
                    tracing::info!(user = %name, "the secret's password does not log in: setting it");
                }
            }
        }
        let statements = plan::user_statements(&UserPlan {
            engine,
            user: name,
            admin: &a.admin.username,
            database: &a.target.target.database,
            ensure,
            connection_limit: props.connection_limit,
            grants: a.change,
        });
        within(
            a.budget,
            "making the user and its grants",
            name,
            &server,
            conn.execute(&statements),
        )
        .await
    }

    /// Delete: retain (the default) without connecting, or drop the user the id names, on
    /// the admin secret's server, where the stage allows it.
    async fn remove(&self, request: &Request<Properties>) -> Result<(), Error> {
        let props = &request.properties;
        let id = request.physical_id();
        if props.on_delete == OnDelete::Retain {
            tracing::info!(
                physical_id = id,
                "OnDelete is Retain: the user is left as it is"
            );
            return Ok(());
        }
        if !request.allows(Switch::DropUser) {
            tracing::warn!(
                physical_id = id,
                "OnDelete is Drop, but this stage does not allow `DropUser` (STACKWRIGHT_ALLOW): retained"
            );
            return Ok(());
        }
        if props.tls != TlsMode::VerifyFull && !request.allows(Switch::InsecureTls) {
            tracing::warn!(physical_id = id, tls = %props.tls, "OnDelete is Drop with `Tls` other than VerifyFull, which this stage does not allow (`InsecureTls`, STACKWRIGHT_ALLOW): retained without connecting");
            return Ok(());
        }
        let Some(target) = UserTarget::parse(id) else {
            tracing::warn!(
                physical_id = id,
                "not a physical id this function issues: nothing is dropped"
            );
            return Ok(());
        };
        let budget = Budget::new(request.deadline);
        let admin = self.admin_secret(request, &budget).await?;
        let server = Target::new(
            admin.engine,
            &admin.host,
            admin.port,
            &target.target.database,
        );
        if server != target.target {
            tracing::warn!(
                physical_id = id,
                "the physical id names another server than the admin secret's: its credentials go only to its own server: retained without connecting"
            );
            return Ok(());
        }
        if request.phase.as_ref().is_some_and(Phase::is_cleanup) {
            let user_id = &props.user_secret_arn;
            let current = match self.read(request, user_id, "UserSecretArn", &budget).await {
                Ok(text) => parse_user_secret(user_id, &text).ok(),
                Err(_) => None,
            };
            if still_in_use(&target, current.as_ref().map(|u| &u.login)) {
                return self
                    .revoke_in_old_database(request, &target, &admin, &budget)
                    .await;
            }
        }
        let engine = target.target.engine;
        if engine == Engine::Postgres && props.reassign_owned_to.is_none() {
            tracing::warn!(
                physical_id = id,
                "OnDelete is Drop without `ReassignOwnedTo` on PostgreSQL: retained"
            );
            return Ok(());
        }
        let tls = tls_for(request);
        let mut conn = store::connect_admin(&target.target, &admin, &tls, &budget).await?;
        let dropped = drop_user(&mut conn, &target, props, &budget).await;
        conn.close().await;
        dropped
    }
}

impl<S: SecretSource> DatabaseUser<S> {
    /// The Delete of a replaced id whose user the new id still uses (only the database
    /// changed, or the user secret cannot be read to tell): what these properties granted in
    /// the old database is revoked, with `CONNECT` on it, and the user is kept. A later Drop
    /// of the new id then finds nothing of the user's left in the old database.
    async fn revoke_in_old_database(
        &self,
        request: &Request<Properties>,
        target: &UserTarget,
        admin: &DbSecret,
        budget: &Budget,
    ) -> Result<(), Error> {
        let engine = target.target.engine;
        let database = &target.target.database;
        let schema = default_schema(engine, database).to_owned();
        let held = plan::expand(engine, &request.properties.grants, &schema).unwrap_or_default();
        let none = plan::GrantChange::default();
        let statements = plan::revoke_statements(
            &UserPlan {
                engine,
                user: &target.user,
                admin: &admin.username,
                database,
                ensure: Ensure::Alter {
                    login: None,
                    has_rds_iam: false,
                },
                connection_limit: None,
                grants: &none,
            },
            &held,
        );
        let tls = tls_for(request);
        let server = target.target.server();
        let mut conn = store::connect_admin(&target.target, admin, &tls, budget).await?;
        let done = within(
            budget,
            "revoking the replaced database's grants",
            &target.user,
            &server,
            conn.execute(&statements),
        )
        .await;
        conn.close().await;
        done?;
        tracing::info!(user = %target.user, database, server, "the replacement keeps this user on this server: kept, its grants in this database revoked");
        Ok(())
    }
}

/// What [`DatabaseUser::apply`] works with.
struct Apply<'a> {
    target: &'a UserTarget,
    admin: &'a DbSecret,
    user: &'a UserSecret,
    change: &'a plan::GrantChange,
    tls: &'a TlsSettings,
    budget: &'a Budget,
    is_new: bool,
}

async fn drop_user(
    conn: &mut Conn,
    target: &UserTarget,
    props: &Properties,
    budget: &Budget,
) -> Result<(), Error> {
    let name = &target.user;
    let server = target.target.server();
    if within(
        budget,
        "looking the user up",
        name,
        &server,
        conn.user(name),
    )
    .await?
    .is_none()
    {
        tracing::info!(user = %name, server, "the user does not exist (never made, or dropped already): nothing to do");
        return Ok(());
    }
    let statements = plan::drop_statements(
        target.target.engine,
        name,
        props.reassign_owned_to.as_deref(),
    );
    within(
        budget,
        "dropping the user",
        name,
        &server,
        conn.execute(&statements),
    )
    .await?;
    tracing::info!(user = %name, server, database = %target.target.database, reassigned_to = ?props.reassign_owned_to, "dropped the user");
    Ok(())
}

/// Whether the user an old id names is still this resource's after a replacement (the Delete
/// of the old id in a cleanup phase): the user secret names the same user on the same server
/// (only the database changed), or cannot be read to tell. Dropping it would take the login
/// away from the resource that replaced it.
pub fn still_in_use(old: &UserTarget, current: Option<&DbSecret>) -> bool {
    current.is_none_or(|secret| {
        secret.username == old.user
            && Target::new(
                secret.engine,
                &secret.host,
                secret.port,
                &old.target.database,
            ) == old.target
    })
}

/// Where a grant without `Schema` applies: PostgreSQL's `public`, MySQL's database.
pub fn default_schema(engine: Engine, database: &str) -> &str {
    match engine {
        Engine::Postgres => "public",
        Engine::MySql => database,
    }
}

/// What the previous properties granted (an Update of the same id; a rollback's "previous"
/// is the release being rolled back from). Nothing when they no longer parse or expand: then
/// nothing is revoked, and the log says so.
fn held_before(
    request: &Request<Properties>,
    engine: Engine,
    default_schema: &str,
) -> BTreeSet<plan::Privilege> {
    let Some(old) = &request.old_properties else {
        tracing::warn!("the previous properties do not parse: nothing is revoked");
        return BTreeSet::new();
    };
    plan::expand(engine, &old.grants, default_schema).unwrap_or_else(|why| {
        tracing::warn!(
            why,
            "the previous grants do not fit the engine: nothing is revoked"
        );
        BTreeSet::new()
    })
}

/// `host:port`.
fn server_of(secret: &DbSecret) -> String {
    Target::new(secret.engine, &secret.host, secret.port, "x").server()
}

/// The TLS a request connects with: its `Tls` where the stage allows `InsecureTls` or it asks
/// for `VerifyFull`, else `VerifyFull`.
fn tls_for(request: &Request<Properties>) -> TlsSettings {
    let props = &request.properties;
    let allowed = request.allows(Switch::InsecureTls);
    if props.tls != TlsMode::VerifyFull && !allowed {
        tracing::warn!(tls = %props.tls, "`Tls` is not VerifyFull, which this stage does not allow (`InsecureTls`, STACKWRIGHT_ALLOW): connecting with VerifyFull");
    }
    TlsSettings::for_request(props.tls, None, allowed)
}

/// The switches `props` ask for ([`CustomResource::switches`]).
pub fn switches(props: &Properties) -> Vec<Switch> {
    let mut switches = Vec::new();
    if props.on_delete == OnDelete::Drop {
        switches.push(Switch::DropUser);
    }
    if props.tls != TlsMode::VerifyFull {
        switches.push(Switch::InsecureTls);
    }
    switches
}

impl<S: SecretSource> CustomResource for DatabaseUser<S> {
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

    fn issued(&self, physical_id: &str, _resource: Resource<'_>) -> bool {
        UserTarget::parse(physical_id).is_some()
    }

    fn switches(&self, properties: &Properties) -> Vec<Switch> {
        switches(properties)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn switches_are_what_the_properties_ask_for() {
        let asked = |raw: Value| switches(&parse_properties(&raw).unwrap());
        assert_eq!(asked(json!({"SecretArn": "a", "UserSecretArn": "u"})), []);
        assert_eq!(
            asked(
                json!({"SecretArn": "a", "UserSecretArn": "u", "OnDelete": "Drop", "Tls": "Require"})
            ),
            [Switch::DropUser, Switch::InsecureTls]
        );
    }

    #[test]
    fn a_replaced_id_whose_user_the_secret_still_names_on_its_server_is_still_in_use() {
        let old = UserTarget::parse("postgres://db.example.com:5432/old/app_user").unwrap();
        let secret = |host: &str, user: &str| {
            parse_secret(
                "s",
                &Secret::from(format!(
                    r#"{{"engine":"postgres","host":"{host}","port":5432,"username":"{user}","password":"p","dbname":"new"}}"#
                )),
            )
            .unwrap()
        };
        assert!(still_in_use(
            &old,
            Some(&secret("DB.example.com", "app_user"))
        ));
        assert!(still_in_use(&old, None));
        assert!(!still_in_use(
            &old,
            Some(&secret("db.example.com", "other_user"))
        ));
        assert!(!still_in_use(
            &old,
            Some(&secret("elsewhere.example.com", "app_user"))
        ));
    }

    #[test]
    fn grants_without_a_schema_go_to_public_or_the_mysql_database() {
        assert_eq!(default_schema(Engine::Postgres, "app"), "public");
        assert_eq!(default_schema(Engine::MySql, "app"), "app");
    }
}
