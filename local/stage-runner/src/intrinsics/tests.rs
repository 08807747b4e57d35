//! The intrinsics, one behaviour per test.

use serde_json::json;

use super::*;

const TEXT: &str = r#"
Parameters:
  Stage: {Type: String, AllowedValues: [dev, test, prod]}
  Url: {Type: String, Default: ""}
  Subnets: {Type: CommaDelimitedList, Default: "a,b"}
Mappings:
  StageSettings:
    dev: {Memory: 256, Seeds: "common,dev"}
    prod: {Memory: 1024, Seeds: common}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  HasUrl: !Not [!Equals [!Ref Url, ""]]
  Both: !And [!Condition NotProd, !Condition HasUrl]
Resources:
  Secret: {Type: Custom::SeededSecret, Properties: {Name: x}}
  Db: {Type: AWS::RDS::DBInstance, Properties: {}}
  Migration:
    Type: Custom::DatabaseMigration
    Properties:
      Seeds: !If [IsProd, !Ref AWS::NoValue, !FindInMap [StageSettings, !Ref Stage, Seeds]]
      Name: !Sub "${AWS::StackName}-${Stage}-${Secret.Arn}-${!Literal}"
      Joined: !Join ["/", [!Ref Stage, !FindInMap [StageSettings, !Ref Stage, Memory], !Ref Secret]]
      First: !Select [1, !Ref Subnets]
      Host: !GetAtt Db.Endpoint.Address
      Bad: !ImportValue other-stack-export
"#;

struct Fixture;
impl Lookup for Fixture {
    fn reference(&self, id: &str) -> Option<Value> {
        (id == "Secret").then(|| json!("arn:secret"))
    }
    fn attribute(&self, id: &str, attribute: &str) -> Option<Value> {
        match (id, attribute) {
            ("Secret", "Arn") => Some(json!("arn:secret")),
            ("Db", "Endpoint.Address") => Some(json!("127.0.0.1")),
            _ => None,
        }
    }
}

fn stack() -> StackInfo {
    StackInfo {
        name: "stackwright-dev".into(),
        region: "us-east-1".into(),
        account: "123456789012".into(),
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/stackwright-dev/1".into(),
    }
}

fn values(stage: &str) -> BTreeMap<String, String> {
    [("Stage".to_owned(), stage.to_owned())]
        .into_iter()
        .collect()
}

#[test]
fn conditions_and_intrinsics_resolve_per_stage() {
    let t = Template::parse(TEXT).unwrap();
    let ctx = Context::new(&t, &values("dev"), &stack(), Mode::Lenient).unwrap();
    assert!(!ctx.condition("IsProd").unwrap() && ctx.condition("NotProd").unwrap());
    assert!(!ctx.condition("HasUrl").unwrap() && !ctx.condition("Both").unwrap());
    let props = ctx
        .resolve(&t.resources["Migration"].properties, "Migration", &Fixture)
        .unwrap();
    assert_eq!(props["Seeds"], "common,dev");
    assert_eq!(props["Name"], "stackwright-dev-dev-arn:secret-${Literal}");
    assert_eq!(props["Joined"], "dev/256/arn:secret");
    assert_eq!(props["First"], "b");
    assert_eq!(props["Host"], "127.0.0.1");
    assert_eq!(props["Bad"], "<Fn::ImportValue>");

    let ctx = Context::new(&t, &values("prod"), &stack(), Mode::Lenient).unwrap();
    let props = ctx
        .resolve(&t.resources["Migration"].properties, "Migration", &Fixture)
        .unwrap();
    assert!(props.get("Seeds").is_none(), "AWS::NoValue removes the key");
}

#[test]
fn strict_mode_names_the_intrinsic_and_the_resource() {
    let t = Template::parse(TEXT).unwrap();
    let ctx = Context::new(&t, &values("dev"), &stack(), Mode::Strict).unwrap();
    let err = ctx
        .resolve(&t.resources["Migration"].properties, "Migration", &Fixture)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource `Migration`: unsupported intrinsic `Fn::ImportValue`"
    );
}

#[test]
fn parameters_are_checked() {
    let t = Template::parse(TEXT).unwrap();
    let err = Context::new(&t, &values("qa"), &stack(), Mode::Strict).unwrap_err();
    assert!(
        err.to_string()
            .contains("`Stage` is `qa`, not one of its AllowedValues"),
        "{err}"
    );
    let err = Context::new(&t, &BTreeMap::new(), &stack(), Mode::Strict).unwrap_err();
    assert!(
        err.to_string().contains("parameter `Stage` has no value"),
        "{err}"
    );
}
