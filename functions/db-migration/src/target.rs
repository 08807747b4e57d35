//! Which database a request is about, and its physical id: `<engine>://<host>:<port>/<database>`,
//! no credentials, the same on every update while host, port and database stay the same.

use crate::properties::check_database_name;
use crate::secret::Engine;

/// One database on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The engine family.
    pub engine: Engine,
    /// The host name, lowercase.
    pub host: String,
    /// The server's TCP port.
    pub port: u16,
    /// The database name.
    pub database: String,
}

impl Target {
    /// A target; the host is lowercased so the id does not change with its spelling.
    pub fn new(engine: Engine, host: &str, port: u16, database: &str) -> Self {
        Self {
            engine,
            host: host.trim().to_ascii_lowercase(),
            port,
            database: database.to_owned(),
        }
    }

    /// `postgres://db.example.com:5432/app`; an IPv6 host in brackets.
    pub fn physical_id(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{}://{host}:{}/{}",
            self.engine.scheme(),
            self.port,
            self.database
        )
    }

    /// Reads a physical id back; `None` for anything this function does not issue.
    pub fn parse(id: &str) -> Option<Self> {
        let (scheme, rest) = id.split_once("://")?;
        let engine = match scheme {
            "postgres" => Engine::Postgres,
            "mysql" => Engine::MySql,
            _ => return None,
        };
        let (authority, database) = rest.rsplit_once('/')?;
        check_database_name(database).ok()?;
        let (host, port) = authority.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return None;
        }
        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
        let target = Self::new(engine, host, port, database);
        (target.physical_id() == id).then_some(target)
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Where the database name came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseFrom {
    /// The `Database` property.
    Property,
    /// The secret's `dbname`.
    Secret,
    /// The engine's default database (PostgreSQL's `postgres`).
    EngineDefault,
}

/// The database to migrate: `Database`, else the secret's `dbname`, else the engine's default.
///
/// # Errors
///
/// When there is no name to use (MySQL has no default database to migrate) or the secret's
/// `dbname` is not a usable name; the message is for a `Reason`.
pub fn choose_database(
    engine: Engine,
    property: Option<&str>,
    secret_dbname: Option<&str>,
) -> Result<(String, DatabaseFrom), String> {
    if let Some(name) = property {
        return Ok((name.to_owned(), DatabaseFrom::Property));
    }
    if let Some(name) = secret_dbname {
        check_database_name(name).map_err(|why| {
            format!("the secret's `dbname`: {why}; set `Database` to override it")
        })?;
        return Ok((name.to_owned(), DatabaseFrom::Secret));
    }
    match engine {
        Engine::Postgres => Ok(("postgres".to_owned(), DatabaseFrom::EngineDefault)),
        Engine::MySql => Err(
            "the secret has no `dbname` and the resource no `Database`, and MySQL has no default database to migrate: set `Database`"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_no_credentials_and_round_trip() {
        let t = Target::new(Engine::Postgres, "DB.Example.com", 5432, "app_dev");
        assert_eq!(t.physical_id(), "postgres://db.example.com:5432/app_dev");
        assert_eq!(Target::parse(&t.physical_id()), Some(t));
        let t = Target::new(Engine::MySql, "::1", 3306, "app");
        assert_eq!(t.physical_id(), "mysql://[::1]:3306/app");
        assert_eq!(Target::parse(&t.physical_id()), Some(t.clone()));
        assert_eq!(t.server(), "[::1]:3306");
    }

    #[test]
    fn host_port_or_database_change_the_id() {
        let base = Target::new(Engine::Postgres, "h", 5432, "app").physical_id();
        for other in [
            Target::new(Engine::Postgres, "h2", 5432, "app"),
            Target::new(Engine::Postgres, "h", 5433, "app"),
            Target::new(Engine::Postgres, "h", 5432, "app2"),
            Target::new(Engine::MySql, "h", 5432, "app"),
        ] {
            assert_ne!(other.physical_id(), base);
        }
        assert_eq!(
            Target::new(Engine::Postgres, " H ", 5432, "app").physical_id(),
            base
        );
    }

    #[test]
    fn foreign_ids_are_not_parsed() {
        for id in [
            "stackwright:create-failed:Db:r-1",
            "postgres://u:pw@h:5432/app",
            "postgres://h/app",
            "postgres://h:0/app",
            "postgres://h:5432/",
            "postgres://h:5432/a.b",
            "oracle://h:1521/app",
            "app-dev-Db-1a2b3c",
        ] {
            assert_eq!(Target::parse(id), None, "{id}");
        }
    }

    #[test]
    fn the_database_comes_from_the_property_then_the_secret_then_the_engine() {
        assert_eq!(
            choose_database(Engine::Postgres, Some("a"), Some("b")).unwrap(),
            ("a".into(), DatabaseFrom::Property)
        );
        assert_eq!(
            choose_database(Engine::MySql, None, Some("b")).unwrap(),
            ("b".into(), DatabaseFrom::Secret)
        );
        assert_eq!(
            choose_database(Engine::Postgres, None, None).unwrap(),
            ("postgres".into(), DatabaseFrom::EngineDefault)
        );
        assert!(
            choose_database(Engine::MySql, None, None)
                .unwrap_err()
                .contains("set `Database`")
        );
        assert!(
            choose_database(Engine::Postgres, None, Some("a b"))
                .unwrap_err()
                .starts_with("the secret's `dbname`")
        );
    }
}
