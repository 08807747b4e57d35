//! A CloudFormation/SAM template read from YAML (or JSON), with short-form intrinsics
//! (`!Ref`, `!Sub`, `!GetAtt a.b`) turned into their long form.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

use crate::Error;

/// One resource of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// `AWS::…` or `Custom::…`.
    pub kind: String,
    /// `Properties`, unresolved.
    pub properties: Value,
    /// `DependsOn`, as a list.
    pub depends_on: Vec<String>,
    /// `Condition`, if any.
    pub condition: Option<String>,
    /// `Metadata`.
    pub metadata: Value,
    /// `DeletionPolicy`, unresolved (it may be an `Fn::If`).
    pub deletion_policy: Option<Value>,
    /// `UpdateReplacePolicy`, unresolved.
    pub update_replace_policy: Option<Value>,
}

impl Resource {
    /// Whether CloudFormation sends this resource to a custom-resource function.
    pub fn is_custom(&self) -> bool {
        self.kind.starts_with("Custom::") || self.kind == "AWS::CloudFormation::CustomResource"
    }
}

/// The parts of a template the local runner and the template checks read.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// `Parameters`: name → definition (`Type`, `Default`, `AllowedValues`).
    pub parameters: BTreeMap<String, Value>,
    /// `Mappings`.
    pub mappings: Value,
    /// `Conditions`: name → expression.
    pub conditions: BTreeMap<String, Value>,
    /// `Resources` by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// Logical ids in template order.
    pub order: Vec<String>,
    /// `Globals` (SAM).
    pub globals: Value,
}

impl Template {
    /// Reads a template file.
    ///
    /// # Errors
    ///
    /// [`Error::Template`] when the file cannot be read or is not a template.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Template(format!("cannot read `{}`: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::Template(format!("`{}`: {e}", path.display())))
    }

    /// Parses template text (YAML or JSON).
    ///
    /// # Errors
    ///
    /// When the text is not YAML or has no `Resources`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let yaml: Yaml = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let order = match &yaml {
            Yaml::Mapping(m) => m
                .get("Resources")
                .and_then(Yaml::as_mapping)
                .map(|r| {
                    r.keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let root = to_json(&yaml)?;
        let section = |name: &str| root.get(name).cloned().unwrap_or(Value::Object(Map::new()));
        let Some(resources) = root.get("Resources").and_then(Value::as_object) else {
            return Err("the template has no `Resources`".into());
        };
        let mut parsed = BTreeMap::new();
        for (id, body) in resources {
            let depends_on = match body.get("DependsOn") {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            };
            parsed.insert(
                id.clone(),
                Resource {
                    kind: body
                        .get("Type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    properties: body
                        .get("Properties")
                        .cloned()
                        .unwrap_or(Value::Object(Map::new())),
                    depends_on,
                    condition: body
                        .get("Condition")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    metadata: body.get("Metadata").cloned().unwrap_or(Value::Null),
                    deletion_policy: body.get("DeletionPolicy").cloned(),
                    update_replace_policy: body.get("UpdateReplacePolicy").cloned(),
                },
            );
        }
        let object = |v: Value| -> BTreeMap<String, Value> {
            v.as_object()
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default()
        };
        Ok(Self {
            parameters: object(section("Parameters")),
            mappings: section("Mappings"),
            conditions: object(section("Conditions")),
            resources: parsed,
            order,
            globals: section("Globals"),
        })
    }

    /// The custom resources, in template order.
    pub fn custom_resources(&self) -> Vec<(&str, &Resource)> {
        self.order
            .iter()
            .filter_map(|id| self.resources.get(id).map(|r| (id.as_str(), r)))
            .filter(|(_, r)| r.is_custom())
            .collect()
    }
}

/// YAML to JSON, turning `!Tag value` into `{"Fn::Tag": value}` (`!Ref` into `{"Ref": …}`,
/// `!GetAtt a.b` into `{"Fn::GetAtt": ["a", "b"]}`).
fn to_json(yaml: &Yaml) -> Result<Value, String> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map(Value::from).unwrap_or(Value::Null)
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(seq) => Value::Array(seq.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(&tagged.value)?;
            let long = match name {
                "Ref" => "Ref".to_owned(),
                "Condition" => "Condition".to_owned(),
                other => format!("Fn::{other}"),
            };
            let inner = match (name, inner) {
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    Value::Array(vec![Value::from(resource), Value::from(attribute)])
                }
                (_, inner) => inner,
            };
            let mut out = Map::new();
            out.insert(long, inner);
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEXT: &str = r#"
Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]
Parameters:
  Stage: {Type: String, AllowedValues: [dev, prod], Default: dev}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: db-migration}}
    Properties: {CodeUri: .}
  Zeta:
    Type: Custom::Thing
    DependsOn: Alpha
    Properties:
      ServiceToken: !GetAtt Fn.Arn
      Name: !Sub "${AWS::StackName}-x"
      Version: !Ref Fn.Version
      Port: 5432
  Alpha:
    Type: AWS::CloudFormation::CustomResource
    Condition: IsProd
    DeletionPolicy: !If [IsProd, Retain, Delete]
    Properties:
      ServiceToken: !GetAtt [Fn, Arn]
"#;

    #[test]
    fn short_forms_become_long_forms() {
        let t = Template::parse(TEXT).unwrap();
        let zeta = &t.resources["Zeta"];
        assert_eq!(
            zeta.properties["ServiceToken"],
            json!({"Fn::GetAtt": ["Fn", "Arn"]})
        );
        assert_eq!(
            zeta.properties["Name"],
            json!({"Fn::Sub": "${AWS::StackName}-x"})
        );
        assert_eq!(zeta.properties["Version"], json!({"Ref": "Fn.Version"}));
        assert_eq!(zeta.properties["Port"], json!(5432));
        assert_eq!(zeta.depends_on, ["Alpha"]);
        assert_eq!(zeta.deletion_policy, None);
        assert_eq!(
            t.resources["Alpha"].deletion_policy,
            Some(json!({"Fn::If": ["IsProd", "Retain", "Delete"]}))
        );
        assert_eq!(
            t.resources["Alpha"].properties["ServiceToken"],
            json!({"Fn::GetAtt": ["Fn", "Arn"]})
        );
        assert_eq!(
            t.conditions["IsProd"],
            json!({"Fn::Equals": [{"Ref": "Stage"}, "prod"]})
        );
    }

    #[test]
    fn custom_resources_keep_template_order() {
        let t = Template::parse(TEXT).unwrap();
        let ids: Vec<&str> = t.custom_resources().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["Zeta", "Alpha"]);
        assert_eq!(t.resources["Alpha"].condition.as_deref(), Some("IsProd"));
    }
}
