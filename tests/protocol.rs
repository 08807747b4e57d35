//! The protocol library's guarantees, shown on the example resource run as a real Lambda
//! binary under the harness: every invocation answers CloudFormation exactly once.

use std::sync::Arc;
use std::time::Duration;

use harness::{Invocation, Lambda, LambdaConfig, LambdaResult, ResponseServer, Stack, TestCa};
use serde_json::{Value, json};

const TYPE: &str = "Custom::Example";

struct Setup {
    responses: ResponseServer,
    lambda: Lambda,
    stack: Stack,
}

impl Setup {
    async fn new() -> Self {
        Self::with(|c| c).await
    }

    /// Logs at TRACE everywhere, so the leak checks see everything the function could print.
    async fn with(configure: impl FnOnce(LambdaConfig) -> LambdaConfig) -> Self {
        let responses = ResponseServer::start().await.unwrap();
        Self::on(responses, configure).await
    }

    async fn on(
        responses: ResponseServer,
        configure: impl FnOnce(LambdaConfig) -> LambdaConfig,
    ) -> Self {
        let config = LambdaConfig::new(harness::binary("example-resource").unwrap())
            .responses(&responses)
            .env("RUST_LOG", "trace");
        let lambda = Lambda::start(configure(config)).await.unwrap();
        let stack = Stack::new("stackwright-test", &responses);
        Self {
            responses,
            lambda,
            stack,
        }
    }

    async fn invoke(&self, event: Value) -> Invocation {
        let invocation = self.lambda.invoke(event).await.unwrap();
        self.assert_no_leak();
        invocation
    }

    /// The `ResponseURL`'s query string is a credential: it must never reach a log.
    fn assert_no_leak(&self) {
        harness::assert_no_leak(&self.lambda, &self.responses, &[]);
    }

    fn create(&self, properties: Value) -> Value {
        self.stack.create("Thing", TYPE, properties)
    }
}

fn reason(response: &Value) -> &str {
    response["Reason"]
        .as_str()
        .expect("Reason is always a string")
}

fn assert_told_lambda_ok(invocation: &Invocation) {
    assert!(
        matches!(invocation.lambda, LambdaResult::Response(_)),
        "after a delivered response Lambda must be told Ok, got {:?}",
        invocation.lambda
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_answers_once_with_the_id_and_data() {
    let s = Setup::new().await;
    let event = s.create(json!({"Name": "a", "Count": 5, "Enabled": true}));
    let inv = s.invoke(event.clone()).await;
    let r = inv.response();
    assert_eq!(r["Status"], "SUCCESS");
    assert_eq!(r["PhysicalResourceId"], "example:a");
    assert_eq!(r["Reason"], "");
    assert_eq!(r["NoEcho"], false);
    assert_eq!(
        r["Data"],
        json!({"Name": "a", "Count": 5, "Enabled": true, "RequestType": "Create",
               "Allowed": true, "Phase": "CREATE_IN_PROGRESS", "Runs": 1})
    );
    for key in ["StackId", "RequestId", "LogicalResourceId"] {
        assert_eq!(r[key], event[key], "{key}");
    }
    assert_told_lambda_ok(&inv);

    // One log line per invocation, with what an operator needs.
    let summary: Vec<&String> = inv
        .logs
        .iter()
        .filter(|l| l.contains("answered CloudFormation"))
        .collect();
    assert_eq!(summary.len(), 1, "{:#?}", inv.logs);
    for field in [
        "request_type=\"Create\"",
        "logical_id=\"Thing\"",
        "physical_id=\"example:a\"",
        "status=SUCCESS",
        "duration_ms=",
    ] {
        assert!(
            summary[0].contains(field),
            "{field} missing from {}",
            summary[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_error_is_failed_with_its_message_and_a_derived_id() {
    let s = Setup::new().await;
    let event = s.create(json!({"Name": "a", "Behavior": "Fail", "ReasonLength": 8}));
    let inv = s.invoke(event.clone()).await;
    let r = inv.response();
    assert_eq!(r["Status"], "FAILED");
    assert!(
        reason(&r).starts_with("the example was asked to fail"),
        "{}",
        reason(&r)
    );
    let id = r["PhysicalResourceId"].as_str().unwrap();
    assert_eq!(
        id,
        format!(
            "stackwright:create-failed:Thing:{}",
            event["RequestId"].as_str().unwrap()
        )
    );
    assert_told_lambda_ok(&inv);

    // Delivered again (Lambda or CloudFormation retrying): the same id, never a random one.
    let again = s.invoke(event).await.response();
    assert_eq!(again["PhysicalResourceId"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_failed_without_a_stack_trace_and_the_sandbox_lives_on() {
    let s = Setup::new().await;
    let inv = s
        .invoke(s.create(json!({"Name": "a", "Behavior": "Panic"})))
        .await;
    let r = inv.response();
    assert_eq!(r["Status"], "FAILED");
    assert!(reason(&r).starts_with("internal error"), "{}", reason(&r));
    assert!(
        !reason(&r).contains("asked to panic") && !reason(&r).contains(".rs"),
        "{}",
        reason(&r)
    );
    assert!(
        inv.logs.iter().any(|l| l.contains("asked to panic")),
        "the detail goes to the log"
    );
    assert_told_lambda_ok(&inv);

    let next = s.invoke(s.create(json!({"Name": "b"}))).await;
    assert_eq!(next.response()["Status"], "SUCCESS");
    assert!(
        next.cold_init.is_none(),
        "the same sandbox served the next event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_that_hangs_is_answered_before_the_lambda_deadline() {
    let s = Setup::with(|c| c.timeout(Duration::from_secs(2))).await;
    let inv = s
        .invoke(s.create(json!({"Name": "a", "Behavior": "Sleep", "SleepSeconds": 30})))
        .await;
    let r = inv.response();
    assert_eq!(r["Status"], "FAILED");
    assert!(
        reason(&r).starts_with("timed out after 1."),
        "{}",
        reason(&r)
    );
    assert!(
        inv.duration < Duration::from_secs(2),
        "answered after {:?}",
        inv.duration
    );
    assert_told_lambda_ok(&inv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_timeout_bounds_the_deadline_too() {
    let s = Setup::with(|c| c.timeout(Duration::from_secs(60))).await;
    let stack = s.stack.clone().service_timeout(2);
    let inv = s
        .invoke(stack.create("Thing", TYPE, json!({"Name": "a", "Behavior": "Sleep"})))
        .await;
    let r = inv.response();
    assert_eq!(r["Status"], "FAILED");
    assert!(reason(&r).starts_with("timed out"), "{}", reason(&r));
    assert!(
        inv.duration < Duration::from_secs(2),
        "answered after {:?}",
        inv.duration
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_that_fails_twice_is_retried_until_delivered() {
    let s = Setup::new().await;
    s.responses.fail_next(2);
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    let answered: Vec<u16> = inv.puts.iter().map(|p| p.answered).collect();
    assert_eq!(answered, [500, 500, 200]);
    assert_eq!(inv.response()["Status"], "SUCCESS");
    assert!(
        inv.puts.iter().all(|p| p.body == inv.puts[0].body),
        "every attempt sends the same body"
    );
    assert_told_lambda_ok(&inv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_response_is_an_error_to_lambda_so_it_retries() {
    let s = Setup::with(|c| c.timeout(Duration::from_secs(3))).await;
    s.responses.fail_next(u32::MAX);
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    assert!(inv.puts.len() >= 2, "retried: {}", inv.puts.len());
    assert!(inv.delivered().is_empty());
    match &inv.lambda {
        LambdaResult::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "ResponseNotDelivered");
            assert!(
                error_message.contains("S3 gateway endpoint"),
                "{error_message}"
            );
        }
        other => panic!("expected an error to Lambda, got {other:?}"),
    }
    assert!(
        inv.duration < Duration::from_secs(3),
        "gave up before the deadline: {:?}",
        inv.duration
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_put_is_not_retried_nor_replayed_by_lambda() {
    // Given a ResponseURL that answers 403, as S3 does for an expired or forged URL,
    let s = Setup::new().await;
    s.responses.refuse_with(403);
    // when the function answers,
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    // then it sends one PUT, and tells Lambda it is done, so Lambda does not replay the event.
    assert_eq!(inv.puts.len(), 1, "{:?}", inv.puts);
    assert!(inv.delivered().is_empty());
    match &inv.lambda {
        LambdaResult::Response(v) => {
            assert_eq!(v["Delivered"], false, "{v}");
            assert_eq!(v["Refused"], 403, "{v}");
        }
        other => panic!("expected a response to Lambda, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_url_on_a_host_not_allowed_gets_nothing_and_nothing_is_done() {
    // Given a function that may answer only CloudFormation's bucket and the harness's server,
    let s = Setup::new().await;
    let elsewhere = ResponseServer::start().await.unwrap();
    for (name, url) in [
        ("another local server", elsewhere.url_for("r-elsewhere")),
        (
            "the metadata address",
            "http://169.254.169.254/latest/api/token?X-Amz-Signature=forged".to_owned(),
        ),
        (
            "another region's bucket",
            "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com/x?sig=1"
                .to_owned(),
        ),
    ] {
        // when an event names another ResponseURL, valid or not,
        for properties in [json!({"Name": "a"}), json!({"Colour": "broken"})] {
            let mut event = s.create(properties);
            event["ResponseURL"] = json!(url);
            let inv = s.invoke(event).await;
            // then nothing is PUT anywhere, and Lambda is told why.
            assert!(inv.puts.is_empty(), "{name}: {:?}", inv.puts);
            assert!(elsewhere.puts().is_empty(), "{name}");
            match &inv.lambda {
                LambdaResult::Error {
                    error_type,
                    error_message,
                } => {
                    assert_eq!(error_type, "ResponseUrlRefused", "{name}");
                    assert!(
                        error_message.contains("STACKWRIGHT_RESPONSE_HOSTS")
                            && !error_message.contains("sig")
                            && !error_message.contains(elsewhere.signature()),
                        "{name}: {error_message}"
                    );
                }
                other => panic!("{name}: expected an error to Lambda, got {other:?}"),
            }
        }
    }
    // And nothing was handled: no answer was even built, and each refusal is one log line.
    let logs = s.lambda.logs();
    assert!(
        !logs.iter().any(|l| l.contains("answered CloudFormation")),
        "{logs:#?}"
    );
    let refusals = logs
        .iter()
        .filter(|l| l.contains("refusing a ResponseURL"))
        .count();
    assert_eq!(refusals, 6, "{logs:#?}");
    assert!(s.responses.puts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_stack_not_listed_does_nothing() {
    for (listed, why) in [
        (
            "arn:aws:cloudformation:us-east-1:123456789012:stack/prod/*",
            "is not one",
        ),
        ("", "it is unset"),
    ] {
        // Given a function that serves only the listed stacks (or none),
        let s = Setup::with(|c| c.env("STACKWRIGHT_STACKS", listed)).await;
        // a Create and an Update for another stack are FAILED, naming the variable,
        for event in [
            s.create(json!({"Name": "a"})),
            s.stack.update(
                "Thing",
                TYPE,
                "example:a",
                json!({"Name": "b"}),
                json!({"Name": "a"}),
            ),
        ] {
            let r = s.invoke(event).await.response();
            assert_eq!(r["Status"], "FAILED", "{r}");
            assert!(reason(&r).contains("`STACKWRIGHT_STACKS`"), "{r}");
            assert!(reason(&r).contains(why), "{r}");
            assert!(reason(&r).contains("nothing was done"), "{r}");
        }
        // and a Delete retains: SUCCESS, the resource's delete never called (it would fail).
        let delete = s.stack.delete(
            "Thing",
            TYPE,
            "example:a",
            json!({"Name": "a", "Behavior": "Fail"}),
        );
        let r = s.invoke(delete).await.response();
        assert_eq!(r["Status"], "SUCCESS", "{r}");
        assert_eq!(r["PhysicalResourceId"], "example:a");
    }
    // The same Delete for a listed stack does reach the resource.
    let s = Setup::new().await;
    let delete = s.stack.delete(
        "Thing",
        TYPE,
        "example:a",
        json!({"Name": "a", "Behavior": "Fail"}),
    );
    assert_eq!(s.invoke(delete).await.response()["Status"], "FAILED");
}

const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/stackwright-test";

/// The stand-in CloudFormation at rest: the stack `UPDATE_COMPLETE`, `Thing` is `example:a`.
fn at_rest(s: &Setup) {
    let api = s.lambda.cloudformation();
    api.set_stack(s.stack.stack_id(), "UPDATE_COMPLETE");
    api.set_resource(
        s.stack.stack_id(),
        "Thing",
        "UPDATE_COMPLETE",
        Some("example:a"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cloudformation_does_not_confirm_does_nothing() {
    let s = Setup::new().await;
    assert!(
        s.stack.stack_id().starts_with(STACK_ID),
        "{}",
        s.stack.stack_id()
    );
    let update = |name: &str, id: &str| {
        s.stack.update(
            "Thing",
            TYPE,
            id,
            json!({"Name": name}),
            json!({"Name": "a"}),
        )
    };
    // Given a stack at rest (no operation in progress),
    at_rest(&s);
    // a forged Create and Update are FAILED: nothing was done,
    for event in [s.create(json!({"Name": "b"})), update("b", "example:a")] {
        let r = s.lambda.invoke_forged(event).await.unwrap().response();
        assert_eq!(r["Status"], "FAILED", "{r}");
        assert!(
            reason(&r).starts_with("not part of a stack operation in progress"),
            "{r}"
        );
        assert!(reason(&r).contains("`UPDATE_COMPLETE`"), "{r}");
    }
    // and a forged Delete retains: SUCCESS without calling the resource (it would fail).
    let delete = s.stack.delete(
        "Thing",
        TYPE,
        "example:a",
        json!({"Name": "a", "Behavior": "Fail"}),
    );
    let r = s.lambda.invoke_forged(delete).await.unwrap().response();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    // While an update of the stack is in progress, an Update naming another physical id than
    // the resource's current one is refused too.
    let api = s.lambda.cloudformation();
    api.set_stack(s.stack.stack_id(), "UPDATE_IN_PROGRESS");
    api.set_resource(
        s.stack.stack_id(),
        "Thing",
        "UPDATE_IN_PROGRESS",
        Some("example:a"),
    );
    let r = s
        .lambda
        .invoke_forged(update("b", "example:other"))
        .await
        .unwrap()
        .response();
    assert_eq!(r["Status"], "FAILED", "{r}");
    assert!(reason(&r).contains("current physical id"), "{r}");
    // The function asked only the two read-only calls.
    let calls = api.calls();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|c| c == "DescribeStacks" || c == "DescribeStackResource"),
        "{calls:?}"
    );
    // The same requests, sent by CloudFormation, act: the Update succeeds, the Delete reaches
    // the resource.
    let r = s.invoke(update("b", "example:a")).await.response();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    assert_eq!(r["Data"]["Phase"], "UPDATE_IN_PROGRESS");
    // (A new request: the forged one's ids were answered already.)
    let delete = s.stack.delete(
        "Thing",
        TYPE,
        "example:a",
        json!({"Name": "a", "Behavior": "Fail"}),
    );
    assert_eq!(s.invoke(delete).await.response()["Status"], "FAILED");
    s.assert_no_leak();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_told_apart_by_the_stacks_status() {
    let s = Setup::new().await;
    let update = s.stack.update(
        "Thing",
        TYPE,
        "example:a",
        json!({"Name": "a"}),
        json!({"Name": "b"}),
    );
    let r = s
        .lambda
        .invoke_during(update, "UPDATE_ROLLBACK_IN_PROGRESS")
        .await
        .unwrap()
        .response();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    assert_eq!(r["Data"]["Phase"], "UPDATE_ROLLBACK_IN_PROGRESS");
    // The operation ended with the answer.
    assert_eq!(
        s.lambda
            .cloudformation()
            .stack_status(s.stack.stack_id())
            .as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_off_acts_without_asking_cloudformation() {
    let s = Setup::with(|c| c.env("STACKWRIGHT_CONFIRM", "off")).await;
    at_rest(&s);
    let r = s
        .lambda
        .invoke_forged(s.create(json!({"Name": "a"})))
        .await
        .unwrap()
        .response();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    assert_eq!(r["Data"]["Phase"], "unconfirmed");
    assert!(s.lambda.cloudformation().calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_would_do_nothing_asks_nobody() {
    let s = Setup::new().await;
    at_rest(&s);
    for id in ["other:thing", "stackwright-test-Thing-ABCDEF123456"] {
        let delete = s.stack.delete("Thing", TYPE, id, json!({"Name": "a"}));
        let r = s.lambda.invoke_forged(delete).await.unwrap().response();
        assert_eq!(r["Status"], "SUCCESS", "{r}");
    }
    assert!(s.lambda.cloudformation().calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudformation_out_of_reach_confirms_nothing() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let s = Setup::with(|c| c.env("AWS_ENDPOINT_URL_CLOUDFORMATION", "http://127.0.0.1:1")).await;
    let r = s.invoke(s.create(json!({"Name": "a"}))).await.response();
    assert_eq!(r["Status"], "FAILED", "{r}");
    assert!(reason(&r).contains("could not ask CloudFormation"), "{r}");
    let delete = s.stack.delete(
        "Thing",
        TYPE,
        "example:a",
        json!({"Name": "a", "Behavior": "Fail"}),
    );
    assert_eq!(s.invoke(delete).await.response()["Status"], "SUCCESS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_the_stage_does_not_allow_fail_a_create_are_ignored_on_update_and_retain_on_delete()
 {
    let destructive = json!({"Name": "a", "Destructive": true});
    // Given a stage that allows no switch,
    let s = Setup::with(|c| c.env("STACKWRIGHT_ALLOW", "")).await;
    // a Create asking for one is FAILED, naming it and the variable;
    let r = s.invoke(s.create(destructive.clone())).await.response();
    assert_eq!(r["Status"], "FAILED", "{r}");
    assert!(reason(&r).contains("`DropDatabase`"), "{r}");
    assert!(reason(&r).contains("`STACKWRIGHT_ALLOW`"), "{r}");
    // an Update (perhaps a rollback) goes on without it and says so in `Data.Ignored`;
    let update = s.stack.update(
        "Thing",
        TYPE,
        "example:a",
        destructive.clone(),
        json!({"Name": "a"}),
    );
    let r = s.invoke(update).await.response();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    assert_eq!(r["Data"]["Ignored"], "DropDatabase");
    assert_eq!(r["Data"]["Allowed"], false);
    // a Delete retains (the resource's delete would fail if it acted).
    let delete = |s: &Setup| {
        s.stack.delete(
            "Thing",
            TYPE,
            "example:a",
            json!({"Name": "a", "Destructive": true, "Behavior": "Fail"}),
        )
    };
    assert_eq!(s.invoke(delete(&s)).await.response()["Status"], "SUCCESS");
    // Allowed (the harness's default: every switch), the same requests act.
    let s = Setup::new().await;
    let r = s.invoke(s.create(destructive)).await.response();
    assert_eq!(r["Status"], "SUCCESS", "{r}");
    assert_eq!(r["Data"]["Allowed"], true);
    assert!(r["Data"].get("Ignored").is_none(), "{r}");
    assert_eq!(s.invoke(delete(&s)).await.response()["Status"], "FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_put_is_retried() {
    let s = Setup::new().await;
    s.responses.refuse_with(429);
    let unthrottle = tokio::spawn({
        let responses = s.responses.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            responses.refuse_with(0);
        }
    });
    let run = s.invoke(s.create(json!({"Name": "a"}))).await;
    unthrottle.await.unwrap();
    assert!(run.puts.len() >= 2, "retried: {}", run.puts.len());
    assert_eq!(run.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_properties_are_failed_with_a_reason() {
    let s = Setup::new().await;
    let mut event = s.create(json!({}));
    event["ResourceProperties"] = json!("{\"Name\": broken");
    let r = s.invoke(event).await.response();
    assert_eq!(r["Status"], "FAILED");
    assert!(
        reason(&r).contains("`ResourceProperties` must be a JSON object"),
        "{}",
        reason(&r)
    );

    let r = s
        .invoke(s.create(json!({"Name": "a", "Count": {"x": 1}})))
        .await
        .response();
    assert_eq!(r["Status"], "FAILED");
    assert_eq!(
        reason(&r),
        "property `Count`: expected a whole number from 0 to 4294967295, got an object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_request_type_is_failed() {
    let s = Setup::new().await;
    let mut event = s.create(json!({"Name": "a"}));
    event["RequestType"] = json!("Upsert");
    let inv = s.invoke(event.clone()).await;
    let r = inv.response();
    assert_eq!(r["Status"], "FAILED");
    assert_eq!(
        reason(&r),
        "unknown `RequestType` `Upsert`; expected `Create`, `Update` or `Delete`"
    );
    assert_eq!(r["RequestId"], event["RequestId"]);
    assert!(
        r["PhysicalResourceId"]
            .as_str()
            .unwrap()
            .starts_with("stackwright:create-failed:Thing:")
    );
    assert_told_lambda_ok(&inv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_without_physical_id_is_failed_not_ignored() {
    let s = Setup::new().await;
    let mut event = s.stack.delete("Thing", TYPE, "x", json!({"Name": "a"}));
    event.as_object_mut().unwrap().remove("PhysicalResourceId");
    let inv = s.invoke(event).await;
    let r = inv.response();
    assert_eq!(r["Status"], "FAILED");
    assert!(
        reason(&r).contains("no `PhysicalResourceId`"),
        "{}",
        reason(&r)
    );
    assert_told_lambda_ok(&inv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_without_a_response_url_is_an_error_to_lambda() {
    let s = Setup::new().await;
    let mut event = s.create(json!({"Name": "a"}));
    event.as_object_mut().unwrap().remove("ResponseURL");
    let inv = s.invoke(event).await;
    match &inv.lambda {
        LambdaResult::Error { error_type, .. } => assert_eq!(error_type, "InvalidEvent"),
        other => panic!("expected an error to Lambda, got {other:?}"),
    }
    assert!(s.responses.puts().is_empty());
    assert!(
        inv.logs.iter().any(|l| l.contains("no usable ResponseURL")),
        "{:#?}",
        inv.logs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_property_is_named_with_the_known_ones() {
    let s = Setup::new().await;
    let r = s
        .invoke(s.create(json!({"Name": "a", "Colour": "red"})))
        .await
        .response();
    assert_eq!(r["Status"], "FAILED");
    assert_eq!(
        reason(&r),
        "unknown property `Colour`; expected one of `Name`, `Behavior`, `SleepSeconds`, `Count`, `Enabled`, `ReasonLength`, `DataBytes`, `Destructive`, `NoEcho`"
    );
    let r = s.invoke(s.create(json!({}))).await.response();
    assert_eq!(reason(&r), "missing required property `Name`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_and_booleans_may_arrive_as_strings() {
    let s = Setup::new().await;
    let r =
        s.invoke(s.create(
            json!({"Name": "a", "Count": "7", "Enabled": "false", "SleepSeconds": "0.01"}),
        ))
        .await
        .response();
    assert_eq!(r["Status"], "SUCCESS", "{}", reason(&r));
    assert_eq!(r["Data"]["Count"], 7);
    assert_eq!(r["Data"]["Enabled"], false);

    let r = s
        .invoke(s.create(json!({"Name": "a", "Enabled": "maybe"})))
        .await
        .response();
    assert_eq!(
        reason(&r),
        "property `Enabled`: expected `true` or `false`, got a string that is neither"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_character_reason_is_cut_to_fit() {
    let s = Setup::new().await;
    let inv = s
        .invoke(s.create(json!({"Name": "a", "Behavior": "Fail", "ReasonLength": 10_000})))
        .await;
    let put = inv.delivered()[0].clone();
    assert!(put.body.len() <= 4096, "{} bytes", put.body.len());
    let text = String::from_utf8(put.body).expect("valid UTF-8");
    let r: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(r["Status"], "FAILED");
    let reason = reason(&r);
    assert!(
        reason.starts_with("the example was asked to fail"),
        "{reason}"
    );
    assert!(reason.contains("bytes cut]"), "{reason}");
    assert!(
        reason.contains('日') && reason.contains('é'),
        "multi-byte characters survive"
    );
    assert!(
        !reason.chars().any(char::is_control),
        "control characters are stripped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_too_large_fails_naming_the_keys() {
    let s = Setup::new().await;
    let r = s
        .invoke(s.create(json!({"Name": "a", "DataBytes": 5000})))
        .await
        .response();
    assert_eq!(r["Status"], "FAILED");
    assert!(reason(&r).contains("too large: `Blob`"), "{}", reason(&r));
    assert_eq!(
        r["PhysicalResourceId"], "example:a",
        "the created id is kept so the rollback deletes it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delete_of_a_failed_create_succeeds_at_once() {
    let s = Setup::new().await;
    let props = json!({"Name": "a", "Behavior": "Fail"});
    let created = s.invoke(s.create(props.clone())).await.response();
    let id = created["PhysicalResourceId"].as_str().unwrap();
    // `Behavior: Fail` would fail a Delete that reached the resource: it must not.
    let inv = s
        .invoke(s.stack.delete("Thing", TYPE, id, props.clone()))
        .await;
    let r = inv.response();
    assert_eq!(r["Status"], "SUCCESS", "{}", reason(&r));
    assert_eq!(r["PhysicalResourceId"], id);

    // An id CloudFormation invented after a Create that never answered.
    let r = s
        .invoke(
            s.stack
                .delete("Thing", TYPE, "stackwright-test-Thing-1A2B3C4D5E6F", props),
        )
        .await
        .response();
    assert_eq!(r["Status"], "SUCCESS", "{}", reason(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_keeps_the_id_unless_the_resource_replaces() {
    let s = Setup::new().await;
    let old = json!({"Name": "a"});
    let same = s
        .invoke(s.stack.update(
            "Thing",
            TYPE,
            "example:a",
            json!({"Name": "a", "Count": 2}),
            old.clone(),
        ))
        .await
        .response();
    assert_eq!(same["PhysicalResourceId"], "example:a");
    let replaced = s
        .invoke(s.stack.update(
            "Thing",
            TYPE,
            "example:a",
            json!({"Name": "b"}),
            old.clone(),
        ))
        .await
        .response();
    assert_eq!(replaced["PhysicalResourceId"], "example:b");
    let failed = s
        .invoke(s.stack.update(
            "Thing",
            TYPE,
            "example:a",
            json!({"Name": "a", "Behavior": "Fail"}),
            old,
        ))
        .await
        .response();
    assert_eq!(failed["Status"], "FAILED");
    assert_eq!(
        failed["PhysicalResourceId"], "example:a",
        "a failed Update keeps the current id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_put_has_a_length_no_chunking_and_an_empty_content_type() {
    let s = Setup::new().await;
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    let put = inv.delivered()[0].clone();
    assert_eq!(put.method, "PUT");
    assert_eq!(
        put.header("content-length"),
        Some(put.body.len().to_string().as_str())
    );
    assert_eq!(put.header("transfer-encoding"), None);
    assert_eq!(put.header("content-type"), Some(""));
    assert!(
        put.query.contains(s.responses.signature()),
        "the full presigned URL was used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_go_over_https_to_a_ca_trusted_through_ssl_cert_file() {
    let ca = Arc::new(TestCa::new().unwrap());
    let responses = ResponseServer::start_https(Arc::clone(&ca)).await.unwrap();
    assert!(responses.base_url().starts_with("https://"));
    let s = Setup::on(responses.clone(), |c| c).await;
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    assert_eq!(inv.response()["Status"], "SUCCESS");

    // Verification is on: without the CA the same server is refused.
    let untrusting = Setup::on(responses, |c| {
        c.timeout(Duration::from_secs(3))
            .env("SSL_CERT_FILE", "/nonexistent.pem")
    })
    .await;
    let inv = untrusting
        .invoke(untrusting.create(json!({"Name": "a"})))
        .await;
    assert!(
        inv.puts.is_empty(),
        "no request may pass an untrusted handshake"
    );
    assert!(
        matches!(inv.lambda, LambdaResult::Error { .. }),
        "{:?}",
        inv.lambda
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_url_query_never_reaches_the_logs() {
    // RUST_LOG=trace, the most a user can ask for, through success, failure, retries and an
    // undeliverable response; `Setup::invoke` checks every line after each invocation.
    let s = Setup::with(|c| c.timeout(Duration::from_secs(3))).await;
    s.invoke(s.create(json!({"Name": "a"}))).await;
    s.invoke(s.create(json!({"Name": "a", "Behavior": "Fail"})))
        .await;
    s.responses.fail_next(1);
    s.invoke(s.create(json!({"Name": "a"}))).await;
    s.responses.fail_next(u32::MAX);
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    assert!(!inv.logs.is_empty());
    assert!(
        s.lambda.logs().len() > 10,
        "TRACE logging was on: {} lines",
        s.lambda.logs().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_when_lambda_asks_for_them() {
    let s = Setup::with(|c| {
        c.env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("RUST_LOG", "info")
    })
    .await;
    let inv = s.invoke(s.create(json!({"Name": "a"}))).await;
    assert!(!inv.logs.is_empty());
    for line in &inv.logs {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_a_failed_create_creates() {
    let s = Setup::new().await;
    let failed_id = "stackwright:create-failed:Thing:0000";
    let r = s
        .invoke(s.stack.update(
            "Thing",
            TYPE,
            failed_id,
            json!({"Name": "a"}),
            json!({"Name": "a"}),
        ))
        .await
        .response();
    assert_eq!(r["Status"], "SUCCESS");
    assert_eq!(r["PhysicalResourceId"], "example:a");
    assert_eq!(r["Data"]["RequestType"], "Create");
}
