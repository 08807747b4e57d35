//! The harness's Secrets Manager client against a real moto: every call the tests rely on,
//! and the shape of its answers and errors.

use std::time::{Duration, SystemTime};

use harness::{Moto, SecretsManager};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_goes_through_its_whole_life() -> anyhow::Result<()> {
    let moto = Moto::start().await?;
    let sm = moto.secrets_manager();

    // Given a tagged secret,
    let arn = sm
        .create_secret("app/db", r#"{"password":"one"}"#, &[("team", "db")])
        .await?;
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-"),
        "{arn}"
    );
    let described = sm.describe_secret(&arn).await?.expect("it exists");
    assert_eq!(described.name, "app/db");
    assert_eq!(described.tags["team"], "db");
    assert_eq!(described.deleted_date, None);

    // when a second value is put,
    let first = sm.get_secret_value("app/db", None, None).await?;
    let second = sm.put_secret_value(&arn, r#"{"password":"two"}"#).await?;
    assert_ne!(first.version_id, second);

    // then both versions are readable, by label and by id,
    let current = sm.get_secret_value(&arn, Some("AWSCURRENT"), None).await?;
    assert_eq!(current.string.as_deref(), Some(r#"{"password":"two"}"#));
    assert_eq!(current.version_id, second);
    let previous = sm.get_secret_value(&arn, Some("AWSPREVIOUS"), None).await?;
    assert_eq!(previous.string.as_deref(), Some(r#"{"password":"one"}"#));
    let by_id = sm
        .get_secret_value(&arn, None, Some(&first.version_id))
        .await?;
    assert_eq!(by_id.string, previous.string);
    let versions = sm.list_secret_version_ids(&arn, true).await?;
    assert!(
        versions.contains(&first.version_id) && versions.contains(&second),
        "{versions:?}"
    );

    // and a scheduled deletion is reported with its date, until the secret is forced away.
    sm.delete_secret(&arn, 7).await?;
    let scheduled = sm.describe_secret(&arn).await?.expect("still there");
    let when = scheduled.deleted_date.expect("DeletedDate once scheduled");
    assert!(
        when > SystemTime::now() - Duration::from_secs(3600),
        "{when:?}"
    );
    let listed = sm.list_secrets(true).await?;
    assert!(listed.iter().any(|s| s.arn == arn), "{listed:?}");
    sm.force_delete_secret(&arn).await?;
    assert_eq!(sm.describe_secret(&arn).await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_services_code() -> anyhow::Result<()> {
    let moto = Moto::start().await?;
    let sm = moto.secrets_manager();
    let missing = sm
        .get_secret_value("no/such/secret", None, None)
        .await
        .expect_err("not found");
    assert!(missing.is_not_found(), "{missing}");
    assert!(
        missing
            .to_string()
            .starts_with("GetSecretValue: ResourceNotFoundException: "),
        "{missing}"
    );

    sm.create_secret("taken", "x", &[]).await?;
    let taken = sm
        .create_secret("taken", "y", &[])
        .await
        .expect_err("the name is taken");
    assert!(!taken.is_not_found());
    assert!(
        taken.to_string().contains("ResourceExistsException"),
        "{taken}"
    );

    // A moto that is not there is an HTTP error naming the call.
    drop(moto);
    let gone = SecretsManager::new("http://127.0.0.1:9")
        .describe_secret("x")
        .await
        .expect_err("nothing listens on port 9");
    assert!(
        gone.to_string()
            .starts_with("Secrets Manager DescribeSecret at http://127.0.0.1:9: "),
        "{gone}"
    );
    Ok(())
}
