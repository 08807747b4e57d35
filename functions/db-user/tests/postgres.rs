//! `Custom::DatabaseUser` on PostgreSQL: the real binary under the harness, a throwaway
//! cluster that checks passwords (scram-sha-256) and logs every statement, moto's Secrets
//! Manager. Every invocation is checked for leaked passwords (`Env::respond`).

mod common;

use common::*;
use serde_json::{Value, json};
use sqlx::Connection;

fn data<'a>(response: &'a Value, key: &str) -> &'a str {
    response["Data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no Data.{key} in {response:#}"))
}

struct Fixture {
    env: Env,
    pg: ScramCluster,
    admin_arn: String,
    user_arn: String,
    password: String,
}

/// A cluster with database `app` (table `items` with a serial key, one row), an admin secret
/// and a user secret for `app_user`.
async fn fixture(stack: &str, user: &str) -> Fixture {
    let env = Env::new(stack).await;
    let pg = ScramCluster::start();
    pg.exec("postgres", "CREATE DATABASE app").await;
    pg.exec(
        "app",
        "CREATE TABLE items (id SERIAL PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items (name) VALUES ('first')",
    )
    .await;
    let admin_arn = env.secret("admin", &pg.admin_secret("postgres")).await;
    let password = password();
    let user_arn = env
        .secret(
            "user",
            &json!({
                "engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": user,
                "password": password, "dbname": "app", "masterarn": admin_arn,
            }),
        )
        .await;
    Fixture {
        env,
        pg,
        admin_arn,
        user_arn,
        password,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_becomes_read_write_is_rolled_back_gets_a_new_password_and_is_dropped() {
    let Fixture {
        env,
        pg,
        admin_arn,
        user_arn,
        password,
    } = fixture("swu-pg-life", "app_user").await;
    let lambda = env.lambda("InsecureTls,DropUser").await;
    let read_only = json!({
        "SecretArn": admin_arn, "UserSecretArn": user_arn, "SecretVersion": "v1", "Tls": "Disable",
        "Grants": [{"Privileges": "ReadOnly", "Schema": "public", "Tables": "*"}],
        "OnDelete": "Drop", "ReassignOwnedTo": "postgres", "ConnectionLimit": "5",
    });

    // Given no user, when the stack is created: the user logs in with the secret's password,
    // can read, cannot write.
    let created = env.respond(&lambda, env.create(read_only.clone())).await;
    assert_success(&created);
    let id = format!("postgres://127.0.0.1:{}/app/app_user", pg.port);
    assert_eq!(created["PhysicalResourceId"], id.as_str());
    assert_eq!(data(&created, "Username"), "app_user");
    assert_eq!(data(&created, "Database"), "app");
    assert_eq!(data(&created, "Grants"), "ReadOnly public.*");
    let mut user = pg.login("app", "app_user", &password).await.unwrap();
    assert_eq!(pg_try(&mut user, "SELECT * FROM items").await, Ok(()));
    assert_eq!(
        pg_try(&mut user, "INSERT INTO items (name) VALUES ('x')").await,
        Err("42501".into())
    );
    // A table the admin (the role that runs the migrations) creates later is readable too.
    pg.exec(
        "app",
        "CREATE TABLE later (id INT); INSERT INTO later VALUES (1)",
    )
    .await;
    assert_eq!(pg_try(&mut user, "SELECT * FROM later").await, Ok(()));
    user.close().await.unwrap();
    let mut admin = pg.admin("app").await;
    let limit: i32 =
        sqlx::query_scalar("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app_user'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(limit, 5);
    admin.close().await.unwrap();

    // The same Create again, in another sandbox: the user exists and the secret logs in as
    // it, so it is adopted and nothing changes.
    let again = env
        .respond(
            &env.lambda("InsecureTls,DropUser").await,
            env.create(read_only.clone()),
        )
        .await;
    assert_success(&again);
    assert_eq!(again["PhysicalResourceId"], id.as_str());

    // An Update to ReadWrite: inserts work (the serial key's sequence included).
    let mut read_write = read_only.clone();
    read_write["Grants"] = json!([{"Privileges": "ReadWrite"}]);
    let updated = env
        .respond(
            &lambda,
            env.update(&id, read_write.clone(), read_only.clone()),
        )
        .await;
    assert_success(&updated);
    assert_eq!(updated["PhysicalResourceId"], id.as_str());
    assert_eq!(data(&updated, "Grants"), "ReadWrite public.*");
    let mut user = pg.login("app", "app_user", &password).await.unwrap();
    assert_eq!(
        pg_try(&mut user, "INSERT INTO items (name) VALUES ('rw')").await,
        Ok(())
    );
    assert_eq!(
        pg_try(&mut user, "INSERT INTO later VALUES (2)").await,
        Ok(())
    );
    user.close().await.unwrap();

    // The stack rolls back: the old properties again, and the writes are taken back.
    let rolled = env
        .roll_back(
            &lambda,
            env.update(&id, read_only.clone(), read_write.clone()),
        )
        .await;
    assert_success(&rolled);
    let mut user = pg.login("app", "app_user", &password).await.unwrap();
    assert_eq!(pg_try(&mut user, "SELECT * FROM items").await, Ok(()));
    assert_eq!(
        pg_try(&mut user, "INSERT INTO items (name) VALUES ('no')").await,
        Err("42501".into())
    );
    user.close().await.unwrap();

    // The seeder regenerates the password: a new version, a new SecretVersion, an Update.
    let new_password = common::password();
    env.put(
        &user_arn,
        &json!({
            "engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": "app_user",
            "password": new_password, "dbname": "app", "masterarn": admin_arn,
        }),
    )
    .await;
    let mut v2 = read_only.clone();
    v2["SecretVersion"] = json!("v2");
    let event = env.update(&id, v2.clone(), read_only.clone());
    assert_success(&env.respond(&lambda, event.clone()).await);
    assert_eq!(
        pg.login("app", "app_user", &password)
            .await
            .err()
            .and_then(|e| e
                .as_database_error()
                .and_then(|d| d.code().map(|c| c.into_owned()))),
        Some("28P01".into())
    );
    pg.login("app", "app_user", &new_password)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    // Delivered again (another sandbox): nothing changes, the password still logs in.
    let replay = env.lambda("InsecureTls,DropUser").await;
    assert_success(&env.respond(&replay, event).await);
    assert!(replay.logs().iter().all(|l| !l.contains("setting it")));
    pg.login("app", "app_user", &new_password)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    // What the user owns when it is dropped goes to ReassignOwnedTo.
    pg.exec("app", "GRANT CREATE ON SCHEMA public TO app_user")
        .await;
    let mut user = pg.login("app", "app_user", &new_password).await.unwrap();
    pg_try(&mut user, "CREATE TABLE mine (id INT)")
        .await
        .unwrap();
    user.close().await.unwrap();

    // Delete with Drop, allowed by the stage: the user is gone, its table kept.
    assert_success(&env.respond(&lambda, env.delete(&id, v2.clone())).await);
    let mut admin = pg.admin("app").await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_user')")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(!exists);
    let owner: String =
        sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'mine'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(owner, "postgres");
    admin.close().await.unwrap();
    // Delete again (a user that no longer exists): nothing to do.
    assert_success(&env.respond(&lambda, env.delete(&id, v2)).await);

    // The server saw verifiers, never a password.
    let log = pg.log();
    assert!(
        log.contains("SCRAM-SHA-256$4096:"),
        "the statements are logged"
    );
    assert!(!log.contains(&password) && !log.contains(&new_password));
    // The function's own log shows no verifier either.
    for l in [&lambda, &replay] {
        assert!(l.logs().iter().all(|line| !line.contains("SCRAM-SHA-256$")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_not_adopted_drop_without_the_switch_retains_and_iam_grants_rds_iam() {
    let Fixture {
        env,
        pg,
        admin_arn,
        user_arn,
        password,
    } = fixture("swu-pg-trust", "someone").await;
    // A user of that name exists with another password.
    pg.exec(
        "postgres",
        "CREATE ROLE someone LOGIN PASSWORD 'not-the-secret-s'",
    )
    .await;
    let lambda = env.lambda("InsecureTls").await;
    let props = json!({"SecretArn": admin_arn, "UserSecretArn": user_arn, "Tls": "Disable", "Grants": [{"Privileges": "ReadOnly"}]});
    let reason = assert_failed(&env.respond(&lambda, env.create(props.clone())).await);
    assert!(
        reason.contains("user `someone` exists") && reason.contains("does not log in"),
        "{reason}"
    );
    assert!(pg.login("app", "someone", &password).await.is_err());

    // What the stage does not allow is FAILED on Create, naming the switch.
    let strict = env.lambda("").await;
    let reason = assert_failed(&env.respond(&strict, env.create(props.clone())).await);
    assert!(reason.contains("`InsecureTls`"), "{reason}");
    let mut dropping = props.clone();
    dropping["OnDelete"] = json!("Drop");
    dropping["ReassignOwnedTo"] = json!("postgres");
    let reason = assert_failed(&env.respond(&lambda, env.create(dropping)).await);
    assert!(reason.contains("`DropUser`"), "{reason}");

    // A fresh user, retained on Delete with Drop when the stage does not allow DropUser.
    let fresh_password = common::password();
    let fresh_arn = env
        .secret(
            "fresh",
            &json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": "fresh", "password": fresh_password, "dbname": "app"}),
        )
        .await;
    let mut fresh = props.clone();
    fresh["UserSecretArn"] = json!(fresh_arn);
    let created = env.respond(&lambda, env.create(fresh.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    fresh["OnDelete"] = json!("Drop");
    fresh["ReassignOwnedTo"] = json!("postgres");
    assert_success(&env.respond(&lambda, env.delete(&id, fresh.clone())).await);
    assert!(
        lambda
            .logs()
            .iter()
            .any(|l| l.contains("does not allow `DropUser`"))
    );
    pg.login("app", "fresh", &fresh_password)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    // A Delete of a user never created, allowed to drop: nothing to do.
    let dropper = env.lambda("InsecureTls,DropUser").await;
    let never = format!("postgres://127.0.0.1:{}/app/never_made", pg.port);
    assert_success(
        &env.respond(&dropper, env.delete(&never, fresh.clone()))
            .await,
    );

    // IamAuth: the user is a member of rds_iam (made here as RDS has it) and has no password.
    pg.exec("postgres", "CREATE ROLE rds_iam").await;
    let iam_arn = env
        .secret(
            "iam",
            &json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": "iam_user", "password": common::password(), "dbname": "app"}),
        )
        .await;
    let iam = json!({"SecretArn": admin_arn, "UserSecretArn": iam_arn, "Tls": "Disable", "IamAuth": "true"});
    assert_success(&env.respond(&lambda, env.create(iam.clone())).await);
    let mut admin = pg.admin("app").await;
    let member: bool = sqlx::query_scalar("SELECT pg_has_role('iam_user', 'rds_iam', 'MEMBER')")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let no_password: bool =
        sqlx::query_scalar("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'iam_user'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    admin.close().await.unwrap();
    assert!(member && no_password);
    // Created again in another sandbox: an IAM user is adopted.
    assert_success(
        &env.respond(&env.lambda("InsecureTls").await, env.create(iam))
            .await,
    );

    // Secrets naming two servers: nothing is done.
    let elsewhere = env
        .secret(
            "elsewhere",
            &json!({"engine": "postgres", "host": "127.0.0.2", "port": pg.port, "username": "x", "password": common::password()}),
        )
        .await;
    let mut other = props.clone();
    other["UserSecretArn"] = json!(elsewhere);
    let reason = assert_failed(&env.respond(&lambda, env.create(other)).await);
    assert!(reason.contains("names the server `127.0.0.2:"), "{reason}");

    assert!(!pg.log().contains(&password) && !pg.log().contains(&fresh_password));
}

/// RDS's master user is no superuser: `CREATEROLE`, owner of the database and of the tables
/// the migrations make. The whole life cycle works with such an admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_that_is_no_superuser_as_on_rds_makes_and_drops_the_user() {
    let env = Env::new("swu-pg-master").await;
    let pg = ScramCluster::start();
    let master_password = password();
    pg.exec(
        "postgres",
        &format!("CREATE ROLE master LOGIN CREATEROLE CREATEDB PASSWORD '{master_password}'"),
    )
    .await;
    pg.exec("postgres", "CREATE DATABASE app OWNER master")
        .await;
    let mut master = pg.login("app", "master", &master_password).await.unwrap();
    pg_try(
        &mut master,
        "CREATE TABLE items (id SERIAL PRIMARY KEY, name TEXT)",
    )
    .await
    .unwrap();
    master.close().await.unwrap();
    let admin_arn = env
        .secret(
            "master",
            &json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": "master", "password": master_password, "dbname": "app"}),
        )
        .await;
    let user_password = password();
    let user_arn = env
        .secret(
            "user",
            &json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "username": "app_user", "password": user_password, "dbname": "app", "masterarn": admin_arn}),
        )
        .await;
    let lambda = env.lambda("InsecureTls,DropUser").await;
    let props = json!({
        "SecretArn": admin_arn, "UserSecretArn": user_arn, "Tls": "Disable",
        "Grants": [{"Privileges": "ReadWrite"}], "OnDelete": "Drop", "ReassignOwnedTo": "master",
    });
    let created = env.respond(&lambda, env.create(props.clone())).await;
    assert_success(&created);
    let id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let mut user = pg.login("app", "app_user", &user_password).await.unwrap();
    assert_eq!(
        pg_try(&mut user, "INSERT INTO items (name) VALUES ('a')").await,
        Ok(())
    );
    user.close().await.unwrap();
    // A table the master creates later is covered by its default privileges.
    let mut master = pg.login("app", "master", &master_password).await.unwrap();
    pg_try(&mut master, "CREATE TABLE later (id INT)")
        .await
        .unwrap();
    pg_try(&mut master, "GRANT CREATE ON SCHEMA public TO app_user")
        .await
        .unwrap();
    master.close().await.unwrap();
    let mut user = pg.login("app", "app_user", &user_password).await.unwrap();
    assert_eq!(
        pg_try(&mut user, "INSERT INTO later VALUES (1)").await,
        Ok(())
    );
    pg_try(&mut user, "CREATE TABLE mine (id INT)")
        .await
        .unwrap();
    user.close().await.unwrap();

    assert_success(&env.respond(&lambda, env.delete(&id, props)).await);
    let mut admin = pg.admin("app").await;
    let (gone, owner): (bool, String) = sqlx::query_as(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_user'), \
         (SELECT tableowner::text FROM pg_tables WHERE tablename = 'mine')",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    assert!(gone);
    assert_eq!(owner, "master");
    assert!(!pg.log().contains(&user_password));
}

/// A new `Database` is a new physical id (a replacement). The Delete CloudFormation then sends
/// for the old id, in the cleanup phase, must not drop the user the new id still uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_keeps_the_user_does_not_drop_it_when_the_old_id_is_deleted() {
    let Fixture {
        env,
        pg,
        admin_arn,
        user_arn,
        password,
    } = fixture("swu-pg-replace", "app_user").await;
    pg.exec("postgres", "CREATE DATABASE app2").await;
    let lambda = env.lambda("InsecureTls,DropUser").await;
    let first = json!({
        "SecretArn": admin_arn, "UserSecretArn": user_arn, "Tls": "Disable", "Database": "app",
        "Grants": [{"Privileges": "ReadOnly"}], "OnDelete": "Drop", "ReassignOwnedTo": "postgres",
    });
    let created = env.respond(&lambda, env.create(first.clone())).await;
    assert_success(&created);
    let old_id = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    let mut second = first.clone();
    second["Database"] = json!("app2");
    let replaced = env
        .respond(&lambda, env.update(&old_id, second.clone(), first.clone()))
        .await;
    assert_success(&replaced);
    let new_id = replaced["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_eq!(
        new_id,
        format!("postgres://127.0.0.1:{}/app2/app_user", pg.port)
    );

    // CloudFormation deletes the old id after the update: the user stays.
    let cleanup = lambda
        .invoke_during(
            env.delete(&old_id, first.clone()),
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        )
        .await
        .unwrap();
    env.assert_no_leak(&lambda);
    assert_success(&cleanup.response());
    pg.login("app2", "app_user", &password)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    // The stack is deleted: the new id's Delete drops it.
    assert_success(&env.respond(&lambda, env.delete(&new_id, second)).await);
    assert!(pg.login("app2", "app_user", &password).await.is_err());
}
