//! The decisions, plain functions of plain data: the privileges a list of grants means on an
//! engine, what an Update revokes and grants, and the SQL that makes a user, changes it, or
//! drops it. Nothing here connects; every identifier is quoted and every literal escaped.

use std::collections::{BTreeMap, BTreeSet};

use db_migration::secret::Engine;
use db_migration::store::{quote_mysql, quote_pg};

use crate::properties::{Grant, Privileges, Tables};

/// What one privilege is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum On {
    /// PostgreSQL: the schema itself (`USAGE`, needed to reach anything in it).
    Schema(String),
    /// Every table in the schema (MySQL: the database), and those created later.
    AllTables(String),
    /// PostgreSQL: every sequence in the schema, and those created later.
    AllSequences(String),
    /// One table in a schema (MySQL: a database).
    Table(String, String),
}

/// One privilege on one object: the unit grants are compared in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Privilege {
    /// The object.
    pub on: On,
    /// `SELECT`, `USAGE`…
    pub privilege: String,
}

/// The privileges `grants` mean on `engine`; `default_schema` is where a grant without
/// `Schema` applies (PostgreSQL: `public`; MySQL: the resource's database).
///
/// # Errors
///
/// A privilege the engine does not have on tables (`TRUNCATE` on MySQL, `INDEX` on
/// PostgreSQL), named with the grant's place in the list.
pub fn expand(
    engine: Engine,
    grants: &[Grant],
    default_schema: &str,
) -> Result<BTreeSet<Privilege>, String> {
    let mut out = BTreeSet::new();
    for (i, grant) in grants.iter().enumerate() {
        let schema = grant.schema.as_deref().unwrap_or(default_schema).to_owned();
        let on_tables: Vec<&str> = match &grant.privileges {
            Privileges::ReadOnly => vec!["SELECT"],
            Privileges::ReadWrite => vec!["DELETE", "INSERT", "SELECT", "UPDATE"],
            Privileges::List(list) => list.iter().map(String::as_str).collect(),
        };
        for p in &on_tables {
            let fits = match engine {
                Engine::Postgres => !matches!(*p, "CREATE" | "ALTER" | "INDEX"),
                Engine::MySql => *p != "TRUNCATE",
            };
            if !fits {
                return Err(format!(
                    "`Grants.{i}.Privileges` names `{p}`, which {engine} has no table privilege for"
                ));
            }
        }
        let mut add = |on: On, p: &str| {
            out.insert(Privilege {
                on,
                privilege: p.to_owned(),
            });
        };
        if engine == Engine::Postgres {
            add(On::Schema(schema.clone()), "USAGE");
        }
        match &grant.tables {
            Tables::All => {
                for p in &on_tables {
                    add(On::AllTables(schema.clone()), p);
                }
                if engine == Engine::Postgres && grant.privileges == Privileges::ReadWrite {
                    // `serial` columns take their values from a sequence the writer needs.
                    add(On::AllSequences(schema.clone()), "SELECT");
                    add(On::AllSequences(schema.clone()), "USAGE");
                }
            }
            Tables::Named(names) => {
                for name in names {
                    for p in &on_tables {
                        add(On::Table(schema.clone(), name.clone()), p);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// What an Update does to the grants: revoke what the old properties granted and the new do
/// not, then grant everything the new ones do. Granting what is already held changes nothing
/// on either engine, and granting all of it (not only what was added) also restores what a
/// broader revoke took (revoking `ALL TABLES` takes a named table's privilege too) and what
/// someone revoked by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantChange {
    /// Held before, not wanted now.
    pub revoke: BTreeSet<Privilege>,
    /// Everything wanted now.
    pub grant: BTreeSet<Privilege>,
    /// How many of `grant` are new (for the log).
    pub added: usize,
}

/// The change from `old` to `new`. A rollback is the same function with the two swapped.
pub fn diff(old: &BTreeSet<Privilege>, new: &BTreeSet<Privilege>) -> GrantChange {
    GrantChange {
        revoke: old.difference(new).cloned().collect(),
        grant: new.clone(),
        added: new.difference(old).count(),
    }
}

/// A short summary of the grants for `Data.Grants`: `ReadOnly public.*; INSERT,SELECT sales.a,b`.
pub fn summary(grants: &[Grant], default_schema: &str) -> String {
    if grants.is_empty() {
        return "none".into();
    }
    let text = grants
        .iter()
        .map(|g| {
            let privileges = match &g.privileges {
                Privileges::ReadOnly => "ReadOnly".to_owned(),
                Privileges::ReadWrite => "ReadWrite".to_owned(),
                Privileges::List(list) => list.join(","),
            };
            let tables = match &g.tables {
                Tables::All => "*".to_owned(),
                Tables::Named(names) => names.join(","),
            };
            format!(
                "{privileges} {}.{tables}",
                g.schema.as_deref().unwrap_or(default_schema)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    if text.chars().count() > 256 {
        format!("{}…", text.chars().take(255).collect::<String>())
    } else {
        text
    }
}

/// One statement of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// A `REVOKE` of a grant that may be gone already: MySQL refuses one (error 1141), which
    /// the executor then ignores, so a re-delivered Update converges.
    pub revoke: bool,
}

impl Statement {
    fn run(sql: String) -> Self {
        Self { sql, revoke: false }
    }
    fn revoke(sql: String) -> Self {
        Self { sql, revoke: true }
    }
}

/// How the user logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login<'a> {
    /// With a password, given as the engine's stored form ([`crate::password`]): the SCRAM
    /// verifier on PostgreSQL, the `mysql_native_password` hash on MySQL.
    Stored(&'a str),
    /// MySQL 8.0 and later: the `caching_sha2_password` string
    /// ([`crate::password::caching_sha2_string`]) as lower-case hex, sent as a hex literal
    /// (its salt may hold any byte). Built only for MySQL; were it given to PostgreSQL, the
    /// server would store a password no one knows (refusing logins, never allowing one).
    CachingSha2(&'a str),
    /// RDS IAM authentication, no password.
    Iam,
}

/// What to do to the user itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensure<'a> {
    /// It does not exist: create it.
    Create(Login<'a>),
    /// It exists: set its options, and its login when `Some` (`None`: the password in the
    /// secret logs in already, nothing to change).
    Alter {
        /// The login to set.
        login: Option<Login<'a>>,
        /// Whether it is a member of `rds_iam` now (PostgreSQL), so that moving to a
        /// password takes that away.
        has_rds_iam: bool,
    },
}

/// A user as the server has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    /// PostgreSQL: a member of `rds_iam`; MySQL: uses `AWSAuthenticationPlugin`.
    pub iam: bool,
}

/// Why an existing user is not adopted.
pub const NOT_IAM: &str = "it does not use IAM authentication";
/// Why an existing user is not adopted.
pub const PASSWORD_DOES_NOT_LOG_IN: &str =
    "the user secret's current password does not log in as it";

/// What to do to the user: create it when it does not exist; otherwise change it, setting the
/// login only where needed (`logs_in`: the secret's password logs in now, never asked with
/// [`Login::Iam`]). When the physical id is new (`is_new`: a Create or a replacement), an
/// existing user is someone else's unless the secret proves otherwise: adopted only when the
/// secret's password logs in as it, or with IAM when it already uses IAM.
///
/// # Errors
///
/// Why an existing user is not adopted ([`NOT_IAM`], [`PASSWORD_DOES_NOT_LOG_IN`]).
pub fn ensure<'a>(
    engine: Engine,
    existing: Option<Existing>,
    is_new: bool,
    login: Login<'a>,
    logs_in: bool,
) -> Result<Ensure<'a>, &'static str> {
    let Some(found) = existing else {
        return Ok(Ensure::Create(login));
    };
    let iam = login == Login::Iam;
    if is_new {
        if iam && !found.iam {
            return Err(NOT_IAM);
        }
        if !iam && !logs_in {
            return Err(PASSWORD_DOES_NOT_LOG_IN);
        }
    }
    Ok(Ensure::Alter {
        login: (iam || !logs_in).then_some(login),
        has_rds_iam: found.iam && engine == Engine::Postgres,
    })
}

/// The statement that sets a user's login and nothing else (the rotation function's
/// `setSecret`): PostgreSQL `ALTER ROLE … PASSWORD '<verifier>'`, MySQL `ALTER USER …
/// IDENTIFIED WITH … AS '<hash>'`.
pub fn set_login_statement(engine: Engine, user: &str, login: Login<'_>) -> Statement {
    match (engine, login) {
        (Engine::Postgres, Login::Stored(verifier) | Login::CachingSha2(verifier)) => {
            Statement::run(format!(
                "ALTER ROLE {} WITH PASSWORD {}",
                quote_pg(user),
                pg_literal(verifier)
            ))
        }
        (Engine::Postgres, Login::Iam) => {
            Statement::run(format!("ALTER ROLE {} WITH PASSWORD NULL", quote_pg(user)))
        }
        (Engine::MySql, login) => Statement::run(format!(
            "ALTER USER {}{}",
            mysql_account(user),
            mysql_identified(login)
        )),
    }
}

/// What a user's clone (alternating rotation) is called: `<user>_clone`.
pub const CLONE_SUFFIX: &str = "_clone";

/// PostgreSQL: the statements that make `clone` log in with `verifier` as a stand-in for
/// `base` (alternating rotation's other login): made when missing (`exists: false`), its
/// password set, a member of `base` (`GRANT base TO clone`: it holds whatever `base` is
/// granted, now and later), and its sessions acting as `base` (`ALTER ROLE … SET role`), so
/// what it creates is owned by `base` and `base`'s default privileges apply to it.
pub fn pg_clone_statements(
    base: &str,
    clone: &str,
    verifier: &str,
    exists: bool,
) -> Vec<Statement> {
    let (b, c) = (quote_pg(base), quote_pg(clone));
    let verb = if exists { "ALTER" } else { "CREATE" };
    vec![
        Statement::run(format!(
            "{verb} ROLE {c} WITH LOGIN PASSWORD {}",
            pg_literal(verifier)
        )),
        Statement::run(format!("GRANT {b} TO {c}")),
        Statement::run(format!("ALTER ROLE {c} SET role = {}", pg_literal(base))),
    ]
}

/// MySQL and MariaDB: the statements that make `clone` log in with `login` and hold exactly
/// `base`'s grants (`grants`: what `SHOW GRANTS FOR base` says, rewritten for the clone by
/// [`mysql_grant_for`]): made when missing (`exists: false`) or its login set, everything it
/// held revoked, then `base`'s grants given. Run on every rotation to the clone, so grants
/// taken from `base` since are taken from the clone too.
pub fn mysql_clone_statements(
    clone: &str,
    login: Login<'_>,
    exists: bool,
    grants: &[String],
) -> Vec<Statement> {
    let account = mysql_account(clone);
    let mut out = vec![
        Statement::run(format!(
            "{} USER {account}{}",
            if exists { "ALTER" } else { "CREATE" },
            mysql_identified(login)
        )),
        Statement::revoke(format!(
            "REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}"
        )),
    ];
    out.extend(grants.iter().cloned().map(Statement::run));
    out
}

/// One line of `SHOW GRANTS FOR base` as the grant of the same to `clone`: the grantee
/// `` `base`@`%` `` replaced and any `IDENTIFIED …` clause (MariaDB shows the password hash
/// there) left out, so the clone keeps its own password. `None` for a line of another shape,
/// which the caller refuses without showing it (it may hold a hash).
pub fn mysql_grant_for(line: &str, base: &str, clone: &str) -> Option<String> {
    if !line.starts_with("GRANT ") {
        return None;
    }
    let grantee = format!(" TO `{base}`@`%`");
    let (head, tail) = line.split_once(&grantee)?;
    if tail.contains(&grantee) {
        return None;
    }
    let tail = match tail.find(" IDENTIFIED ") {
        Some(at) => {
            let rest = &tail[at + 1..];
            let end = [" REQUIRE ", " WITH "]
                .iter()
                .filter_map(|k| rest.find(k))
                .min()
                .unwrap_or(rest.len());
            format!("{}{}", &tail[..at], &rest[end..])
        }
        None => tail.to_owned(),
    };
    Some(format!("{head} TO `{clone}`@`%`{tail}"))
}

/// Everything a Create or Update does to one user.
#[derive(Debug, Clone)]
pub struct UserPlan<'a> {
    /// The engine.
    pub engine: Engine,
    /// The user's name (checked with [`crate::properties::check_name`]).
    pub user: &'a str,
    /// The admin user: the role that runs the migrations, whose future tables the
    /// PostgreSQL default privileges cover.
    pub admin: &'a str,
    /// The database the grants apply in.
    pub database: &'a str,
    /// What to do to the user.
    pub ensure: Ensure<'a>,
    /// `ConnectionLimit`.
    pub connection_limit: Option<u64>,
    /// The grants.
    pub grants: &'a GrantChange,
}

/// A PostgreSQL string literal (standard_conforming_strings: only `'` is special).
pub fn pg_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A MySQL string literal.
fn mysql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// `'user'@'%'`.
pub fn mysql_account(user: &str) -> String {
    format!("{}@'%'", mysql_literal(user))
}

/// The statements of a Create or Update, in order: the user, then the revokes, then the
/// grants.
pub fn user_statements(plan: &UserPlan<'_>) -> Vec<Statement> {
    let mut out = Vec::new();
    match plan.engine {
        Engine::Postgres => pg_user(plan, &mut out),
        Engine::MySql => mysql_user(plan, &mut out),
    }
    for (on, privileges) in grouped(&plan.grants.revoke) {
        out.extend(grant_sql(plan, &on, &privileges, false));
    }
    for (on, privileges) in grouped(&plan.grants.grant) {
        out.extend(grant_sql(plan, &on, &privileges, true));
    }
    out
}

/// The statements that take away, in one database, everything `held` grants there (and, on
/// PostgreSQL, `CONNECT` on it), leaving the user itself: the Delete of a replaced id whose
/// user the new id still uses. `plan.ensure` and `plan.grants` are not read.
pub fn revoke_statements(plan: &UserPlan<'_>, held: &BTreeSet<Privilege>) -> Vec<Statement> {
    let mut out = Vec::new();
    for (on, privileges) in grouped(held) {
        out.extend(grant_sql(plan, &on, &privileges, false));
    }
    if plan.engine == Engine::Postgres {
        out.push(Statement::revoke(format!(
            "REVOKE CONNECT ON DATABASE {} FROM {}",
            quote_pg(plan.database),
            quote_pg(plan.user)
        )));
    }
    out
}

fn pg_user(plan: &UserPlan<'_>, out: &mut Vec<Statement>) {
    let user = quote_pg(plan.user);
    let limit = plan
        .connection_limit
        .map_or_else(|| "-1".to_owned(), |n| n.to_string());
    let password = |login: Login<'_>| match login {
        Login::Stored(verifier) | Login::CachingSha2(verifier) => {
            format!(" PASSWORD {}", pg_literal(verifier))
        }
        Login::Iam => " PASSWORD NULL".to_owned(),
    };
    let login = match plan.ensure {
        Ensure::Create(login) => {
            out.push(Statement::run(format!(
                "CREATE ROLE {user} WITH LOGIN{} CONNECTION LIMIT {limit}",
                password(login)
            )));
            Some(login)
        }
        Ensure::Alter { login, has_rds_iam } => {
            out.push(Statement::run(format!(
                "ALTER ROLE {user} WITH LOGIN{} CONNECTION LIMIT {limit}",
                login.map(password).unwrap_or_default()
            )));
            if has_rds_iam && matches!(login, Some(Login::Stored(_) | Login::CachingSha2(_))) {
                out.push(Statement::run(format!("REVOKE \"rds_iam\" FROM {user}")));
            }
            login
        }
    };
    if login == Some(Login::Iam) {
        out.push(Statement::run(format!("GRANT \"rds_iam\" TO {user}")));
    }
    out.push(Statement::run(format!(
        "GRANT CONNECT ON DATABASE {} TO {user}",
        quote_pg(plan.database)
    )));
}

fn mysql_user(plan: &UserPlan<'_>, out: &mut Vec<Statement>) {
    let account = mysql_account(plan.user);
    let limit = plan.connection_limit.unwrap_or(0);
    let identified = mysql_identified;
    match plan.ensure {
        Ensure::Create(login) => out.push(Statement::run(format!(
            "CREATE USER {account}{} WITH MAX_USER_CONNECTIONS {limit}",
            identified(login)
        ))),
        Ensure::Alter { login, .. } => out.push(Statement::run(format!(
            "ALTER USER {account}{} WITH MAX_USER_CONNECTIONS {limit}",
            login.map(identified).unwrap_or_default()
        ))),
    }
}

/// ` IDENTIFIED WITH … AS …` for a MySQL login.
fn mysql_identified(login: Login<'_>) -> String {
    match login {
        Login::Stored(hash) => format!(
            " IDENTIFIED WITH mysql_native_password AS {}",
            mysql_literal(hash)
        ),
        Login::CachingSha2(hex)
            if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            format!(" IDENTIFIED WITH caching_sha2_password AS 0x{hex}")
        }
        // Not hex: never interpolated. A literal no hash matches: the server refuses the
        // login rather than allowing one.
        Login::CachingSha2(_) => " IDENTIFIED WITH caching_sha2_password AS ''".to_owned(),
        Login::Iam => " IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'".to_owned(),
    }
}

/// Privileges grouped by object, so each object gets one statement.
fn grouped(privileges: &BTreeSet<Privilege>) -> BTreeMap<On, Vec<String>> {
    let mut map: BTreeMap<On, Vec<String>> = BTreeMap::new();
    for p in privileges {
        map.entry(p.on.clone())
            .or_default()
            .push(p.privilege.clone());
    }
    map
}

fn grant_sql(plan: &UserPlan<'_>, on: &On, privileges: &[String], grant: bool) -> Vec<Statement> {
    let list = privileges.join(", ");
    let (verb, to) = if grant {
        ("GRANT", "TO")
    } else {
        ("REVOKE", "FROM")
    };
    let make = |sql: String| {
        if grant {
            Statement::run(sql)
        } else {
            Statement::revoke(sql)
        }
    };
    match plan.engine {
        Engine::Postgres => {
            let user = quote_pg(plan.user);
            let default = |schema: &str, kind: &str| {
                make(format!(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} {verb} {list} ON {kind} {to} {user}",
                    quote_pg(plan.admin),
                    quote_pg(schema)
                ))
            };
            match on {
                On::Schema(s) => vec![make(format!(
                    "{verb} {list} ON SCHEMA {} {to} {user}",
                    quote_pg(s)
                ))],
                On::AllTables(s) => vec![
                    make(format!(
                        "{verb} {list} ON ALL TABLES IN SCHEMA {} {to} {user}",
                        quote_pg(s)
                    )),
                    default(s, "TABLES"),
                ],
                On::AllSequences(s) => vec![
                    make(format!(
                        "{verb} {list} ON ALL SEQUENCES IN SCHEMA {} {to} {user}",
                        quote_pg(s)
                    )),
                    default(s, "SEQUENCES"),
                ],
                On::Table(s, t) => vec![make(format!(
                    "{verb} {list} ON TABLE {}.{} {to} {user}",
                    quote_pg(s),
                    quote_pg(t)
                ))],
            }
        }
        Engine::MySql => {
            let account = mysql_account(plan.user);
            let object = match on {
                On::AllTables(db) => format!("{}.*", quote_mysql(db)),
                On::Table(db, t) => format!("{}.{}", quote_mysql(db), quote_mysql(t)),
                // Never produced for MySQL by `expand`.
                On::Schema(_) | On::AllSequences(_) => return Vec::new(),
            };
            vec![make(format!("{verb} {list} ON {object} {to} {account}"))]
        }
    }
}

/// The statements that drop a user that exists: on PostgreSQL, what it owns in the current
/// database goes to `reassign_to`, its privileges there (and on shared objects) are dropped,
/// then the role; on MySQL, the account.
pub fn drop_statements(engine: Engine, user: &str, reassign_to: Option<&str>) -> Vec<Statement> {
    match engine {
        Engine::Postgres => {
            let user = quote_pg(user);
            // REASSIGN OWNED and DROP OWNED need the privileges of the role they act on; an RDS
            // master user is no superuser and, from PostgreSQL 16, holds only ADMIN OPTION on
            // the roles it made. The membership goes with the role.
            let mut out = vec![Statement::run(format!("GRANT {user} TO CURRENT_USER"))];
            if let Some(to) = reassign_to {
                out.push(Statement::run(format!(
                    "REASSIGN OWNED BY {user} TO {}",
                    quote_pg(to)
                )));
            }
            out.push(Statement::run(format!("DROP OWNED BY {user}")));
            out.push(Statement::run(format!("DROP ROLE {user}")));
            out
        }
        Engine::MySql => vec![Statement::run(format!(
            "DROP USER IF EXISTS {}",
            mysql_account(user)
        ))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::parse_properties;

    fn grants(json: serde_json::Value) -> Vec<Grant> {
        parse_properties(
            &serde_json::json!({"SecretArn": "a", "UserSecretArn": "u", "Grants": json}),
        )
        .unwrap()
        .grants
    }

    fn pg(json: serde_json::Value) -> BTreeSet<Privilege> {
        expand(Engine::Postgres, &grants(json), "public").unwrap()
    }

    fn sql(statements: &[Statement]) -> Vec<&str> {
        statements.iter().map(|s| s.sql.as_str()).collect()
    }

    fn plan<'a>(engine: Engine, ensure: Ensure<'a>, change: &'a GrantChange) -> UserPlan<'a> {
        UserPlan {
            engine,
            user: "app",
            admin: "admin",
            database: "appdb",
            ensure,
            connection_limit: None,
            grants: change,
        }
    }

    #[test]
    fn read_only_on_every_table_is_select_now_and_later_with_usage_on_the_schema() {
        let change = diff(
            &BTreeSet::new(),
            &pg(serde_json::json!([{"Privileges": "ReadOnly"}])),
        );
        let p = plan(
            Engine::Postgres,
            Ensure::Create(Login::Stored("SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg==")),
            &change,
        );
        assert_eq!(
            sql(&user_statements(&p)),
            [
                "CREATE ROLE \"app\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg==' CONNECTION LIMIT -1",
                "GRANT CONNECT ON DATABASE \"appdb\" TO \"app\"",
                "GRANT USAGE ON SCHEMA \"public\" TO \"app\"",
                "GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"app\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" GRANT SELECT ON TABLES TO \"app\"",
            ]
        );
    }

    #[test]
    fn read_write_adds_the_writes_and_the_sequences_and_its_rollback_revokes_only_those() {
        let ro = pg(serde_json::json!([{"Privileges": "ReadOnly"}]));
        let rw = pg(serde_json::json!([{"Privileges": "ReadWrite"}]));
        let up = diff(&ro, &rw);
        assert!(up.revoke.is_empty());
        assert_eq!(up.added, 5);
        let back = diff(&rw, &ro);
        assert_eq!(back.grant, ro);
        let p = plan(
            Engine::Postgres,
            Ensure::Alter {
                login: None,
                has_rds_iam: false,
            },
            &back,
        );
        let statements = user_statements(&p);
        let revokes: Vec<&str> = statements
            .iter()
            .filter(|s| s.revoke)
            .map(|s| s.sql.as_str())
            .collect();
        assert_eq!(
            revokes,
            [
                "REVOKE DELETE, INSERT, UPDATE ON ALL TABLES IN SCHEMA \"public\" FROM \"app\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" REVOKE DELETE, INSERT, UPDATE ON TABLES FROM \"app\"",
                "REVOKE SELECT, USAGE ON ALL SEQUENCES IN SCHEMA \"public\" FROM \"app\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" REVOKE SELECT, USAGE ON SEQUENCES FROM \"app\"",
            ]
        );
        // The revokes come before the grants, which restate everything still wanted.
        let first_grant = statements
            .iter()
            .position(|s| s.sql.starts_with("GRANT USAGE"))
            .unwrap();
        assert!(statements.iter().rposition(|s| s.revoke).unwrap() < first_grant);
        assert_eq!(
            statements[0].sql,
            "ALTER ROLE \"app\" WITH LOGIN CONNECTION LIMIT -1"
        );
    }

    #[test]
    fn the_same_grants_again_revoke_nothing() {
        let rw = pg(serde_json::json!([{"Privileges": "ReadWrite", "Schema": "app"}]));
        let change = diff(&rw, &rw);
        assert!(change.revoke.is_empty());
        assert_eq!(change.added, 0);
    }

    #[test]
    fn a_schema_no_longer_named_loses_its_usage() {
        let old = pg(serde_json::json!([{"Privileges": "ReadOnly", "Schema": "old"}]));
        let new = pg(serde_json::json!([{"Privileges": "ReadOnly", "Schema": "new"}]));
        let change = diff(&old, &new);
        assert!(change.revoke.contains(&Privilege {
            on: On::Schema("old".into()),
            privilege: "USAGE".into()
        }));
        assert!(
            !change
                .grant
                .iter()
                .any(|p| matches!(&p.on, On::Schema(s) | On::AllTables(s) if s == "old"))
        );
    }

    #[test]
    fn named_tables_are_quoted_one_statement_each() {
        let change = diff(
            &BTreeSet::new(),
            &pg(
                serde_json::json!([{"Privileges": ["select", "insert"], "Schema": "Sales", "Tables": ["orders", "Items"]}]),
            ),
        );
        let p = plan(
            Engine::Postgres,
            Ensure::Alter {
                login: None,
                has_rds_iam: false,
            },
            &change,
        );
        let statements = user_statements(&p);
        assert!(
            sql(&statements)
                .contains(&"GRANT INSERT, SELECT ON TABLE \"Sales\".\"Items\" TO \"app\"")
        );
        assert!(
            sql(&statements)
                .contains(&"GRANT INSERT, SELECT ON TABLE \"Sales\".\"orders\" TO \"app\"")
        );
        assert!(
            !sql(&statements)
                .iter()
                .any(|s| s.contains("DEFAULT PRIVILEGES"))
        );
    }

    #[test]
    fn mysql_grants_on_the_database_cover_later_tables_and_use_the_native_hash() {
        let g = grants(
            serde_json::json!([{"Privileges": "ReadWrite"}, {"Privileges": ["SELECT"], "Schema": "reports", "Tables": ["daily"]}]),
        );
        let change = diff(
            &BTreeSet::new(),
            &expand(Engine::MySql, &g, "appdb").unwrap(),
        );
        let mut p = plan(
            Engine::MySql,
            Ensure::Create(Login::Stored("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19")),
            &change,
        );
        p.connection_limit = Some(10);
        assert_eq!(
            sql(&user_statements(&p)),
            [
                "CREATE USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' WITH MAX_USER_CONNECTIONS 10",
                "GRANT DELETE, INSERT, SELECT, UPDATE ON `appdb`.* TO 'app'@'%'",
                "GRANT SELECT ON `reports`.`daily` TO 'app'@'%'",
            ]
        );
    }

    #[test]
    fn iam_auth_is_rds_iam_on_postgresql_and_the_aws_plugin_on_mysql() {
        let none = GrantChange::default();
        let p = plan(Engine::Postgres, Ensure::Create(Login::Iam), &none);
        assert_eq!(
            sql(&user_statements(&p))[..2],
            [
                "CREATE ROLE \"app\" WITH LOGIN PASSWORD NULL CONNECTION LIMIT -1",
                "GRANT \"rds_iam\" TO \"app\"",
            ]
        );
        let p = plan(
            Engine::MySql,
            Ensure::Alter {
                login: Some(Login::Iam),
                has_rds_iam: false,
            },
            &none,
        );
        assert_eq!(
            sql(&user_statements(&p)),
            [
                "ALTER USER 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' WITH MAX_USER_CONNECTIONS 0"
            ]
        );
        // Back to a password: rds_iam is taken away.
        let p = plan(
            Engine::Postgres,
            Ensure::Alter {
                login: Some(Login::Stored("v")),
                has_rds_iam: true,
            },
            &none,
        );
        assert!(sql(&user_statements(&p)).contains(&"REVOKE \"rds_iam\" FROM \"app\""));
    }

    #[test]
    fn a_password_that_logs_in_already_is_not_set_again() {
        let none = GrantChange::default();
        for engine in [Engine::Postgres, Engine::MySql] {
            let p = plan(
                engine,
                Ensure::Alter {
                    login: None,
                    has_rds_iam: false,
                },
                &none,
            );
            assert!(
                !user_statements(&p)[0].sql.contains("PASSWORD")
                    && !user_statements(&p)[0].sql.contains("IDENTIFIED")
            );
        }
    }

    #[test]
    fn a_user_that_does_not_exist_is_created() {
        let login = Login::Stored("v");
        for is_new in [true, false] {
            assert_eq!(
                ensure(Engine::Postgres, None, is_new, login, false),
                Ok(Ensure::Create(login))
            );
        }
    }

    #[test]
    fn an_existing_user_is_adopted_on_create_only_when_the_secret_logs_in_as_it() {
        let found = Some(Existing { iam: false });
        let login = Login::Stored("v");
        assert_eq!(
            ensure(Engine::MySql, found, true, login, false),
            Err(PASSWORD_DOES_NOT_LOG_IN)
        );
        assert_eq!(
            ensure(Engine::MySql, found, true, login, true),
            Ok(Ensure::Alter {
                login: None,
                has_rds_iam: false
            })
        );
        assert_eq!(
            ensure(Engine::Postgres, found, true, Login::Iam, false),
            Err(NOT_IAM)
        );
        assert_eq!(
            ensure(
                Engine::Postgres,
                Some(Existing { iam: true }),
                true,
                Login::Iam,
                false
            ),
            Ok(Ensure::Alter {
                login: Some(Login::Iam),
                has_rds_iam: true
            })
        );
    }

    #[test]
    fn on_update_a_password_is_set_only_when_it_no_longer_logs_in() {
        let found = Some(Existing { iam: false });
        let login = Login::Stored("v");
        assert_eq!(
            ensure(Engine::Postgres, found, false, login, false),
            Ok(Ensure::Alter {
                login: Some(login),
                has_rds_iam: false
            })
        );
        assert_eq!(
            ensure(Engine::Postgres, found, false, login, true),
            Ok(Ensure::Alter {
                login: None,
                has_rds_iam: false
            })
        );
        // From IAM back to a password: rds_iam is taken away, on PostgreSQL only.
        let iam = Some(Existing { iam: true });
        assert_eq!(
            ensure(Engine::Postgres, iam, false, login, false),
            Ok(Ensure::Alter {
                login: Some(login),
                has_rds_iam: true
            })
        );
        assert_eq!(
            ensure(Engine::MySql, iam, false, login, false),
            Ok(Ensure::Alter {
                login: Some(login),
                has_rds_iam: false
            })
        );
    }

    #[test]
    fn setting_a_login_alone_sends_the_stored_form() {
        assert_eq!(
            set_login_statement(
                Engine::Postgres,
                "app",
                Login::Stored("SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg==")
            )
            .sql,
            "ALTER ROLE \"app\" WITH PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg=='"
        );
        assert_eq!(
            set_login_statement(Engine::MySql, "app", Login::Stored("*AB")).sql,
            "ALTER USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '*AB'"
        );
        assert_eq!(
            set_login_statement(Engine::MySql, "app", Login::Iam).sql,
            "ALTER USER 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"
        );
    }

    #[test]
    fn a_replaced_database_loses_every_grant_and_connect_but_not_the_user() {
        let held = pg(serde_json::json!([{"Privileges": "ReadOnly"}]));
        let none = GrantChange::default();
        let p = plan(
            Engine::Postgres,
            Ensure::Alter {
                login: None,
                has_rds_iam: false,
            },
            &none,
        );
        let statements = revoke_statements(&p, &held);
        assert!(statements.iter().all(|s| s.revoke));
        assert_eq!(
            sql(&statements),
            [
                "REVOKE USAGE ON SCHEMA \"public\" FROM \"app\"",
                "REVOKE SELECT ON ALL TABLES IN SCHEMA \"public\" FROM \"app\"",
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"admin\" IN SCHEMA \"public\" REVOKE SELECT ON TABLES FROM \"app\"",
                "REVOKE CONNECT ON DATABASE \"appdb\" FROM \"app\"",
            ]
        );
    }

    #[test]
    fn literals_and_names_cannot_break_out_of_their_quotes() {
        assert_eq!(pg_literal("a'b"), "'a''b'");
        assert_eq!(mysql_literal("a'b\\"), "'a''b\\\\'");
        assert_eq!(mysql_account("x'y"), "'x''y'@'%'");
        assert_eq!(quote_pg("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn privileges_the_engine_lacks_are_refused() {
        let g =
            grants(serde_json::json!([{"Privileges": "ReadOnly"}, {"Privileges": ["TRUNCATE"]}]));
        assert!(
            expand(Engine::MySql, &g, "db")
                .unwrap_err()
                .contains("`Grants.1.Privileges` names `TRUNCATE`")
        );
        let g = grants(serde_json::json!([{"Privileges": ["INDEX"]}]));
        assert!(expand(Engine::Postgres, &g, "public").is_err());
    }

    #[test]
    fn dropping_takes_the_role_s_privileges_reassigns_then_drops_owned_then_the_role() {
        assert_eq!(
            sql(&drop_statements(Engine::Postgres, "app", Some("owner"))),
            [
                "GRANT \"app\" TO CURRENT_USER",
                "REASSIGN OWNED BY \"app\" TO \"owner\"",
                "DROP OWNED BY \"app\"",
                "DROP ROLE \"app\""
            ]
        );
        assert_eq!(
            sql(&drop_statements(Engine::MySql, "app", None)),
            ["DROP USER IF EXISTS 'app'@'%'"]
        );
    }

    #[test]
    fn the_summary_is_short_and_names_presets() {
        let g = grants(
            serde_json::json!([{"Privileges": "ReadOnly"}, {"Privileges": ["INSERT", "SELECT"], "Schema": "sales", "Tables": ["b", "a"]}]),
        );
        assert_eq!(
            summary(&g, "public"),
            "ReadOnly public.*; INSERT,SELECT sales.a,b"
        );
        assert_eq!(summary(&[], "public"), "none");
    }

    /// MySQL 8's form, as SQL text (no MySQL server here to run it): the stored string of
    /// `password` with the salt of hashcat's published example, as a hex literal.
    #[test]
    fn mysql_8_gets_the_caching_sha2_string_as_a_hex_literal() {
        let salt: [u8; 20] = [
            0xF9, 0xCC, 0x98, 0xCE, 0x08, 0x89, 0x29, 0x24, 0xF5, 0x0A, 0x21, 0x3B, 0x6B, 0xC5,
            0x71, 0xA2, 0xC1, 0x17, 0x78, 0xC5,
        ];
        let stored = crate::password::caching_sha2_string("hashcat", &salt);
        let hex: String = stored.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            set_login_statement(Engine::MySql, "app", Login::CachingSha2(&hex)).sql,
            "ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password AS \
             0x24412430303524f9cc98ce08892924f50a213b6bc571a2c11778c5\
             625479393559393965414d45316477456b484f41316e64484742577a2e3162785353526b7554584647562f"
        );
        let none = GrantChange::default();
        let p = plan(
            Engine::MySql,
            Ensure::Create(Login::CachingSha2("2441")),
            &none,
        );
        assert_eq!(
            sql(&user_statements(&p))[0],
            "CREATE USER 'app'@'%' IDENTIFIED WITH caching_sha2_password AS 0x2441 WITH MAX_USER_CONNECTIONS 0"
        );
        assert!(
            set_login_statement(
                Engine::MySql,
                "app",
                Login::CachingSha2("'; DROP USER x; --")
            )
            .sql
            .ends_with("AS ''")
        );
    }

    #[test]
    fn a_postgres_clone_is_a_member_of_the_user_and_acts_as_it() {
        assert_eq!(
            sql(&pg_clone_statements(
                "app",
                "app_clone",
                "SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg==",
                false
            )),
            [
                "CREATE ROLE \"app_clone\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$YQ==:Yg=='",
                "GRANT \"app\" TO \"app_clone\"",
                "ALTER ROLE \"app_clone\" SET role = 'app'",
            ]
        );
        assert!(
            pg_clone_statements("app", "app_clone", "v", true)[0]
                .sql
                .starts_with("ALTER ROLE \"app_clone\" WITH LOGIN PASSWORD 'v'")
        );
    }

    #[test]
    fn a_mysql_clone_gets_exactly_the_users_grants_and_its_own_password() {
        let grants: Vec<String> = [
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19' WITH MAX_USER_CONNECTIONS 50",
            "GRANT SELECT, INSERT ON `appdb`.* TO `app`@`%`",
            "GRANT SELECT (`a`) ON `appdb`.`t` TO `app`@`%` WITH GRANT OPTION",
            "GRANT `reader` TO `app`@`%`",
        ]
        .iter()
        .map(|line| mysql_grant_for(line, "app", "app_clone").unwrap())
        .collect();
        assert_eq!(
            grants,
            [
                "GRANT USAGE ON *.* TO `app_clone`@`%` WITH MAX_USER_CONNECTIONS 50",
                "GRANT SELECT, INSERT ON `appdb`.* TO `app_clone`@`%`",
                "GRANT SELECT (`a`) ON `appdb`.`t` TO `app_clone`@`%` WITH GRANT OPTION",
                "GRANT `reader` TO `app_clone`@`%`",
            ]
        );
        let statements = mysql_clone_statements("app_clone", Login::Stored("*ABC"), false, &grants);
        assert_eq!(
            sql(&statements[..2]),
            [
                "CREATE USER 'app_clone'@'%' IDENTIFIED WITH mysql_native_password AS '*ABC'",
                "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'app_clone'@'%'",
            ]
        );
        assert!(
            statements[1].revoke,
            "a clone that holds nothing yet is no error"
        );
        assert_eq!(statements.len(), 6);
        assert!(
            mysql_clone_statements("app_clone", Login::Stored("*ABC"), true, &[])[0]
                .sql
                .starts_with("ALTER USER 'app_clone'@'%' IDENTIFIED WITH")
        );
        // Lines of another shape, or for another grantee, are not rewritten.
        for line in [
            "REVOKE SELECT ON *.* FROM `app`@`%`",
            "GRANT SELECT ON *.* TO `other`@`%`",
            "GRANT SELECT ON *.* TO `app`@`localhost`",
        ] {
            assert_eq!(mysql_grant_for(line, "app", "app_clone"), None, "{line}");
        }
    }
}
