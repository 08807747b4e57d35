//! The failure destination run as a real Lambda binary under the harness, fed Lambda's
//! destination records (shapes in `records/`) whose `requestPayload` is an event the harness's
//! stack made: a failure gets exactly one FAILED PUT with a reason built from the record;
//! anything else, or a request the trust checks refuse, gets none.

use harness::{Lambda, LambdaConfig, LambdaResult, ResponseServer, Stack};
use serde_json::{Value, json};

const TYPE: &str = "Custom::DatabaseMigration";
/// A value the request carries that the function's error repeats: it must not reach
/// CloudFormation or a log line.
const PROPERTY_SECRET: &str = "hunter2-correct-horse";

struct Setup {
    responses: ResponseServer,
    lambda: Lambda,
    stack: Stack,
}

impl Setup {
    async fn new() -> Self {
        Self::with(|c| c).await
    }

    /// Logs at TRACE, so the leak check sees everything the responder could print.
    async fn with(configure: impl FnOnce(LambdaConfig) -> LambdaConfig) -> Self {
        let responses = ResponseServer::start().await.unwrap();
        let binary = harness::pinned(env!("CARGO_BIN_EXE_failure-responder")).unwrap();
        let config = LambdaConfig::new(binary)
            .name("stackwright-test-failure-responder")
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

    fn create(&self) -> Value {
        self.stack.create(
            "DatabaseMigration",
            TYPE,
            json!({"Database": "app", "Password": PROPERTY_SECRET}),
        )
    }

    /// Invokes the responder with `record` (as Lambda does, asynchronously: nothing waits for
    /// its answer but Lambda) and returns what Lambda was told and the PUTs the original
    /// event's `ResponseURL` received meanwhile.
    async fn invoke(&self, record: Value) -> (LambdaResult, Vec<Value>) {
        let request_id = record["requestPayload"]["RequestId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let invocation = self.lambda.invoke(record).await.unwrap();
        harness::assert_no_leak(&self.lambda, &self.responses, &[PROPERTY_SECRET.to_owned()]);
        let puts = self
            .responses
            .puts_for(&request_id)
            .iter()
            .map(|p| p.json().expect("a JSON body"))
            .collect();
        (invocation.lambda, puts)
    }
}

/// Lambda's record for `event`, its function killed on every attempt.
fn record(condition: &str, attempts: u64, event: &Value) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-12-01T10:15:42.318Z",
        "requestContext": {
            "requestId": "8ea123e4-1db7-4aca-ad10-d9ca1234c1fd",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:stackwright-test-db-migration:live",
            "condition": condition,
            "approximateInvokeCount": attempts
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "3", "functionError": "Unhandled"},
        "responsePayload": {
            "errorType": "Runtime.ExitError",
            "errorMessage": format!(
                "RequestId: 3c5e1f4a-9b2d-4e7f-8a6c-1d0e9f8b7a65 Error: Runtime exited with error: \
                 signal: killed (while reading {PROPERTY_SECRET})"
            )
        }
    })
}

#[track_caller]
fn assert_told_ok(lambda: &LambdaResult) {
    assert!(lambda.is_ok(), "Lambda must be told Ok, got {lambda:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exhausted_answers_failed_once_with_the_reason() {
    let s = Setup::new().await;
    let event = s.create();
    let (lambda, puts) = s.invoke(record("RetriesExhausted", 3, &event)).await;
    assert_told_ok(&lambda);
    assert_eq!(puts.len(), 1, "{puts:?}");
    let answer = &puts[0];
    assert_eq!(answer["Status"], "FAILED");
    assert_eq!(
        answer["Reason"],
        "the function `stackwright-test-db-migration:live` failed 3 times and Lambda gave up \
         (RetriesExhausted): Runtime.ExitError: RequestId: 3c5e1f4a-9b2d-4e7f-8a6c-1d0e9f8b7a65 \
         Error: Runtime exited with error: signal: killed (while reading ***); its log has \
         Lambda request `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`"
    );
    for key in ["StackId", "RequestId", "LogicalResourceId"] {
        assert_eq!(answer[key], event[key], "{key}");
    }
    // A failed Create answers with the library's failed-create id: the Delete that follows
    // succeeds at once.
    assert!(
        custom_resource::response::is_failed_create_id(
            answer["PhysicalResourceId"].as_str().unwrap()
        ),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_age_exceeded_answers_failed_once_and_keeps_an_updates_id() {
    let s = Setup::new().await;
    let event = s.stack.update(
        "DatabaseMigration",
        TYPE,
        "postgres://db:5432/app",
        json!({"Database": "app"}),
        json!({"Database": "old"}),
    );
    let mut aged = record("EventAgeExceeded", 0, &event);
    let fields = aged.as_object_mut().unwrap();
    fields.remove("responseContext");
    fields.remove("responsePayload");
    let (lambda, puts) = s.invoke(aged).await;
    assert_told_ok(&lambda);
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0]["Status"], "FAILED");
    assert_eq!(puts[0]["PhysicalResourceId"], "postgres://db:5432/app");
    assert_eq!(
        puts[0]["Reason"],
        "the event grew older than the function `stackwright-test-db-migration:live`'s \
         MaximumEventAgeInSeconds before any attempt ran, and Lambda gave up (EventAgeExceeded); \
         its log has Lambda request `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_record_gets_no_answer() {
    let s = Setup::new().await;
    let event = s.create();
    let mut success = record("Success", 1, &event);
    success["responseContext"] = json!({"statusCode": 200, "executedVersion": "3"});
    success["responsePayload"] = json!({"Status": "SUCCESS", "Delivered": true});
    let (lambda, puts) = s.invoke(success).await;
    assert_told_ok(&lambda);
    assert_eq!(puts, Vec::<Value>::new());
    assert!(s.responses.puts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_destination_record_gets_no_answer_and_an_error() {
    let s = Setup::new().await;
    // The original event itself, sent to the responder by mistake.
    let (lambda, _) = s.invoke(s.create()).await;
    assert!(
        matches!(&lambda, LambdaResult::Error { error_type, .. } if error_type == "NotADestinationRecord"),
        "{lambda:?}"
    );
    assert!(s.responses.puts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_url_the_policy_refuses_gets_no_answer() {
    let s = Setup::new().await;
    // Another server, not listed in STACKWRIGHT_RESPONSE_HOSTS.
    let elsewhere = ResponseServer::start().await.unwrap();
    let event = Stack::new("stackwright-test", &elsewhere).create(
        "DatabaseMigration",
        TYPE,
        json!({"Database": "app"}),
    );
    let (lambda, _) = s.invoke(record("RetriesExhausted", 3, &event)).await;
    assert!(
        matches!(&lambda, LambdaResult::Error { error_type, .. } if error_type == "ResponseUrlRefused"),
        "{lambda:?}"
    );
    assert!(elsewhere.puts().is_empty());
    assert!(s.responses.puts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_not_listed_gets_no_answer() {
    let s = Setup::with(|c| {
        c.env(
            "STACKWRIGHT_STACKS",
            "arn:aws:cloudformation:us-east-1:123456789012:stack/some-other-stack/*",
        )
    })
    .await;
    let (lambda, puts) = s.invoke(record("RetriesExhausted", 3, &s.create())).await;
    assert_told_ok(&lambda);
    assert_eq!(puts, Vec::<Value>::new());
    assert!(s.responses.puts().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_not_delivered_is_an_error_so_lambda_retries_the_same_body() {
    let s = Setup::with(|c| c.timeout(std::time::Duration::from_secs(3))).await;
    let event = s.create();
    let request_id = event["RequestId"].as_str().unwrap().to_owned();
    s.responses.fail_next(1000);
    let (lambda, _) = s.invoke(record("RetriesExhausted", 3, &event)).await;
    assert!(
        matches!(&lambda, LambdaResult::Error { error_type, .. } if error_type == "ResponseNotDelivered"),
        "{lambda:?}"
    );
    // Lambda's retry of the record sends the same body, and this time it is taken.
    let refused = s.responses.puts_for(&request_id);
    assert!(!refused.is_empty());
    s.responses.fail_next(0);
    let (lambda, puts) = s.invoke(record("RetriesExhausted", 3, &event)).await;
    assert_told_ok(&lambda);
    let delivered: Vec<&Value> = puts.iter().filter(|p| p["Status"] == "FAILED").collect();
    assert_eq!(
        refused.last().unwrap().json().as_ref(),
        delivered.last().copied()
    );
}
