//! The user's secret in the RDS JSON format, as AWS's rotation functions expect it: the
//! admin secret's fields (read by `db-migration`'s [`parse_secret`]) and `masterarn`, the
//! admin secret that can change this user's password. The rotation function reads it too.

use custom_resource::Secret;
use custom_resource::secrets::json_object;
use db_migration::secret::{DbSecret, parse_secret};
use db_migration::target::Target;
use serde_json::Value;

use crate::Error;
use crate::properties::{MAX_NAME, check_name};

/// Longest MySQL user name (MySQL 5.7 and later; MariaDB takes 80).
pub const MAX_MYSQL_USER: usize = 32;

/// A user secret.
#[derive(Debug, Clone)]
pub struct UserSecret {
    /// `engine`, `host`, `port`, `username`, `password`, `dbname`.
    pub login: DbSecret,
    /// `masterarn`, if present.
    pub master_arn: Option<String>,
}

/// Parses a user secret and checks its user name (quoted in SQL anyway, but a name that is
/// not letters, digits and `_` is refused: it ends up in ids, logs and reasons).
///
/// # Errors
///
/// The admin secret's reasons ([`Error::Migration`]), or [`Error::UserName`].
pub fn parse_user_secret(id: &str, text: &Secret<String>) -> Result<UserSecret, Error> {
    let login = parse_secret(id, text)?;
    let max = match login.engine {
        db_migration::secret::Engine::Postgres => MAX_NAME,
        db_migration::secret::Engine::MySql => MAX_MYSQL_USER,
    };
    check_name(&login.username, max).map_err(|problem| Error::UserName {
        secret: id.to_owned(),
        problem,
    })?;
    let master_arn = match json_object(id, text)?.get("masterarn") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(UserSecret { login, master_arn })
}

/// Whether two secrets name the same server (engine, host and port): a user's credentials go
/// only to the server its admin secret names.
pub fn same_server(a: &DbSecret, b: &DbSecret) -> bool {
    Target::new(a.engine, &a.host, a.port, "x") == Target::new(b.engine, &b.host, b.port, "x")
}

/// One user on one server, for one database: the physical id
/// `<engine>://<host>:<port>/<database>/<user>`, no credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTarget {
    /// Server and database.
    pub target: Target,
    /// The user name.
    pub user: String,
}

impl UserTarget {
    /// `postgres://db.example.com:5432/app/app_user`.
    pub fn physical_id(&self) -> String {
        format!("{}/{}", self.target.physical_id(), self.user)
    }

    /// Reads a physical id back; `None` for anything this function does not issue.
    pub fn parse(id: &str) -> Option<Self> {
        let (rest, user) = id.rsplit_once('/')?;
        check_name(user, MAX_NAME).ok()?;
        let target = Target::parse(rest)?;
        let parsed = Self {
            target,
            user: user.to_owned(),
        };
        (parsed.physical_id() == id).then_some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use db_migration::secret::Engine;

    use super::*;

    fn parse(text: &str) -> Result<UserSecret, Error> {
        parse_user_secret("arn:user", &Secret::from(text))
    }

    #[test]
    fn reads_the_rds_format_with_the_master_arn() {
        let s = parse(r#"{"engine":"postgres","host":"h","port":5432,"username":"app","password":"pw","dbname":"appdb","masterarn":"arn:admin"}"#).unwrap();
        assert_eq!(s.login.username, "app");
        assert_eq!(s.master_arn.as_deref(), Some("arn:admin"));
        let s =
            parse(r#"{"engine":"mariadb","host":"h","username":"app","password":"pw"}"#).unwrap();
        assert_eq!((s.login.engine, s.master_arn), (Engine::MySql, None));
    }

    #[test]
    fn user_names_that_are_not_names_are_refused_without_being_repeated() {
        let r = parse(
            r#"{"engine":"postgres","host":"h","username":"a\"; DROP ROLE x; --","password":"pw"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(r.contains("arn:user") && !r.contains("DROP"), "{r}");
        let long = format!(
            r#"{{"engine":"mysql","host":"h","username":"{}","password":"pw"}}"#,
            "a".repeat(33)
        );
        assert!(parse(&long).unwrap_err().to_string().contains("at most 32"));
    }

    #[test]
    fn ids_round_trip_and_carry_no_credentials() {
        let t = UserTarget {
            target: Target::new(Engine::Postgres, "DB.example.com", 5432, "app"),
            user: "app_user".into(),
        };
        assert_eq!(
            t.physical_id(),
            "postgres://db.example.com:5432/app/app_user"
        );
        assert_eq!(UserTarget::parse(&t.physical_id()), Some(t));
        for id in [
            "postgres://db.example.com:5432/app",
            "postgres://u:pw@h:5432/app/x",
            "postgres://h:5432/app/a-b",
            "stackwright:create-failed:User:r-1",
        ] {
            assert_eq!(UserTarget::parse(id), None, "{id}");
        }
    }

    #[test]
    fn the_same_server_is_engine_host_and_port() {
        let s = |engine, host: &str, port| {
            parse_secret("x", &Secret::from(format!(
            r#"{{"engine":"{engine}","host":"{host}","port":{port},"username":"u","password":"p"}}"#
        ))).unwrap()
        };
        assert!(same_server(
            &s("postgres", "H", 5432),
            &s("aurora-postgresql", " h ", 5432)
        ));
        assert!(!same_server(
            &s("postgres", "h", 5432),
            &s("postgres", "h", 5433)
        ));
        assert!(!same_server(
            &s("postgres", "h", 5432),
            &s("postgres", "evil", 5432)
        ));
        assert!(!same_server(
            &s("postgres", "h", 5432),
            &s("mysql", "h", 5432)
        ));
    }
}
