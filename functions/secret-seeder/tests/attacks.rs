//! Attacks on `secret-seeder` by a caller who is not CloudFormation (issue 14, "Trust
//! boundaries"), each against the real binary as Lambda runs it (harness) and moto's Secrets
//! Manager. Each attack is shown to do nothing: the secrets it aims at are read back before
//! and after (every version's value and labels, the tags, the deletion date), and no secret
//! value, nor the literal the attacker sent, reaches a log line or a response. Each layer is
//! tested with the others passing; then the same event, where it is legitimate, succeeds.
//!
//! | attack | test |
//! |---|---|
//! | overwrite prod's application secret with a forged Update | [`a_forged_update_cannot_overwrite_prods_secret`] |
//! | the same, confirmed by CloudFormation, on a secret not tagged for the resource | [`a_confirmed_update_cannot_overwrite_a_secret_not_tagged_for_it`] |
//! | delete another stack's secret (`OnDelete: ForceDelete` / `Delete`) | [`a_delete_of_another_stacks_secret_retains_it`] |
//! | `OnDelete: Delete` / `ForceDelete` where the stage does not allow `DeleteSecret` | [`on_delete_without_the_delete_secret_switch_retains_the_secret`] |
//! | `Adopt: Always` on Create where the stage does not allow `AdoptAnySecret` | [`adopt_always_without_its_switch_fails_a_create_and_touches_nothing`] |
//! | `Adopt: Always` on Update where the stage does not allow `AdoptAnySecret` | [`adopt_always_without_its_switch_acts_as_if_tagged_on_update`] |
//! | (control) the legitimate lifecycle with only `DeleteSecret` allowed | [`the_legitimate_lifecycle_still_works`] |
//! | (control) a rollback returns to its own tagged secret, whatever `Adopt` says | [`a_rollback_returns_to_its_own_secret_whatever_adopt_says`] |

use std::collections::BTreeMap;
use std::time::Duration;

mod common;

use common::{failed, id_of, succeeded};
use harness::{
    Lambda, LambdaConfig, Moto, ResponseServer, SecretDescription, SecretValue, SecretsManager,
    Stack,
};
use serde_json::{Value, json};

const TYPE: &str = "Custom::SeededSecret";
const OWNER_TAG: &str = "stackwright:owner";
/// What the attacker writes into the secret it aims at.
const ATTACKER_LITERAL: &str = "attacker-chosen-literal-4f9a";

/// One moto, one `ResponseURL` server, and the functions started over them.
struct World {
    moto: Moto,
    responses: ResponseServer,
    sm: SecretsManager,
    /// Every secret value made so far, for the leak check.
    secrets: Vec<String>,
}

impl World {
    async fn new() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let responses = ResponseServer::start().await.expect("response server");
        Self {
            sm: moto.secrets_manager(),
            moto,
            responses,
            secrets: vec![ATTACKER_LITERAL.to_owned()],
        }
    }

    /// The function, with `STACKWRIGHT_ALLOW` set to `allow` (`None`: the harness's default,
    /// every switch).
    async fn lambda(&self, allow: Option<&str>) -> Lambda {
        let binary = harness::pinned(env!("CARGO_BIN_EXE_secret-seeder")).expect("the binary");
        let mut config = LambdaConfig::new(binary)
            .responses(&self.responses)
            .timeout(Duration::from_secs(30))
            .env("RUST_LOG", "trace");
        for (k, v) in self.moto.env() {
            config = config.env(k, v);
        }
        if let Some(allow) = allow {
            config = config.env("STACKWRIGHT_ALLOW", allow);
        }
        Lambda::start(config).await.expect("lambda")
    }

    /// A stack with a name of its own.
    fn stack(&self, prefix: &str) -> Stack {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Stack::new(&format!("{prefix}-{suffix}"), &self.responses)
    }

    /// Creates a secret behind the function's back, holding a password nobody may learn.
    async fn seed(&mut self, name: &str, owner: Option<&str>) -> String {
        let password = format!("prod-password-{}", uuid::Uuid::new_v4().simple());
        let tags: Vec<(&str, &str)> = owner.map(|o| (OWNER_TAG, o)).into_iter().collect();
        let arn = self
            .sm
            .create_secret(name, &json!({ "password": password }).to_string(), &tags)
            .await
            .expect("create_secret");
        self.secrets.push(password);
        arn
    }

    /// Everything Secrets Manager says about secret `id`: its description (tags, labels,
    /// deletion date) and every version's value. Values read are remembered for the leak check.
    async fn snapshot(&mut self, id: &str) -> Snapshot {
        let description = self.sm.describe_secret(id).await.expect("describe_secret");
        let mut values = Vec::new();
        // A secret scheduled for deletion cannot be read: its description says enough.
        if description
            .as_ref()
            .is_some_and(|d| d.deleted_date.is_none())
        {
            for version in self
                .sm
                .list_secret_version_ids(id, true)
                .await
                .expect("list_secret_version_ids")
            {
                let value = self
                    .sm
                    .get_secret_value(id, None, Some(&version))
                    .await
                    .expect("get_secret_value");
                if let Some(map) = value
                    .string
                    .as_deref()
                    .and_then(|s| serde_json::from_str::<BTreeMap<String, String>>(s).ok())
                {
                    self.secrets.extend(map.into_values());
                }
                values.push(value);
            }
        }
        Snapshot {
            description,
            values,
        }
    }

    /// The value of `AWSCURRENT`, key → value.
    async fn current(&mut self, id: &str) -> BTreeMap<String, String> {
        let value = self
            .sm
            .get_secret_value(id, Some("AWSCURRENT"), None)
            .await
            .expect("get_secret_value");
        let map: BTreeMap<String, String> =
            serde_json::from_str(value.string.as_deref().expect("a SecretString")).expect("JSON");
        self.secrets.extend(map.values().cloned());
        map
    }

    /// No secret value, nor the attacker's literal, in any log line of `lambda` or any
    /// response body.
    #[track_caller]
    fn assert_no_leak(&self, lambda: &Lambda) {
        let secrets: Vec<String> = self
            .secrets
            .iter()
            .filter(|s| s.len() >= 8)
            .cloned()
            .collect();
        harness::assert_no_leak(lambda, &self.responses, &secrets);
    }
}

/// A secret as Secrets Manager shows it: compared before and after each attack.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// `None`: the secret does not exist (not even scheduled for deletion).
    description: Option<SecretDescription>,
    /// Every version's value, labels included (none while scheduled for deletion).
    values: Vec<SecretValue>,
}

impl Snapshot {
    fn exists_and_is_not_scheduled_for_deletion(&self) -> bool {
        self.description
            .as_ref()
            .is_some_and(|d| d.deleted_date.is_none())
    }
}

fn generated_keys() -> Value {
    json!({"password": {"Generate": "password", "Length": 24}, "id": {"Generate": "uuid"}})
}

/// The attacker's `Keys`: a literal for the key the application reads.
fn attacker_keys() -> Value {
    json!({"password": {"Value": ATTACKER_LITERAL}})
}

// ----------------------------------------------------------------------------------------
// (a) The forged Update: prod's StackId and LogicalResourceId copied, so the ownership tag
// matches; the stack is listed and every switch allowed. Only CloudFormation's word stands
// between.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_update_cannot_overwrite_prods_secret() {
    let mut w = World::new().await;
    let lambda = w.lambda(None).await;
    let prod = w.stack("prod-app");
    let owner = format!("{}/AppSecret", prod.name());
    let arn = w.seed(&owner, Some(&owner)).await;
    // CloudFormation knows prod's stack, at rest, and its secret resource.
    let cloudformation = lambda.cloudformation();
    cloudformation.set_stack(prod.stack_id(), "UPDATE_COMPLETE");
    cloudformation.set_resource(prod.stack_id(), "AppSecret", "UPDATE_COMPLETE", Some(&arn));
    let before = w.snapshot(&arn).await;

    let attack = || {
        prod.update(
            "AppSecret",
            TYPE,
            &arn,
            json!({"Keys": attacker_keys(), "Adopt": "Always", "OnDelete": "ForceDelete"}),
            json!({"Keys": {"password": {"Generate": "password"}}}),
        )
    };
    let forged = lambda.invoke_forged(attack()).await.unwrap();
    let reason = failed(&forged);
    assert!(
        reason.starts_with(
            "not part of a stack operation in progress (the stack is `UPDATE_COMPLETE`"
        ),
        "{reason}"
    );
    assert_eq!(w.snapshot(&arn).await, before, "prod's secret is untouched");
    let calls = cloudformation.calls();
    assert!(
        !calls.is_empty()
            && calls
                .iter()
                .all(|c| c == "DescribeStacks" || c == "DescribeStackResource"),
        "{calls:?}"
    );

    // A forged Delete of it, with ForceDelete: retained.
    let delete = prod.delete(
        "AppSecret",
        TYPE,
        &arn,
        json!({"Keys": attacker_keys(), "OnDelete": "ForceDelete"}),
    );
    succeeded(&lambda.invoke_forged(delete).await.unwrap());
    assert_eq!(w.snapshot(&arn).await, before, "not deleted");

    // The same Update, really part of prod's operation (a request of its own), is prod's
    // own: it goes through.
    succeeded(&lambda.invoke(attack()).await.unwrap());
    assert_eq!(w.current(&arn).await["password"], ATTACKER_LITERAL);
    w.assert_no_leak(&lambda);
}

// ----------------------------------------------------------------------------------------
// (b) CloudFormation confirms the Update (as if the confirmation had failed, or the attacker
// runs a stack of their own), the stack is listed, and every switch is allowed, `Adopt:
// Always` included. Only the ownership tag stands between.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_update_cannot_overwrite_a_secret_not_tagged_for_it() {
    let mut w = World::new().await;
    let lambda = w.lambda(None).await;
    let attacker = w.stack("dev-app");
    let prod_name = format!("{}/AppSecret", w.stack("prod-app").name());
    let tagged_for_prod = w.seed(&prod_name, Some(&prod_name)).await;
    let untagged_name = format!("{}/Untagged", w.stack("prod-app").name());
    let untagged = w.seed(&untagged_name, None).await;
    let same_stack_other_id = format!("{}/OtherSecret", attacker.name());
    let other_logical = w
        .seed(&same_stack_other_id, Some(&same_stack_other_id))
        .await;

    for (arn, name, found) in [
        (
            &tagged_for_prod,
            &prod_name,
            format!("its tag says `{prod_name}`"),
        ),
        (&untagged, &untagged_name, "it has none".to_owned()),
        (
            &other_logical,
            &same_stack_other_id,
            format!("its tag says `{same_stack_other_id}`"),
        ),
    ] {
        let before = w.snapshot(arn).await;
        // `Name` is the target's, so the Update reaches the secret the physical id names.
        let props = json!({"Keys": attacker_keys(), "Name": name, "Adopt": "Always"});
        let attack = attacker.update("AppSecret", TYPE, arn, props.clone(), props);
        // `invoke` records the event's id as the resource's: CloudFormation confirms it.
        let invocation = lambda.invoke(attack).await.unwrap();
        let reason = failed(&invocation);
        assert_eq!(
            reason,
            format!(
                "secret `{name}` does not carry this resource's ownership tag \
                 `stackwright:owner={}/AppSecret` ({found}); it was left untouched. An Update \
                 writes only to a secret this resource created or took over: if this secret is \
                 this resource's, tag it `stackwright:owner={}/AppSecret` and deploy again",
                attacker.name(),
                attacker.name()
            )
        );
        assert_eq!(&id_of(&invocation.response()), arn, "the id is kept");
        assert_eq!(w.snapshot(arn).await, before, "`{name}` is untouched");
    }

    // The same Update on a secret tagged for this resource goes through.
    let ours_name = format!("{}/AppSecret", attacker.name());
    let ours = w.seed(&ours_name, Some(&ours_name)).await;
    let props = json!({"Keys": attacker_keys(), "Name": ours_name, "Adopt": "Always"});
    let update = attacker.update("AppSecret", TYPE, &ours, props.clone(), props);
    succeeded(&lambda.invoke(update).await.unwrap());
    assert_eq!(w.current(&ours).await["password"], ATTACKER_LITERAL);
    w.assert_no_leak(&lambda);
}

// ----------------------------------------------------------------------------------------
// (c) A confirmed Delete naming another stack's secret, with `DeleteSecret` allowed: only the
// ownership tag stands between.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_another_stacks_secret_retains_it() {
    let mut w = World::new().await;
    let lambda = w.lambda(Some("DeleteSecret")).await;
    let attacker = w.stack("dev-app");
    let prod_name = format!("{}/AppSecret", w.stack("prod-app").name());
    let prod = w.seed(&prod_name, Some(&prod_name)).await;
    let untagged = w
        .seed(&format!("{}/Untagged", w.stack("prod-app").name()), None)
        .await;
    for arn in [&prod, &untagged] {
        let before = w.snapshot(arn).await;
        for on_delete in ["ForceDelete", "Delete"] {
            let props = json!({"Keys": attacker_keys(), "OnDelete": on_delete});
            let delete = attacker.delete("AppSecret", TYPE, arn, props);
            let invocation = lambda.invoke(delete).await.unwrap();
            succeeded(&invocation);
            let after = w.snapshot(arn).await;
            assert!(
                after.exists_and_is_not_scheduled_for_deletion(),
                "{on_delete}"
            );
            assert_eq!(after, before, "{on_delete}: untouched");
        }
    }
    assert!(
        lambda
            .logs()
            .iter()
            .any(|l| l.contains("the secret is not this resource's")),
        "the log says why it was retained"
    );

    // The same Delete of the resource's own secret deletes it.
    let ours_name = format!("{}/AppSecret", attacker.name());
    let ours = w.seed(&ours_name, Some(&ours_name)).await;
    let props = json!({"Keys": attacker_keys(), "OnDelete": "ForceDelete"});
    succeeded(
        &lambda
            .invoke(attacker.delete("AppSecret", TYPE, &ours, props))
            .await
            .unwrap(),
    );
    assert!(w.snapshot(&ours).await.description.is_none(), "deleted");
    w.assert_no_leak(&lambda);
}

// ----------------------------------------------------------------------------------------
// (d) The stage's switches: confirmed requests, the resource's own tagged secrets, the stack
// listed. Only `STACKWRIGHT_ALLOW` stands between.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_delete_without_the_delete_secret_switch_retains_the_secret() {
    let mut w = World::new().await;
    let strict = w.lambda(Some("")).await;
    let stack = w.stack("strict");
    let keep = json!({"Keys": generated_keys()});
    let arn = id_of(&succeeded(
        &strict
            .invoke(stack.create("Secret", TYPE, keep.clone()))
            .await
            .unwrap(),
    ));
    // The template later asks for deletion: the Update goes on and names the switch ignored.
    let delete_it = json!({"Keys": generated_keys(), "OnDelete": "Delete"});
    let updated = succeeded(
        &strict
            .invoke(stack.update("Secret", TYPE, &arn, delete_it.clone(), keep))
            .await
            .unwrap(),
    );
    assert_eq!(updated["Data"]["Ignored"], "DeleteSecret");
    let before = w.snapshot(&arn).await;
    for on_delete in ["Delete", "ForceDelete"] {
        let props = json!({"Keys": generated_keys(), "OnDelete": on_delete});
        let delete = stack.delete("Secret", TYPE, &arn, props);
        succeeded(&strict.invoke(delete).await.unwrap());
        let after = w.snapshot(&arn).await;
        assert!(
            after.exists_and_is_not_scheduled_for_deletion(),
            "{on_delete}"
        );
        assert_eq!(after, before, "{on_delete}: retained");
    }
    assert!(
        strict
            .logs()
            .iter()
            .any(|l| l.contains("does not allow the switch DeleteSecret")),
        "the log says why it was retained"
    );
    w.assert_no_leak(&strict);

    // The same Delete where the stage allows it: scheduled.
    let allowing = w.lambda(Some("DeleteSecret")).await;
    succeeded(
        &allowing
            .invoke(stack.delete("Secret", TYPE, &arn, delete_it))
            .await
            .unwrap(),
    );
    let after = w.snapshot(&arn).await;
    assert!(
        after.description.unwrap().deleted_date.is_some(),
        "scheduled for deletion"
    );
    w.assert_no_leak(&allowing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_always_without_its_switch_fails_a_create_and_touches_nothing() {
    let mut w = World::new().await;
    let strict = w.lambda(Some("DeleteSecret")).await;
    let stack = w.stack("strict");
    let name = format!("{}/Secret", stack.name());
    let untagged = w.seed(&name, None).await;
    let before = w.snapshot(&untagged).await;
    let adopt = json!({"Keys": attacker_keys(), "Adopt": "Always"});
    let create = stack.create("Secret", TYPE, adopt.clone());
    let reason = failed(&strict.invoke(create.clone()).await.unwrap());
    assert!(
        reason.contains("`AdoptAnySecret`") && reason.contains("`STACKWRIGHT_ALLOW`"),
        "{reason}"
    );
    assert_eq!(w.snapshot(&untagged).await, before, "not taken over");

    // Where no secret has the name: nothing is created either.
    let fresh = stack.create("Fresh", TYPE, adopt.clone());
    let reason = failed(&strict.invoke(fresh).await.unwrap());
    assert!(reason.contains("`AdoptAnySecret`"), "{reason}");
    let fresh_name = format!("{}/Fresh", stack.name());
    assert!(w.snapshot(&fresh_name).await.description.is_none());
    w.assert_no_leak(&strict);

    // The same Create where the stage allows it takes the secret over.
    let allowing = w.lambda(Some("AdoptAnySecret")).await;
    let adopted = succeeded(&allowing.invoke(create).await.unwrap());
    assert_eq!(id_of(&adopted), untagged);
    let after = w.snapshot(&untagged).await;
    assert_eq!(after.description.unwrap().tags[OWNER_TAG], name);
    w.assert_no_leak(&allowing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopt_always_without_its_switch_acts_as_if_tagged_on_update() {
    let mut w = World::new().await;
    let strict = w.lambda(Some("")).await;
    let stack = w.stack("strict");
    let props = json!({"Keys": generated_keys()});
    let arn = id_of(&succeeded(
        &strict
            .invoke(stack.create("Secret", TYPE, props.clone()))
            .await
            .unwrap(),
    ));
    // On its own secret, `Adopt: Always` changes nothing: SUCCESS, the switch named ignored.
    let always = json!({"Keys": generated_keys(), "Adopt": "Always"});
    let kept = succeeded(
        &strict
            .invoke(stack.update("Secret", TYPE, &arn, always.clone(), props.clone()))
            .await
            .unwrap(),
    );
    assert_eq!(id_of(&kept), arn);
    assert_eq!(kept["Data"]["Ignored"], "AdoptAnySecret");

    // A `Name` change onto someone else's untagged secret: refused as `IfTagged` would.
    let foreign_name = format!("{}/Foreign", w.stack("prod-app").name());
    let foreign = w.seed(&foreign_name, None).await;
    let before = w.snapshot(&foreign).await;
    let ours_before = w.snapshot(&arn).await;
    let takeover = json!({"Keys": attacker_keys(), "Name": foreign_name, "Adopt": "Always"});
    let update = stack.update("Secret", TYPE, &arn, takeover, always);
    let reason = failed(&strict.invoke(update.clone()).await.unwrap());
    assert!(
        reason.starts_with(&format!(
            "secret `{foreign_name}` already exists and has no `stackwright:owner` tag; it was left untouched. \
             `Adopt: Always` is not allowed in this function's stage (switch `AdoptAnySecret` in `STACKWRIGHT_ALLOW`)"
        )),
        "{reason}"
    );
    assert_eq!(w.snapshot(&foreign).await, before, "not taken over");
    assert_eq!(w.snapshot(&arn).await, ours_before, "nor its own touched");
    w.assert_no_leak(&strict);

    // Allowed, the same Update takes it over (a replacement: the new id is the foreign one).
    let allowing = w.lambda(Some("AdoptAnySecret")).await;
    let replaced = succeeded(&allowing.invoke(update).await.unwrap());
    assert_eq!(id_of(&replaced), foreign);
    assert_eq!(w.current(&foreign).await["password"], ATTACKER_LITERAL);
    w.assert_no_leak(&allowing);
}

// ----------------------------------------------------------------------------------------
// (e) Controls: what CloudFormation really sends still works, with only the switch it needs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legitimate_lifecycle_still_works() {
    let mut w = World::new().await;
    let lambda = w.lambda(Some("DeleteSecret")).await;
    let stack = w.stack("legit");
    let first = json!({"Keys": generated_keys(), "OnDelete": "Delete", "Rotate": "1"});
    let created = succeeded(
        &lambda
            .invoke(stack.create("Secret", TYPE, first.clone()))
            .await
            .unwrap(),
    );
    assert!(created["Data"].get("Ignored").is_none(), "{created}");
    let arn = id_of(&created);
    let v1 = w.current(&arn).await;
    let second = json!({"Keys": generated_keys(), "OnDelete": "Delete", "Rotate": "2"});
    succeeded(
        &lambda
            .invoke(stack.update("Secret", TYPE, &arn, second.clone(), first.clone()))
            .await
            .unwrap(),
    );
    let v2 = w.current(&arn).await;
    assert_ne!(v1, v2, "rotated");
    // The stack rolls back: the old properties again, the previous values back.
    succeeded(
        &lambda
            .invoke_during(
                stack.update("Secret", TYPE, &arn, first.clone(), second),
                "UPDATE_ROLLBACK_IN_PROGRESS",
            )
            .await
            .unwrap(),
    );
    assert_eq!(w.current(&arn).await, v1, "the previous values are back");
    succeeded(
        &lambda
            .invoke(stack.delete("Secret", TYPE, &arn, first))
            .await
            .unwrap(),
    );
    let after = w.snapshot(&arn).await;
    assert!(
        after.description.unwrap().deleted_date.is_some(),
        "scheduled for deletion"
    );
    w.assert_no_leak(&lambda);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_returns_to_its_own_secret_whatever_adopt_says() {
    let mut w = World::new().await;
    let lambda = w.lambda(Some("")).await;
    let stack = w.stack("rename");
    let old = json!({"Keys": generated_keys(), "Adopt": "Never"});
    let old_arn = id_of(&succeeded(
        &lambda
            .invoke(stack.create("Secret", TYPE, old.clone()))
            .await
            .unwrap(),
    ));
    let old_values = w.current(&old_arn).await;
    let new_name = format!("{}/Renamed", stack.name());
    let new = json!({"Keys": generated_keys(), "Adopt": "Never", "Name": new_name});
    let new_arn = id_of(&succeeded(
        &lambda
            .invoke(stack.update("Secret", TYPE, &old_arn, new.clone(), old.clone()))
            .await
            .unwrap(),
    ));
    assert_ne!(new_arn, old_arn, "replaced");
    // The update fails later on; CloudFormation rolls back to the old name, which is the old
    // secret: tagged for this resource, so taken back even under `Adopt: Never`.
    let back = succeeded(
        &lambda
            .invoke_during(
                stack.update("Secret", TYPE, &new_arn, old, new.clone()),
                "UPDATE_ROLLBACK_IN_PROGRESS",
            )
            .await
            .unwrap(),
    );
    assert_eq!(id_of(&back), old_arn);
    assert_eq!(w.current(&old_arn).await, old_values, "values kept");
    // The clean-up Delete of the new id (OnDelete: Retain) leaves it.
    succeeded(
        &lambda
            .invoke_during(
                stack.delete("Secret", TYPE, &new_arn, new),
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
            )
            .await
            .unwrap(),
    );
    assert!(
        w.snapshot(&new_arn)
            .await
            .exists_and_is_not_scheduled_for_deletion()
    );
    w.assert_no_leak(&lambda);
}
