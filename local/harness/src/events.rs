//! The events CloudFormation sends to a custom resource.

use serde_json::{Value, json};

use crate::ResponseServer;

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
        request_type: &str,
        logical_id: &str,
        resource_type: &str,
        properties: Value,
    ) -> Value {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut event = json!({
            "RequestType": request_type,
            "ServiceToken": self.service_token,
            "ResponseURL": self.responses.url_for(&request_id),
            "StackId": self.stack_id,
            "RequestId": request_id,
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": self.properties(properties),
        });
        if let Some(t) = self.service_timeout {
            event["ServiceTimeout"] = json!(t.to_string());
        }
        event
    }

    /// A Create event.
    pub fn create(&self, logical_id: &str, resource_type: &str, properties: Value) -> Value {
        self.event("Create", logical_id, resource_type, properties)
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
        let mut event = self.event("Update", logical_id, resource_type, properties);
        event["PhysicalResourceId"] = json!(physical_id);
        event["OldResourceProperties"] = self.properties(old_properties);
        event
    }

    /// A Delete event.
    pub fn delete(
        &self,
        logical_id: &str,
        resource_type: &str,
        physical_id: &str,
        properties: Value,
    ) -> Value {
        let mut event = self.event("Delete", logical_id, resource_type, properties);
        event["PhysicalResourceId"] = json!(physical_id);
        event
    }
}
