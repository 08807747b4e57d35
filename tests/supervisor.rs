//! The supervising bootstrap: a request is answered FAILED even when the process handling it
//! dies, and the next event on the same sandbox is answered as usual. The example resource is
//! told to die in each way a process can.

use std::time::Duration;

use harness::{Invocation, Lambda, LambdaConfig, LambdaResult, ResponseServer, Stack};
use serde_json::{Value, json};

const TYPE: &str = "Custom::Example";

async fn start(configure: impl FnOnce(LambdaConfig) -> LambdaConfig) -> (Lambda, Stack) {
    let responses = ResponseServer::start().await.unwrap();
    let config = LambdaConfig::new(harness::binary("example-resource").unwrap())
        .responses(&responses)
        .timeout(Duration::from_secs(10));
    let lambda = Lambda::start(configure(config)).await.unwrap();
    // The ResponseServer lives as long as a clone: the stack keeps one.
    (lambda, Stack::new("stackwright-test", &responses))
}

/// The one FAILED answer, Lambda told the invocation is done (never an error, which would
/// make it replay the event), and the time it took.
#[track_caller]
fn failed(invocation: &Invocation) -> String {
    let response = invocation.response();
    assert_eq!(response["Status"], "FAILED", "{response}");
    assert!(
        matches!(invocation.lambda, LambdaResult::Response(_)),
        "the Runtime API must get a response, not {:?}",
        invocation.lambda
    );
    response["Reason"].as_str().unwrap().to_owned()
}

async fn create(lambda: &Lambda, stack: &Stack, properties: Value) -> Invocation {
    lambda
        .invoke(stack.create("Thing", TYPE, properties))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_death_is_answered_failed_and_the_next_event_is_served() {
    let (lambda, stack) = start(|c| c).await;
    for (behavior, says) in [
        ("Abort", "aborted (SIGABRT)"),
        ("StackOverflow", "aborted (SIGABRT)"),
        (
            "Kill",
            "killed by SIGKILL, not by the supervisor: out of memory?",
        ),
        ("Segfault", "crashed (SIGSEGV)"),
        ("Exit", "exited with status 1"),
        ("OutOfMemory", "aborted (SIGABRT)"),
    ] {
        let died = create(&lambda, &stack, json!({"Name": "a", "Behavior": behavior})).await;
        let reason = failed(&died);
        assert!(
            reason.starts_with("the function's worker process died while handling the Create: ")
                && reason.contains(says),
            "{behavior}: {reason}"
        );
        // Within 2 s of the death, which comes within milliseconds of the event.
        assert!(
            died.duration < Duration::from_secs(2),
            "{behavior}: answered after {:?}",
            died.duration
        );
        eprintln!("{behavior}: FAILED PUT {:?} after the event", died.duration);
        // The failed Create's id: its Delete succeeds at once.
        assert!(
            died.response()["PhysicalResourceId"]
                .as_str()
                .unwrap()
                .starts_with("stackwright:create-failed:"),
        );
        // The same sandbox serves the next event with a fresh worker.
        let next = create(&lambda, &stack, json!({"Name": "b"})).await;
        assert_eq!(next.response()["Status"], "SUCCESS", "after {behavior}");
    }
    harness::assert_no_leak(&lambda, stack.responses(), &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_never_answers_is_stopped_before_the_deadline() {
    let (lambda, stack) = start(|c| c.timeout(Duration::from_secs(6))).await;
    let frozen = create(&lambda, &stack, json!({"Name": "a", "Behavior": "Freeze"})).await;
    let reason = failed(&frozen);
    assert!(
        reason.starts_with("timed out after") && reason.contains("worker process was stopped"),
        "{reason}"
    );
    // Stopped halfway through the margin kept before Lambda's deadline (6 s).
    assert!(
        frozen.duration < Duration::from_secs(6),
        "{:?}",
        frozen.duration
    );
    eprintln!("Freeze: FAILED PUT {:?} after the event", frozen.duration);
    let next = create(&lambda, &stack, json!({"Name": "b"})).await;
    assert_eq!(next.response()["Status"], "SUCCESS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_answers_each_event_failed() {
    let (lambda, stack) = start(|c| c.env("EXAMPLE_FAIL_TO_START", "on purpose")).await;
    for _ in 0..2 {
        let invocation = create(&lambda, &stack, json!({"Name": "a"})).await;
        let reason = failed(&invocation);
        assert!(
            reason.starts_with("the function failed to start: exited with status 1"),
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_supervisor_a_death_leaves_the_stack_waiting() {
    // The control: the same death with `STACKWRIGHT_SUPERVISOR=off` sends nothing.
    let (lambda, stack) = start(|c| c.env("STACKWRIGHT_SUPERVISOR", "off")).await;
    let died = create(&lambda, &stack, json!({"Name": "a", "Behavior": "Abort"})).await;
    assert!(died.delivered().is_empty());
    assert!(
        matches!(died.lambda, LambdaResult::Crashed(_)),
        "{:?}",
        died.lambda
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_delivered_again_is_answered_again_without_running_again() {
    let (lambda, stack) = start(|c| c).await;
    let event = stack.create("Thing", TYPE, json!({"Name": "a"}));
    let first = lambda.invoke(event.clone()).await.unwrap().response();
    assert_eq!(first["Data"]["Runs"], 1, "{first}");
    // The same event again (Lambda's at-least-once delivery): the same answer, not run again.
    let again = lambda.invoke(event.clone()).await.unwrap();
    assert_eq!(again.response(), first);
    assert!(
        again
            .logs
            .iter()
            .any(|l| l.contains("answered before in this sandbox")),
        "{:?}",
        again.logs
    );
    // A copy with the same ids and other properties is refused: nothing run, nothing sent.
    let mut forged = event.clone();
    forged["ResourceProperties"]["Name"] = json!("b");
    let refused = lambda.invoke(forged).await.unwrap();
    assert!(refused.delivered().is_empty());
    assert!(
        matches!(&refused.lambda, LambdaResult::Error { error_type, .. } if error_type == "RequestMismatch"),
        "{:?}",
        refused.lambda
    );
    // A NoEcho answer is never written to disk: that request runs again.
    let secret = stack.create("Other", TYPE, json!({"Name": "s", "NoEcho": true}));
    let once = lambda.invoke(secret.clone()).await.unwrap().response();
    let twice = lambda.invoke(secret).await.unwrap().response();
    assert_eq!(once["NoEcho"], true);
    assert_eq!(
        twice["Data"]["Runs"],
        once["Data"]["Runs"].as_u64().unwrap() + 1
    );
    // Another sandbox has its own /tmp: there the event runs again (each resource's
    // idempotency covers that case).
    let other = Lambda::start(
        LambdaConfig::new(harness::binary("example-resource").unwrap())
            .responses(stack.responses()),
    )
    .await
    .unwrap();
    let elsewhere = other.invoke(event).await.unwrap().response();
    assert_eq!(elsewhere["Status"], "SUCCESS");
    assert_eq!(elsewhere["Data"]["Runs"], 1);
}
