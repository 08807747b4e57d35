//! template.yaml and the functions cannot drift apart: every `Custom::` resource's properties,
//! resolved per stage (that stage's samconfig.toml parameters and conditions applied, other
//! intrinsics standing in as strings), must pass its own function's property parser.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use stage_runner::intrinsics::{Context, Mode, NoResources, StackInfo};
use stage_runner::template::Template;
use stage_runner::{graph, samconfig};

const STAGES: [&str; 4] = ["dev", "test", "stage", "prod"];

fn root() -> PathBuf {
    harness::workspace_root()
}

/// The binary serving a custom resource: the function its `ServiceToken` refers to.
fn binary_of(template: &Template, id: &str) -> String {
    let token = &template.resources[id].properties["ServiceToken"];
    let function = graph::references(token, template)
        .into_iter()
        .find(|r| template.resources[r].kind == "AWS::Serverless::Function")
        .unwrap_or_else(|| panic!("`{id}`'s ServiceToken refers to no function"));
    template.resources[&function].metadata["BuildProperties"]["Binary"]
        .as_str()
        .unwrap_or_else(|| panic!("function `{function}` has no BuildProperties.Binary"))
        .to_owned()
}

fn check(binary: &str, properties: &Value) -> Result<(), String> {
    let result = match binary {
        "db-migration" => db_migration::parse_properties(properties).map(drop),
        "secret-seeder" => secret_seeder::parse_properties(properties).map(drop),
        "http-resource" => http_resource::parse_properties(properties).map(drop),
        "db-user" => db_user::parse_properties(properties).map(drop),
        other => return Err(format!("no parser for function `{other}`")),
    };
    result.map_err(|e| e.to_string())
}

/// Resolves and checks every custom resource of `stage`; returns (logical id, binary) checked.
fn check_stage(template: &Template, stage: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let config = samconfig::load(&root().join("samconfig.toml"), stage).unwrap();
    let mut values: BTreeMap<String, String> = config.parameters.clone();
    for (k, v) in extra {
        values.insert((*k).to_owned(), (*v).to_owned());
    }
    let stack = StackInfo {
        name: config.stack_name.clone(),
        region: config.region.clone(),
        account: "123456789012".into(),
        stack_id: format!(
            "arn:aws:cloudformation:{}:123456789012:stack/{}/x",
            config.region, config.stack_name
        ),
    };
    let ctx = Context::new(template, &values, &stack, Mode::Lenient).unwrap();
    let mut checked = Vec::new();
    for (id, resource) in template.custom_resources() {
        if let Some(condition) = &resource.condition
            && !ctx.condition(condition).unwrap()
        {
            continue;
        }
        let binary = binary_of(template, id);
        let properties = ctx.resolve(&resource.properties, id, &NoResources).unwrap();
        if let Err(reason) = check(&binary, &properties) {
            panic!(
                "stage `{stage}`: resource `{id}` ({binary}) is refused by its own parser: {reason}\nproperties: {properties:#}"
            );
        }
        checked.push((id.to_owned(), binary));
    }
    checked
}

#[test]
fn every_custom_resource_passes_its_functions_parser_in_every_stage() {
    let template = Template::load(&root().join("template.yaml")).unwrap();
    for stage in STAGES {
        let checked = check_stage(&template, stage, &[]);
        let binaries: Vec<&str> = checked.iter().map(|(_, b)| b.as_str()).collect();
        assert!(
            binaries.contains(&"db-migration")
                && binaries.contains(&"secret-seeder")
                && binaries.contains(&"db-user"),
            "{stage}: {checked:?}"
        );
        // The webhook is skipped while its base URL is empty; check it as a stage that sets one.
        let with_hook = check_stage(
            &template,
            stage,
            &[
                ("WebhookBaseUrl", "https://hooks.example.com/api"),
                (
                    "WebhookAuthSecretArn",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:hooks-token-AbCdEf",
                ),
            ],
        );
        assert!(
            with_hook.iter().any(|(_, b)| b == "http-resource"),
            "{stage}: {with_hook:?}"
        );
    }
}

#[test]
fn the_parsers_do_refuse_what_is_wrong() {
    // The check above could pass vacuously if a parser accepted anything.
    let template = Template::load(&root().join("template.yaml")).unwrap();
    let config = samconfig::load(&root().join("samconfig.toml"), "dev").unwrap();
    let mut values = config.parameters.clone();
    values.insert("WebhookBaseUrl".into(), "https://hooks.example.com".into());
    let stack = StackInfo {
        name: config.stack_name.clone(),
        region: config.region.clone(),
        account: "123456789012".into(),
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/x/y".into(),
    };
    let ctx = Context::new(&template, &values, &stack, Mode::Lenient).unwrap();
    for (id, resource) in template.custom_resources() {
        let binary = binary_of(&template, id);
        let mut properties = ctx.resolve(&resource.properties, id, &NoResources).unwrap();
        check(&binary, &properties).unwrap();
        properties["NoSuchProperty"] = Value::from("x");
        let err = check(&binary, &properties).expect_err("an unknown property must be refused");
        assert!(err.contains("NoSuchProperty"), "{id}: {err}");
    }
}

#[test]
fn stage_specific_choices_resolve_as_intended() {
    let template = Template::load(&root().join("template.yaml")).unwrap();
    let resolve = |stage: &str, id: &str| -> Value {
        let config = samconfig::load(&root().join("samconfig.toml"), stage).unwrap();
        let stack = StackInfo {
            name: config.stack_name.clone(),
            region: config.region.clone(),
            account: "123456789012".into(),
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/x/y".into(),
        };
        let ctx = Context::new(&template, &config.parameters, &stack, Mode::Lenient).unwrap();
        ctx.resolve(&template.resources[id].properties, id, &NoResources)
            .unwrap()
    };
    // The database goes with its instance (DeletionPolicy by stage), never with the migration.
    for stage in STAGES {
        assert_eq!(
            resolve(stage, "DatabaseMigration")["OnDelete"],
            "Retain",
            "{stage}"
        );
    }
    // The application's login is retained with its instance too, and reached with VerifyFull.
    for stage in STAGES {
        let user = resolve(stage, "AppDatabaseUser");
        assert_eq!(
            (&user["OnDelete"], &user["Tls"]),
            (&Value::from("Retain"), &Value::from("VerifyFull")),
            "{stage}"
        );
    }
    assert!(
        resolve("prod", "DatabaseMigration").get("Seeds").is_none(),
        "no seed data in prod"
    );
    assert_eq!(resolve("dev", "AppSecret")["OnDelete"], "ForceDelete");
    assert_eq!(resolve("prod", "AppSecret")["OnDelete"], "Retain");
}

#[test]
fn the_release_profile_keeps_panics_catchable() {
    // cargo-lambda (and so `sam build`) compiles release builds with `panic = "abort"` unless
    // the profile says otherwise; then a panic kills the function before it can answer
    // CloudFormation, and the stack waits for its ServiceTimeout.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("Cargo.toml has a [profile.release]");
    let panic: Vec<&str> = release
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("panic"))
        .collect();
    assert_eq!(
        panic,
        [r#"panic = "unwind""#],
        "[profile.release] must set panic = \"unwind\" explicitly"
    );
}
