//! Trust boundaries (issue 14), against the function binary as Lambda runs it: where HTTP may
//! go (`STACKWRIGHT_HTTP_HOSTS`) and deleting the remote object only when the stage allows it
//! (`DeleteRemote` in `STACKWRIGHT_ALLOW`).
//!
//! Each attack is an event anyone allowed to invoke the function could write. Each is shown
//! to do nothing — no request reaches the API, no secret is read, nothing secret in the logs
//! or the `Reason` — with the other layers passing (confirmed by CloudFormation, the stack
//! listed, every switch allowed unless the switch is what is tested). Then the same event,
//! confirmed and allowed, succeeds.

mod support;

use serde_json::{Value, json};
use support::{FakeApi, FakeSecrets, HOSTS_VARIABLE, Reply, Setup, failed, succeeded};

/// The webhook's credential.
const TOKEN: &str = "tok_trust_7Hq2mXv9Zr";

/// The webhook as the template has it: created, deleted, authenticated from a secret.
fn webhook(base: &str) -> Value {
    json!({
        "BaseUrl": base,
        "Create": {"Path": "/hooks", "Body": {"name": "deploy"}},
        "Delete": {"Path": "/hooks/{id}"},
        "Auth": {"SecretArn": "stackwright-dev/webhook-token", "Key": "token"},
    })
}

fn created(id: &str) -> Reply {
    Reply::json(201, json!({"id": id}))
}

fn methods(api: &FakeApi) -> Vec<String> {
    api.seen()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect()
}

/// Attack: "send the webhook's auth token to any host" — an `http-resource` Create with
/// another `BaseUrl` and the same `Auth`. A name the stage does not list, a name that
/// resolves to loopback, the metadata address, a replacing Update and a Delete: each FAILED
/// naming the host and the variable, before the secret is read, with no request sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_auth_token_to_another_host_is_refused_before_the_secret_is_read() {
    let secrets = FakeSecrets::start(TOKEN).await;
    let api = FakeApi::start(|req, _| match req.method.as_str() {
        "POST" => created("h-1"),
        _ => Reply::empty(204),
    })
    .await;
    let port = api.base_url().rsplit(':').next().unwrap().to_owned();
    let s = Setup::with("trust-auth-host", |c| {
        let (k, v) = secrets.env();
        c.env(k, v)
    })
    .await;
    s.secret(TOKEN);

    for (base, host) in [
        // A host anywhere on the internet: not listed.
        ("https://hooks.attacker.example", "hooks.attacker.example"),
        // A name that resolves to loopback (where the API, and Lambda's Runtime API,
        // listen): the address is listed, the name is not.
        (&*format!("http://localhost:{port}"), "localhost"),
        // The instance metadata service.
        ("http://169.254.169.254", "169.254.169.254"),
        // ...written as an IPv4-mapped IPv6 address.
        ("http://[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]"),
    ] {
        let mut props = webhook(base);
        props["AllowHttp"] = json!(true);
        let why = failed(&s.invoke(s.create(props.clone())).await);
        assert!(
            why.starts_with(&format!("the host `{host}` of `BaseUrl` is refused: ")),
            "{base}: {why}"
        );
        assert!(why.contains(&format!("`{HOSTS_VARIABLE}`")), "{why}");

        // A replacing Update (a new `BaseUrl`) and a Delete are refused the same way.
        let why = failed(
            &s.invoke(s.update("h-1", props.clone(), webhook(&api.base_url())))
                .await,
        );
        assert!(why.contains(&format!("`{HOSTS_VARIABLE}`")), "{why}");
        let why = failed(&s.invoke(s.delete("h-1", props)).await);
        assert!(why.contains(&format!("`{HOSTS_VARIABLE}`")), "{why}");
    }
    assert!(
        secrets.reads().is_empty(),
        "the Auth secret was read: {:?}",
        secrets.reads()
    );
    assert!(api.seen().is_empty(), "{:?}", methods(&api));

    // The same Create to the listed host: the secret is read once and is on the wire.
    let r = succeeded(&s.invoke(s.create(webhook(&api.base_url()))).await);
    assert_eq!(r["PhysicalResourceId"], "h-1");
    assert_eq!(secrets.reads(), ["stackwright-dev/webhook-token"]);
    let seen = api.seen();
    assert_eq!(methods(&api), ["POST /hooks"]);
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    succeeded(&s.invoke(s.delete("h-1", webhook(&api.base_url()))).await);
    assert_eq!(methods(&api), ["POST /hooks", "DELETE /hooks/h-1"]);
    s.assert_no_leak();
}

/// A name that resolves to loopback is allowed only when the stage lists its addresses: the
/// address alone does not allow the name, the name alone does not allow its addresses. No
/// connection arrives until both are listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_loopback_needs_its_addresses_listed_too() {
    let api = FakeApi::scripted(vec![], created("h-2")).await;
    let port = api.base_url().rsplit(':').next().unwrap().to_owned();
    let props = json!({
        "BaseUrl": format!("http://localhost:{port}"),
        "Create": {"Path": "/hooks", "Body": {"name": "deploy"}},
    });
    for (hosts, says) in [
        ("127.0.0.1", "it is not listed in `STACKWRIGHT_HTTP_HOSTS`"),
        ("localhost", "it resolves to `"),
        ("localhost,0.0.0.0/0,::/0", "a loopback address"),
        ("", "`STACKWRIGHT_HTTP_HOSTS` is empty"),
    ] {
        let s = Setup::with("trust-loopback", |c| c.env(HOSTS_VARIABLE, hosts)).await;
        let why = failed(&s.invoke(s.create(props.clone())).await);
        assert!(
            why.starts_with("the host `localhost` of `BaseUrl` is refused: "),
            "{hosts}: {why}"
        );
        assert!(why.contains(says), "{hosts}: {why}");
        assert!(api.seen().is_empty(), "{hosts}: a connection arrived");
    }
    let s = Setup::with("trust-loopback", |c| {
        c.env(HOSTS_VARIABLE, "localhost,127.0.0.0/8,::1/128")
    })
    .await;
    let r = succeeded(&s.invoke(s.create(props)).await);
    assert_eq!(r["PhysicalResourceId"], "h-2");
    assert_eq!(methods(&api), ["POST /hooks"]);
}

/// A list that does not parse sends nothing, and says which entry is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_list_that_does_not_parse_sends_nothing() {
    let api = FakeApi::scripted(vec![], created("h-3")).await;
    let s = Setup::with("trust-bad-list", |c| {
        c.env(HOSTS_VARIABLE, "127.0.0.1,https://api.example.com")
    })
    .await;
    let why = failed(&s.invoke(s.create(webhook(&api.base_url()))).await);
    assert!(
        why.starts_with(
            "`STACKWRIGHT_HTTP_HOSTS` cannot be used: `https://api.example.com` is not a host name"
        ),
        "{why}"
    );
    assert!(api.seen().is_empty());
}

/// A redirect, even to a listed host, is not followed: the credential stays with the host
/// the template named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_followed() {
    let elsewhere = FakeApi::scripted(vec![], created("h-4")).await;
    let to = format!("{}/hooks", elsewhere.base_url());
    let api = FakeApi::scripted(vec![], Reply::empty(307).header("location", &to)).await;
    let s = Setup::new("trust-redirect").await;
    let mut props = webhook(&api.base_url());
    props.as_object_mut().unwrap().remove("Auth");
    let why = failed(&s.invoke(s.create(props)).await);
    assert!(why.contains("redirects are not followed"), "{why}");
    assert_eq!(methods(&api), ["POST /hooks"]);
    assert!(elsewhere.seen().is_empty());
}

/// Attack: a Delete CloudFormation did not send (`invoke_forged`), whether the stack is
/// unknown or settled (`UPDATE_COMPLETE`, the resource `UPDATE_COMPLETE`): the runner retains,
/// no DELETE reaches the API and no secret is read, though the stage allows `DeleteRemote`
/// and lists the host. The same Delete, confirmed, deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_forged_delete_deletes_nothing() {
    let secrets = FakeSecrets::start(TOKEN).await;
    let api = FakeApi::scripted(vec![], Reply::empty(204)).await;
    let s = Setup::with("trust-forged-delete", |c| {
        let (k, v) = secrets.env();
        c.env(k, v)
    })
    .await;
    s.secret(TOKEN);
    let event = s.delete("h-5", webhook(&api.base_url()));

    succeeded(&s.lambda.invoke_forged(event.clone()).await.unwrap());
    let stack_id = event["StackId"].as_str().unwrap();
    let cloudformation = s.lambda.cloudformation();
    cloudformation.set_stack(stack_id, "UPDATE_COMPLETE");
    cloudformation.set_resource(stack_id, "Hook", "UPDATE_COMPLETE", Some("h-5"));
    succeeded(&s.lambda.invoke_forged(event).await.unwrap());
    s.assert_no_leak();
    assert!(api.seen().is_empty(), "{:?}", methods(&api));
    assert!(secrets.reads().is_empty());

    // The same Delete sent by CloudFormation (a request of its own: the forged one's ids
    // were answered in this sandbox already) deletes.
    succeeded(&s.invoke(s.delete("h-5", webhook(&api.base_url()))).await);
    assert_eq!(methods(&api), ["DELETE /hooks/h-5"]);
    assert_eq!(secrets.reads().len(), 1);
}

/// `DeleteRemote` not allowed (`STACKWRIGHT_ALLOW` empty), every other layer passing: a
/// confirmed Delete retains (SUCCESS, nothing sent, no secret read); a Create that asks for
/// the switch is FAILED by the runner before anything is sent; an Update goes on without it
/// (`Data.Ignored`), and a replacement that fails leaves its new object in place rather than
/// deleting it. With the switch allowed, the same Delete deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_delete_remote_a_delete_retains_and_nothing_is_deleted() {
    let secrets = FakeSecrets::start(TOKEN).await;
    let api = FakeApi::start(|req, _| match (req.method.as_str(), req.target.as_str()) {
        ("POST", _) => created("h-new"),
        ("PATCH", _) => Reply::json(
            200,
            json!({"id": "h-6", "url": "https://hooks.example/h-6"}),
        ),
        _ => Reply::empty(204),
    })
    .await;
    let s = Setup::with("trust-no-delete-remote", |c| {
        let (k, v) = secrets.env();
        c.env(k, v).env("STACKWRIGHT_ALLOW", "")
    })
    .await;
    s.secret(TOKEN);
    let props = webhook(&api.base_url());

    // Delete: retained.
    let inv = s.invoke(s.delete("h-6", props.clone())).await;
    succeeded(&inv);
    assert!(
        inv.logs.iter().any(|l| l.contains("DeleteRemote")),
        "{:#?}",
        inv.logs
    );
    assert!(api.seen().is_empty(), "{:?}", methods(&api));
    assert!(secrets.reads().is_empty());

    // Create asking for the switch: FAILED naming it and the variable.
    let why = failed(&s.invoke(s.create(props.clone())).await);
    assert!(why.contains("`DeleteRemote`"), "{why}");
    assert!(why.contains("`STACKWRIGHT_ALLOW`"), "{why}");
    assert!(api.seen().is_empty(), "{:?}", methods(&api));

    // Update in place: goes on, naming the ignored switch.
    let mut in_place = props.clone();
    in_place["Update"] = json!({"Method": "PATCH", "Path": "/hooks/{id}", "Body": {"name": "d2"}});
    let r = succeeded(&s.invoke(s.update("h-6", in_place.clone(), in_place)).await);
    assert_eq!(r["Data"]["Ignored"], "DeleteRemote");
    assert_eq!(methods(&api), ["PATCH /hooks/h-6"]);

    // A replacement whose outputs are missing: the new object is left, not deleted.
    let mut replaced = props.clone();
    replaced["Create"]["Body"] = json!({"name": "renamed"});
    replaced["Outputs"] = json!({"Url": "/url"});
    let why = failed(&s.invoke(s.update("h-6", replaced, props.clone())).await);
    assert!(
        why.ends_with(
            "the new object `h-new` was left in place (`STACKWRIGHT_ALLOW` does not allow `DeleteRemote`): remove it by hand"
        ),
        "{why}"
    );
    assert_eq!(methods(&api), ["PATCH /hooks/h-6", "POST /hooks"]);

    // Allowed: the same Delete deletes.
    let allowed = Setup::with("trust-delete-remote", |c| {
        let (k, v) = secrets.env();
        c.env(k, v).env("STACKWRIGHT_ALLOW", "DeleteRemote")
    })
    .await;
    allowed.secret(TOKEN);
    succeeded(&allowed.invoke(allowed.delete("h-6", props)).await);
    assert_eq!(
        methods(&api),
        ["PATCH /hooks/h-6", "POST /hooks", "DELETE /hooks/h-6"]
    );
}

/// Confirmed, listed and allowed: Create, Update and Delete all reach the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_listed_and_allowed_create_update_delete_succeed() {
    let secrets = FakeSecrets::start(TOKEN).await;
    let api = FakeApi::start(|req, _| match req.method.as_str() {
        "POST" => created("h-7"),
        "PATCH" => Reply::json(200, json!({"id": "h-7"})),
        _ => Reply::empty(204),
    })
    .await;
    let s = Setup::with("trust-allowed", |c| {
        let (k, v) = secrets.env();
        c.env(k, v).env("STACKWRIGHT_ALLOW", "DeleteRemote")
    })
    .await;
    s.secret(TOKEN);
    let mut props = webhook(&api.base_url());
    props["Update"] = json!({"Method": "PATCH", "Path": "/hooks/{id}", "Body": {"name": "d2"}});
    assert_eq!(
        succeeded(&s.invoke(s.create(props.clone())).await)["PhysicalResourceId"],
        "h-7"
    );
    let r = succeeded(
        &s.invoke(s.update("h-7", props.clone(), props.clone()))
            .await,
    );
    assert!(r["Data"].get("Ignored").is_none(), "{r}");
    succeeded(&s.invoke(s.delete("h-7", props)).await);
    assert_eq!(
        methods(&api),
        ["POST /hooks", "PATCH /hooks/h-7", "DELETE /hooks/h-7"]
    );
    assert!(
        api.seen()
            .iter()
            .all(|r| r.header("authorization") == Some(format!("Bearer {TOKEN}").as_str()))
    );
}
