//! The resource's properties: parsed with the protocol library's helpers (strings accepted
//! for numbers and booleans, unknown keys refused) into a raw struct, then checked into
//! [`Properties`]. [`parse_properties`] is a plain function of the JSON CloudFormation sends.

use custom_resource::PropertyError;
use custom_resource::properties::{self, de, kind};
use serde::Deserialize;
use serde_json::Value;

pub use db_migration::TlsMode;

/// The most a `ConnectionLimit` may be (PostgreSQL and MySQL both take far more; no
/// application needs it).
pub const MAX_CONNECTION_LIMIT: u64 = 100_000;

/// The privileges a grant may name, on tables (both engines unless said).
pub const TABLE_PRIVILEGES: [&str; 10] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE", // PostgreSQL
    "REFERENCES",
    "TRIGGER",
    "CREATE", // MySQL
    "ALTER",  // MySQL
    "INDEX",  // MySQL
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RawProperties {
    secret_arn: String,
    user_secret_arn: String,
    #[serde(default, deserialize_with = "de::opt_scalar_text")]
    secret_version: Option<String>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    tls: TlsMode,
    #[serde(default)]
    grants: Option<Value>,
    #[serde(default, deserialize_with = "de::boolean")]
    iam_auth: bool,
    #[serde(default, deserialize_with = "connection_limit")]
    connection_limit: Option<u64>,
    #[serde(default)]
    on_delete: OnDelete,
    #[serde(default)]
    reassign_owned_to: Option<String>,
}

fn connection_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de::bounded(d, 1, MAX_CONNECTION_LIMIT)
}

/// `Custom::DatabaseUser`'s properties, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawProperties")]
#[non_exhaustive]
pub struct Properties {
    /// The admin secret (RDS JSON): who makes the user, on which server.
    pub secret_arn: String,
    /// The user's own secret (RDS JSON): its name and password.
    pub user_secret_arn: String,
    /// The user secret's version; changing it sends an Update that applies the password.
    pub secret_version: Option<String>,
    /// Where the grants apply; default the user secret's `dbname`.
    pub database: Option<String>,
    /// How the connection is encrypted: `VerifyFull` unless the stage allows `InsecureTls`.
    pub tls: TlsMode,
    /// What the user may do.
    pub grants: Vec<Grant>,
    /// RDS IAM authentication instead of a password.
    pub iam_auth: bool,
    /// The most connections the user may hold at once; `None`: no limit.
    pub connection_limit: Option<u64>,
    /// What a Delete does to the user.
    pub on_delete: OnDelete,
    /// The role that takes over what the user owns when it is dropped (PostgreSQL).
    pub reassign_owned_to: Option<String>,
}

/// What a Delete does to the user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum OnDelete {
    /// Leave the user as it is (the default).
    #[default]
    Retain,
    /// Reassign what it owns, drop its privileges and the user (`DropUser` in the stage).
    Drop,
}

/// One entry of `Grants`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// What may be done.
    pub privileges: Privileges,
    /// The schema (PostgreSQL; default `public`) or database (MySQL; default `Database`).
    pub schema: Option<String>,
    /// Which tables.
    pub tables: Tables,
}

/// A grant's privileges: a preset or a list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privileges {
    /// `SELECT` on tables.
    ReadOnly,
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE` on tables (and, on PostgreSQL with `Tables: *`,
    /// `USAGE` and `SELECT` on the schema's sequences).
    ReadWrite,
    /// These table privileges, upper case, each once, sorted.
    List(Vec<String>),
}

/// A grant's tables.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tables {
    /// Every table, and the ones created later.
    All,
    /// These tables, sorted, each once.
    Named(Vec<String>),
}

impl TryFrom<RawProperties> for Properties {
    type Error = PropertyError;

    fn try_from(raw: RawProperties) -> Result<Self, PropertyError> {
        if raw.secret_arn.trim().is_empty() {
            return Err(PropertyError::new(
                "SecretArn",
                "expected the ARN or name of the admin secret in the RDS JSON format, got an empty string",
            ));
        }
        if raw.user_secret_arn.trim().is_empty() {
            return Err(PropertyError::new(
                "UserSecretArn",
                "expected the ARN or name of the user's secret in the RDS JSON format, got an empty string",
            ));
        }
        if let Some(db) = &raw.database {
            db_migration::properties::check_database_name(db)
                .map_err(|why| PropertyError::new("Database", why))?;
        }
        if let Some(role) = &raw.reassign_owned_to {
            check_name(role, MAX_NAME).map_err(|why| PropertyError::new("ReassignOwnedTo", why))?;
        }
        let grants = match raw.grants {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_grant(i, item))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(PropertyError::new(
                    "Grants",
                    format!(
                        "expected a list of grants like [{{\"Privileges\": \"ReadOnly\"}}], got {}",
                        kind(&other)
                    ),
                ));
            }
        };
        Ok(Self {
            secret_arn: raw.secret_arn,
            user_secret_arn: raw.user_secret_arn,
            secret_version: raw.secret_version,
            database: raw.database,
            tls: raw.tls,
            grants,
            iam_auth: raw.iam_auth,
            connection_limit: raw.connection_limit,
            on_delete: raw.on_delete,
            reassign_owned_to: raw.reassign_owned_to,
        })
    }
}

/// Parses `ResourceProperties` as the runner does for every request.
///
/// # Errors
///
/// A [`PropertyError`] naming the property and what was expected, never its value.
pub fn parse_properties(raw: &Value) -> Result<Properties, PropertyError> {
    properties::parse(raw)
}

/// Longest schema, table or role name accepted (PostgreSQL's limit: 63 bytes).
pub const MAX_NAME: usize = 63;

/// Checks a schema, table or role name: 1 to `max` characters from letters, digits and `_`,
/// not starting with a digit. Names are quoted in SQL anyway; the check keeps them readable in
/// ids and reasons and refuses text that is not a name (a secret in the wrong property).
///
/// # Errors
///
/// What is wrong, ready for a `Reason`: its length or the position of the first character not
/// allowed, never the text.
pub fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("expected a name, got an empty string".into());
    }
    if name.len() > max {
        return Err(format!(
            "expected a name of at most {max} characters, got {} characters",
            name.len()
        ));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("expected a name that does not start with a digit".into());
    }
    if let Some(at) = name
        .chars()
        .position(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(format!(
            "expected a name of letters, digits and `_`, got one with another character at position {}",
            at + 1
        ));
    }
    Ok(())
}

fn parse_grant(i: usize, item: &Value) -> Result<Grant, PropertyError> {
    let path = |key: &str| format!("Grants.{i}{key}");
    let Value::Object(map) = item else {
        return Err(PropertyError::new(
            path(""),
            format!(
                "expected an object like {{\"Privileges\": \"ReadOnly\", \"Schema\": \"public\", \"Tables\": \"*\"}}, got {}",
                kind(item)
            ),
        ));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !["Privileges", "Schema", "Tables"].contains(&k.as_str()))
    {
        return Err(PropertyError::new(
            path(""),
            format!(
                "unknown key `{}`; a grant has `Privileges`, `Schema` and `Tables`",
                unknown.chars().take(40).collect::<String>()
            ),
        ));
    }
    let privileges = match map.get("Privileges") {
        Some(Value::String(s)) if s == "ReadOnly" => Privileges::ReadOnly,
        Some(Value::String(s)) if s == "ReadWrite" => Privileges::ReadWrite,
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut list = Vec::new();
            for (j, p) in items.iter().enumerate() {
                let word = p
                    .as_str()
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| TABLE_PRIVILEGES.contains(&s.as_str()))
                    .ok_or_else(|| {
                        PropertyError::new(
                            format!("Grants.{i}.Privileges.{j}"),
                            format!(
                                "expected one of {}, got something else",
                                TABLE_PRIVILEGES.join(", ")
                            ),
                        )
                    })?;
                if !list.contains(&word) {
                    list.push(word);
                }
            }
            list.sort();
            Privileges::List(list)
        }
        None | Some(Value::Null) => {
            return Err(PropertyError::new(
                path(".Privileges"),
                "is required: `ReadOnly`, `ReadWrite` or a list of table privileges",
            ));
        }
        Some(_) => {
            return Err(PropertyError::new(
                path(".Privileges"),
                "expected `ReadOnly`, `ReadWrite` or a non-empty list of table privileges like [\"SELECT\", \"INSERT\"]",
            ));
        }
    };
    let schema = match map.get("Schema") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check_name(s, MAX_NAME).map_err(|why| PropertyError::new(path(".Schema"), why))?;
            Some(s.clone())
        }
        Some(other) => {
            return Err(PropertyError::new(
                path(".Schema"),
                format!("expected a schema name, got {}", kind(other)),
            ));
        }
    };
    let tables = match map.get("Tables") {
        None | Some(Value::Null) => Tables::All,
        Some(Value::String(s)) if s == "*" => Tables::All,
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut names = Vec::new();
            for (j, t) in items.iter().enumerate() {
                let name = t.as_str().unwrap_or_default();
                check_name(name, MAX_NAME)
                    .map_err(|why| PropertyError::new(format!("Grants.{i}.Tables.{j}"), why))?;
                names.push(name.to_owned());
            }
            names.sort();
            names.dedup();
            Tables::Named(names)
        }
        Some(_) => {
            return Err(PropertyError::new(
                path(".Tables"),
                "expected `*` (every table, and those created later) or a non-empty list of table names",
            ));
        }
    };
    Ok(Grant {
        privileges,
        schema,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reason(raw: Value) -> String {
        parse_properties(&raw).unwrap_err().to_string()
    }

    #[test]
    fn defaults_and_strings_for_numbers_and_booleans() {
        let p = parse_properties(
            &json!({"ServiceToken": "arn:x", "SecretArn": "a", "UserSecretArn": "u"}),
        )
        .unwrap();
        assert_eq!(
            (p.tls, p.on_delete),
            (TlsMode::VerifyFull, OnDelete::Retain)
        );
        assert!(p.grants.is_empty() && !p.iam_auth && p.connection_limit.is_none());
        let p = parse_properties(&json!({
            "SecretArn": "a", "UserSecretArn": "u", "SecretVersion": "v-1", "Database": "app",
            "Tls": "Disable", "IamAuth": "true", "ConnectionLimit": "20", "OnDelete": "Drop",
            "ReassignOwnedTo": "app_owner",
            "Grants": [
                {"Privileges": "ReadOnly"},
                {"Privileges": ["insert", " select", "INSERT"], "Schema": "sales", "Tables": ["b", "a", "b"]},
            ],
        }))
        .unwrap();
        assert_eq!(p.secret_version.as_deref(), Some("v-1"));
        assert!(p.iam_auth);
        assert_eq!(p.connection_limit, Some(20));
        assert_eq!(p.on_delete, OnDelete::Drop);
        assert_eq!(
            p.grants,
            [
                Grant {
                    privileges: Privileges::ReadOnly,
                    schema: None,
                    tables: Tables::All
                },
                Grant {
                    privileges: Privileges::List(vec!["INSERT".into(), "SELECT".into()]),
                    schema: Some("sales".into()),
                    tables: Tables::Named(vec!["a".into(), "b".into()]),
                },
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_the_known_ones() {
        let r = reason(json!({"SecretArn": "a", "UserSecretArn": "u", "Password": "x"}));
        assert!(
            r.contains("`Password`") && r.contains("UserSecretArn"),
            "{r}"
        );
        let r = reason(
            json!({"SecretArn": "a", "UserSecretArn": "u", "Grants": [{"Privileges": "ReadOnly", "Table": "*"}]}),
        );
        assert!(
            r.starts_with("property `Grants.0`") && r.contains("`Table`"),
            "{r}"
        );
    }

    #[test]
    fn grants_name_the_entry_that_is_wrong_never_its_value() {
        let cases = [
            (json!("ReadOnly"), "property `Grants`"),
            (
                json!([{"Schema": "public"}]),
                "property `Grants.0.Privileges`: is required",
            ),
            (
                json!([{"Privileges": "ReadEverything"}]),
                "property `Grants.0.Privileges`",
            ),
            (
                json!([{"Privileges": []}]),
                "property `Grants.0.Privileges`",
            ),
            (
                json!([{"Privileges": ["SELECT", "DROP DATABASE s3cret"]}]),
                "property `Grants.0.Privileges.1`",
            ),
            (
                json!([{"Privileges": "ReadOnly", "Schema": "a b s3cret"}]),
                "property `Grants.0.Schema`",
            ),
            (
                json!([{"Privileges": "ReadOnly", "Tables": ["t", "x\"; DROP s3cret"]}]),
                "property `Grants.0.Tables.1`",
            ),
            (
                json!([{"Privileges": "ReadOnly", "Tables": "all"}]),
                "property `Grants.0.Tables`",
            ),
            (
                json!([{"Privileges": "ReadOnly"}, 5]),
                "property `Grants.1`",
            ),
        ];
        for (grants, expected) in cases {
            let r = reason(json!({"SecretArn": "a", "UserSecretArn": "u", "Grants": grants}));
            assert!(r.starts_with(expected), "{r}");
            assert!(!r.contains("s3cret"), "{r}");
        }
    }

    #[test]
    fn names_and_numbers_are_checked() {
        let base = json!({"SecretArn": "a", "UserSecretArn": "u"});
        let with = |k: &str, v: Value| {
            let mut p = base.clone();
            p[k] = v;
            reason(p)
        };
        assert!(with("ConnectionLimit", json!("0")).starts_with("property `ConnectionLimit`"));
        assert!(with("ConnectionLimit", json!("many")).starts_with("property `ConnectionLimit`"));
        assert!(with("ReassignOwnedTo", json!("1x")).starts_with("property `ReassignOwnedTo`"));
        assert!(with("Database", json!("a b")).starts_with("property `Database`"));
        assert!(with("OnDelete", json!("Delete")).starts_with("property `OnDelete`"));
        assert!(with("SecretArn", json!(" ")).starts_with("property `SecretArn`"));
        assert!(reason(json!({"SecretArn": "a"})).contains("UserSecretArn"));
    }

    #[test]
    fn names_are_letters_digits_and_underscores() {
        assert!(check_name("app_user2", 63).is_ok());
        assert!(check_name("_x", 63).is_ok());
        for bad in ["", "2x", "a-b", "a\"b", "a b", "é"] {
            assert!(check_name(bad, 63).is_err(), "{bad}");
        }
        assert!(
            check_name(&"a".repeat(33), 32)
                .unwrap_err()
                .contains("at most 32")
        );
    }
}
