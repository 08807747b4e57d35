//! A small custom resource on the protocol library, used by the protocol tests.
//!
//! It manages nothing outside itself: its physical id is `example:<Name>`, so changing `Name`
//! is a replacement. `Behavior` makes it misbehave on purpose (fail, panic, hang) so the tests
//! can show that CloudFormation is answered every time. `Destructive: true` asks for the
//! `DropDatabase` switch, to show how switches the stage does not allow are handled.

use std::time::Duration;

use custom_resource::properties::de;
use custom_resource::{CustomResource, Outcome, Request, Switch};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Properties {
    name: String,
    #[serde(default)]
    behavior: Behavior,
    #[serde(default, deserialize_with = "de::opt_number")]
    sleep_seconds: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    count: Option<u32>,
    #[serde(default, deserialize_with = "de::boolean")]
    enabled: bool,
    /// With `Behavior: Fail`, the length of the error message (control and multi-byte
    /// characters included).
    #[serde(default, deserialize_with = "de::opt_number")]
    reason_length: Option<usize>,
    /// Size of a `Blob` attribute in `Data`.
    #[serde(default, deserialize_with = "de::opt_number")]
    data_bytes: Option<usize>,
    /// Asks for the `DropDatabase` switch; a Delete without it retains (does nothing).
    #[serde(default, deserialize_with = "de::boolean")]
    destructive: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
enum Behavior {
    #[default]
    Succeed,
    Fail,
    Panic,
    Sleep,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("the example was asked to fail: {0}")]
    AskedTo(String),
}

struct Example;

impl Example {
    async fn act(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        let props = &request.properties;
        match props.behavior {
            Behavior::Succeed => {}
            Behavior::Fail => {
                let len = props.reason_length.unwrap_or(20);
                let text: String = "ok\u{7}é\n日\"\\\t".chars().cycle().take(len).collect();
                return Err(Error::AskedTo(text));
            }
            Behavior::Panic => panic!("the example was asked to panic"),
            Behavior::Sleep => {
                tokio::time::sleep(Duration::from_secs_f64(
                    props.sleep_seconds.unwrap_or(3600.0),
                ))
                .await;
            }
        }
        let mut outcome = Outcome::new(format!("example:{}", props.name))
            .with("Name", props.name.clone())
            .with("Enabled", props.enabled)
            .with("RequestType", request.request_type.to_string())
            .with("Allowed", request.allows(Switch::DropDatabase))
            .with(
                "Phase",
                request
                    .phase
                    .as_ref()
                    .map_or_else(|| "unconfirmed".to_owned(), ToString::to_string),
            );
        if let Some(count) = props.count {
            outcome = outcome.with("Count", count);
        }
        if let Some(bytes) = props.data_bytes {
            outcome = outcome.with("Blob", "b".repeat(bytes));
        }
        Ok(outcome)
    }
}

impl CustomResource for Example {
    type Properties = Properties;
    type Error = Error;

    async fn create(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.act(request).await
    }

    async fn update(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.act(request).await
    }

    async fn delete(&self, request: &Request<Properties>) -> Result<(), Error> {
        if request.properties.destructive && !request.allows(Switch::DropDatabase) {
            // Retained: what the switch guards is not touched.
            return Ok(());
        }
        self.act(request).await.map(|_| ())
    }

    fn switches(&self, properties: &Properties) -> Vec<Switch> {
        if properties.destructive {
            vec![Switch::DropDatabase]
        } else {
            Vec::new()
        }
    }

    fn issued(&self, physical_id: &str, _resource: custom_resource::Resource<'_>) -> bool {
        physical_id.starts_with("example:")
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    custom_resource::run(Example).await
}
