//! The event fixtures are real CloudFormation events, read both ways a function could read
//! them: they round-trip through aws_lambda_events' types, and the project's own parser (the
//! protocol library's runner, which reads the raw JSON by hand) accepts each one and hands
//! the resource exactly what the event says. The fixtures in `invalid/` are events the runner
//! must refuse: each is answered FAILED with the reason CloudFormation would show.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use custom_resource::properties::de;
use custom_resource::{CustomResource, Outcome, Request, RequestType, ResponseUrl, Runner};
use harness::{RecordedPut, ResponseServer};
use serde::Deserialize;
use serde_json::{Value, json};

/// The properties of the fixtures' `Custom::Example` resource.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Properties {
    name: String,
    #[serde(default, deserialize_with = "de::opt_number")]
    count: Option<u32>,
    #[serde(default, deserialize_with = "de::boolean")]
    enabled: bool,
}

/// What the runner handed the resource.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    request_type: RequestType,
    request_id: String,
    stack_id: String,
    logical_resource_id: String,
    resource_type: String,
    physical_resource_id: Option<String>,
    properties: Properties,
    old_properties: Option<Properties>,
}

/// A resource that records every request and succeeds.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    fn record(&self, r: &Request<Properties>) {
        self.0.lock().unwrap().push(Seen {
            request_type: r.request_type,
            request_id: r.request_id.clone(),
            stack_id: r.stack_id.clone(),
            logical_resource_id: r.logical_resource_id.clone(),
            resource_type: r.resource_type.clone(),
            physical_resource_id: r.physical_resource_id.clone(),
            properties: r.properties.clone(),
            old_properties: r.old_properties.clone(),
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

impl CustomResource for Recorder {
    type Properties = Properties;
    type Error = Infallible;

    async fn create(&self, request: &Request<Properties>) -> Result<Outcome, Infallible> {
        self.record(request);
        Ok(Outcome::new(format!("example:{}", request.properties.name)))
    }

    async fn update(&self, request: &Request<Properties>) -> Result<Outcome, Infallible> {
        self.record(request);
        Ok(Outcome::keep_id())
    }

    async fn delete(&self, request: &Request<Properties>) -> Result<(), Infallible> {
        self.record(request);
        Ok(())
    }
}

fn fixtures(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut found: Vec<(PathBuf, Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            (path, value)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap()
}

/// Runs `event` through a fresh runner whose `ResponseURL` host is the test's server (path
/// and query stay the fixture's); returns what the resource saw and the one PUT it received.
async fn run(event: &Value) -> (Vec<Seen>, RecordedPut) {
    let responses = ResponseServer::start().await.unwrap();
    let original = event["ResponseURL"].as_str().unwrap();
    let (_, rest) = original.split_once("://").unwrap();
    let path_and_query = &rest[rest.find('/').unwrap()..];
    let mut event = event.clone();
    event["ResponseURL"] = json!(format!("{}{path_and_query}", responses.base_url()));
    let recorder = Recorder::default();
    let runner = Runner::new(recorder.clone())
        .unwrap()
        .allow_response_origin(responses.base_url())
        .unwrap()
        .allow_stack(event["StackId"].as_str().unwrap_or_default())
        // The fixtures show the response format; confirmation and the replay record have
        // their own tests (and fixtures share request ids).
        .without_confirmation()
        .without_replay_record();
    let told_lambda = runner
        .handle_payload(event, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("Lambda was told an error: {e:?}"));
    assert_eq!(told_lambda["Delivered"], true);
    let puts = responses.puts();
    assert_eq!(puts.len(), 1, "exactly one response: {puts:?}");
    let put = puts.into_iter().next().unwrap();
    let (path, query) = path_and_query.split_once('?').unwrap();
    assert_eq!(
        (put.method.as_str(), put.path.as_str(), put.query.as_str()),
        ("PUT", path, query),
        "the response goes to the ResponseURL as given"
    );
    (recorder.seen(), put)
}

fn properties(value: &Value) -> Option<Properties> {
    custom_resource::properties::parse(value).ok()
}

#[test]
fn every_fixture_round_trips() {
    let mut seen = 0;
    for (path, raw) in fixtures(&stackwright_tests::fixtures_dir()) {
        let parsed: CloudFormationCustomResourceRequest = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again: CloudFormationCustomResourceRequest =
            serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again, "{}", path.display());
        assert!(raw["ResponseURL"].as_str().unwrap().starts_with("https://"));
        seen += 1;
    }
    assert!(
        seen >= 3,
        "expected the create, update and delete fixtures, found {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projects_own_parser_reads_every_fixture_as_it_is() {
    let mut types = Vec::new();
    for (path, event) in fixtures(&stackwright_tests::fixtures_dir()) {
        let name = file_name(&path);
        let url = event["ResponseURL"].as_str().unwrap();
        let parsed = ResponseUrl::parse(url).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !parsed.to_string().contains("X-Amz-Signature"),
            "{name}: a ResponseURL prints its host only"
        );

        let (seen, put) = run(&event).await;
        let response = put.json().unwrap();
        assert_eq!(response["Status"], "SUCCESS", "{name}: {response}");
        assert_eq!(seen.len(), 1, "{name}: the resource is called once");
        let seen = &seen[0];
        let text = |key: &str| event[key].as_str().unwrap().to_owned();
        let expected = Seen {
            request_type: match event["RequestType"].as_str().unwrap() {
                "Create" => RequestType::Create,
                "Update" => RequestType::Update,
                "Delete" => RequestType::Delete,
                other => panic!("{name}: RequestType `{other}`"),
            },
            request_id: text("RequestId"),
            stack_id: text("StackId"),
            logical_resource_id: text("LogicalResourceId"),
            resource_type: text("ResourceType"),
            physical_resource_id: event["PhysicalResourceId"].as_str().map(str::to_owned),
            properties: properties(&event["ResourceProperties"])
                .unwrap_or_else(|| panic!("{name}: the properties parse")),
            old_properties: event
                .get("OldResourceProperties")
                .map(|old| properties(old).expect("the old properties parse")),
        };
        assert_eq!(seen, &expected, "{name}");
        // Numbers and booleans arrive as strings, and are read as what they mean.
        assert!(seen.properties.count.is_some(), "{name}");
        for key in ["RequestId", "StackId", "LogicalResourceId"] {
            assert_eq!(response[key], event[key], "{name}: {key}");
        }
        let physical_id = match seen.request_type {
            RequestType::Create => format!("example:{}", seen.properties.name),
            _ => text("PhysicalResourceId"),
        };
        assert_eq!(
            response["PhysicalResourceId"],
            physical_id.as_str(),
            "{name}"
        );
        types.push(seen.request_type);
    }
    for wanted in [
        RequestType::Create,
        RequestType::Update,
        RequestType::Delete,
    ] {
        assert!(types.contains(&wanted), "no {wanted} fixture: {types:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invalid_fixtures_are_refused_with_the_reason_cloudformation_shows() {
    // File name (after `example-cloudformation-custom-resource-`) → the start of the Reason.
    let expected = [
        (
            "create-request-with-a-bad-property.json",
            "property `Count`",
        ),
        (
            "create-request-with-text-properties.json",
            "`ResourceProperties` must be a JSON object of properties, got a string",
        ),
        (
            "delete-request-without-physical-id.json",
            "the Delete request has no `PhysicalResourceId`; CloudFormation always sends one on Update and Delete",
        ),
        (
            "request-with-unknown-type.json",
            "unknown `RequestType` `Upsert`; expected `Create`, `Update` or `Delete`",
        ),
    ];
    let found = fixtures(&stackwright_tests::fixtures_dir().join("invalid"));
    let names: Vec<&str> = found.iter().map(|(p, _)| file_name(p)).collect();
    let listed: Vec<String> = expected
        .iter()
        .map(|(n, _)| format!("example-cloudformation-custom-resource-{n}"))
        .collect();
    assert_eq!(
        names, listed,
        "every invalid fixture has an expected reason"
    );
    for ((path, event), (_, reason)) in found.iter().zip(expected) {
        let name = file_name(path);
        let (seen, put) = run(event).await;
        assert!(seen.is_empty(), "{name}: the resource is never called");
        let response = put.json().unwrap();
        assert_eq!(response["Status"], "FAILED", "{name}: {response}");
        let got = response["Reason"].as_str().unwrap();
        assert!(
            got.starts_with(reason),
            "{name}: the reason is `{got}`, expected it to start with `{reason}`"
        );
        for key in ["RequestId", "StackId", "LogicalResourceId"] {
            assert_eq!(response[key], event[key], "{name}: {key}");
        }
    }
}
