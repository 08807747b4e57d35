//! Fixtures round-trip through aws_lambda_events' types, so they stay real CloudFormation events.

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use serde_json::Value;

#[test]
fn every_fixture_round_trips() {
    let mut seen = 0;
    for entry in std::fs::read_dir(stackwright_tests::fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: CloudFormationCustomResourceRequest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again: CloudFormationCustomResourceRequest =
            serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again, "{}", path.display());
        let raw: Value = serde_json::from_str(&text).unwrap();
        assert!(raw["ResponseURL"].as_str().unwrap().starts_with("https://"));
        seen += 1;
    }
    assert!(
        seen >= 3,
        "expected the create, update and delete fixtures, found {seen}"
    );
}
