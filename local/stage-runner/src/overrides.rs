//! What the AWS-only parts of a template become on one machine (`local/overrides.yaml`).
//!
//! Strings may hold `${local:NAME}` placeholders, filled from the running local services:
//! `postgres.host`, `postgres.port`, `postgres.user`, `postgres.password`, `moto.endpoint`,
//! `api.url`, `stack`, `stage`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Error;

/// A secret the runner puts into moto before any custom resource runs, standing in for an
/// AWS-only secret (an RDS master secret with its `SecretTargetAttachment`, say).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SecretStandIn {
    /// The secret's name in moto.
    pub name: String,
    /// Its value: an object, stored as JSON.
    pub value: Value,
}

/// What `Ref` and `Fn::GetAtt` give for an AWS-only resource.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ResourceStandIn {
    /// The `Ref` value.
    #[serde(rename = "Ref", default)]
    pub reference: Option<Value>,
    /// `Fn::GetAtt` values by attribute name (`Endpoint.Address`).
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
}

/// The overrides file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Overrides {
    /// Parameter values that replace the stage's locally.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Secrets created in moto, by the logical id of the AWS resource they stand in for.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretStandIn>,
    /// Other AWS-only resources.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceStandIn>,
    /// Property values that differ locally, per custom resource.
    #[serde(default)]
    pub properties: BTreeMap<String, Map<String, Value>>,
    /// Extra environment variables per function binary.
    #[serde(default)]
    pub environment: BTreeMap<String, BTreeMap<String, String>>,
}

impl Overrides {
    /// Reads the file; a missing file means no overrides.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when it cannot be parsed.
    pub fn load(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_norway::from_str(&text)
                .map_err(|e| Error::Config(format!("`{}`: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::Config(format!(
                "cannot read `{}`: {e}",
                path.display()
            ))),
        }
    }

    /// Fills every `${local:NAME}` placeholder.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming an unknown placeholder.
    pub fn fill(&self, values: &BTreeMap<String, String>) -> Result<Self, Error> {
        let as_json = |v: &Self| -> Value {
            serde_json::json!({
                "Parameters": v.parameters, "Secrets": v.secrets.iter().map(|(k, s)| (k.clone(), serde_json::json!({"Name": s.name, "Value": s.value}))).collect::<Map<_, _>>(),
                "Resources": v.resources.iter().map(|(k, r)| (k.clone(), serde_json::json!({"Ref": r.reference, "Attributes": r.attributes}))).collect::<Map<_, _>>(),
                "Properties": v.properties, "Environment": v.environment,
            })
        };
        let filled = fill_value(&as_json(self), values)?;
        serde_json::from_value(strip_null_refs(filled)).map_err(|e| Error::Config(e.to_string()))
    }
}

fn strip_null_refs(mut value: Value) -> Value {
    if let Some(resources) = value.get_mut("Resources").and_then(Value::as_object_mut) {
        for r in resources.values_mut() {
            if r.get("Ref").is_some_and(Value::is_null)
                && let Some(m) = r.as_object_mut()
            {
                m.remove("Ref");
            }
        }
    }
    value
}

/// Replaces `${local:NAME}` in every string of `value`.
///
/// # Errors
///
/// [`Error::Config`] naming an unknown placeholder.
pub fn fill_value(value: &Value, values: &BTreeMap<String, String>) -> Result<Value, Error> {
    Ok(match value {
        Value::String(s) => Value::String(fill_text(s, values)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_value(v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill_value(v, values)?)))
                .collect::<Result<_, Error>>()?,
        ),
        other => other.clone(),
    })
}

fn fill_text(text: &str, values: &BTreeMap<String, String>) -> Result<String, Error> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${local:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "${local:".len()..];
        let end = after
            .find('}')
            .ok_or_else(|| Error::Config(format!("unclosed placeholder in `{text}`")))?;
        let name = &after[..end];
        let value = values.get(name).ok_or_else(|| {
            Error::Config(format!(
                "unknown placeholder `${{local:{name}}}`; known: {}",
                values.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        let o: Overrides = serde_norway::from_str(
            r#"
Parameters: {WebhookBaseUrl: "${local:api.url}/hooks"}
Secrets:
  DatabaseSecret:
    Name: "${local:stack}/db"
    Value: {engine: postgres, host: "${local:postgres.host}", port: "${local:postgres.port}"}
Resources:
  Database: {Attributes: {Endpoint.Address: "${local:postgres.host}"}}
Properties: {Migration: {Tls: Disable}}
"#,
        )
        .unwrap();
        let values: BTreeMap<String, String> = [
            ("api.url", "http://127.0.0.1:1"),
            ("stack", "stackwright-dev"),
            ("postgres.host", "127.0.0.1"),
            ("postgres.port", "5432"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let filled = o.fill(&values).unwrap();
        assert_eq!(
            filled.parameters["WebhookBaseUrl"],
            "http://127.0.0.1:1/hooks"
        );
        assert_eq!(filled.secrets["DatabaseSecret"].name, "stackwright-dev/db");
        assert_eq!(filled.secrets["DatabaseSecret"].value["port"], "5432");
        assert_eq!(filled.resources["Database"].reference, None);
        assert_eq!(
            filled.resources["Database"].attributes["Endpoint.Address"],
            "127.0.0.1"
        );
        assert_eq!(filled.properties["Migration"]["Tls"], "Disable");
        let err = fill_text("${local:nope}", &values).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown placeholder `${local:nope}`"),
            "{err}"
        );
    }
}
