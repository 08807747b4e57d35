//! `regenerate` rotation: the real binary under the harness, moto holding the secret, no
//! database. The secret carries the tags the seeder writes for it (taken from the seeder's own
//! code, so the two cannot drift apart). The test plays Secrets Manager: it makes the token and
//! calls the four steps, each twice, reading versions with an explicit `VersionStage`.

use std::time::Duration;

use harness::{Lambda, LambdaConfig, Moto, SecretsManager};
use serde_json::{Map, Value, json};

const STEPS: [&str; 4] = ["createSecret", "setSecret", "testSecret", "finishSecret"];

struct Rig {
    _moto: Moto,
    sm: SecretsManager,
    lambda: Lambda,
}

impl Rig {
    async fn start() -> Self {
        let moto = Moto::start().await.unwrap();
        let mut config =
            LambdaConfig::new(harness::pinned(env!("CARGO_BIN_EXE_secret-rotation")).unwrap())
                .timeout(Duration::from_secs(30))
                .env("RUST_LOG", "trace");
        for (k, v) in moto.env() {
            config = config.env(k, v);
        }
        Self {
            sm: moto.secrets_manager(),
            lambda: Lambda::start(config).await.unwrap(),
            _moto: moto,
        }
    }

    /// A secret holding `value`, tagged as the seeder tags one made from `properties`, with
    /// rotation on.
    async fn secret(&self, name: &str, properties: Value, value: &Value) -> String {
        let props = secret_seeder::parse_properties(&properties).unwrap();
        let tags = secret_seeder::spec::managed_tags(&props);
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let arn = self
            .sm
            .create_secret(name, &value.to_string(), &tags)
            .await
            .unwrap();
        self.sm
            .call(
                "RotateSecret",
                &json!({"SecretId": arn, "RotationRules": {"AutomaticallyAfterDays": 30}, "RotateImmediately": false}),
            )
            .await
            .unwrap();
        arn
    }

    async fn step(&self, arn: &str, token: &str, step: &str) -> Result<(), String> {
        let invocation = self
            .lambda
            .invoke(json!({"SecretId": arn, "ClientRequestToken": token, "Step": step}))
            .await
            .unwrap();
        match invocation.lambda {
            harness::LambdaResult::Error { error_message, .. } => Err(error_message),
            other if other.is_ok() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    async fn read(
        &self,
        arn: &str,
        stage: &str,
        version: Option<&str>,
    ) -> (String, Map<String, Value>) {
        let v = self
            .sm
            .get_secret_value(arn, Some(stage), version)
            .await
            .unwrap();
        let Value::Object(map) = serde_json::from_str(v.string.as_deref().unwrap()).unwrap() else {
            panic!("not an object")
        };
        (v.version_id, map)
    }
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map[key].as_str().unwrap()
}

#[tokio::test]
async fn regenerate_makes_each_recorded_key_anew_by_its_spec_and_keeps_the_rest() {
    let rig = Rig::start().await;
    let properties = json!({
        "Keys": {
            "signing_key": {"Generate": "password", "Length": 48, "ExcludePunctuation": true},
            "api_token": {"Generate": "token", "Bytes": 24, "Encoding": "hex"},
            "tenant": {"Generate": "uuid"},
            "issuer": {"Value": "https://issuer.example"},
        },
        "Rotation": "regenerate",
    });
    // Given: values as the seeder made them, and a key the template does not know.
    let old = json!({
        "signing_key": "Ab3".repeat(16),
        "api_token": "0a1b2c3d4e5f".repeat(4),
        "tenant": uuid::Uuid::new_v4().to_string(),
        "issuer": "https://issuer.example",
        "extra": "added-by-hand-1234",
    });
    let arn = rig.secret("signing", properties, &old).await;
    let (before, _) = rig.read(&arn, "AWSCURRENT", None).await;
    let token = uuid::Uuid::new_v4().to_string();

    // When: the four steps, each twice, as Secrets Manager retries them.
    let mut pending = None;
    for step in STEPS {
        for _ in 0..2 {
            let done = rig.step(&arn, &token, step).await;
            assert!(
                done.is_ok(),
                "{step}: {done:?}\n{}",
                rig.lambda.logs().join("\n")
            );
            if step == "createSecret" {
                let (_, value) = rig.read(&arn, "AWSPENDING", Some(&token)).await;
                // A second createSecret keeps what the first staged.
                assert!(pending.as_ref().is_none_or(|p| *p == value));
                pending = Some(value);
            }
        }
    }

    // Then: AWSCURRENT is the token's, each key with a spec is new and meets it, the others
    // are as they were, and the old value is AWSPREVIOUS.
    let (version, new) = rig.read(&arn, "AWSCURRENT", None).await;
    assert_eq!(version, token);
    assert_eq!(Some(&new), pending.as_ref());
    let signing = text(&new, "signing_key");
    assert_eq!(signing.len(), 48);
    assert!(
        signing.bytes().all(|b| b.is_ascii_alphanumeric()),
        "letters and digits only"
    );
    assert_ne!(signing, old["signing_key"]);
    let api = text(&new, "api_token");
    assert_eq!(api.len(), 48);
    assert!(
        api.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_ne!(api, old["api_token"]);
    let tenant = uuid::Uuid::parse_str(text(&new, "tenant")).unwrap();
    assert_eq!(tenant.get_version_num(), 4);
    assert_ne!(text(&new, "tenant"), old["tenant"]);
    assert_eq!(
        new["issuer"], old["issuer"],
        "a literal has no spec and is kept"
    );
    assert_eq!(new["extra"], old["extra"], "a key without a spec is kept");
    let (previous, _) = rig.read(&arn, "AWSPREVIOUS", None).await;
    assert_eq!(previous, before);

    // Run again after the end, every step changes nothing.
    for step in STEPS {
        assert_eq!(rig.step(&arn, &token, step).await, Ok(()));
    }
    assert_eq!(rig.read(&arn, "AWSCURRENT", None).await.1, new);

    // No value, old or new, in any log line (the function logs at TRACE here).
    let logs = rig.lambda.logs();
    assert!(
        logs.iter().any(|l| l.contains("TRACE")),
        "the check needs TRACE lines"
    );
    for value in [&old, &Value::Object(new)] {
        for key in ["signing_key", "api_token", "tenant", "extra"] {
            let v = value[key].as_str().unwrap();
            for line in &logs {
                assert!(
                    !line.contains(v),
                    "the value of `{key}` leaked into a log line"
                );
            }
        }
    }
}

#[tokio::test]
async fn regenerate_without_a_recorded_spec_fails_naming_the_tag_and_changes_nothing() {
    let rig = Rig::start().await;
    let properties = json!({"Keys": {"issuer": {"Value": "me"}}, "Rotation": "regenerate"});
    let arn = rig
        .secret("literals", properties, &json!({"issuer": "me"}))
        .await;
    let token = uuid::Uuid::new_v4().to_string();
    let err = rig.step(&arn, &token, "createSecret").await.unwrap_err();
    assert!(
        err.contains("has no tag `stackwright:spec:<key>`") && err.contains("regenerate"),
        "{err}"
    );
    let versions = rig
        .sm
        .call("ListSecretVersionIds", &json!({"SecretId": arn}))
        .await
        .unwrap();
    assert!(
        !versions.to_string().contains(&token),
        "no version was staged: {versions}"
    );
}
