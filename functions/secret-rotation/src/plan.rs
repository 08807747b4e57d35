//! The decisions, plain functions of what Secrets Manager and the server said: which step,
//! which mode, whether the token may be rotated to, what setSecret and finishSecret do.

use std::collections::BTreeMap;

use custom_resource::Secret;
use db_migration::secret::Engine;
use db_user::plan::CLONE_SUFFIX;
use db_user::properties::MAX_NAME;
use db_user::secret::MAX_MYSQL_USER;
use secret_seeder::generate;
use secret_seeder::properties::Generator;
use secret_seeder::spec::{self, SPEC_TAG_PREFIX};
use serde_json::Value;

use crate::Error;

/// The tag that chooses how a secret rotates.
pub const MODE_TAG: &str = "stackwright:rotation";
/// The stage clients read.
pub const CURRENT: &str = "AWSCURRENT";
/// The stage a rotation builds.
pub const PENDING: &str = "AWSPENDING";

/// One of Secrets Manager's four rotation steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Make the new value, staged `AWSPENDING`.
    Create,
    /// Give the database the new value.
    Set,
    /// Check that the new value works.
    Test,
    /// Move `AWSCURRENT` to the new value.
    Finish,
}

impl Step {
    /// Parses Secrets Manager's `Step`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownStep`].
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text {
            "createSecret" => Ok(Self::Create),
            "setSecret" => Ok(Self::Set),
            "testSecret" => Ok(Self::Test),
            "finishSecret" => Ok(Self::Finish),
            other => Err(Error::UnknownStep(other.to_owned())),
        }
    }

    /// Secrets Manager's name for the step.
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "createSecret",
            Self::Set => "setSecret",
            Self::Test => "testSecret",
            Self::Finish => "finishSecret",
        }
    }
}

/// A rotation request: `{"SecretId", "ClientRequestToken", "Step"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The secret's ARN.
    pub secret_id: String,
    /// The version being rotated to.
    pub token: String,
    /// The step.
    pub step: Step,
}

impl Event {
    /// Reads the invocation's payload.
    ///
    /// # Errors
    ///
    /// [`Error::Event`] naming the missing field, [`Error::UnknownStep`].
    pub fn parse(payload: &Value) -> Result<Self, Error> {
        let field = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| Error::Event(format!("field `{name}` missing or not a string")))
        };
        Ok(Self {
            secret_id: field("SecretId")?,
            token: field("ClientRequestToken")?,
            step: Step::parse(&field("Step")?)?,
        })
    }
}

/// How a secret rotates (tag [`MODE_TAG`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One user, a new password set through the admin secret.
    Single,
    /// Two logins, `<name>` and `<name>_clone`, taking turns: the pending value names the one
    /// not in use, whose password is set (the clone made on the first rotation).
    Alternating,
    /// Each key with a recorded spec (`stackwright:spec:<key>`) made anew; no login.
    Regenerate,
}

/// The mode the secret's tags choose.
///
/// # Errors
///
/// [`Error::NoMode`], [`Error::UnknownMode`].
pub fn mode(secret: &str, tags: &BTreeMap<String, String>) -> Result<Mode, Error> {
    let Some(value) = tags.get(MODE_TAG) else {
        return Err(Error::NoMode(secret.to_owned()));
    };
    match value.trim() {
        "single" => Ok(Mode::Single),
        "regenerate" => Ok(Mode::Regenerate),
        "alternating" => Ok(Mode::Alternating),
        other => Err(Error::UnknownMode {
            secret: secret.to_owned(),
            mode: other.to_owned(),
        }),
    }
}

/// What `DescribeSecret` says about the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `RotationEnabled`, true when absent (AWS's own rotation functions stop only on an
    /// explicit `false`).
    pub rotation_enabled: bool,
    /// The tags.
    pub tags: BTreeMap<String, String>,
    /// `VersionIdsToStages`.
    pub versions: BTreeMap<String, Vec<String>>,
}

impl Metadata {
    /// The version staged `AWSCURRENT`.
    pub fn current(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
            .map(|(id, _)| id.as_str())
    }
}

/// Whether a step goes ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Do the step.
    Proceed(Mode),
    /// The token's version is already `AWSCURRENT`: the rotation finished, nothing to do.
    AlreadyCurrent,
}

/// The checks every step makes first, as AWS's own rotation functions make them: rotation
/// is on, the mode is known, the token is a version staged `AWSPENDING` (or already
/// `AWSCURRENT`: done). createSecret also takes a token that is not a version yet: Secrets
/// Manager stages it before calling, and `PutSecretValue` with the token makes the version
/// either way (a test playing Secrets Manager, or moto, cannot stage a version without a value).
///
/// # Errors
///
/// [`Error::NotEnabled`], the [`mode`] errors, [`Error::UnknownVersion`],
/// [`Error::NotPending`].
pub fn admit(event: &Event, meta: &Metadata) -> Result<Admit, Error> {
    if !meta.rotation_enabled {
        return Err(Error::NotEnabled(event.secret_id.clone()));
    }
    let mode = mode(&event.secret_id, &meta.tags)?;
    let Some(stages) = meta.versions.get(&event.token) else {
        if event.step == Step::Create {
            return Ok(Admit::Proceed(mode));
        }
        return Err(Error::UnknownVersion {
            secret: event.secret_id.clone(),
            token: event.token.clone(),
        });
    };
    if stages.iter().any(|s| s == CURRENT) {
        return Ok(Admit::AlreadyCurrent);
    }
    if !stages.iter().any(|s| s == PENDING) {
        return Err(Error::NotPending {
            secret: event.secret_id.clone(),
            token: event.token.clone(),
        });
    }
    Ok(Admit::Proceed(mode))
}

/// What setSecret does, given which passwords log in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAction {
    /// The pending password already logs in (an earlier setSecret ran): nothing.
    AlreadySet,
    /// The current password logs in: set the pending one.
    Set,
    /// Neither logs in: refuse.
    Refuse,
}

/// setSecret's decision.
pub fn set_action(pending_logs_in: bool, current_logs_in: bool) -> SetAction {
    match (pending_logs_in, current_logs_in) {
        (true, _) => SetAction::AlreadySet,
        (false, true) => SetAction::Set,
        (false, false) => SetAction::Refuse,
    }
}

/// What finishSecret does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The token's version is already `AWSCURRENT`.
    Done,
    /// Move `AWSCURRENT` from this version to the token's.
    Move {
        /// The version that is `AWSCURRENT` now.
        from: String,
    },
}

/// finishSecret's decision.
///
/// # Errors
///
/// [`Error::NoCurrent`].
pub fn finish(secret: &str, meta: &Metadata, token: &str) -> Result<Finish, Error> {
    match meta.current() {
        Some(current) if current == token => Ok(Finish::Done),
        Some(current) => Ok(Finish::Move {
            from: current.to_owned(),
        }),
        None => Err(Error::NoCurrent(secret.to_owned())),
    }
}

/// The spec of each key the secret's tags record (`stackwright:spec:<key>`, written by the
/// seeder), as generators.
///
/// # Errors
///
/// [`Error::BadSpec`] naming the tag whose value is not a spec.
pub fn recorded_specs(
    secret: &str,
    tags: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Generator>, Error> {
    tags.iter()
        .filter_map(|(tag, value)| Some((tag, tag.strip_prefix(SPEC_TAG_PREFIX)?, value)))
        .map(|(tag, key, value)| {
            spec::decode(value)
                .map(|g| (key.to_owned(), g))
                .map_err(|problem| Error::BadSpec {
                    secret: secret.to_owned(),
                    tag: tag.clone(),
                    problem,
                })
        })
        .collect()
}

/// The generator of a new password: the one the secret's tag `stackwright:spec:password`
/// records (the spec the seeder made the first one with), or else `default`.
///
/// # Errors
///
/// [`Error::BadSpec`] when that tag is not a spec.
pub fn password_generator(
    secret: &str,
    tags: &BTreeMap<String, String>,
    default: &Generator,
) -> Result<Generator, Error> {
    Ok(recorded_specs(secret, tags)?
        .remove("password")
        .unwrap_or_else(|| default.clone()))
}

/// The keys `regenerate` makes anew: every key with a recorded spec.
///
/// # Errors
///
/// [`Error::NoSpecs`] when the secret records none (nothing would change), [`Error::BadSpec`].
pub fn regenerate_specs(
    secret: &str,
    tags: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Generator>, Error> {
    let specs = recorded_specs(secret, tags)?;
    if specs.is_empty() {
        return Err(Error::NoSpecs(secret.to_owned()));
    }
    Ok(specs)
}

/// The pending value of a `regenerate` rotation: the current one with each key in `new`
/// replaced (or added), every other key kept.
pub fn with_values(
    mut current: serde_json::Map<String, Value>,
    new: &BTreeMap<String, Secret<String>>,
) -> serde_json::Map<String, Value> {
    for (key, value) in new {
        current.insert(key.clone(), Value::String(value.expose().clone()));
    }
    current
}

/// testSecret of `regenerate`: the pending value keeps every key of the current one, and each
/// key with a spec holds a value that meets it and differs from the current one.
///
/// # Errors
///
/// What is wrong, naming keys only (never a value).
pub fn check_regenerated(
    current: &serde_json::Map<String, Value>,
    pending: &serde_json::Map<String, Value>,
    specs: &BTreeMap<String, Generator>,
) -> Result<(), String> {
    if let Some(missing) = current.keys().find(|k| !pending.contains_key(*k)) {
        return Err(format!("the pending value has no key `{missing}`"));
    }
    for (key, generator) in specs {
        let Some(Value::String(value)) = pending.get(key) else {
            return Err(format!("the pending value has no text under key `{key}`"));
        };
        if !generate::meets(generator, value) {
            return Err(format!(
                "the pending value of key `{key}` does not meet its spec `{}`",
                spec::encode(generator)
            ));
        }
        if current.get(key) == pending.get(key) {
            return Err(format!(
                "the pending value of key `{key}` is the current one"
            ));
        }
    }
    Ok(())
}

/// The two logins of an alternating rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternate {
    /// `<name>`: the user `Custom::DatabaseUser` made and grants to.
    pub base: String,
    /// The login the pending value names: the one not in use now.
    pub pending: String,
}

impl Alternate {
    /// Whether the pending login is the clone.
    pub fn to_clone(&self) -> bool {
        self.pending != self.base
    }
}

/// The login an alternating rotation moves to from `current`: `<name>_clone` from `<name>`,
/// and `<name>` from `<name>_clone` (as AWS's multi-user rotation functions name them).
///
/// # Errors
///
/// [`Error::CloneTooLong`] when `<name>_clone` would pass the engine's limit (PostgreSQL 63
/// characters, MySQL 32), before anything is made.
pub fn alternate(secret: &str, engine: Engine, current: &str) -> Result<Alternate, Error> {
    if let Some(base) = current.strip_suffix(CLONE_SUFFIX)
        && !base.is_empty()
    {
        return Ok(Alternate {
            base: base.to_owned(),
            pending: base.to_owned(),
        });
    }
    let clone = format!("{current}{CLONE_SUFFIX}");
    let max = match engine {
        Engine::Postgres => MAX_NAME,
        Engine::MySql => MAX_MYSQL_USER,
    };
    if clone.len() > max {
        return Err(Error::CloneTooLong {
            secret: secret.to_owned(),
            user: current.to_owned(),
            clone,
            max,
        });
    }
    Ok(Alternate {
        base: current.to_owned(),
        pending: clone,
    })
}

/// The pending secret's JSON of an alternating rotation: the current one with `username` and
/// `password` replaced.
pub fn with_login(
    current: serde_json::Map<String, Value>,
    username: &str,
    password: &str,
) -> serde_json::Map<String, Value> {
    let mut pending = with_password(current, password);
    pending.insert("username".to_owned(), Value::String(username.to_owned()));
    pending
}

/// The pending secret's JSON: the current one with `password` replaced, every other field
/// (host, user, `masterarn`) kept.
pub fn with_password(
    mut current: serde_json::Map<String, Value>,
    password: &str,
) -> serde_json::Map<String, Value> {
    current.insert("password".to_owned(), Value::String(password.to_owned()));
    current
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(enabled: bool, mode: Option<&str>, versions: &[(&str, &[&str])]) -> Metadata {
        Metadata {
            rotation_enabled: enabled,
            tags: mode
                .map(|m| (MODE_TAG.to_owned(), m.to_owned()))
                .into_iter()
                .collect(),
            versions: versions
                .iter()
                .map(|(id, stages)| {
                    (
                        (*id).to_owned(),
                        stages.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }

    fn event(step: Step, token: &str) -> Event {
        Event {
            secret_id: "arn:app".into(),
            token: token.into(),
            step,
        }
    }

    #[test]
    fn events_are_read_and_bad_ones_named() {
        let e = Event::parse(
            &json!({"SecretId": "arn:app", "ClientRequestToken": "t1", "Step": "setSecret"}),
        )
        .unwrap();
        assert_eq!(e, event(Step::Set, "t1"));
        let r = Event::parse(&json!({"SecretId": "arn:app", "Step": "setSecret"}))
            .unwrap_err()
            .to_string();
        assert!(r.contains("`ClientRequestToken`"), "{r}");
        let r = Event::parse(
            &json!({"SecretId": "arn:app", "ClientRequestToken": "t", "Step": "dropSecret"}),
        )
        .unwrap_err()
        .to_string();
        assert!(r.contains("`dropSecret`"), "{r}");
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            assert_eq!(Step::parse(step.name()).unwrap(), step);
        }
    }

    #[test]
    fn the_tag_chooses_the_mode_and_unbuilt_modes_say_so() {
        let tags = |v: &str| meta(true, Some(v), &[]).tags;
        assert_eq!(mode("s", &tags("single")).unwrap(), Mode::Single);
        assert_eq!(mode("s", &tags("regenerate")).unwrap(), Mode::Regenerate);
        assert_eq!(mode("s", &tags("alternating")).unwrap(), Mode::Alternating);
        let r = mode("s", &tags("twice")).unwrap_err().to_string();
        assert!(r.contains("`twice`") && r.contains("expected"), "{r}");
        let r = mode("s", &BTreeMap::new()).unwrap_err().to_string();
        assert!(r.contains("stackwright:rotation"), "{r}");
    }

    #[test]
    fn a_step_goes_ahead_only_for_a_pending_version_of_an_enabled_secret() {
        let m = meta(
            true,
            Some("single"),
            &[("v1", &[CURRENT]), ("t1", &[PENDING])],
        );
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            assert_eq!(
                admit(&event(step, "t1"), &m).unwrap(),
                Admit::Proceed(Mode::Single)
            );
            assert_eq!(
                admit(&event(step, "v1"), &m).unwrap(),
                Admit::AlreadyCurrent
            );
        }
        // createSecret may see its token before any version has it; the others may not.
        assert!(admit(&event(Step::Create, "t2"), &m).is_ok());
        let r = admit(&event(Step::Set, "t2"), &m).unwrap_err().to_string();
        assert!(r.contains("`t2`") && r.contains("not a version"), "{r}");
        // A version that is neither pending nor current (AWSPREVIOUS, a stale pending that a
        // later createSecret moved on from) is not rotated to.
        let m2 = meta(
            true,
            Some("single"),
            &[("v1", &["AWSPREVIOUS"]), ("v2", &[CURRENT])],
        );
        assert!(matches!(
            admit(&event(Step::Finish, "v1"), &m2),
            Err(Error::NotPending { .. })
        ));
        assert!(matches!(
            admit(
                &event(Step::Create, "t1"),
                &meta(false, Some("single"), &[])
            ),
            Err(Error::NotEnabled(_))
        ));
        assert!(matches!(
            admit(&event(Step::Create, "t1"), &meta(true, Some("twice"), &[])),
            Err(Error::UnknownMode { .. })
        ));
    }

    #[test]
    fn set_secret_is_idempotent_and_refuses_a_user_changed_elsewhere() {
        assert_eq!(set_action(true, false), SetAction::AlreadySet);
        assert_eq!(set_action(true, true), SetAction::AlreadySet);
        assert_eq!(set_action(false, true), SetAction::Set);
        assert_eq!(set_action(false, false), SetAction::Refuse);
    }

    #[test]
    fn finish_moves_current_once() {
        let m = meta(
            true,
            Some("single"),
            &[("v1", &[CURRENT]), ("t1", &[PENDING])],
        );
        assert_eq!(
            finish("s", &m, "t1").unwrap(),
            Finish::Move { from: "v1".into() }
        );
        assert_eq!(finish("s", &m, "v1").unwrap(), Finish::Done);
        assert!(matches!(
            finish("s", &meta(true, None, &[("t1", &[PENDING])]), "t1"),
            Err(Error::NoCurrent(_))
        ));
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn object(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn regenerate_takes_each_recorded_spec_and_needs_one() {
        let t = tags(&[
            (MODE_TAG, "regenerate"),
            ("stackwright:spec:api", "token bytes=32 encoding=hex"),
            ("stackwright:spec:id", "uuid"),
            ("team", "data"),
        ]);
        let specs = regenerate_specs("s", &t).unwrap();
        assert_eq!(specs.keys().collect::<Vec<_>>(), ["api", "id"]);
        assert_eq!(specs["id"], Generator::Uuid);
        let r = regenerate_specs("s", &tags(&[(MODE_TAG, "regenerate")]))
            .unwrap_err()
            .to_string();
        assert!(
            r.contains("`stackwright:spec:<key>`") && r.contains("`s`"),
            "{r}"
        );
        let r = regenerate_specs("s", &tags(&[("stackwright:spec:api", "token bytes=8")]))
            .unwrap_err()
            .to_string();
        assert!(
            r.contains("tag `stackwright:spec:api`") && r.contains("`bytes` must be"),
            "{r}"
        );
    }

    #[test]
    fn the_password_follows_its_recorded_spec_or_the_default() {
        let default = Generator::Uuid;
        let recorded = "password length=40 each=true classes=lowercase+digits";
        let g = password_generator(
            "s",
            &tags(&[("stackwright:spec:password", recorded)]),
            &default,
        )
        .unwrap();
        assert_eq!(spec::encode(&g), recorded);
        let g =
            password_generator("s", &tags(&[("stackwright:spec:api", "uuid")]), &default).unwrap();
        assert_eq!(g, default);
    }

    #[test]
    fn a_regenerated_value_keeps_other_keys_and_meets_each_spec() {
        let current = object(json!({"api": "aa", "issuer": "me", "n": 3}));
        let new = BTreeMap::from([("api".to_owned(), Secret::from("b".repeat(64)))]);
        let pending = with_values(current.clone(), &new);
        assert_eq!(pending["issuer"], json!("me"));
        assert_eq!(pending["n"], json!(3));
        let specs = BTreeMap::from([(
            "api".to_owned(),
            spec::decode("token bytes=32 encoding=hex").unwrap(),
        )]);
        assert_eq!(check_regenerated(&current, &pending, &specs), Ok(()));
        let mut lost = pending.clone();
        lost.remove("issuer");
        assert!(
            check_regenerated(&current, &lost, &specs)
                .unwrap_err()
                .contains("`issuer`")
        );
        let short = with_values(
            current.clone(),
            &BTreeMap::from([("api".to_owned(), Secret::from("abcd"))]),
        );
        let r = check_regenerated(&current, &short, &specs).unwrap_err();
        assert!(
            r.contains("`api`") && r.contains("does not meet") && !r.contains("abcd"),
            "{r}"
        );
        let same = object(json!({"api": "c".repeat(64), "issuer": "me", "n": 3}));
        let r = check_regenerated(&same, &same, &specs).unwrap_err();
        assert!(r.contains("is the current one"), "{r}");
    }

    #[test]
    fn alternating_takes_turns_between_the_user_and_its_clone() {
        let a = alternate("s", Engine::Postgres, "app").unwrap();
        assert_eq!(
            a,
            Alternate {
                base: "app".into(),
                pending: "app_clone".into()
            }
        );
        assert!(a.to_clone());
        let b = alternate("s", Engine::Postgres, "app_clone").unwrap();
        assert_eq!(
            (b.base.as_str(), b.pending.as_str(), b.to_clone()),
            ("app", "app", false)
        );
        // A user named `_clone` is a base of its own.
        assert_eq!(
            alternate("s", Engine::MySql, "_clone").unwrap().pending,
            "_clone_clone"
        );
        // MySQL user names hold 32 characters: `<name>_clone` must fit.
        assert!(alternate("s", Engine::MySql, &"a".repeat(26)).is_ok());
        let r = alternate("arn:s", Engine::MySql, &"a".repeat(27))
            .unwrap_err()
            .to_string();
        assert!(
            r.contains("arn:s")
                && r.contains(&format!("`{}_clone`", "a".repeat(27)))
                && r.contains("33 characters")
                && r.contains("at most 32"),
            "{r}"
        );
        assert!(alternate("s", Engine::Postgres, &"a".repeat(57)).is_ok());
        assert!(alternate("s", Engine::Postgres, &"a".repeat(58)).is_err());
        let pending = with_login(
            object(json!({"username": "app", "password": "old", "host": "h"})),
            "app_clone",
            "new",
        );
        assert_eq!(
            Value::Object(pending),
            json!({"username": "app_clone", "password": "new", "host": "h"})
        );
    }

    #[test]
    fn the_pending_value_changes_only_the_password() {
        let current = json!({"engine": "postgres", "host": "h", "username": "app", "password": "old", "masterarn": "arn:admin"});
        let Value::Object(map) = current else {
            unreachable!()
        };
        let pending = Value::Object(with_password(map, "new"));
        assert_eq!(
            pending,
            json!({"engine": "postgres", "host": "h", "username": "app", "password": "new", "masterarn": "arn:admin"})
        );
    }
}
