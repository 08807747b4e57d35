//! The order CloudFormation would create custom resources in: by references (`Ref`,
//! `Fn::GetAtt`, `${…}` in `Fn::Sub`) and `DependsOn`, through AWS-only resources too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::Error;
use crate::template::Template;

/// The logical ids `value` refers to (pseudo parameters and parameters are not resources).
pub fn references(value: &Value, template: &Template) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(value, template, &mut out);
    out
}

fn collect(value: &Value, template: &Template, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("Ref", Value::String(name)) => {
                        add(name.split('.').next().unwrap_or(name), template, out)
                    }
                    ("Fn::GetAtt", Value::Array(a)) => {
                        if let Some(Value::String(name)) = a.first() {
                            add(name, template, out);
                        }
                    }
                    ("Fn::GetAtt", Value::String(s)) => {
                        add(s.split('.').next().unwrap_or(s), template, out)
                    }
                    ("Fn::Sub", _) => {
                        let text = match v {
                            Value::String(s) => Some(s.as_str()),
                            Value::Array(a) => a.first().and_then(Value::as_str),
                            _ => None,
                        };
                        for name in sub_names(text.unwrap_or_default()) {
                            add(name.split('.').next().unwrap_or(&name), template, out);
                        }
                    }
                    _ => {}
                }
                collect(v, template, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, template, out)),
        _ => {}
    }
}

fn add(name: &str, template: &Template, out: &mut BTreeSet<String>) {
    if template.resources.contains_key(name) {
        out.insert(name.to_owned());
    }
}

fn sub_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if !after.starts_with('!') {
            names.push(after[..end].to_owned());
        }
        rest = &after[end + 1..];
    }
    names
}

/// Direct dependencies of every resource: references in its properties plus `DependsOn`.
pub fn dependencies(template: &Template) -> BTreeMap<String, BTreeSet<String>> {
    template
        .resources
        .iter()
        .map(|(id, r)| {
            let mut deps = references(&r.properties, template);
            deps.extend(r.depends_on.iter().cloned());
            deps.remove(id);
            (id.clone(), deps)
        })
        .collect()
}

/// Orders the custom resources in `included`: each after every custom resource it depends on,
/// directly or through other resources; otherwise in template order. CloudFormation creates
/// a resource after those named in its `DependsOn` ("DependsOn attribute" in the CloudFormation
/// User Guide) and after those its `Ref` and `Fn::GetAtt` refer to ("a resource that uses an
/// intrinsic function to refer to another resource depends on it", same page); the rollback
/// and a stack delete go in reverse.
///
/// # Errors
///
/// [`Error::Template`] for a dependency cycle.
pub fn order(template: &Template, included: &BTreeSet<String>) -> Result<Vec<String>, Error> {
    let direct = dependencies(template);
    // The custom resources each one waits for, through any chain of resources.
    let waits_for = |id: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = direct.get(id).into_iter().flatten().cloned().collect();
        let mut found = BTreeSet::new();
        while let Some(next) = stack.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            if included.contains(&next) {
                found.insert(next.clone());
            }
            stack.extend(direct.get(&next).into_iter().flatten().cloned());
        }
        found
    };
    let mut pending: Vec<(String, BTreeSet<String>)> = template
        .order
        .iter()
        .filter(|id| included.contains(*id))
        .map(|id| (id.clone(), waits_for(id)))
        .collect();
    let mut ordered: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let Some(pos) = pending
            .iter()
            .position(|(_, deps)| deps.iter().all(|d| ordered.contains(d)))
        else {
            let ids: Vec<&str> = pending.iter().map(|(id, _)| id.as_str()).collect();
            return Err(Error::Template(format!(
                "dependency cycle among {}",
                ids.join(", ")
            )));
        };
        ordered.push(pending.remove(pos).0);
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_references_and_depends_on_through_aws_resources() {
        let t = Template::parse(
            r#"
Resources:
  Webhook:
    Type: Custom::HttpResource
    Properties: {Auth: {SecretArn: !Ref AppSecret}, Url: !Sub "${Migration.Version}"}
  Migration:
    Type: Custom::DatabaseMigration
    Properties: {SecretArn: !Ref DbSecret}
  DbSecret:
    Type: AWS::SecretsManager::Secret
    Properties: {Name: !GetAtt AppSecret.Name}
  AppSecret:
    Type: Custom::SeededSecret
    DependsOn: [LogGroup]
    Properties: {}
  LogGroup: {Type: AWS::Logs::LogGroup}
"#,
        )
        .unwrap();
        let all: BTreeSet<String> = ["Webhook", "Migration", "AppSecret"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            order(&t, &all).unwrap(),
            ["AppSecret", "Migration", "Webhook"]
        );
    }

    #[test]
    fn a_cycle_is_an_error() {
        let t = Template::parse(
            "Resources:\n  A: {Type: Custom::X, Properties: {B: !Ref B}}\n  B: {Type: Custom::X, DependsOn: A}\n",
        )
        .unwrap();
        let all: BTreeSet<String> = ["A", "B"].iter().map(|s| (*s).to_owned()).collect();
        assert!(
            order(&t, &all)
                .unwrap_err()
                .to_string()
                .contains("dependency cycle")
        );
    }
}
