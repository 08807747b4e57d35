//! The events CloudFormation sends to a custom resource.

use serde_json::{Value, json};

use crate::ResponseServer;

/// What CloudFormation asks of a custom resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    /// A new resource.
    Create,
    /// Changed properties, or a rollback to the previous ones.
    Update,
    /// Removal, including the rollback of a Create.
    Delete,
}

impl RequestType {
    /// `Create`, `Update` or `Delete`, as events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        }
    }
}

/// One request CloudFormation sends a custom resource, typed; [`Request::event`] writes the
/// event as CloudFormation does ("Custom resource request objects" in the CloudFormation User
/// Guide). The one place events are built: [`Stack`] and the stage runner both use it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Create, Update or Delete.
    pub request_type: RequestType,
    /// The stack's ARN.
    pub stack_id: &'a str,
    /// The resource's name in the template.
    pub logical_id: &'a str,
    /// `Custom::…`.
    pub resource_type: &'a str,
    /// Set on Update and Delete.
    pub physical_id: Option<&'a str>,
    /// `ResourceProperties`, with `ServiceToken` (and `ServiceTimeout`, when set) in them:
    /// the event's top-level `ServiceToken` and `ServiceTimeout` are copied from there.
    pub properties: &'a Value,
    /// `OldResourceProperties`, on Update.
    pub old_properties: Option<&'a Value>,
}

impl Request<'_> {
    /// The event, with its own `RequestId` and the `ResponseURL` to answer at.
    pub fn event(&self, request_id: &str, response_url: &str) -> Value {
        let mut event = json!({
            "RequestType": self.request_type.as_str(),
            "ServiceToken": self.properties.get("ServiceToken").cloned().unwrap_or(Value::Null),
            "ResponseURL": response_url,
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": self.logical_id,
            "ResourceType": self.resource_type,
            "ResourceProperties": self.properties,
        });
        if let Some(id) = self.physical_id {
            event["PhysicalResourceId"] = json!(id);
        }
        if let Some(old) = self.old_properties {
            event["OldResourceProperties"] = old.clone();
        }
        if let Some(t) = self.properties.get("ServiceTimeout") {
            event["ServiceTimeout"] = t.clone();
        }
        event
    }
}

/// A stack as CloudFormation's side of the protocol: builds Create, Update and Delete events
/// whose `ResponseURL`s point at a [`ResponseServer`].
#[derive(Debug, Clone)]
pub struct Stack {
    name: String,
    stack_id: String,
    region: String,
    service_token: String,
    service_timeout: Option<u64>,
    responses: ResponseServer,
}

impl Stack {
    /// A stack named `name` in us-east-1.
    pub fn new(name: &str, responses: &ResponseServer) -> Self {
        let region = "us-east-1";
        Self {
            name: name.to_owned(),
            stack_id: format!(
                "arn:aws:cloudformation:{region}:123456789012:stack/{name}/{}",
                uuid::Uuid::new_v4()
            ),
            region: region.to_owned(),
            service_token: format!("arn:aws:lambda:{region}:123456789012:function:{name}-function"),
            service_timeout: None,
            responses: responses.clone(),
        }
    }

    /// Sets `ServiceTimeout` (seconds) on every event, at the top and in the properties, as
    /// CloudFormation does.
    #[must_use]
    pub fn service_timeout(mut self, seconds: u64) -> Self {
        self.service_timeout = Some(seconds);
        self
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stack's ARN.
    pub fn stack_id(&self) -> &str {
        &self.stack_id
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The server the `ResponseURL`s point at.
    pub fn responses(&self) -> &ResponseServer {
        &self.responses
    }

    fn properties(&self, properties: Value) -> Value {
        let mut properties = match properties {
            Value::Object(map) => map,
            other => return other,
        };
        properties.insert("ServiceToken".into(), json!(self.service_token));
        if let Some(t) = self.service_timeout {
            properties.insert("ServiceTimeout".into(), json!(t.to_string()));
        }
        Value::Object(properties)
    }

    fn event(
        &self,
        request_type: RequestType,
        logical_id: &str,
        resource_type: &str,
        physical_id: Option<&str>,
        properties: Value,
        old_properties: Option<Value>,
    ) -> Value {
        let request_id = uuid::Uuid::new_v4().to_string();
        let properties = self.properties(properties);
        let old_properties = old_properties.map(|old| self.properties(old));
        let mut event = Request {
            request_type,
            stack_id: &self.stack_id,
            logical_id,
            resource_type,
            physical_id,
            properties: &properties,
            old_properties: old_properties.as_ref(),
        }
        .event(&request_id, &self.responses.url_for(&request_id));
        // Properties that are not an object (a test of bad input) carry neither.
        event["ServiceToken"] = json!(self.service_token);
        if let Some(t) = self.service_timeout {
            event["ServiceTimeout"] = json!(t.to_string());
        }
        event
    }

    /// A Create event.
    pub fn create(&self, logical_id: &str, resource_type: &str, properties: Value) -> Value {
        self.event(
            RequestType::Create,
            logical_id,
            resource_type,
            None,
            properties,
            None,
        )
    }

    /// An Update event from `old_properties` to `properties`.
    pub fn update(
        &self,
        logical_id: &str,
        resource_type: &str,
        physical_id: &str,
        properties: Value,
        old_properties: Value,
    ) -> Value {
        self.event(
            RequestType::Update,
            logical_id,
            resource_type,
            Some(physical_id),
            properties,
            Some(old_properties),
        )
    }

    /// A Delete event.
    pub fn delete(
        &self,
        logical_id: &str,
        resource_type: &str,
        physical_id: &str,
        properties: Value,
    ) -> Value {
        self.event(
            RequestType::Delete,
            logical_id,
            resource_type,
            Some(physical_id),
            properties,
            None,
        )
    }
}
