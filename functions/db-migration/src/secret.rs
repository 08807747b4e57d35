//! The database secret in the RDS JSON format, parsed with the password going straight into
//! [`Secret`]. It is read through the protocol library's reader ([`custom_resource::secrets`]).

use std::fmt;

use custom_resource::Secret;
use serde_json::{Map, Value};

use crate::Error;

/// The database engine family, chosen from the secret's `engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// `postgres`, `aurora-postgresql`.
    Postgres,
    /// `mysql`, `mariadb`, `aurora-mysql`.
    MySql,
}

/// The `engine` values this function accepts, as a `Reason` lists them.
pub const ENGINES: &str = "`postgres`, `aurora-postgresql`, `mysql`, `mariadb` or `aurora-mysql`";

impl Engine {
    /// The family of an RDS `engine` value (any case).
    pub fn from_rds(engine: &str) -> Option<Self> {
        match engine.trim().to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "aurora-postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" | "aurora-mysql" => Some(Self::MySql),
            _ => None,
        }
    }

    /// The scheme in physical ids: `postgres` or `mysql`.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        }
    }

    /// The port when the secret has none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::MySql => 3306,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MySQL",
        })
    }
}

/// A database secret in the RDS JSON format.
#[derive(Debug, Clone)]
pub struct DbSecret {
    /// The engine family.
    pub engine: Engine,
    /// The host name.
    pub host: String,
    /// The TCP port (the engine's default when the secret has none).
    pub port: u16,
    /// The user name.
    pub username: String,
    /// The password, printed as `***`.
    pub password: Secret<String>,
    /// The secret's `dbname`, if any.
    pub dbname: Option<String>,
}

/// Parses the secret's text (`SecretString`). Reasons name the field, never its value: a
/// mistyped field may hold the password.
///
/// # Errors
///
/// [`Error::SecretFormat`] or [`Error::UnsupportedEngine`].
pub fn parse_secret(id: &str, text: &Secret<String>) -> Result<DbSecret, Error> {
    let bad = |problem: String| Error::SecretFormat {
        secret: id.to_owned(),
        problem,
    };
    let map: Map<String, Value> = serde_json::from_str(text.expose())
        // serde's message could quote the text (the password with it): say only where.
        .map_err(|e| {
            bad(format!(
                "it is not a JSON object (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
    let string = |key: &str, required: bool| -> Result<Option<String>, Error> {
        match map.get(key) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(bad(format!("it has no `{key}`"))),
            Some(Value::String(s)) if s.is_empty() && required => {
                Err(bad(format!("its `{key}` is empty")))
            }
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("its `{key}` is not a string"))),
        }
    };
    let engine_name = string("engine", true)?.unwrap_or_default();
    let engine = Engine::from_rds(&engine_name).ok_or_else(|| Error::UnsupportedEngine {
        secret: id.to_owned(),
        engine: engine_name.chars().take(40).collect(),
    })?;
    let host = string("host", true)?.unwrap_or_default();
    let port = match map.get("port") {
        None | Some(Value::Null) => engine.default_port(),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("its `port` is not a port number (1 to 65535)".into()))?,
        Some(Value::String(s)) => s
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("its `port` is not a port number (1 to 65535)".into()))?,
        Some(_) => return Err(bad("its `port` is not a port number (1 to 65535)".into())),
    };
    let username = string("username", true)?.unwrap_or_default();
    let password = match map.get("password") {
        Some(Value::String(p)) => Secret::new(p.clone()),
        None | Some(Value::Null) => return Err(bad("it has no `password`".into())),
        Some(_) => return Err(bad("its `password` is not a string".into())),
    };
    let dbname = string("dbname", false)?;
    Ok(DbSecret {
        engine,
        host,
        port,
        username,
        password,
        dbname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DbSecret, Error> {
        parse_secret(
            "arn:aws:secretsmanager:us-east-1:1:secret:db",
            &Secret::from(text),
        )
    }

    #[test]
    fn reads_the_rds_format() {
        let s = parse(r#"{"engine":"aurora-postgresql","host":"db.example.com","port":5433,"username":"app","password":"pw","dbname":"app","dbClusterIdentifier":"c"}"#).unwrap();
        assert_eq!(s.engine, Engine::Postgres);
        assert_eq!((s.host.as_str(), s.port), ("db.example.com", 5433));
        assert_eq!(s.username, "app");
        assert_eq!(s.password.expose(), "pw");
        assert_eq!(s.dbname.as_deref(), Some("app"));

        let s =
            parse(r#"{"engine":"mariadb","host":"h","port":"3307","username":"u","password":"p"}"#)
                .unwrap();
        assert_eq!((s.engine, s.port, s.dbname), (Engine::MySql, 3307, None));
        let s = parse(r#"{"engine":"MySQL","host":"h","username":"u","password":"p","dbname":""}"#)
            .unwrap();
        assert_eq!((s.engine, s.port, s.dbname), (Engine::MySql, 3306, None));
    }

    #[test]
    fn reasons_name_fields_never_values() {
        let password = "hunter2-s3cret";
        let cases = [
            ("not json".to_owned(), "it is not a JSON object"),
            (r#"{"host":"h"}"#.to_owned(), "it has no `engine`"),
            (
                format!(
                    r#"{{"engine":"postgres","host":"h","username":"u","password":{{"v":"{password}"}}}}"#
                ),
                "its `password` is not a string",
            ),
            (
                format!(
                    r#"{{"engine":"postgres","host":"h","port":"{password}","username":"u","password":"{password}"}}"#
                ),
                "its `port` is not a port number",
            ),
            (
                format!(r#"{{"engine":"postgres","username":"u","password":"{password}"}}"#),
                "it has no `host`",
            ),
            (
                format!(r#"{{"engine":"postgres","host":"h","password":"{password}"}}"#),
                "it has no `username`",
            ),
        ];
        for (text, expected) in cases {
            let reason = parse(&text).unwrap_err().to_string();
            assert!(reason.contains(expected), "{reason}");
            assert!(!reason.contains(password), "{reason}");
            assert!(
                reason.contains("arn:aws:secretsmanager:us-east-1:1:secret:db"),
                "{reason}"
            );
        }
        let reason = parse(r#"{"engine":"oracle-ee","host":"h","username":"u","password":"p"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            reason.contains("`oracle-ee`") && reason.contains("aurora-mysql"),
            "{reason}"
        );
    }

    #[test]
    fn a_parsed_secret_debugs_without_the_password() {
        let s = parse(r#"{"engine":"postgres","host":"h","username":"u","password":"pa55word"}"#)
            .unwrap();
        assert!(!format!("{s:?}").contains("pa55word"));
    }
}
