//! `Custom::SeededSecret` through its whole life: the real `secret-seeder` binary run as Lambda
//! runs it (harness), talking to moto's Secrets Manager with the real AWS SDK, answering a
//! local `ResponseURL` server. What is in the secret is read back with the harness's Secrets
//! Manager client.
//!
//! Every scenario runs twice: alone (one test each, its own moto), and all together in
//! `no_generated_value_of_the_whole_suite_reaches_a_log_or_a_response`, which then reads back
//! every value the suite produced and looks for each in every log line (at `RUST_LOG=trace`)
//! and every response body.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
mod common;

use common::{failed, id_of, succeeded};
use harness::{
    Invocation, Lambda, LambdaConfig, Moto, ResponseServer, SecretDescription, SecretsManager,
    Stack,
};
use serde_json::{Value, json};

const TYPE: &str = "Custom::SeededSecret";
/// The stack status while CloudFormation rolls an update back.
const ROLLBACK: &str = "UPDATE_ROLLBACK_IN_PROGRESS";

/// A secret's value as key → value. Its `Debug` shows keys and lengths only, so a failing
/// assertion never prints a value.
#[derive(Clone, PartialEq, Eq, Default)]
struct Values(BTreeMap<String, String>);

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, format!("<{} characters>", v.len()))),
            )
            .finish()
    }
}

impl std::ops::Deref for Values {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Values {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::ops::Index<&str> for Values {
    type Output = String;
    fn index(&self, key: &str) -> &String {
        &self.0[key]
    }
}
const LOGICAL: &str = "Secret";

/// One moto, one `ResponseURL` server, one function (up to 4 sandboxes), and every secret
/// value read back so far.
struct World {
    _moto: Moto,
    responses: ResponseServer,
    lambda: Lambda,
    sm: SecretsManager,
    seen: Mutex<BTreeSet<String>>,
}

impl World {
    async fn new() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let responses = ResponseServer::start().await.expect("response server");
        let binary = harness::pinned(env!("CARGO_BIN_EXE_secret-seeder")).expect("the binary");
        let mut config = LambdaConfig::new(binary)
            .responses(&responses)
            .concurrency(4)
            .timeout(Duration::from_secs(30))
            .env("RUST_LOG", "trace");
        for (k, v) in moto.env() {
            config = config.env(k, v);
        }
        let lambda = Lambda::start(config).await.expect("lambda");
        Self {
            sm: moto.secrets_manager(),
            _moto: moto,
            responses,
            lambda,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// A stack with a name of its own, so scenarios sharing a moto never collide.
    fn stack(&self, prefix: &str) -> Stack {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Stack::new(&format!("{prefix}-{suffix}"), &self.responses)
    }

    /// Invokes the function, CloudFormation confirming the event; the `ResponseURL`'s
    /// signature must never reach its log.
    async fn invoke(&self, event: Value) -> Invocation {
        let invocation = self.lambda.invoke(event).await.expect("invocation");
        self.check_log();
        invocation
    }

    /// As [`World::invoke`], with the stack in `stack_status` (a rollback, a clean-up).
    async fn invoke_during(&self, event: Value, stack_status: &str) -> Invocation {
        let invocation = self
            .lambda
            .invoke_during(event, stack_status)
            .await
            .expect("invocation");
        self.check_log();
        invocation
    }

    fn check_log(&self) {
        let signature = self.responses.signature();
        for line in self.lambda.logs() {
            assert!(
                !line.contains(signature) && !line.contains("X-Amz-Signature"),
                "the ResponseURL's query reached the log: {line}"
            );
        }
    }

    /// The value of the version with `stage` (or `version_id`), as key → value, remembered for
    /// the leak check.
    async fn read(&self, id: &str, stage: Option<&str>, version_id: Option<&str>) -> Values {
        let out = self
            .sm
            .get_secret_value(id, stage, version_id)
            .await
            .expect("get_secret_value");
        let map: BTreeMap<String, String> =
            serde_json::from_str(out.string.as_deref().expect("a SecretString"))
                .expect("JSON of strings");
        self.seen.lock().unwrap().extend(map.values().cloned());
        Values(map)
    }

    async fn current(&self, id: &str) -> Values {
        self.read(id, Some("AWSCURRENT"), None).await
    }

    async fn previous(&self, id: &str) -> Values {
        self.read(id, Some("AWSPREVIOUS"), None).await
    }

    async fn describe(&self, id: &str) -> Option<SecretDescription> {
        self.sm.describe_secret(id).await.expect("describe_secret")
    }

    async fn tags(&self, id: &str) -> BTreeMap<String, String> {
        self.describe(id).await.expect("the secret exists").tags
    }

    async fn versions(&self, id: &str) -> Vec<String> {
        self.sm
            .list_secret_version_ids(id, true)
            .await
            .expect("list_secret_version_ids")
    }

    /// Creates a secret behind the function's back (someone else's, or a leftover).
    async fn seed(&self, name: &str, value: Value, owner: Option<&str>) -> String {
        let tags: Vec<(&str, &str)> = owner
            .map(|o| ("stackwright:owner", o))
            .into_iter()
            .collect();
        let arn = self
            .sm
            .create_secret(name, &value.to_string(), &tags)
            .await
            .expect("create_secret");
        if let Some(map) = value.as_object() {
            let mut seen = self.seen.lock().unwrap();
            seen.extend(map.values().filter_map(Value::as_str).map(str::to_owned));
        }
        arn
    }

    /// Reads back every version of every secret still readable, then looks for every value
    /// seen in every log line and every response body. Returns how many values it looked for.
    async fn assert_no_value_leaked(&self) -> usize {
        let list = self.sm.list_secrets(true).await.expect("list_secrets");
        for secret in list {
            if secret.deleted_date.is_some() {
                continue;
            }
            let arn = secret.arn.as_str();
            for version in self.versions(arn).await {
                let out = self
                    .sm
                    .get_secret_value(arn, None, Some(&version))
                    .await
                    .expect("get_secret_value");
                if let Ok(map) = serde_json::from_str::<BTreeMap<String, Value>>(
                    out.string.as_deref().unwrap_or("{}"),
                ) {
                    let mut seen = self.seen.lock().unwrap();
                    seen.extend(map.values().filter_map(Value::as_str).map(str::to_owned));
                }
            }
        }
        let seen = self.seen.lock().unwrap().clone();
        // Short literals ("app") may occur in ordinary words; every generated value is longer.
        let values: Vec<&String> = seen.iter().filter(|v| v.len() >= 8).collect();
        let logs = self.lambda.logs();
        assert!(
            logs.iter().any(|l| l.contains("TRACE")),
            "the function did not log at TRACE, so the check would prove little"
        );
        let bodies: Vec<String> = self
            .responses
            .puts()
            .iter()
            .map(|p| String::from_utf8_lossy(&p.body).into_owned())
            .collect();
        assert!(!bodies.is_empty());
        for value in &values {
            for line in logs.iter().chain(&bodies) {
                // The message masks the value: a failing test must not print it either.
                assert!(
                    !line.contains(value.as_str()),
                    "a secret value ({} characters) leaked into: {}",
                    value.len(),
                    line.replace(value.as_str(), "<THE VALUE>")
                );
            }
        }
        values.len()
    }
}

fn keys() -> Value {
    json!({
        "password": {"Generate": "password", "Length": "24", "ExcludeCharacters": "\"@/\\"},
        "api_token": {"Generate": "token"},
        "id": {"Generate": "uuid"},
        "username": {"Value": "literal-user-one"}
    })
}

fn generated(values: &Values) -> Values {
    Values(
        values
            .0
            .iter()
            .filter(|(k, _)| k.as_str() != "username")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

// ----------------------------------------------------------------------------------------
// Scenarios

async fn create(w: &World) {
    let stack = w.stack("create");
    let invocation = w
        .invoke(stack.create(LOGICAL, TYPE, json!({"Keys": keys()})))
        .await;
    let response = succeeded(&invocation);
    let arn = id_of(&response);
    let data = &response["Data"];
    assert_eq!(data["Arn"], arn.as_str());
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    assert_eq!(data["Name"], format!("{}/{LOGICAL}", stack.name()));
    assert_eq!(data["Keys"], "api_token,id,password,username");
    assert_eq!(
        data.as_object().unwrap().len(),
        4,
        "Data: Arn, Name, VersionId, Keys"
    );
    assert_eq!(response["NoEcho"], false);

    let values = w.current(&arn).await;
    assert_eq!(
        values.keys().collect::<Vec<_>>(),
        ["api_token", "id", "password", "username"]
    );
    let password = &values["password"];
    assert_eq!(password.len(), 24);
    assert!(
        password
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"@/\\".contains(&b))
    );
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&values["api_token"])
        .unwrap();
    assert_eq!(token.len(), 32);
    assert_eq!(
        uuid::Uuid::parse_str(&values["id"])
            .unwrap()
            .get_version_num(),
        4
    );
    assert_eq!(values["username"], "literal-user-one");

    let versions = w.versions(&arn).await;
    assert_eq!(versions, [data["VersionId"].as_str().unwrap()]);
    assert_eq!(
        w.tags(&arn)
            .await
            .get("stackwright:owner")
            .map(String::as_str),
        Some(format!("{}/{LOGICAL}", stack.name()).as_str())
    );
    let body = String::from_utf8_lossy(&invocation.delivered()[0].body).into_owned();
    for value in generated(&values).values() {
        assert!(!body.contains(value.as_str()));
    }
}

async fn an_unrelated_update_keeps_values(w: &World) {
    let stack = w.stack("unrelated");
    let props = json!({"Keys": keys()});
    let created = succeeded(&w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await);
    let arn = id_of(&created);
    let before = w.current(&arn).await;
    let new = json!({"Keys": keys(), "Description": "app credentials", "Tags": [{"Key": "team", "Value": "data"}], "OnDelete": "Delete"});
    let updated = succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, new.clone(), props))
            .await,
    );
    assert_eq!(id_of(&updated), arn, "no replacement");
    assert_eq!(
        updated["Data"]["VersionId"], created["Data"]["VersionId"],
        "no new version"
    );
    assert_eq!(w.current(&arn).await, before);
    assert_eq!(w.versions(&arn).await.len(), 1);
    let described = w.describe(&arn).await.unwrap();
    assert_eq!(described.description.as_deref(), Some("app credentials"));
    assert_eq!(
        w.tags(&arn).await.get("team").map(String::as_str),
        Some("data")
    );
    // Dropping the tag removes it; the owner tag stays.
    let without = json!({"Keys": keys(), "Description": "app credentials"});
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, without, new))
            .await,
    );
    let tags = w.tags(&arn).await;
    assert!(!tags.contains_key("team"), "{tags:?}");
    assert!(tags.contains_key("stackwright:owner"));
    assert_eq!(w.current(&arn).await, before);
}

async fn rotate(w: &World) {
    let stack = w.stack("rotate");
    let props = json!({"Keys": keys()});
    let created = succeeded(&w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await);
    let arn = id_of(&created);
    let before = w.current(&arn).await;
    let rotated = json!({"Keys": keys(), "Rotate": "2026-11"});
    let updated = succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, rotated.clone(), props))
            .await,
    );
    assert_ne!(updated["Data"]["VersionId"], created["Data"]["VersionId"]);
    let after = w.current(&arn).await;
    for key in ["password", "api_token", "id"] {
        assert!(before[key] != after[key], "{key} rotated");
    }
    assert_eq!(
        after["username"], before["username"],
        "literals do not rotate"
    );
    assert_eq!(
        w.previous(&arn).await,
        before,
        "the old values stay as AWSPREVIOUS"
    );
    // The same Rotate again is no rotation.
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, rotated.clone(), rotated))
            .await,
    );
    assert_eq!(w.current(&arn).await, after);
}

async fn one_changed_spec_changes_only_that_key(w: &World) {
    let stack = w.stack("spec");
    let props = json!({"Keys": keys()});
    let arn = id_of(&succeeded(
        &w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await,
    ));
    let before = w.current(&arn).await;
    let mut changed = keys();
    changed["password"]["Length"] = json!(30);
    let new = json!({"Keys": changed});
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, new.clone(), props))
            .await,
    );
    let after = w.current(&arn).await;
    assert_eq!(after["password"].len(), 30);
    assert!(after["password"] != before["password"]);
    for key in ["api_token", "id", "username"] {
        assert!(after[key] == before[key], "{key} kept");
    }
    // A key's own Rotate regenerates that key only.
    let mut key_rotated = changed.clone();
    key_rotated["api_token"]["Rotate"] = json!(1);
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, json!({"Keys": key_rotated}), new))
            .await,
    );
    let last = w.current(&arn).await;
    assert!(last["api_token"] != after["api_token"]);
    for key in ["password", "id", "username"] {
        assert!(last[key] == after[key], "{key} kept");
    }
}

async fn a_removed_key_is_removed(w: &World) {
    let stack = w.stack("removed");
    let props = json!({"Keys": keys()});
    let arn = id_of(&succeeded(
        &w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await,
    ));
    let before = w.current(&arn).await;
    let mut fewer = keys();
    fewer.as_object_mut().unwrap().remove("id");
    let updated = succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, json!({"Keys": fewer}), props))
            .await,
    );
    assert_eq!(updated["Data"]["Keys"], "api_token,password,username");
    let after = w.current(&arn).await;
    let mut expected = before.clone();
    expected.remove("id");
    assert_eq!(after, expected);
}

async fn a_literal_follows_the_template(w: &World) {
    let stack = w.stack("literal");
    let props = json!({"Keys": keys()});
    let arn = id_of(&succeeded(
        &w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await,
    ));
    let before = w.current(&arn).await;
    let mut changed = keys();
    changed["username"] = json!({"Value": "literal-user-two"});
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, json!({"Keys": changed}), props))
            .await,
    );
    let after = w.current(&arn).await;
    assert_eq!(after["username"], "literal-user-two");
    assert_eq!(generated(&after), generated(&before));
}

async fn adoption(w: &World) {
    let stack = w.stack("adopt");
    let owner = format!("{}/Tagged", stack.name());
    // A tagged leftover: its password meets the spec (kept), its token does not (replaced),
    // and a key the template does not name is dropped (it stays in AWSPREVIOUS).
    let existing_password = "Abcdefghijklmnopqrstu12!";
    let seeded = w
        .seed(
            &owner,
            json!({"password": existing_password, "api_token": "too-short-token", "extra": "extra-value-seeded"}),
            Some(&owner),
        )
        .await;
    let response = succeeded(
        &w.invoke(stack.create("Tagged", TYPE, json!({"Keys": keys()})))
            .await,
    );
    assert_eq!(
        id_of(&response),
        seeded,
        "the existing secret is taken over"
    );
    let values = w.current(&seeded).await;
    assert!(values["password"] == existing_password);
    assert!(values["api_token"] != "too-short-token");
    assert!(!values.contains_key("extra"));
    assert_eq!(w.previous(&seeded).await["extra"], "extra-value-seeded");

    // Adopt: Never refuses even a tagged secret.
    let never = w
        .invoke(stack.create("Tagged", TYPE, json!({"Keys": keys(), "Adopt": "Never"})))
        .await;
    assert!(failed(&never).contains("`Adopt` is `Never`"));

    // An untagged secret is refused and left untouched…
    let name = format!("{}/Untagged", stack.name());
    let untagged = w
        .seed(&name, json!({"password": "hand-made-password-1"}), None)
        .await;
    let refused = w
        .invoke(stack.create("Untagged", TYPE, json!({"Keys": keys()})))
        .await;
    let reason = failed(&refused);
    assert_eq!(
        reason,
        format!(
            "secret `{name}` already exists and has no `stackwright:owner` tag; it was left untouched. To take it over, tag it `stackwright:owner={name}` or set `Adopt: Always`; or give this resource another `Name`"
        )
    );
    assert!(id_of(&refused.response()).starts_with("stackwright:create-failed:"));
    assert_eq!(
        w.current(&untagged).await,
        Values(BTreeMap::from([(
            "password".to_owned(),
            "hand-made-password-1".to_owned()
        )]))
    );
    assert_eq!(w.versions(&untagged).await.len(), 1);
    assert!(w.tags(&untagged).await.is_empty());
    // …until the template says Adopt: Always.
    let adopted = succeeded(
        &w.invoke(stack.create("Untagged", TYPE, json!({"Keys": keys(), "Adopt": "Always"})))
            .await,
    );
    assert_eq!(id_of(&adopted), untagged);
    assert_eq!(w.tags(&untagged).await["stackwright:owner"], name);

    // A plain-text secret cannot take keys: refused, even under Adopt: Always, and untouched.
    let name = format!("{}/Plain", stack.name());
    let plain = w.seed(&name, json!("plain-text-secret-value"), None).await;
    let refused = w
        .invoke(stack.create("Plain", TYPE, json!({"Keys": keys(), "Adopt": "Always"})))
        .await;
    assert!(
        failed(&refused).starts_with(&format!(
            "secret `{name}` holds a value that is not a JSON object"
        )),
        "{}",
        failed(&refused)
    );
    assert!(w.tags(&plain).await.is_empty(), "not even tagged");
    assert_eq!(w.versions(&plain).await.len(), 1);
}

async fn restore_after_scheduled_deletion(w: &World) {
    let stack = w.stack("restore");
    let props = json!({"Keys": keys(), "OnDelete": "Delete"});
    let created = succeeded(&w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await);
    let arn = id_of(&created);
    let before = w.current(&arn).await;
    succeeded(
        &w.invoke(stack.delete(LOGICAL, TYPE, &arn, props.clone()))
            .await,
    );
    assert!(
        w.describe(&arn).await.unwrap().deleted_date.is_some(),
        "scheduled for deletion"
    );
    // The stack is deployed again (same name, new stack id): the secret comes back as it was.
    let again = Stack::new(stack.name(), &w.responses);
    let recreated = succeeded(&w.invoke(again.create(LOGICAL, TYPE, props)).await);
    assert_eq!(id_of(&recreated), arn);
    assert_eq!(
        recreated["Data"]["VersionId"], created["Data"]["VersionId"],
        "no new version"
    );
    assert!(
        w.describe(&arn).await.unwrap().deleted_date.is_none(),
        "restored"
    );
    assert_eq!(w.current(&arn).await, before);

    // Someone else's secret scheduled for deletion is not even restored.
    let name = format!("{}/Foreign", stack.name());
    let foreign = w
        .seed(
            &name,
            json!({"password": "foreign-password-1"}),
            Some("other-stack/Foreign"),
        )
        .await;
    w.sm.delete_secret(&foreign, 7).await.unwrap();
    let refused = w
        .invoke(stack.create("Foreign", TYPE, json!({"Keys": keys()})))
        .await;
    assert!(failed(&refused).contains("belongs to `other-stack/Foreign`"));
    assert!(
        w.describe(&foreign).await.unwrap().deleted_date.is_some(),
        "still scheduled"
    );
}

async fn each_delete_policy(w: &World) {
    let stack = w.stack("delete");
    // Retain (the default): nothing is touched.
    let retained = id_of(&succeeded(
        &w.invoke(stack.create("Retained", TYPE, json!({"Keys": keys()})))
            .await,
    ));
    w.current(&retained).await;
    succeeded(
        &w.invoke(stack.delete("Retained", TYPE, &retained, json!({"Keys": keys()})))
            .await,
    );
    let d = w.describe(&retained).await.expect("retained");
    assert!(d.deleted_date.is_none());

    // Delete: scheduled, recoverable for RecoveryWindowInDays.
    let props = json!({"Keys": keys(), "OnDelete": "Delete", "RecoveryWindowInDays": "10"});
    let scheduled = id_of(&succeeded(
        &w.invoke(stack.create("Scheduled", TYPE, props.clone()))
            .await,
    ));
    w.current(&scheduled).await;
    succeeded(
        &w.invoke(stack.delete("Scheduled", TYPE, &scheduled, props.clone()))
            .await,
    );
    let deleted = w.describe(&scheduled).await.unwrap();
    let when = deleted
        .deleted_date
        .expect("DeletedDate set")
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // moto reports the end of the recovery window (see the README's notes on moto).
    assert!(
        (when - (now + 10 * 86_400)).abs() < 3_600,
        "deleted {when}, now {now}"
    );
    // A second Delete (a re-delivery) succeeds and changes nothing.
    succeeded(
        &w.invoke(stack.delete("Scheduled", TYPE, &scheduled, props))
            .await,
    );

    // ForceDelete: gone at once.
    let props = json!({"Keys": keys(), "OnDelete": "ForceDelete"});
    let forced = id_of(&succeeded(
        &w.invoke(stack.create("Forced", TYPE, props.clone())).await,
    ));
    w.current(&forced).await;
    succeeded(
        &w.invoke(stack.delete("Forced", TYPE, &forced, props.clone()))
            .await,
    );
    assert!(
        w.describe(&forced).await.is_none(),
        "deleted without recovery"
    );
    // Gone already: the Delete succeeds.
    succeeded(
        &w.invoke(stack.delete("Forced", TYPE, &forced, props.clone()))
            .await,
    );

    // Not ours (another resource's tag): left alone, and the Delete succeeds.
    let name = format!("{}/NotOurs", stack.name());
    let not_ours = w
        .seed(
            &name,
            json!({"password": "not-ours-password-1"}),
            Some("another/Owner"),
        )
        .await;
    succeeded(
        &w.invoke(stack.delete("NotOurs", TYPE, &not_ours, props.clone()))
            .await,
    );
    assert!(w.describe(&not_ours).await.unwrap().deleted_date.is_none());

    // An id this function never issues: nothing to do.
    succeeded(
        &w.invoke(stack.delete("Other", TYPE, "some-invented-id", props))
            .await,
    );
}

async fn a_redelivered_create_leaves_one_version(w: &World) {
    let stack = w.stack("redeliver");
    let event = stack.create(LOGICAL, TYPE, json!({"Keys": keys(), "Adopt": "Never"}));
    let first = succeeded(&w.invoke(event.clone()).await);
    let arn = id_of(&first);
    let values = w.current(&arn).await;
    let second = succeeded(&w.invoke(event).await);
    assert_eq!(second["PhysicalResourceId"], first["PhysicalResourceId"]);
    assert_eq!(second["Data"], first["Data"]);
    assert_eq!(w.versions(&arn).await.len(), 1);
    assert_eq!(w.current(&arn).await, values);

    // Two deliveries at once (two sandboxes racing): one secret, one version, one answer.
    let event = stack.create("Raced", TYPE, json!({"Keys": keys()}));
    let request_id = event["RequestId"].clone();
    let (a, b) = tokio::join!(w.invoke(event.clone()), w.invoke(event));
    assert!(a.lambda.is_ok() && b.lambda.is_ok());
    // Both answer the same ResponseURL: read the answers from the server.
    let answers: Vec<Value> = w
        .responses
        .puts()
        .iter()
        .filter_map(|p| p.json())
        .filter(|answer| answer["RequestId"] == request_id)
        .collect();
    assert_eq!(answers.len(), 2, "one answer per delivery");
    for answer in &answers {
        assert_eq!(answer["Status"], "SUCCESS", "{answer}");
        assert_eq!(answer["Data"], answers[0]["Data"]);
    }
    let raced = id_of(&answers[0]);
    assert_eq!(w.versions(&raced).await.len(), 1);
    w.current(&raced).await;

    // A re-delivered Update writes its version once.
    let rotated = json!({"Keys": keys(), "Rotate": 1});
    let update = stack.update(LOGICAL, TYPE, &arn, rotated, json!({"Keys": keys()}));
    let u1 = succeeded(&w.invoke(update.clone()).await);
    let after = w.current(&arn).await;
    let u2 = succeeded(&w.invoke(update).await);
    assert_eq!(u1["Data"], u2["Data"]);
    assert_eq!(w.versions(&arn).await.len(), 2);
    assert_eq!(w.current(&arn).await, after);
}

async fn bad_specs_fail_naming_the_key_and_the_property(w: &World) {
    let stack = w.stack("bad");
    let cases = [
        (
            json!({"db_password": {"Generate": "password", "Length": "abc"}}),
            "property `Keys.db_password.Length`: expected a whole number from 8 to 4096, got a string that is not a number",
        ),
        (
            json!({"db_password": {"Generate": "passphrase"}}),
            "property `Keys.db_password.Generate`: unknown value `passphrase`; expected one of `password`, `token`, `uuid`",
        ),
        (
            json!({"db_password": {"Generate": "password", "Size": 12}}),
            "property `Keys.db_password`: unknown key `Size`; expected one of `Generate`, `Length`, `ExcludeCharacters`, `ExcludePunctuation`, `RequireEachIncludedType`, `Bytes`, `Encoding`, `Value`, `Rotate`",
        ),
        (
            json!({"api": {"Generate": "token", "Length": 12}}),
            "property `Keys.api`: unknown key `Length` for `Generate: token`; expected `Bytes`, `Encoding` or `Rotate`",
        ),
    ];
    for (keys, expected) in cases {
        let invocation = w
            .invoke(stack.create(LOGICAL, TYPE, json!({ "Keys": keys })))
            .await;
        assert_eq!(failed(&invocation), expected);
        let id = id_of(&invocation.response());
        assert!(id.starts_with("stackwright:create-failed:"), "{id}");
        assert!(
            w.describe(&format!("{}/{LOGICAL}", stack.name()))
                .await
                .is_none(),
            "nothing created"
        );
        // CloudFormation then deletes the failed resource: that succeeds at once.
        succeeded(
            &w.invoke(stack.delete(LOGICAL, TYPE, &id, json!({ "Keys": keys })))
                .await,
        );
    }
}

async fn rollback_of_a_rotate_returns_previous_values(w: &World) {
    let stack = w.stack("rollback");
    let first = json!({"Keys": keys(), "Rotate": "1"});
    let arn = id_of(&succeeded(
        &w.invoke(stack.create(LOGICAL, TYPE, first.clone())).await,
    ));
    let v1 = w.current(&arn).await;
    let second = json!({"Keys": keys(), "Rotate": "2"});
    let rotated = succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, second.clone(), first.clone()))
            .await,
    );
    let v2 = w.current(&arn).await;
    assert_ne!(generated(&v1), generated(&v2));
    // CloudFormation rolls back: an Update whose new properties are the old ones.
    let rolled_back = succeeded(
        &w.invoke_during(
            stack.update(LOGICAL, TYPE, &arn, first.clone(), second.clone()),
            ROLLBACK,
        )
        .await,
    );
    assert_eq!(
        w.current(&arn).await,
        v1,
        "the previous values are back, not a third set"
    );
    assert_eq!(w.previous(&arn).await, v2);
    assert_ne!(
        rolled_back["Data"]["VersionId"],
        rotated["Data"]["VersionId"]
    );

    // The same for a spec change: the old password comes back.
    let mut longer = keys();
    longer["password"]["Length"] = json!(40);
    let longer = json!({"Keys": longer, "Rotate": "1"});
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, longer.clone(), first.clone()))
            .await,
    );
    assert_eq!(w.current(&arn).await["password"].len(), 40);
    succeeded(
        &w.invoke_during(stack.update(LOGICAL, TYPE, &arn, first, longer), ROLLBACK)
            .await,
    );
    assert_eq!(w.current(&arn).await, v1);
}

async fn a_name_change_replaces_the_secret(w: &World) {
    let stack = w.stack("rename");
    let props = json!({"Keys": keys()});
    let old = id_of(&succeeded(
        &w.invoke(stack.create(LOGICAL, TYPE, props.clone())).await,
    ));
    let old_values = w.current(&old).await;
    let name = format!("{}/renamed", stack.name());
    let renamed = json!({"Keys": keys(), "Name": name});
    let response = succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &old, renamed, props.clone()))
            .await,
    );
    let new = id_of(&response);
    assert_ne!(
        new, old,
        "a new physical id: CloudFormation deletes the old secret"
    );
    assert_eq!(response["Data"]["Name"], name.as_str());
    let new_values = w.current(&new).await;
    assert_ne!(generated(&new_values), generated(&old_values));
    // CloudFormation's clean-up Delete of the old one follows its OnDelete (Retain).
    succeeded(
        &w.invoke_during(
            stack.delete(LOGICAL, TYPE, &old, props),
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        )
        .await,
    );
    assert_eq!(w.current(&old).await, old_values);
}

/// The tags the seeder keeps for the rotation function: the mode and each generated key's spec.
fn rotation_tags(tags: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    tags.iter()
        .filter(|(k, _)| k.starts_with("stackwright:spec:") || k.as_str() == "stackwright:rotation")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

async fn the_mode_and_the_specs_are_kept_in_tags(w: &World) {
    let stack = w.stack("modetags");
    let user_tag = json!([{"Key": "team", "Value": "data"}]);
    let first = json!({"Keys": keys(), "Rotation": "single", "Tags": user_tag});
    let arn = id_of(&succeeded(
        &w.invoke(stack.create(LOGICAL, TYPE, first.clone())).await,
    ));
    let password_spec = "password length=24 each=true classes=lowercase+uppercase+digits+punctuation exclude=222f405c";
    let recorded = BTreeMap::from([
        ("stackwright:rotation", "single"),
        (
            "stackwright:spec:api_token",
            "token bytes=32 encoding=base64url",
        ),
        ("stackwright:spec:id", "uuid"),
        ("stackwright:spec:password", password_spec),
    ]);
    assert_eq!(rotation_tags(&w.tags(&arn).await), recorded);
    let v1 = w.current(&arn).await;

    // An Update changes the mode, drops a key and changes a spec: the tags follow.
    let mut changed_keys = keys();
    changed_keys.as_object_mut().unwrap().remove("id");
    changed_keys["password"]["Length"] = json!(30);
    let second = json!({"Keys": changed_keys, "Rotation": "alternating", "Tags": user_tag});
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, second.clone(), first.clone()))
            .await,
    );
    let tags = w.tags(&arn).await;
    assert_eq!(
        rotation_tags(&tags),
        BTreeMap::from([
            ("stackwright:rotation", "alternating"),
            (
                "stackwright:spec:api_token",
                "token bytes=32 encoding=base64url"
            ),
            (
                "stackwright:spec:password",
                "password length=30 each=true classes=lowercase+uppercase+digits+punctuation exclude=222f405c"
            ),
        ])
    );
    assert_eq!(tags.get("team").map(String::as_str), Some("data"));

    // The rollback (the old properties again) restores them, and the old values.
    succeeded(
        &w.invoke_during(
            stack.update(LOGICAL, TYPE, &arn, first.clone(), second),
            ROLLBACK,
        )
        .await,
    );
    assert_eq!(rotation_tags(&w.tags(&arn).await), recorded);
    assert_eq!(w.current(&arn).await, v1);

    // `Rotation` removed: its tag goes, the specs stay.
    let without = json!({"Keys": keys(), "Tags": user_tag});
    succeeded(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, without.clone(), first.clone()))
            .await,
    );
    let mut specs_only = recorded.clone();
    specs_only.remove("stackwright:rotation");
    assert_eq!(rotation_tags(&w.tags(&arn).await), specs_only);

    // Tags someone else put on the secret count too: with 43 of theirs it carries 50, no room
    // is left for the mode's tag, and the Update fails before touching anything.
    let others: Vec<Value> = (0..43)
        .map(|i| json!({"Key": format!("other{i:02}"), "Value": "x"}))
        .collect();
    w.sm.call("TagResource", &json!({"SecretId": arn, "Tags": others}))
        .await
        .unwrap();
    let before = w.tags(&arn).await;
    let reason = failed(
        &w.invoke(stack.update(LOGICAL, TYPE, &arn, first, without))
            .await,
    );
    assert!(
        reason.contains("would carry 51 tags and Secrets Manager keeps at most 50")
            && reason.contains("`other00`"),
        "{reason}"
    );
    assert_eq!(w.tags(&arn).await, before, "nothing was changed");
}

// ----------------------------------------------------------------------------------------
// Tests: each scenario alone, then all of them together for the suite-wide leak check.

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let world = World::new().await;
                super::$name(&world).await;
                world.assert_no_value_leaked().await;
            }
        )*

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn no_generated_value_of_the_whole_suite_reaches_a_log_or_a_response() {
            let world = World::new().await;
            tokio::join!($(super::$name(&world)),*);
            let checked = world.assert_no_value_leaked().await;
            // Every scenario but the bad specs reads back at least four generated values.
            assert!(checked >= 4 * 12, "only {checked} values were read back");
        }
    };
}

mod scenarios {
    use super::World;

    scenario_tests!(
        create,
        an_unrelated_update_keeps_values,
        rotate,
        one_changed_spec_changes_only_that_key,
        a_removed_key_is_removed,
        a_literal_follows_the_template,
        adoption,
        restore_after_scheduled_deletion,
        each_delete_policy,
        a_redelivered_create_leaves_one_version,
        bad_specs_fail_naming_the_key_and_the_property,
        rollback_of_a_rotate_returns_previous_values,
        a_name_change_replaces_the_secret,
        the_mode_and_the_specs_are_kept_in_tags,
    );
}
