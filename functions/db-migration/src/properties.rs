//! The resource's properties: parsed with the protocol library's helpers (strings accepted
//! for numbers and booleans, unknown keys refused) into a raw struct, then checked across
//! properties into [`Properties`] (the library's `TryFrom<Raw>` pattern).

use std::fmt;

use custom_resource::PropertyError;
use custom_resource::properties::{self, de};
use serde::Deserialize;
use serde::de::{self as serde_de, Deserializer, SeqAccess, Visitor};

use crate::names::is_seed_set_name;

/// Longest wait for another run's lock that makes sense: Lambda's own limit.
pub const MAX_LOCK_TIMEOUT_SECONDS: u32 = 900;

/// `Custom::DatabaseMigration`'s properties as the template wrote them, before the checks
/// across properties ([`Properties`] is what comes out of them).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawProperties {
    secret_arn: String,
    #[serde(default)]
    database: Option<String>,
    #[serde(default, deserialize_with = "de::boolean")]
    create_database: bool,
    #[serde(default, deserialize_with = "de::opt_number")]
    target_version: Option<i64>,
    #[serde(default, deserialize_with = "seed_sets")]
    seeds: Vec<String>,
    #[serde(default, deserialize_with = "de::boolean")]
    allow_down: bool,
    #[serde(default)]
    on_delete: OnDelete,
    #[serde(default)]
    tls: TlsMode,
    #[serde(default)]
    ca_bundle: Option<String>,
    #[serde(default = "default_lock_timeout", deserialize_with = "de::number")]
    lock_timeout_seconds: u32,
    #[serde(default)]
    trigger: Option<serde_json::Value>,
}

/// `Custom::DatabaseMigration`'s properties, checked: only [`TryFrom<RawProperties>`] makes
/// one, so every value a request carries has passed the checks across properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawProperties")]
#[non_exhaustive]
pub struct Properties {
    /// The Secrets Manager secret (ARN or name) in the RDS JSON format.
    pub secret_arn: String,
    /// The database to migrate; overrides the secret's `dbname`.
    pub database: Option<String>,
    /// Create the database when the physical id is new and it does not exist.
    pub create_database: bool,
    /// Apply migrations up to this version; `None`: all the function carries.
    pub target_version: Option<i64>,
    /// Seed sets to apply after the migrations, in order.
    pub seeds: Vec<String>,
    /// Run the recorded down scripts when the database is ahead of the target (where the
    /// stage allows `AllowDown`).
    pub allow_down: bool,
    /// What a Delete does to the database (`DropDatabase` where the stage allows it).
    pub on_delete: OnDelete,
    /// How the connection is encrypted: `VerifyFull` unless the stage allows `InsecureTls`.
    pub tls: TlsMode,
    /// PEM certificates to trust with `Tls: VerifyFull`, instead of the embedded RDS bundle.
    pub ca_bundle: Option<String>,
    /// How long to wait for another run's migration lock, in seconds.
    pub lock_timeout_seconds: u32,
    /// Any value; changing it makes CloudFormation send an Update.
    pub trigger: Option<serde_json::Value>,
}

impl TryFrom<RawProperties> for Properties {
    type Error = PropertyError;

    fn try_from(raw: RawProperties) -> Result<Self, PropertyError> {
        let props = Self {
            secret_arn: raw.secret_arn,
            database: raw.database,
            create_database: raw.create_database,
            target_version: raw.target_version,
            seeds: raw.seeds,
            allow_down: raw.allow_down,
            on_delete: raw.on_delete,
            tls: raw.tls,
            ca_bundle: raw.ca_bundle,
            lock_timeout_seconds: raw.lock_timeout_seconds,
            trigger: raw.trigger,
        };
        validate(&props)?;
        Ok(props)
    }
}

fn default_lock_timeout() -> u32 {
    60
}

/// What a Delete does to the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum OnDelete {
    /// Leave the database as it is (the default).
    #[default]
    Retain,
    /// Drop the database, only if this resource created it.
    DropDatabase,
}

/// How the connection to the database is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TlsMode {
    /// Encrypted, the server's certificate not checked (libpq's `require`). Only where the
    /// stage allows `InsecureTls`.
    Require,
    /// Encrypted, the certificate checked against the RDS bundle and the Amazon Trust Services
    /// roots (or `CaBundle`) and the host name. The default.
    #[default]
    VerifyFull,
    /// Not encrypted: only for a database on a private network or on loopback, where the
    /// stage allows `InsecureTls`.
    Disable,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Require => "Require",
            Self::VerifyFull => "VerifyFull",
            Self::Disable => "Disable",
        })
    }
}

/// Parses `ResourceProperties` and checks what one property says about another, as the
/// runner does for every request.
///
/// # Errors
///
/// A [`PropertyError`] naming the property and what was expected.
pub fn parse_properties(raw: &serde_json::Value) -> Result<Properties, PropertyError> {
    properties::parse(raw)
}

/// The checks `serde` cannot make: values in range, and properties that contradict each other.
fn validate(props: &Properties) -> Result<(), PropertyError> {
    if props.secret_arn.trim().is_empty() {
        return Err(PropertyError::new(
            "SecretArn",
            "expected the ARN or name of a Secrets Manager secret in the RDS JSON format, got an empty string",
        ));
    }
    if let Some(db) = &props.database {
        check_database_name(db).map_err(|why| PropertyError::new("Database", why))?;
    }
    if let Some(target) = props.target_version
        && target < 0
    {
        return Err(PropertyError::new(
            "TargetVersion",
            "expected a migration version (the number its file name starts with) or 0, got a negative number",
        ));
    }
    if props.lock_timeout_seconds > MAX_LOCK_TIMEOUT_SECONDS {
        return Err(PropertyError::new(
            "LockTimeoutSeconds",
            format!(
                "expected a whole number of seconds from 0 to {MAX_LOCK_TIMEOUT_SECONDS}, got a number outside that range"
            ),
        ));
    }
    if props.ca_bundle.is_some() && props.tls != TlsMode::VerifyFull {
        return Err(PropertyError::new(
            "CaBundle",
            format!(
                "is only used with `Tls: VerifyFull`, but `Tls` is `{}`: set `Tls: VerifyFull` or remove `CaBundle`",
                props.tls
            ),
        ));
    }
    if let Some(pem) = &props.ca_bundle {
        crate::tls::check_pem(pem).map_err(|why| PropertyError::new("CaBundle", why))?;
    }
    if props.on_delete == OnDelete::DropDatabase && !props.create_database {
        return Err(PropertyError::new(
            "OnDelete",
            "`DropDatabase` drops only a database this resource created, and `CreateDatabase` is not `true`, so there would be none: set `CreateDatabase: true`, or `OnDelete: Retain`",
        ));
    }
    Ok(())
}

/// Longest database name both engines accept (PostgreSQL: 63 bytes, MySQL: 64 characters).
pub const MAX_DATABASE_NAME: usize = 63;

/// Checks a database name: 1 to 63 characters from letters, digits, `_`, `$` and `-`, so it
/// can be quoted safely on both engines and read back from a physical id.
///
/// # Errors
///
/// What is wrong with it, ready for a `Reason`: its length, or the position of the first
/// character not allowed. Never the text: a valid name is shown wherever it is used, but text
/// that fails the check may not be a name at all (a secret in the wrong property, or a
/// secret's `dbname` field holding something else).
pub fn check_database_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("expected a database name, got an empty string".into());
    }
    if name.len() > MAX_DATABASE_NAME {
        return Err(format!(
            "expected a database name of at most {MAX_DATABASE_NAME} characters, got {} characters",
            name.len()
        ));
    }
    if let Some(at) = name
        .chars()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-')))
    {
        return Err(format!(
            "expected a database name of letters, digits, `_`, `$` and `-`, got one with another character at position {}",
            at + 1
        ));
    }
    Ok(())
}

/// `Seeds`: `"common, dev"` or a list (a `CommaDelimitedList` parameter arrives as one).
fn seed_sets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Sets;
    impl<'de> Visitor<'de> for Sets {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("comma-separated seed set names, like `common,dev`")
        }
        fn visit_unit<E: serde_de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: serde_de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: serde_de::Error>(self, v: &str) -> Result<Self::Value, E> {
            split_sets(v.split(',')).map_err(E::custom)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            split_sets(items.iter().flat_map(|i| i.split(','))).map_err(serde_de::Error::custom)
        }
    }
    d.deserialize_any(Sets)
}

/// Trims, drops empty entries and duplicates (keeping the first), checks each name. A name
/// that fails the check is not repeated (it may not be a name at all): the reason gives its
/// place in the list.
fn split_sets<'a>(parts: impl Iterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut sets: Vec<String> = Vec::new();
    for (i, part) in parts.map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        if !is_seed_set_name(part) {
            return Err(format!(
                "expected seed set names (folders under `seeds/`: lowercase letters, digits, `_` and `-`), got one that is not: entry {} of the list",
                i + 1
            ));
        }
        if !sets.iter().any(|s| s == part) {
            sets.push(part.to_owned());
        }
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reason(raw: serde_json::Value) -> String {
        parse_properties(&raw).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_strings_for_numbers_and_booleans() {
        let p = parse_properties(&json!({"ServiceToken": "arn:x", "SecretArn": "arn:s"})).unwrap();
        assert_eq!(p.lock_timeout_seconds, 60);
        assert_eq!((p.create_database, p.allow_down), (false, false));
        assert_eq!(
            (p.on_delete, p.tls),
            (OnDelete::Retain, TlsMode::VerifyFull)
        );
        assert!(p.seeds.is_empty() && p.target_version.is_none());

        let p = parse_properties(&json!({
            "SecretArn": "arn:s", "Database": "app_dev", "CreateDatabase": "true",
            "TargetVersion": "20261126090100", "Seeds": " common, dev,,common ", "AllowDown": "TRUE",
            "OnDelete": "DropDatabase", "Tls": "Disable", "LockTimeoutSeconds": "5", "Trigger": 7
        }))
        .unwrap();
        assert!(p.create_database && p.allow_down);
        assert_eq!(p.target_version, Some(20_261_126_090_100));
        assert_eq!(p.seeds, ["common", "dev"]);
        assert_eq!(p.lock_timeout_seconds, 5);
        assert_eq!(p.database.as_deref(), Some("app_dev"));

        let p = parse_properties(&json!({"SecretArn": "s", "Seeds": ["common", "dev"]})).unwrap();
        assert_eq!(p.seeds, ["common", "dev"]);
    }

    #[test]
    fn reasons_name_the_property() {
        assert_eq!(reason(json!({})), "missing required property `SecretArn`");
        assert!(
            reason(json!({"SecretArn": "s", "Databse": "x"})).starts_with(
                "unknown property `Databse`; expected one of `SecretArn`, `Database`,"
            )
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "OnDelete": "Delete"})),
            "property `OnDelete`: unknown value `Delete`; expected `Retain` or `DropDatabase`"
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "Tls": "verify-full"})),
            "property `Tls`: unknown value `verify-full`; expected one of `Require`, `VerifyFull`, `Disable`"
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "LockTimeoutSeconds": "soon"})),
            "property `LockTimeoutSeconds`: expected a whole number from 0 to 4294967295, got a string that is not a number"
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "LockTimeoutSeconds": 3600})),
            "property `LockTimeoutSeconds`: expected a whole number of seconds from 0 to 900, got a number outside that range"
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "TargetVersion": -1})),
            "property `TargetVersion`: expected a migration version (the number its file name starts with) or 0, got a negative number"
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "Seeds": "common, dev; drop"})),
            "property `Seeds`: expected seed set names (folders under `seeds/`: lowercase letters, digits, `_` and `-`), got one that is not: entry 2 of the list"
        );
        assert_eq!(
            reason(json!({"SecretArn": "s", "Database": "app\"; drop"})),
            "property `Database`: expected a database name of letters, digits, `_`, `$` and `-`, got one with another character at position 4"
        );
        assert!(reason(json!({"SecretArn": " "})).starts_with("property `SecretArn`:"));
    }

    /// A secret put in the wrong property (a dynamic reference, a `NoEcho` parameter) must
    /// not reach the stack events through the `Reason`.
    #[test]
    fn a_secret_in_the_wrong_property_is_never_echoed() {
        const SECRET: &str = "hunter2-Pa55w0rd!0123456789";
        let number = json!(987_654_321_987_654_u64);
        for (field, given) in [
            ("SecretArn", json!({"password": SECRET})),
            ("SecretArn", json!([SECRET])),
            ("Database", json!(SECRET)),
            ("Database", json!({"password": SECRET})),
            ("Database", json!(SECRET.repeat(4))),
            ("CreateDatabase", json!(SECRET)),
            ("CreateDatabase", number.clone()),
            ("AllowDown", json!(SECRET)),
            ("TargetVersion", json!(SECRET)),
            ("TargetVersion", json!(-987_654_321)),
            ("Seeds", json!(SECRET)),
            ("Seeds", json!(["common", SECRET])),
            ("Seeds", json!([{"password": SECRET}])),
            ("OnDelete", json!([SECRET])),
            ("Tls", json!({"VerifyFull": SECRET})),
            ("CaBundle", json!({"password": SECRET})),
            ("LockTimeoutSeconds", json!(SECRET)),
            ("LockTimeoutSeconds", number.clone()),
        ] {
            let mut raw = json!({"SecretArn": "arn:s", "CreateDatabase": true});
            raw[field] = given.clone();
            let reason = reason(raw);
            assert!(
                reason.starts_with(&format!("property `{field}")),
                "{field}: {reason}"
            );
            for shown in ["hunter2", "987654321"] {
                assert!(!reason.contains(shown), "{field} = {given}: {reason}");
            }
        }
    }

    #[test]
    fn drop_database_needs_create_database() {
        assert_eq!(
            reason(json!({"SecretArn": "s", "OnDelete": "DropDatabase"})),
            "property `OnDelete`: `DropDatabase` drops only a database this resource created, and \
            `CreateDatabase` is not `true`, so there would be none: set `CreateDatabase: true`, or \
            `OnDelete: Retain`"
        );
        assert!(
            parse_properties(
                &json!({"SecretArn": "s", "OnDelete": "DropDatabase", "CreateDatabase": true})
            )
            .is_ok()
        );
    }

    #[test]
    fn ca_bundle_needs_verify_full_and_a_certificate() {
        assert!(
            reason(json!({"SecretArn": "s", "Tls": "Require", "CaBundle": "x"}))
                .starts_with("property `CaBundle`: is only used with `Tls: VerifyFull`")
        );
        // `VerifyFull` is the default: a `CaBundle` alone is checked as PEM.
        assert!(
            reason(json!({"SecretArn": "s", "CaBundle": "x"}))
                .starts_with("property `CaBundle`: expected PEM text")
        );
        assert!(
            reason(json!({"SecretArn": "s", "Tls": "VerifyFull", "CaBundle": "not a pem"}))
                .starts_with("property `CaBundle`: expected PEM text")
        );
        let pem = crate::tls::RDS_GLOBAL_BUNDLE;
        assert!(
            parse_properties(&json!({"SecretArn": "s", "Tls": "VerifyFull", "CaBundle": pem}))
                .is_ok()
        );
    }

    #[test]
    fn database_names() {
        for ok in ["app", "app_dev", "pr-42", "a$b", &"x".repeat(63)] {
            assert!(check_database_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a.b", "a\"b", "a`b", "é", &"x".repeat(64)] {
            assert!(check_database_name(bad).is_err(), "{bad}");
        }
    }
}
