//! A stage's template with its intrinsics resolved, as the template checks read it
//! (`stackwright template resolve`, which `scripts/check-templates.py` calls): the project's one
//! intrinsic resolver, [`crate::intrinsics`], applied to every resource of the template.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::Error;
use crate::intrinsics::{Context, Mode, NoResources, StackInfo};
use crate::samconfig;
use crate::template::Template;

/// The account id resolved templates are given (`AWS::AccountId`, ARNs in stack ids).
pub const ACCOUNT: &str = "123456789012";

/// Resolves `template` for environment `stage` of the samconfig file at `samconfig`:
/// its parameter overrides (then `overrides` over them, then the parameters' `Default`s),
/// conditions, mappings and pseudo parameters applied. Resource references, which only a
/// deployed stack knows, stand in as placeholders such as `<Ref Database>` ([`Mode::Lenient`]).
///
/// The answer is JSON: `Stage`, `StackName`, `Region`, `Parameters` (resolved values),
/// `Conditions` (name → bool), and `Resources`: per logical id its `Type`, `Exists` (its
/// `Condition` holds), `Properties`, and `DeletionPolicy` and `UpdateReplacePolicy` when the
/// template sets them, all resolved.
///
/// # Errors
///
/// [`Error::Config`] when the samconfig environment is missing; [`Error::Intrinsic`] when a
/// parameter has no value or one outside its `AllowedValues`, or an intrinsic is malformed
/// or refers to nothing.
pub fn stage(
    template: &Template,
    samconfig: &Path,
    stage: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Value, Error> {
    let config = samconfig::load(samconfig, stage)?;
    let mut values = config.parameters.clone();
    values.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    let stack = StackInfo {
        name: config.stack_name.clone(),
        region: config.region.clone(),
        account: ACCOUNT.into(),
        stack_id: format!(
            "arn:aws:cloudformation:{}:{ACCOUNT}:stack/{}/00000000-0000-0000-0000-000000000000",
            config.region, config.stack_name
        ),
    };
    let context = Context::new(template, &values, &stack, Mode::Lenient)?;
    let mut conditions = Map::new();
    for name in template.conditions.keys() {
        conditions.insert(name.clone(), Value::Bool(context.condition(name)?));
    }
    let mut resources = Map::new();
    for (id, resource) in &template.resources {
        let exists = match &resource.condition {
            Some(condition) => context.condition(condition)?,
            None => true,
        };
        let mut out = Map::new();
        out.insert("Type".into(), Value::String(resource.kind.clone()));
        out.insert("Exists".into(), Value::Bool(exists));
        out.insert(
            "Properties".into(),
            context.resolve(&resource.properties, id, &NoResources)?,
        );
        for (key, policy) in [
            ("DeletionPolicy", &resource.deletion_policy),
            ("UpdateReplacePolicy", &resource.update_replace_policy),
        ] {
            if let Some(policy) = policy {
                out.insert(key.into(), context.resolve(policy, id, &NoResources)?);
            }
        }
        resources.insert(id.clone(), Value::Object(out));
    }
    Ok(json!({
        "Stage": stage,
        "StackName": config.stack_name,
        "Region": config.region,
        "Parameters": context.parameters(),
        "Conditions": conditions,
        "Resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, AllowedValues: [dev, prod]}
  Url: {Type: String, Default: ""}
Mappings:
  Config:
    dev: {Keep: Delete, Multi: false}
    prod: {Keep: Snapshot, Multi: true}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasUrl: !Not [!Equals [!Ref Url, ""]]
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    DeletionPolicy: !FindInMap [Config, !Ref Stage, Keep]
    UpdateReplacePolicy: !FindInMap [Config, !Ref Stage, Keep]
    Properties:
      MultiAZ: !FindInMap [Config, !Ref Stage, Multi]
      Name: !Sub "${AWS::StackName}-db"
  Hook:
    Type: Custom::HttpResource
    Condition: HasUrl
    Properties:
      BaseUrl: !Ref Url
      Target: !GetAtt Db.Endpoint.Address
      Seeds: !If [IsProd, !Ref AWS::NoValue, "common,dev"]
"#;

    fn resolve(dir: &Path, stage_name: &str, overrides: &[(&str, &str)]) -> Value {
        let samconfig = dir.join("samconfig.toml");
        std::fs::write(
            &samconfig,
            "version = 0.1\n[dev.deploy.parameters]\nstack_name = \"app-dev\"\nparameter_overrides = \"Stage=dev\"\n[prod.deploy.parameters]\nstack_name = \"app-prod\"\nregion = \"eu-west-1\"\nparameter_overrides = [\"Stage=prod\"]\n",
        )
        .unwrap();
        let template = Template::parse(TEMPLATE).unwrap();
        let overrides = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        stage(&template, &samconfig, stage_name, &overrides).unwrap()
    }

    #[test]
    fn every_resource_is_resolved_with_the_stages_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let dev = resolve(dir.path(), "dev", &[]);
        assert_eq!(dev["StackName"], "app-dev");
        assert_eq!(dev["Conditions"], json!({"IsProd": false, "HasUrl": false}));
        let db = &dev["Resources"]["Db"];
        assert_eq!(db["DeletionPolicy"], "Delete");
        assert_eq!(db["UpdateReplacePolicy"], "Delete");
        assert_eq!(db["Properties"]["MultiAZ"], false);
        assert_eq!(db["Properties"]["Name"], "app-dev-db");
        let hook = &dev["Resources"]["Hook"];
        assert_eq!(hook["Exists"], false);
        assert!(hook.get("DeletionPolicy").is_none());
        assert_eq!(hook["Properties"]["Seeds"], "common,dev");
        assert_eq!(
            hook["Properties"]["Target"], "<Fn::GetAtt Db.Endpoint.Address>",
            "what only a deployed stack knows stands in as a placeholder"
        );

        let prod = resolve(dir.path(), "prod", &[("Url", "https://hooks.example.com")]);
        assert_eq!(prod["Region"], "eu-west-1");
        assert_eq!(prod["Parameters"]["Url"], "https://hooks.example.com");
        assert_eq!(prod["Resources"]["Db"]["DeletionPolicy"], "Snapshot");
        let hook = &prod["Resources"]["Hook"];
        assert_eq!(hook["Exists"], true);
        assert_eq!(hook["Properties"]["BaseUrl"], "https://hooks.example.com");
        assert!(
            hook["Properties"].get("Seeds").is_none(),
            "AWS::NoValue removes the key"
        );
    }
}
