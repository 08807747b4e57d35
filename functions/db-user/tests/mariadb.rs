//! `Custom::DatabaseUser` on MariaDB: the real binary under the harness, the machine's
//! MariaDB (root without a password; new users' passwords are checked), moto's Secrets
//! Manager.

mod common;

use common::*;
use serde_json::json;
use sqlx::{Connection, Executor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_becomes_read_write_is_rolled_back_gets_a_new_password_and_is_dropped() {
    let tag = format!("{:08x}", fastrand::u32(..));
    let (database, user) = (format!("swu_db_{tag}"), format!("swu_{tag}"));
    let _cleanup = MyCleanup {
        database: database.clone(),
        user: user.clone(),
    };
    // The admin: a user with a password that may grant anything (as RDS's master user).
    let (admin, admin_password) = (format!("swu_admin_{tag}"), password());
    let _admin_cleanup = MyCleanup {
        database: database.clone(),
        user: admin.clone(),
    };
    my_exec(
        None,
        &format!("CREATE USER '{admin}'@'%' IDENTIFIED BY '{admin_password}'"),
    )
    .await;
    my_exec(
        None,
        &format!("GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"),
    )
    .await;
    my_exec(None, &format!("CREATE DATABASE `{database}`")).await;
    my_exec(
        Some(&database),
        "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items (name) VALUES ('first')",
    )
    .await;
    let env = Env::new("swu-my-life").await;
    let admin_arn = env
        .secret(
            "admin",
            &json!({"engine": "mariadb", "host": "127.0.0.1", "port": MYSQL_PORT, "username": admin, "password": admin_password}),
        )
        .await;
    let secret = |password: &str| {
        json!({
            "engine": "mariadb", "host": "127.0.0.1", "port": MYSQL_PORT, "username": user,
            "password": password, "dbname": database, "masterarn": admin_arn,
        })
    };
    let first = password();
    let user_arn = env.secret("user", &secret(&first)).await;
    let lambda = env.lambda("InsecureTls,DropUser").await;
    let read_only = json!({
        "SecretArn": admin_arn, "UserSecretArn": user_arn, "SecretVersion": "1", "Tls": "Disable",
        "Grants": [{"Privileges": "ReadOnly"}], "OnDelete": "Drop", "ConnectionLimit": 3,
    });

    // Created: logs in with the secret's password, reads, cannot write; a later table too.
    let created = env.respond(&lambda, env.create(read_only.clone())).await;
    assert_success(&created);
    let id = format!("mysql://127.0.0.1:3306/{database}/{user}");
    assert_eq!(created["PhysicalResourceId"], id.as_str());
    assert_eq!(
        created["Data"]["Grants"],
        format!("ReadOnly {database}.*").as_str()
    );
    let mut c = my_login(&database, &user, &first).await.unwrap();
    assert_eq!(my_try(&mut c, "SELECT * FROM items").await, Ok(()));
    assert_eq!(
        my_try(&mut c, "INSERT INTO items (name) VALUES ('x')").await,
        Err("42000".into())
    );
    my_exec(Some(&database), "CREATE TABLE later (id INT)").await;
    assert_eq!(my_try(&mut c, "SELECT * FROM later").await, Ok(()));
    c.close().await.unwrap();
    // Stored as the native hash the function computed; the limit as asked.
    let mut root = my_root(None).await;
    let (hash, limit): (String, i64) = sqlx::query_as(
        "SELECT authentication_string, CAST(max_user_connections AS SIGNED) FROM mysql.user WHERE User = ? AND Host = '%'",
    )
    .bind(&user)
    .fetch_one(&mut root)
    .await
    .unwrap();
    assert_eq!(hash, db_user::password::mysql_native_hash(&first));
    assert!(lambda.logs().iter().all(|line| !line.contains(&hash)));
    assert_eq!(limit, 3);
    root.close().await.unwrap();

    // The same Create again in another sandbox: adopted, nothing changes.
    let again = env.lambda("InsecureTls,DropUser").await;
    assert_success(&env.respond(&again, env.create(read_only.clone())).await);

    // ReadWrite, then the rollback takes it back.
    let mut read_write = read_only.clone();
    read_write["Grants"] = json!([{"Privileges": "ReadWrite"}]);
    assert_success(
        &env.respond(
            &lambda,
            env.update(&id, read_write.clone(), read_only.clone()),
        )
        .await,
    );
    let mut c = my_login(&database, &user, &first).await.unwrap();
    assert_eq!(
        my_try(&mut c, "INSERT INTO items (name) VALUES ('rw')").await,
        Ok(())
    );
    c.close().await.unwrap();
    let rollback = env.update(&id, read_only.clone(), read_write.clone());
    assert_success(&env.roll_back(&lambda, rollback.clone()).await);
    // Delivered again: the revoke of what is gone already counts as done.
    assert_success(
        &env.roll_back(&env.lambda("InsecureTls,DropUser").await, rollback)
            .await,
    );
    let mut c = my_login(&database, &user, &first).await.unwrap();
    assert_eq!(
        my_try(&mut c, "INSERT INTO items (name) VALUES ('no')").await,
        Err("42000".into())
    );
    assert_eq!(my_try(&mut c, "SELECT * FROM items").await, Ok(()));
    c.close().await.unwrap();

    // A new password in a new version of the secret.
    let second = password();
    env.put(&user_arn, &secret(&second)).await;
    let mut v2 = read_only.clone();
    v2["SecretVersion"] = json!("2");
    assert_success(
        &env.respond(&lambda, env.update(&id, v2.clone(), read_only.clone()))
            .await,
    );
    assert!(my_login(&database, &user, &first).await.is_err());
    my_login(&database, &user, &second)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();

    // Dropped on Delete; a second Delete finds nothing to do.
    assert_success(&env.respond(&lambda, env.delete(&id, v2.clone())).await);
    let mut root = my_root(None).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mysql.user WHERE User = ?")
        .bind(&user)
        .fetch_one(&mut root)
        .await
        .unwrap();
    assert_eq!(n, 0);
    root.execute("SELECT 1").await.unwrap();
    root.close().await.unwrap();
    assert_success(&env.respond(&lambda, env.delete(&id, v2)).await);
}
