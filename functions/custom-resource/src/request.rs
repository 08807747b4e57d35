//! The custom-resource request: parsed by hand from raw JSON, so that a malformed event is
//! still answered, and handed to a resource with typed properties.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::confirm::Phase;
use crate::properties::{kind, shorten};
use crate::redact::Redactor;
use crate::response_url::ResponseUrl;
use crate::trust::{Allowed, Switch};

/// What CloudFormation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// A new resource.
    Create,
    /// Changed properties, or a rollback to the previous ones.
    Update,
    /// Removal, including the rollback of a Create.
    Delete,
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        })
    }
}

/// A request handed to a resource, with its properties parsed into `P`.
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<P> {
    /// Create, Update or Delete.
    pub request_type: RequestType,
    /// Unique per request; the same when CloudFormation or Lambda delivers it again.
    pub request_id: String,
    /// The stack's ARN.
    pub stack_id: String,
    /// The resource's name in the template.
    pub logical_resource_id: String,
    /// The template's resource type, `Custom::…`.
    pub resource_type: String,
    /// The current physical id: set on Update and Delete, `None` on Create.
    pub physical_resource_id: Option<String>,
    /// The properties, parsed.
    pub properties: P,
    /// The previous properties on Update, when they still parse (a newer function may no
    /// longer accept what an older one did; then this is `None` and the raw value is in
    /// [`Request::old_properties_raw`]).
    pub old_properties: Option<P>,
    /// The previous properties on Update, as CloudFormation sent them.
    pub old_properties_raw: Option<Value>,
    /// When the resource must have finished: the earlier of the Lambda deadline and
    /// `ServiceTimeout`, less the margin the library keeps to answer CloudFormation.
    pub deadline: Instant,
    /// What must never be shown: teach it every secret value the request handles (the
    /// [`crate::secrets`] reader does for what it reads); the runner masks those values in
    /// the `Reason` and its log lines.
    pub redactor: Redactor,
    /// The stack operation CloudFormation confirmed this request is part of; `None` when
    /// confirmation is off (`STACKWRIGHT_CONFIRM=off`).
    pub phase: Option<Phase>,
    /// The destructive switches the function's stage allows (`STACKWRIGHT_ALLOW`).
    pub allowed: Allowed,
}

/// The resource an id is asked about, as [`crate::CustomResource::issued`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource<'a> {
    /// The stack's name.
    pub stack_name: &'a str,
    /// The resource's `LogicalResourceId`.
    pub logical_id: &'a str,
}

impl<P> Request<P> {
    /// Whether the function's stage allows `switch`. A resource asks before doing what the
    /// switch guards, and on a Delete retains when it is not allowed.
    pub fn allows(&self, switch: Switch) -> bool {
        self.allowed.allows(switch)
    }

    /// Whether CloudFormation says the stack is rolling back; `None` when confirmation is off
    /// and the resource must infer it itself.
    pub fn rolling_back(&self) -> Option<bool> {
        self.phase.as_ref().map(Phase::is_rollback)
    }

    /// On an Update during a rollback, the physical id this resource had before the failed
    /// operation replaced it (CloudFormation's events say; see [`Phase::replaced`]). A
    /// resource that would replace again can answer with this id instead: the object still
    /// exists, and CloudFormation then deletes the current id in the rollback's cleanup.
    pub fn replaced_id(&self) -> Option<&str> {
        self.phase.as_ref().and_then(Phase::replaced)
    }

    /// On an Update during a rollback, whether the failed operation replaced this resource:
    /// see [`Phase::replacement`]; `None` when not known (confirmation off, too).
    pub fn replacement(&self) -> Option<Option<&str>> {
        self.phase.as_ref().and_then(Phase::replacement)
    }

    /// The stack's name, from `StackId` (`arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>`).
    pub fn stack_name(&self) -> &str {
        stack_name(&self.stack_id)
    }

    /// `<stack name>/<LogicalResourceId>`: stable across re-deliveries, replacements and
    /// re-created stacks of the same name.
    pub fn owner(&self) -> String {
        format!("{}/{}", self.stack_name(), self.logical_resource_id)
    }

    /// Time left before [`Request::deadline`].
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The current physical id on Update and Delete; empty on Create.
    pub fn physical_id(&self) -> &str {
        self.physical_resource_id.as_deref().unwrap_or_default()
    }
}

/// The stack name inside a `StackId`, or the whole text when it is not a stack ARN.
pub fn stack_name(stack_id: &str) -> &str {
    stack_id
        .split_once(":stack/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
        .filter(|name| !name.is_empty())
        .unwrap_or(stack_id)
}

/// The fields of an event that identify it, kept even when the event is otherwise unusable,
/// so a FAILED response can still reach the right resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ids {
    /// `RequestId`; empty when missing.
    pub request_id: String,
    /// `StackId`; empty when missing.
    pub stack_id: String,
    /// `LogicalResourceId`; empty when missing.
    pub logical_resource_id: String,
    /// `PhysicalResourceId`, when present and not empty.
    pub physical_resource_id: Option<String>,
}

/// A request whose envelope is valid; its properties are still raw JSON.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Envelope {
    /// Create, Update or Delete.
    pub request_type: RequestType,
    /// Where the answer goes.
    pub response_url: ResponseUrl,
    /// The identifying fields, all present (and the physical id on Update and Delete).
    pub ids: Ids,
    /// `ResourceType`, as sent.
    pub resource_type: String,
    /// `ResourceProperties`, an object (empty when absent).
    pub properties: Value,
    /// `OldResourceProperties` on Update (an empty object when absent), `None` otherwise.
    pub old_properties: Option<Value>,
    /// The smaller usable `ServiceTimeout` of the event's top level and its properties.
    pub service_timeout: Option<Duration>,
}

/// Why an event was not a usable request.
#[derive(Debug)]
#[non_exhaustive]
pub struct Rejected {
    /// Where to send the FAILED response, if the event had a usable `ResponseURL`.
    pub response_url: Result<ResponseUrl, String>,
    /// What identifying fields the event had.
    pub ids: Ids,
    /// What is wrong, as the FAILED `Reason` says it.
    pub problem: String,
}

/// The longest `ServiceTimeout` taken as given: CloudFormation allows at most an hour, and a
/// larger number (`1e20`) must still make a deadline rather than overflow.
pub const MAX_SERVICE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// Reads a custom-resource request from raw JSON, checking only what the protocol needs.
///
/// # Errors
///
/// [`Rejected`] saying what is wrong, with the `ResponseURL` to answer at when it was usable.
pub fn parse_event(event: &Value) -> Result<Envelope, Box<Rejected>> {
    let Some(map) = event.as_object() else {
        return Err(Box::new(Rejected {
            response_url: Err("the event is not a JSON object".into()),
            ids: Ids::default(),
            problem: format!(
                "the event is not a CloudFormation custom-resource request: expected a JSON object, got {}",
                kind(event)
            ),
        }));
    };
    let response_url = match map.get("ResponseURL") {
        Some(Value::String(text)) => ResponseUrl::parse(text).map_err(|e| e.to_string()),
        Some(other) => Err(format!(
            "`ResponseURL` must be a string, got {}",
            kind(other)
        )),
        None => Err("the event has no `ResponseURL`".into()),
    };
    let ids = Ids {
        request_id: text(map, "RequestId"),
        stack_id: text(map, "StackId"),
        logical_resource_id: text(map, "LogicalResourceId"),
        physical_resource_id: map
            .get("PhysicalResourceId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
    };
    let reject = |problem: String| {
        Box::new(Rejected {
            response_url: response_url.clone(),
            ids: ids.clone(),
            problem,
        })
    };

    let request_type = match map.get("RequestType") {
        Some(Value::String(t)) if t == "Create" => RequestType::Create,
        Some(Value::String(t)) if t == "Update" => RequestType::Update,
        Some(Value::String(t)) if t == "Delete" => RequestType::Delete,
        Some(other) => {
            let got = other
                .as_str()
                .map_or_else(|| kind(other).to_owned(), |t| format!("`{}`", shorten(t)));
            return Err(reject(format!(
                "unknown `RequestType` {got}; expected `Create`, `Update` or `Delete`"
            )));
        }
        None => {
            return Err(reject(
                "the event has no `RequestType`; expected `Create`, `Update` or `Delete`".into(),
            ));
        }
    };
    let response_url = match &response_url {
        Ok(url) => url.clone(),
        Err(problem) => return Err(reject(problem.clone())),
    };
    for (field, value) in [
        ("RequestId", &ids.request_id),
        ("StackId", &ids.stack_id),
        ("LogicalResourceId", &ids.logical_resource_id),
    ] {
        if value.is_empty() {
            return Err(reject(format!(
                "the {request_type} request has no `{field}`; CloudFormation always sends one"
            )));
        }
    }
    if request_type != RequestType::Create && ids.physical_resource_id.is_none() {
        return Err(reject(format!(
            "the {request_type} request has no `PhysicalResourceId`; CloudFormation always sends one on Update and Delete"
        )));
    }
    let properties = match map.get("ResourceProperties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(value @ Value::Object(_)) => value.clone(),
        Some(other) => {
            return Err(reject(format!(
                "`ResourceProperties` must be a JSON object of properties, got {}",
                kind(other)
            )));
        }
    };
    let old_properties = match (request_type, map.get("OldResourceProperties")) {
        (RequestType::Update, None | Some(Value::Null)) => Some(Value::Object(Map::new())),
        (RequestType::Update, Some(value @ Value::Object(_))) => Some(value.clone()),
        (RequestType::Update, Some(other)) => {
            return Err(reject(format!(
                "`OldResourceProperties` must be a JSON object, got {}",
                kind(other)
            )));
        }
        _ => None,
    };
    let service_timeout = [map.get("ServiceTimeout"), properties.get("ServiceTimeout")]
        .into_iter()
        .flatten()
        .filter_map(seconds)
        .min();
    Ok(Envelope {
        request_type,
        response_url,
        ids,
        resource_type: text(map, "ResourceType"),
        properties,
        old_properties,
        service_timeout,
    })
}

fn text(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `ServiceTimeout` as CloudFormation sends it: a number or a string of seconds.
fn seconds(value: &Value) -> Option<Duration> {
    let secs = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0)
        .then(|| Duration::from_secs_f64(secs.min(MAX_SERVICE_TIMEOUT.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(request_type: &str) -> Value {
        json!({
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "ResponseURL": "https://cfn.s3.amazonaws.com/x?X-Amz-Signature=sig",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/app-dev/1f2e3d4c",
            "RequestId": "b3a2c1d0-0000-4000-8000-000000000000",
            "LogicalResourceId": "Db",
            "PhysicalResourceId": "postgres://h:5432/app",
            "ResourceType": "Custom::Thing",
            "ResourceProperties": {"ServiceToken": "arn:…", "Name": "a"},
            "OldResourceProperties": {"ServiceToken": "arn:…", "Name": "b"}
        })
    }

    #[test]
    fn reads_a_valid_update() {
        let env = parse_event(&event("Update")).unwrap();
        assert_eq!(env.request_type, RequestType::Update);
        assert_eq!(
            env.ids.physical_resource_id.as_deref(),
            Some("postgres://h:5432/app")
        );
        assert_eq!(env.old_properties.unwrap()["Name"], "b");
        assert_eq!(env.service_timeout, None);
    }

    #[test]
    fn service_timeout_is_read_at_the_top_and_in_the_properties() {
        let mut e = event("Create");
        e["ServiceTimeout"] = json!("300");
        e["ResourceProperties"]["ServiceTimeout"] = json!(120);
        assert_eq!(
            parse_event(&e).unwrap().service_timeout,
            Some(Duration::from_secs(120))
        );
        e["ResourceProperties"]["ServiceTimeout"] = json!("not a number");
        assert_eq!(
            parse_event(&e).unwrap().service_timeout,
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn absurd_service_timeouts_still_make_a_deadline() {
        for (given, expected) in [
            (json!(1e20), Some(MAX_SERVICE_TIMEOUT)),
            (json!("1e300"), Some(MAX_SERVICE_TIMEOUT)),
            (json!(-1), None),
            (json!("NaN"), None),
            (json!("inf"), None),
            (json!("abc"), None),
            (json!(0), None),
        ] {
            let mut e = event("Create");
            e["ServiceTimeout"] = given.clone();
            assert_eq!(
                parse_event(&e).unwrap().service_timeout,
                expected,
                "{given}"
            );
        }
    }

    #[test]
    fn rejections_explain_and_keep_what_identifies_the_request() {
        let mut unknown = event("Upsert");
        unknown["RequestType"] = json!("Upsert");
        let r = parse_event(&unknown).unwrap_err();
        assert_eq!(
            r.problem,
            "unknown `RequestType` `Upsert`; expected `Create`, `Update` or `Delete`"
        );
        assert!(r.response_url.is_ok());
        assert_eq!(r.ids.logical_resource_id, "Db");

        let mut delete = event("Delete");
        delete.as_object_mut().unwrap().remove("PhysicalResourceId");
        let r = parse_event(&delete).unwrap_err();
        assert!(
            r.problem.contains("no `PhysicalResourceId`"),
            "{}",
            r.problem
        );

        let mut props = event("Create");
        props["ResourceProperties"] = json!("{not json");
        let r = parse_event(&props).unwrap_err();
        assert!(r.problem.contains("must be a JSON object"), "{}", r.problem);

        let mut no_url = event("Create");
        no_url.as_object_mut().unwrap().remove("ResponseURL");
        assert!(parse_event(&no_url).unwrap_err().response_url.is_err());

        let r = parse_event(&json!([1, 2])).unwrap_err();
        assert!(
            r.problem.contains("expected a JSON object, got a list"),
            "{}",
            r.problem
        );
    }

    #[test]
    fn event_level_reasons_give_the_kind_never_the_value() {
        const SECRET: &str = "hunter2-0123456789";
        for (field, given) in [
            ("ResourceProperties", json!(SECRET)),
            ("OldResourceProperties", json!(SECRET)),
            ("ResponseURL", json!({"url": SECRET})),
            ("RequestType", json!([SECRET])),
        ] {
            let mut e = event("Update");
            e[field] = given;
            let r = parse_event(&e).unwrap_err();
            assert!(!r.problem.contains(SECRET), "{field}: {}", r.problem);
            assert!(
                r.response_url
                    .as_ref()
                    .err()
                    .is_none_or(|why| !why.contains(SECRET)),
                "{field}: {:?}",
                r.response_url
            );
        }
        let mut e = event("Update");
        e["ResourceProperties"] = json!(SECRET);
        assert_eq!(
            parse_event(&e).unwrap_err().problem,
            "`ResourceProperties` must be a JSON object of properties, got a string"
        );
    }

    #[test]
    fn stack_name_comes_from_the_stack_arn() {
        assert_eq!(
            stack_name("arn:aws:cloudformation:eu-west-1:1:stack/app-dev/uuid"),
            "app-dev"
        );
        assert_eq!(stack_name("not-an-arn"), "not-an-arn");
    }
}
