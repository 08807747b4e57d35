//! The steps: what each one reads, decides ([`crate::plan`]) and does.

use std::collections::BTreeMap;
use std::time::Duration;

use custom_resource::secrets::json_object;
use custom_resource::{Allowed, Secret, Switch};
use db_migration::TlsMode;
use db_migration::budget::Budget;
use db_migration::secret::{DbSecret, Engine, parse_secret};
use db_migration::target::Target;
use db_migration::tls::TlsSettings;
use db_user::password::StoredPassword;
use db_user::plan::{
    mysql_clone_statements, mysql_grant_for, pg_clone_statements, set_login_statement,
};
use db_user::secret::{UserSecret, parse_user_secret, same_server};
use db_user::store::{self, Conn, LoginError};
use secret_seeder::generate::generate;
use secret_seeder::properties::{Generator, Spec};
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Instrument;

use crate::Error;
use crate::plan::{self, Admit, Event, Finish, Mode, PENDING, SetAction, Step};
use crate::store::SecretsManager;

/// Where the stage says how to reach the database: `VerifyFull` (the default), `Require` or
/// `Disable`; the last two only where `STACKWRIGHT_ALLOW` holds `InsecureTls`.
pub const TLS_VARIABLE: &str = "STACKWRIGHT_TLS";

/// The function's configuration, read once per sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// How connections to the database are encrypted.
    pub tls: TlsSettings,
    /// The new passwords' spec when the secret records none.
    pub generator: Generator,
}

/// The spec of a new password when the secret records none (`stackwright:spec:password`, which
/// the seeder writes): the one the template seeds the app user's password with (32 letters and
/// digits, about 190 bits; nothing a connection URL or a shell must escape).
fn password_generator() -> Generator {
    let spec: Spec = serde_json::from_value(json!({
        "Generate": "password", "Length": 32, "ExcludePunctuation": true,
    }))
    .unwrap_or_else(|e| unreachable!("the built-in password spec is valid: {e}"));
    spec.generator()
        .cloned()
        .unwrap_or_else(|| unreachable!("the built-in spec generates"))
}

impl Config {
    /// From the environment ([`TLS_VARIABLE`], `STACKWRIGHT_ALLOW`).
    pub fn from_env() -> Self {
        let text = std::env::var(TLS_VARIABLE).unwrap_or_default();
        let mode = match text.trim() {
            "" => TlsMode::VerifyFull,
            t => serde_json::from_value(Value::String(t.to_owned())).unwrap_or_else(|_| {
                tracing::warn!(value = t, "`{TLS_VARIABLE}` is not `VerifyFull`, `Require` or `Disable`: connecting with VerifyFull");
                TlsMode::VerifyFull
            }),
        };
        let allowed = Allowed::from_env().allows(Switch::InsecureTls);
        if mode != TlsMode::VerifyFull && !allowed {
            tracing::warn!(tls = %mode, "`{TLS_VARIABLE}` is not VerifyFull, which this stage does not allow (`InsecureTls`, STACKWRIGHT_ALLOW): connecting with VerifyFull");
        }
        Self {
            tls: TlsSettings::for_request(mode, None, allowed),
            generator: password_generator(),
        }
    }
}

/// The rotation function: a Secrets Manager client and the configuration, shared by every
/// invocation of a sandbox.
#[derive(Debug, Clone)]
pub struct Rotation {
    sm: SecretsManager,
    config: Config,
}

/// The user secret's server as `engine://host:port`, for messages.
fn server(s: &DbSecret) -> String {
    let engine = match s.engine {
        Engine::Postgres => "postgres",
        Engine::MySql => "mysql",
    };
    format!(
        "{engine}://{}",
        Target::new(s.engine, &s.host, s.port, "x").server()
    )
}

impl Rotation {
    /// The function.
    pub fn new(sm: SecretsManager, config: Config) -> Self {
        Self { sm, config }
    }

    /// Handles one invocation, to finish before `deadline`.
    ///
    /// # Errors
    ///
    /// Whatever stops the step; Secrets Manager records the failure and retries later.
    pub async fn handle(&self, payload: &Value, deadline: Instant) -> Result<(), Error> {
        let event = Event::parse(payload)?;
        // A span, not an entered guard: the step awaits, and a guard held across an await
        // would tag other tasks' lines.
        let span = tracing::info_span!("rotation", secret = %event.secret_id, token = %event.token, step = event.step.name());
        self.step(&event, deadline).instrument(span).await
    }

    async fn step(&self, event: &Event, deadline: Instant) -> Result<(), Error> {
        let meta = self.sm.describe(&event.secret_id).await?;
        let mode = match plan::admit(event, &meta)? {
            Admit::AlreadyCurrent => {
                tracing::info!("the version is already AWSCURRENT: nothing to do");
                return Ok(());
            }
            Admit::Proceed(mode) => mode,
        };
        let budget = Budget::new(deadline);
        match (mode, event.step) {
            (_, Step::Finish) => self.finish(event, &meta).await,
            (Mode::Single, Step::Create) => self.create(event, &meta).await,
            (Mode::Single, Step::Set) => self.set(event, &budget).await,
            (Mode::Single, Step::Test) => self.test(event, &budget).await,
            (Mode::Alternating, Step::Create) => self.create_alternating(event, &meta).await,
            (Mode::Alternating, Step::Set) => self.set_alternating(event, &budget).await,
            (Mode::Alternating, Step::Test) => self.test_alternating(event, &budget).await,
            (Mode::Regenerate, Step::Create) => self.regenerate(event, &meta).await,
            (Mode::Regenerate, Step::Set) => {
                tracing::info!("regenerate: no login to set, nothing to do");
                Ok(())
            }
            (Mode::Regenerate, Step::Test) => self.test_regenerated(event, &meta).await,
        }
    }

    /// Whether the token's version already has a value (a createSecret run before).
    async fn pending_exists(&self, event: &Event) -> Result<bool, Error> {
        let found = self
            .sm
            .get(&event.secret_id, Some(&event.token), PENDING)
            .await?
            .is_some();
        if found {
            tracing::info!("AWSPENDING already has a value for this version: nothing to do");
        }
        Ok(found)
    }

    async fn create(&self, event: &Event, meta: &plan::Metadata) -> Result<(), Error> {
        let id = &event.secret_id;
        let current = self.sm.current(id).await?;
        // The current value must be a user secret before a new one is made from it.
        parse_user_secret(id, &current)?;
        if self.pending_exists(event).await? {
            return Ok(());
        }
        let generator = plan::password_generator(id, &meta.tags, &self.config.generator)?;
        let new = generate(&generator)?;
        let pending = plan::with_password(json_object(id, &current)?, new.expose());
        let text = Secret::new(Value::Object(pending).to_string());
        self.sm.put_pending(id, &event.token, &text).await?;
        tracing::info!("a new password is staged AWSPENDING");
        Ok(())
    }

    /// createSecret of `alternating`: the pending value names the other login, with a new
    /// password.
    async fn create_alternating(&self, event: &Event, meta: &plan::Metadata) -> Result<(), Error> {
        let id = &event.secret_id;
        let current = self.sm.current(id).await?;
        let user = parse_user_secret(id, &current)?;
        let alternate = plan::alternate(id, user.login.engine, &user.login.username)?;
        if self.pending_exists(event).await? {
            return Ok(());
        }
        let generator = plan::password_generator(id, &meta.tags, &self.config.generator)?;
        let new = generate(&generator)?;
        let pending =
            plan::with_login(json_object(id, &current)?, &alternate.pending, new.expose());
        let text = Secret::new(Value::Object(pending).to_string());
        self.sm.put_pending(id, &event.token, &text).await?;
        tracing::info!(user = %alternate.pending, "a new password for the other login is staged AWSPENDING");
        Ok(())
    }

    /// setSecret of `alternating`: the pending login made ready through the admin secret, the
    /// current one left alone. The clone is made on the first rotation; on PostgreSQL it is a
    /// member of the user acting as it, on MySQL it is given the user's grants again on every
    /// rotation to it.
    async fn set_alternating(&self, event: &Event, budget: &Budget) -> Result<(), Error> {
        let id = &event.secret_id;
        let (current, pending) = self.current_and_pending(event, Mode::Alternating).await?;
        let alternate = plan::alternate(id, current.login.engine, &current.login.username)?;
        let admin = self.admin(id, &current).await?;
        let target = Self::target(&current, &admin);
        let tls = &self.config.tls;
        // As AWS's functions do: the current login must work (or the pending one already
        // does), so a secret whose user was put there by hand cannot make a clone of anyone.
        let pending_in = store::logs_in(&target, &pending.login, tls, budget).await?;
        let current_in = pending_in || store::logs_in(&target, &current.login, tls, budget).await?;
        if !current_in {
            return Err(Error::NoLogin {
                secret: id.clone(),
                user: current.login.username.clone(),
            });
        }
        if !alternate.to_clone() {
            self.set_password(
                &target,
                &admin,
                &alternate.pending,
                &pending.login.password,
                budget,
            )
            .await?;
            tracing::info!(user = %alternate.pending, "the pending password is set; the clone keeps working until the next rotation");
            return Ok(());
        }
        let server = target.server();
        let mut conn = store::connect_admin(&target, &admin, tls, budget).await?;
        let result = async {
            let clone = &alternate.pending;
            let stored = stored_form(
                &mut conn,
                target.engine,
                &pending.login.password,
                clone,
                &server,
                budget,
            )
            .await?;
            let exists = store::within(
                budget,
                "looking the clone up",
                clone,
                &server,
                conn.user(clone),
            )
            .await?
            .is_some();
            let statements = match target.engine {
                Engine::Postgres => {
                    pg_clone_statements(&alternate.base, clone, stored.text(), exists)
                }
                Engine::MySql => {
                    let lines = store::within(
                        budget,
                        "reading the user's grants",
                        &alternate.base,
                        &server,
                        conn.show_grants(&alternate.base),
                    )
                    .await?;
                    let mut grants = Vec::with_capacity(lines.len());
                    for (i, line) in lines.iter().enumerate() {
                        grants.push(mysql_grant_for(line, &alternate.base, clone).ok_or_else(
                            || Error::UncopiableGrant {
                                user: alternate.base.clone(),
                                line: i + 1,
                            },
                        )?);
                    }
                    mysql_clone_statements(clone, stored.login(), exists, &grants)
                }
            };
            store::within(
                budget,
                "making the clone",
                clone,
                &server,
                conn.execute(&statements),
            )
            .await?;
            Ok::<_, Error>(exists)
        }
        .await;
        conn.close().await;
        let existed = result?;
        tracing::info!(
            user = %alternate.pending,
            of = %alternate.base,
            made = !existed,
            server = %server,
            "the clone is ready with the pending password; the current login was not touched"
        );
        Ok(())
    }

    /// testSecret of `alternating`: the pending login logs in and runs a query. Nothing to set
    /// back when it does not: the current login was never touched.
    async fn test_alternating(&self, event: &Event, budget: &Budget) -> Result<(), Error> {
        let id = &event.secret_id;
        let (current, pending) = self.current_and_pending(event, Mode::Alternating).await?;
        let admin = self.admin(id, &current).await?;
        let target = Self::target(&current, &admin);
        let user = &pending.login.username;
        if self.runs_a_query(&target, &pending.login, budget).await? {
            tracing::info!(user, "the pending login logs in and runs a query");
            Ok(())
        } else {
            Err(Error::AlternateTestFailed {
                secret: id.clone(),
                user: user.clone(),
            })
        }
    }

    /// Logs in as `login` and runs `SELECT 1`; `false` when the server refuses the login.
    async fn runs_a_query(
        &self,
        target: &Target,
        login: &DbSecret,
        budget: &Budget,
    ) -> Result<bool, Error> {
        match store::connect(target, login, &self.config.tls, budget).await {
            Ok(mut conn) => {
                let result = store::within(
                    budget,
                    "run a query as the user",
                    &login.username,
                    &target.server(),
                    select_one(&mut conn),
                )
                .await;
                conn.close().await;
                result?;
                Ok(true)
            }
            Err(LoginError::Other(e)) => Err(e.into()),
            Err(LoginError::Refused) => Ok(false),
        }
    }

    /// createSecret of `regenerate`: each key with a recorded spec made anew, the others kept.
    async fn regenerate(&self, event: &Event, meta: &plan::Metadata) -> Result<(), Error> {
        let id = &event.secret_id;
        let specs = plan::regenerate_specs(id, &meta.tags)?;
        let current = json_object(id, &self.sm.current(id).await?)?;
        if self.pending_exists(event).await? {
            return Ok(());
        }
        let mut new = BTreeMap::new();
        for (key, generator) in &specs {
            new.insert(key.clone(), generate(generator)?);
        }
        let pending = plan::with_values(current, &new);
        let text = Secret::new(Value::Object(pending).to_string());
        self.sm.put_pending(id, &event.token, &text).await?;
        tracing::info!(keys = ?specs.keys().collect::<Vec<_>>(), "new values staged AWSPENDING, each by its recorded spec");
        Ok(())
    }

    /// testSecret of `regenerate`: the pending value has every key, and each regenerated one
    /// meets its spec and is new.
    async fn test_regenerated(&self, event: &Event, meta: &plan::Metadata) -> Result<(), Error> {
        let id = &event.secret_id;
        let specs = plan::regenerate_specs(id, &meta.tags)?;
        let current = json_object(id, &self.sm.current(id).await?)?;
        let pending_text = self
            .sm
            .get(id, Some(&event.token), PENDING)
            .await?
            .ok_or_else(|| Error::NoPending {
                secret: id.clone(),
                token: event.token.clone(),
            })?;
        let pending = json_object(id, &pending_text)?;
        plan::check_regenerated(&current, &pending, &specs).map_err(|problem| {
            Error::BadPending {
                secret: id.clone(),
                token: event.token.clone(),
                problem,
            }
        })?;
        tracing::info!("the pending value has every key, each regenerated one by its spec");
        Ok(())
    }

    /// The current and pending user secrets, checked to differ only in the password (and, for
    /// `alternating`, in the user, which must be the current one's alternate).
    async fn current_and_pending(
        &self,
        event: &Event,
        mode: Mode,
    ) -> Result<(UserSecret, UserSecret), Error> {
        let id = &event.secret_id;
        let current = parse_user_secret(id, &self.sm.current(id).await?)?;
        let pending_text = self
            .sm
            .get(id, Some(&event.token), PENDING)
            .await?
            .ok_or_else(|| Error::NoPending {
                secret: id.clone(),
                token: event.token.clone(),
            })?;
        let pending = parse_user_secret(id, &pending_text)?;
        let differs = |what| Error::PendingDiffers {
            secret: id.clone(),
            token: event.token.clone(),
            what,
        };
        let expected = match mode {
            Mode::Alternating => {
                plan::alternate(id, current.login.engine, &current.login.username)?.pending
            }
            Mode::Single | Mode::Regenerate => current.login.username.clone(),
        };
        if pending.login.username != expected {
            return Err(differs(match mode {
                Mode::Alternating => "another user than the alternate of the one",
                Mode::Single | Mode::Regenerate => "another user",
            }));
        }
        if !same_server(&pending.login, &current.login) {
            return Err(differs("another server"));
        }
        Ok((current, pending))
    }

    /// The admin secret `masterarn` names, checked to name the user's server.
    async fn admin(&self, id: &str, user: &UserSecret) -> Result<DbSecret, Error> {
        let arn = user
            .master_arn
            .as_deref()
            .ok_or_else(|| Error::NoMaster(id.to_owned()))?;
        let admin = parse_secret(arn, &self.sm.current(arn).await?)?;
        if !same_server(&admin, &user.login) {
            return Err(Error::OtherServer {
                secret: id.to_owned(),
                admin: arn.to_owned(),
                admin_server: server(&admin),
                user_server: server(&user.login),
            });
        }
        Ok(admin)
    }

    fn target(user: &UserSecret, admin: &DbSecret) -> Target {
        let login = &user.login;
        let database = login
            .dbname
            .clone()
            .or_else(|| admin.dbname.clone())
            .unwrap_or_else(|| match login.engine {
                Engine::Postgres => "postgres".to_owned(),
                Engine::MySql => "mysql".to_owned(),
            });
        Target::new(login.engine, &login.host, login.port, &database)
    }

    /// Sets `password` for the user through the admin connection, as the stored form.
    async fn set_password(
        &self,
        target: &Target,
        admin: &DbSecret,
        user: &str,
        password: &Secret<String>,
        budget: &Budget,
    ) -> Result<(), Error> {
        let mut conn = store::connect_admin(target, admin, &self.config.tls, budget).await?;
        let server = target.server();
        let result = async {
            let stored =
                stored_form(&mut conn, target.engine, password, user, &server, budget).await?;
            let statement = set_login_statement(target.engine, user, stored.login());
            store::within(
                budget,
                "set the password",
                user,
                &server,
                conn.execute(std::slice::from_ref(&statement)),
            )
            .await?;
            Ok::<_, Error>(())
        }
        .await;
        conn.close().await;
        result
    }

    async fn set(&self, event: &Event, budget: &Budget) -> Result<(), Error> {
        let id = &event.secret_id;
        let (current, pending) = self.current_and_pending(event, Mode::Single).await?;
        let admin = self.admin(id, &current).await?;
        let target = Self::target(&current, &admin);
        let tls = &self.config.tls;
        let pending_in = store::logs_in(&target, &pending.login, tls, budget).await?;
        let current_in = pending_in || store::logs_in(&target, &current.login, tls, budget).await?;
        let user = &current.login.username;
        match plan::set_action(pending_in, current_in) {
            SetAction::AlreadySet => {
                tracing::info!(user, "the pending password already logs in: nothing to do");
                Ok(())
            }
            SetAction::Refuse => Err(Error::NoLogin {
                secret: id.clone(),
                user: user.clone(),
            }),
            SetAction::Set => {
                self.set_password(&target, &admin, user, &pending.login.password, budget)
                    .await?;
                tracing::info!(user, server = %target.server(), "the pending password is set");
                Ok(())
            }
        }
    }

    async fn test(&self, event: &Event, budget: &Budget) -> Result<(), Error> {
        let id = &event.secret_id;
        let (current, pending) = self.current_and_pending(event, Mode::Single).await?;
        let admin = self.admin(id, &current).await?;
        let target = Self::target(&current, &admin);
        let user = &current.login.username;
        if self.runs_a_query(&target, &pending.login, budget).await? {
            tracing::info!(user, "the pending password logs in and runs a query");
            return Ok(());
        }
        // AWSCURRENT stays what clients read: its password must keep working.
        self.set_password(&target, &admin, user, &current.login.password, budget)
            .await?;
        tracing::warn!(
            user,
            "the pending password does not log in: the current password is set back"
        );
        Err(Error::TestFailed {
            secret: id.clone(),
            user: user.clone(),
        })
    }

    async fn finish(&self, event: &Event, meta: &plan::Metadata) -> Result<(), Error> {
        match plan::finish(&event.secret_id, meta, &event.token)? {
            Finish::Done => tracing::info!("the version is already AWSCURRENT: nothing to do"),
            Finish::Move { from } => {
                self.sm
                    .move_current(&event.secret_id, &from, &event.token)
                    .await?;
                tracing::info!(from, "AWSCURRENT moved to this version");
            }
        }
        Ok(())
    }
}

/// The password in the form the server stores, so the plain password never travels in SQL:
/// on MySQL the form the server's version takes (`caching_sha2_password` from MySQL 8.0,
/// `mysql_native_password` on MariaDB and older MySQL).
async fn stored_form(
    conn: &mut Conn,
    engine: Engine,
    password: &Secret<String>,
    user: &str,
    server: &str,
    budget: &Budget,
) -> Result<StoredPassword, Error> {
    let auth = store::within(
        budget,
        "reading the server's version",
        user,
        server,
        conn.mysql_auth(),
    )
    .await?;
    Ok(StoredPassword::new(engine, auth, password.expose()))
}

async fn select_one(conn: &mut Conn) -> Result<(), sqlx::Error> {
    match conn {
        Conn::Pg(c) => sqlx::query("SELECT 1").execute(c).await.map(drop),
        Conn::My(c) => sqlx::query("SELECT 1").execute(c).await.map(drop),
    }
}

/// The instant `deadline_ms` (milliseconds since the epoch, as Lambda gives it) names.
pub fn deadline(deadline_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
