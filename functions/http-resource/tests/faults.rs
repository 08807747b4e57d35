//! `Custom::HttpResource` against small APIs of the tests' own that misbehave on purpose:
//! throttling, outages, silence, refused credentials, ids in odd places, and credentials that
//! must stay on the wire.

mod support;

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::{FakeApi, HOSTS_VARIABLE, Reply, Setup, failed, succeeded};

fn hook(base: &str) -> Value {
    json!({
        "BaseUrl": base,
        "Create": {"Path": "/hooks", "Body": {"name": "web"}},
        "Delete": {"Path": "/hooks/{id}"},
    })
}

fn created(id: &str) -> Reply {
    Reply::json(
        201,
        json!({"id": id, "url": format!("https://hooks.example/{id}")}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_after_the_seconds_in_retry_after() {
    let api = FakeApi::scripted(
        vec![Reply::json(429, json!({"message": "slow down"})).header("retry-after", "1")],
        created("h-1"),
    )
    .await;
    let s = Setup::new("http-429").await;
    let inv = s.invoke(s.create(hook(&api.base_url()))).await;
    assert_eq!(succeeded(&inv)["PhysicalResourceId"], "h-1");
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
    assert!(gap < Duration::from_secs(3), "waited {gap:?}");
    // The retry is the same request: same idempotency key.
    assert_eq!(
        seen[0].header("idempotency-key"),
        seen[1].header("idempotency-key")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_after_the_date_in_retry_after() {
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let api = FakeApi::scripted(
        vec![Reply::empty(503).header("retry-after", &at)],
        created("h-2"),
    )
    .await;
    let s = Setup::new("http-429-date").await;
    succeeded(&s.invoke(s.create(hook(&api.base_url()))).await);
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    // The date has whole seconds: between one and two seconds from the first answer.
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_millis(950), "waited only {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_twice_then_created() {
    let api = FakeApi::scripted(
        vec![
            Reply::json(503, json!({"message": "maintenance"})),
            Reply::empty(503),
        ],
        created("h-3"),
    )
    .await;
    let s = Setup::new("http-503").await;
    let inv = s.invoke(s.create(hook(&api.base_url()))).await;
    assert_eq!(succeeded(&inv)["PhysicalResourceId"], "h-3");
    assert_eq!(api.seen().len(), 3);
    let retries = inv
        .logs
        .iter()
        .filter(|l| l.contains("trying again"))
        .count();
    assert_eq!(retries, 2, "{:#?}", inv.logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_attempts_fails_naming_the_request() {
    let api = FakeApi::scripted(vec![], Reply::json(502, json!({"message": "bad gateway"}))).await;
    let s = Setup::new("http-502").await;
    let mut props = hook(&api.base_url());
    props["Retry"] = json!({"MaxAttempts": "2"});
    let why = failed(&s.invoke(s.create(props)).await);
    assert_eq!(api.seen().len(), 2);
    assert_eq!(
        why,
        r#"the Create request `POST /hooks` answered 502 Bad Gateway with `{"message":"bad gateway"}` after 2 attempts"#
    );

    // A POST without an idempotency key is not sent twice after a 502: the server behind the
    // gateway may have created the object.
    let api = FakeApi::scripted(vec![], Reply::empty(502)).await;
    let mut props = hook(&api.base_url());
    props["IdempotencyKey"] = json!("");
    let why = failed(&s.invoke(s.create(props)).await);
    assert_eq!(api.seen().len(), 1);
    assert!(why.contains("not retried"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_before_the_deadline() {
    let api = FakeApi::scripted(vec![], Reply::Hang).await;
    let timeout = Duration::from_secs(5);
    let s = Setup::with("http-hang", |c| c.timeout(timeout)).await;
    let inv = s.invoke(s.create(hook(&api.base_url()))).await;
    let why = failed(&inv);
    assert!(inv.duration < timeout, "answered after {:?}", inv.duration);
    assert!(
        why.starts_with("the Create request `POST /hooks` was given up after 1 attempt"),
        "{why}"
    );
    assert!(why.contains("no answer within"), "{why}");
    assert_eq!(api.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_fails_at_once_without_retry() {
    let api = FakeApi::scripted(
        vec![],
        Reply::json(401, json!({"message": "Bad credentials"})),
    )
    .await;
    let s = Setup::new("http-401").await;
    let inv = s.invoke(s.create(hook(&api.base_url()))).await;
    let why = failed(&inv);
    assert_eq!(api.seen().len(), 1);
    assert!(
        why.starts_with(
            r#"the Create request `POST /hooks` answered 401 Unauthorized with `{"message":"Bad credentials"}`; not retried: check the credential in `Auth`"#
        ),
        "{why}"
    );
    // The failed Create's id is the library's; its Delete succeeds and sends nothing.
    let id = inv.response()["PhysicalResourceId"]
        .as_str()
        .unwrap()
        .to_owned();
    succeeded(&s.invoke(s.delete(&id, hook(&api.base_url()))).await);
    assert_eq!(api.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_finds_nothing_succeeds() {
    let api = FakeApi::scripted(
        vec![Reply::json(404, json!({"message": "Not Found"}))],
        Reply::empty(410),
    )
    .await;
    let s = Setup::new("http-404").await;
    let props = hook(&api.base_url());
    succeeded(&s.invoke(s.delete("h/4 x", props.clone())).await);
    succeeded(&s.invoke(s.delete("h-5", props)).await);
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "DELETE");
    // The id is one path segment, however it is spelled.
    assert_eq!(seen[0].target, "/hooks/h%2F4%20x");
    assert_eq!(seen[1].target, "/hooks/h-5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_cloudformation_made_up_are_never_sent() {
    let api = FakeApi::scripted(vec![], Reply::empty(500)).await;
    let s = Setup::new("http-invented").await;
    // A Create that never answered: CloudFormation invents `<stack>-<logical id>-<random>`.
    let invented = "http-invented-Hook-1A2B3C4D5E6F";
    let inv = s.invoke(s.delete(invented, hook(&api.base_url()))).await;
    succeeded(&inv);
    assert!(api.seen().is_empty(), "{:?}", api.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_an_id_cloudformation_made_up_creates_the_object() {
    let api = FakeApi::scripted(vec![], created("h-11")).await;
    let s = Setup::new("http-invented-update").await;
    let mut props = hook(&api.base_url());
    props["Update"] = json!({"Method": "PATCH", "Path": "/hooks/{id}"});
    let r = succeeded(
        &s.invoke(s.update(
            "http-invented-update-Hook-ABCDEFGHIJKL",
            props.clone(),
            props,
        ))
        .await,
    );
    assert_eq!(r["PhysicalResourceId"], "h-11");
    let seen = api.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", "/hooks")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_id_may_come_from_the_location_header() {
    let api = FakeApi::scripted(
        vec![Reply::empty(201).header("location", "/v1/things/abc%20def?view=full")],
        Reply::empty(204),
    )
    .await;
    let s = Setup::new("http-location").await;
    let props = json!({
        "BaseUrl": format!("{}/v1", api.base_url()),
        "Create": {"Path": "/things", "Body": {"name": "x"}},
        "Delete": {"Path": "/things/{id}"},
        "IdFrom": "Location",
    });
    let r = succeeded(&s.invoke(s.create(props.clone())).await);
    assert_eq!(r["PhysicalResourceId"], "abc def");
    succeeded(&s.invoke(s.delete("abc def", props)).await);
    let seen = api.seen();
    assert_eq!(seen[1].method, "DELETE");
    assert_eq!(seen[1].target, "/v1/things/abc%20def");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_that_is_not_there_fails_listing_the_keys() {
    let api = FakeApi::scripted(
        vec![],
        Reply::json(201, json!({"data": {"id": 7}, "meta": {"request": "r-1"}})),
    )
    .await;
    let s = Setup::new("http-no-id").await;
    let inv = s.invoke(s.create(hook(&api.base_url()))).await;
    let why = failed(&inv);
    assert!(
        why.starts_with(
            "the Create request `POST /hooks` answered 201 Created, but `IdPointer` `/id` finds no id in it: the response has top-level keys `data`, `meta`"
        ),
        "{why}"
    );
    assert!(why.contains("An object may have been created"), "{why}");
    assert!(
        inv.logs
            .iter()
            .any(|l| l.contains("an object may have been created")),
        "{:#?}",
        inv.logs
    );

    // With the right pointer it works.
    let mut props = hook(&api.base_url());
    props["IdPointer"] = json!("/data/id");
    assert_eq!(
        succeeded(&s.invoke(s.create(props)).await)["PhysicalResourceId"],
        "7"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idempotency_key_is_on_the_wire_and_stable_across_deliveries() {
    let api = FakeApi::scripted(vec![], created("h-6")).await;
    let s = Setup::new("http-idempotency").await;
    let props = hook(&api.base_url());

    // The same Create delivered twice (Lambda's retry, or CloudFormation's).
    let event = s.create(props.clone());
    succeeded(&s.invoke(event.clone()).await);
    // Again in a new sandbox: in the same one, the recorded answer is sent again and the API
    // is not called at all.
    s.lambda.stop();
    succeeded(&s.invoke(event).await);
    // Another Create request.
    succeeded(&s.invoke(s.create(props.clone())).await);
    let keys: Vec<String> = api
        .seen()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0].len(), 32, "{keys:?}");
    assert!(keys[0].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(keys[0], keys[1], "a re-delivery sends the same key");
    assert_ne!(keys[0], keys[2], "another request sends another key");

    // Another header name, or none at all.
    let mut named = props.clone();
    named["IdempotencyKey"] = json!("X-Request-Key");
    succeeded(&s.invoke(s.create(named)).await);
    let mut off = props;
    off["IdempotencyKey"] = json!("");
    succeeded(&s.invoke(s.create(off)).await);
    let seen = api.seen();
    assert!(
        seen[3]
            .header("x-request-key")
            .is_some_and(|k| k.len() == 32)
    );
    assert!(seen[3].header("idempotency-key").is_none());
    assert!(seen[4].header("idempotency-key").is_none());
    assert!(seen[4].header("x-request-key").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_without_a_body_reads_the_object_for_its_outputs() {
    let api = FakeApi::start(|req, _| match req.method.as_str() {
        "PATCH" => Reply::empty(204),
        "GET" => Reply::json(200, json!({"id": "h-7", "url": "https://hooks.example/v2"})),
        _ => Reply::empty(500),
    })
    .await;
    let s = Setup::new("http-204").await;
    let props = json!({
        "BaseUrl": api.base_url(),
        "Create": {"Path": "/hooks", "Body": {"name": "web"}},
        "Read": {"Path": "/hooks/{id}"},
        "Update": {"Method": "PATCH", "Path": "/hooks/{id}", "Body": {"name": "web2"}},
        "Outputs": {"Url": "/url"},
        "NoEcho": "true",
    });
    let r = succeeded(&s.invoke(s.update("h-7", props.clone(), props)).await);
    assert_eq!(r["PhysicalResourceId"], "h-7");
    assert_eq!(r["Data"], json!({"Url": "https://hooks.example/v2"}));
    assert_eq!(r["NoEcho"], true);
    let seen = api.seen();
    assert_eq!(
        seen.iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect::<Vec<_>>(),
        ["PATCH /hooks/h-7", "GET /hooks/h-7"]
    );
    assert_eq!(seen[0].json(), json!({"name": "web2"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let s = Setup::new("http-plain").await;
    let why = failed(
        &s.invoke(
            s.create(json!({"BaseUrl": "http://api.example.com", "Create": {"Path": "/hooks"}})),
        )
        .await,
    );
    assert!(why.starts_with("property `BaseUrl`: plain `http`"), "{why}");
}

/// A secret in moto and an API that wants it: the value must be on the wire and nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_value_is_on_the_wire_and_nowhere_else() {
    let moto = harness::Moto::start().await.unwrap();
    let token = format!("tok_{}", uuid_like());
    let arn = moto
        .secrets_manager()
        .create_secret(
            "http-resource/auth-test",
            &json!({"token": token, "user": "ci"}).to_string(),
            &[],
        )
        .await
        .unwrap();

    // The API wants `Authorization: Bearer <token>`, and echoes it back in every way a
    // careless API might: a field named like a secret, a plain field, an error message.
    let expected = format!("Bearer {token}");
    let echo = token.clone();
    let api = FakeApi::start(move |req, _| {
        if req.header("authorization") != Some(expected.as_str()) {
            return Reply::json(401, json!({"message": "Bad credentials"}));
        }
        match req.method.as_str() {
            "POST" => Reply::json(
                201,
                json!({"id": "h-8", "url": "https://hooks.example/h-8", "token": echo, "echo": echo}),
            ),
            "PATCH" => Reply::json(
                422,
                json!({"message": format!("invalid request with token {echo}"), "hint": format!("sent Bearer {echo}")}),
            ),
            _ => Reply::json(200, json!({})),
        }
    })
    .await;

    let s = Setup::with("http-auth", |mut c| {
        for (k, v) in moto.env() {
            c = c.env(k, v);
        }
        c
    })
    .await;
    s.secret(&token);
    let props = json!({
        "BaseUrl": api.base_url(),
        "Create": {"Path": "/hooks", "Body": {"name": "web"}},
        "Read": {"Path": "/hooks/{id}"},
        "Update": {"Method": "PATCH", "Path": "/hooks/{id}", "Body": {"name": "web2"}},
        "Delete": {"Path": "/hooks/{id}"},
        "Outputs": {"Url": "/url"},
        "Auth": {"SecretArn": arn, "Key": "token"},
    });

    // Create: the header carries the value; the answer that echoes it is logged redacted.
    let r = succeeded(&s.invoke(s.create(props.clone())).await);
    assert_eq!(r["PhysicalResourceId"], "h-8");
    assert_eq!(r["Data"], json!({"Url": "https://hooks.example/h-8"}));

    // Update: a 422 whose body quotes the token; the reason keeps the rest.
    let why = failed(
        &s.invoke(s.update("h-8", props.clone(), props.clone()))
            .await,
    );
    assert!(
        why.starts_with("the Update request `PATCH /hooks/h-8` answered 422 Unprocessable Entity"),
        "{why}"
    );
    assert!(why.contains("invalid request with token ***"), "{why}");

    // An output pointed at the echoed value is refused, and the new object deleted again.
    let mut leaky = props.clone();
    leaky["Outputs"] = json!({"Echo": "/echo"});
    let why = failed(&s.invoke(s.create(leaky)).await);
    assert!(
        why.starts_with("the output `Echo` would put the `Auth` credential into `Data`"),
        "{why}"
    );
    assert!(
        why.ends_with("the new object `h-8` was deleted again"),
        "{why}"
    );

    // Delete with the credential.
    succeeded(&s.invoke(s.delete("h-8", props)).await);

    let seen = api.seen();
    assert_eq!(
        seen.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        ["POST", "PATCH", "POST", "DELETE", "DELETE"]
    );
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some(format!("Bearer {token}").as_str())),
        "the value is on the wire on every request"
    );
    // Nowhere else: every log line (at TRACE) and every response CloudFormation received.
    s.assert_no_leak();
    assert!(!s.lambda.logs().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_fails_naming_it() {
    let moto = harness::Moto::start().await.unwrap();
    let api = FakeApi::scripted(vec![], created("h-9")).await;
    let s = Setup::with("http-no-secret", |mut c| {
        for (k, v) in moto.env() {
            c = c.env(k, v);
        }
        c
    })
    .await;
    let mut props = hook(&api.base_url());
    props["Auth"] = json!({"SecretArn": "http-resource/does-not-exist"});
    let why = failed(&s.invoke(s.create(props.clone())).await);
    assert_eq!(
        why,
        "`Auth`: could not read the secret `http-resource/does-not-exist`: ResourceNotFoundException: Secrets Manager can't find the specified secret; check `Auth.SecretArn` (the secret must be in the function's account and region)"
    );
    // An Update that changes nothing remote (here `OnDelete`, to retain the object before
    // deleting the stack) reads no secret and sends nothing, so it succeeds all the same.
    let mut retain = props.clone();
    retain["OnDelete"] = json!("Retain");
    let r = succeeded(&s.invoke(s.update("h-9", retain.clone(), props)).await);
    assert_eq!(r["PhysicalResourceId"], "h-9");
    succeeded(&s.invoke(s.delete("h-9", retain)).await);
    assert!(api.seen().is_empty());
}

/// A value that looks like a generated token and differs per run.
fn uuid_like() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}Zq9")
}

/// HTTPS is the normal case: Mozilla's roots are built in, and a private CA is trusted
/// through `SSL_CERT_FILE`; an untrusted certificate fails at once, naming the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_ca_trusted_through_ssl_cert_file() {
    let ca = std::sync::Arc::new(harness::TestCa::new().unwrap());
    // The harness's recording server, over HTTPS, stands in for the API: it answers 200.
    let api = harness::ResponseServer::start_https(std::sync::Arc::clone(&ca))
        .await
        .unwrap();
    let props = json!({
        "BaseUrl": api.base_url(),
        "Create": {"Path": "/hooks", "Body": {"name": "web"}},
        "Delete": {"Path": "/hooks/{id}"},
    });
    // The server's certificate names `localhost`: the stage lists the name and its loopback
    // addresses (the name alone would not do).
    let loopback = |c: harness::LambdaConfig| c.env(HOSTS_VARIABLE, "localhost,127.0.0.1,::1");
    let trusting = Setup::with("http-tls", |c| {
        loopback(c).env("SSL_CERT_FILE", ca.ca_file().display().to_string())
    })
    .await;
    succeeded(
        &trusting
            .invoke(trusting.delete("h-10", props.clone()))
            .await,
    );
    let seen = api.puts();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("DELETE", "/hooks/h-10")
    );

    let untrusting = Setup::with("http-tls-untrusted", loopback).await;
    let why = failed(&untrusting.invoke(untrusting.delete("h-10", props)).await);
    assert!(
        why.starts_with("the Delete request `DELETE /hooks/h-10` got no answer after 1 attempt: could not connect to `localhost:"),
        "{why}"
    );
    assert!(
        why.contains("not retried: the server's certificate is not trusted"),
        "{why}"
    );
    assert_eq!(api.puts().len(), 1, "nothing reached the server");
}

/// An API that creates by name answers a replacement with the object the stack already has:
/// when the answer then fails (`Outputs` not found), that object must not be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_replacement_never_deletes_the_current_object() {
    let api = FakeApi::scripted(vec![], Reply::json(200, json!({"id": "same"}))).await;
    let s = Setup::new("http-same-id").await;
    let mut old = hook(&api.base_url());
    old["Outputs"] = json!({"Url": "/url"});
    let mut new = old.clone();
    new["Create"]["Body"] = json!({"name": "renamed"});
    let why = failed(&s.invoke(s.update("same", new, old)).await);
    assert!(
        why.ends_with("the object `same` is the resource's current one and was kept"),
        "{why}"
    );
    let methods: Vec<String> = api.seen().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["POST"]);
}
