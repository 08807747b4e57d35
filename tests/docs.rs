//! The documentation stays true: every property table in a function's README names exactly the
//! properties its function's own parser knows. The parser is asked through the error it gives
//! for an unknown property, which lists every known one, so a property added to the code but
//! not to the table (or the other way round) fails here.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::json;

/// The property names a function's parser knows, from its unknown-property error.
fn known_by_parser(function: &str) -> BTreeSet<String> {
    let probe = json!({"ZzNotAProperty": "x"});
    let reason = match function {
        "db-migration" => db_migration::parse_properties(&probe)
            .err()
            .map(|e| e.to_string()),
        "secret-seeder" => secret_seeder::parse_properties(&probe)
            .err()
            .map(|e| e.to_string()),
        "http-resource" => http_resource::parse_properties(&probe)
            .err()
            .map(|e| e.to_string()),
        "db-user" => db_user::parse_properties(&probe)
            .err()
            .map(|e| e.to_string()),
        other => panic!(
            "`functions/{other}/README.md` has a property table, but this test has no parser for \
             `{other}`: add it to `known_by_parser`"
        ),
    }
    .unwrap_or_else(|| panic!("{function}'s parser accepted an unknown property"));
    let (_, expected) = reason
        .split_once("expected")
        .unwrap_or_else(|| panic!("{function}: the reason lists no known properties: {reason}"));
    backticked(expected)
}

/// Every `name` written as `` `name` `` in `text`.
fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The first column of each table whose header's first cell is `property`, one set per table.
fn property_tables(readme: &str) -> Vec<BTreeSet<String>> {
    let mut tables = Vec::new();
    let mut current: Option<BTreeSet<String>> = None;
    for line in readme.lines() {
        let cells: Vec<&str> = line.trim().split('|').map(str::trim).collect();
        let is_row = line.trim_start().starts_with('|') && cells.len() > 2;
        match (&mut current, is_row) {
            (None, true) if cells[1] == "property" => current = Some(BTreeSet::new()),
            (Some(names), true) if !cells[1].starts_with("---") => {
                names.extend(backticked(cells[1]));
            }
            (Some(_), false) => tables.extend(current.take()),
            (Some(_) | None, _) => {}
        }
    }
    tables.extend(current);
    tables
}

#[test]
fn every_property_table_names_exactly_what_its_parser_knows() {
    let functions = harness::workspace_root().join("functions");
    let mut checked = 0;
    for entry in std::fs::read_dir(&functions).unwrap() {
        let dir = entry.unwrap().path();
        let readme = dir.join("README.md");
        if !readme.is_file() {
            continue;
        }
        let function = dir.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&readme).unwrap();
        for table in property_tables(&text) {
            let known = known_by_parser(&function);
            let undocumented: Vec<_> = known.difference(&table).collect();
            let unknown: Vec<_> = table.difference(&known).collect();
            assert!(
                undocumented.is_empty() && unknown.is_empty(),
                "{}: properties the parser knows but the table lacks: {undocumented:?}; in the \
                 table but unknown to the parser: {unknown:?}",
                rel(&readme)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected the property tables of db-migration, secret-seeder and http-resource, found {checked}"
    );
}

#[test]
fn the_table_reader_sees_a_missing_and_an_extra_property() {
    // The check above could pass vacuously if the reader found nothing in a table.
    let readme = "\
| property | required | meaning |
|---|---|---|
| `SecretArn` | yes | the secret, not `Other` |
| `Database` | no | |

| key | meaning |
|---|---|
| `NotAProperty` | |
";
    let tables = property_tables(readme);
    assert_eq!(tables.len(), 1);
    assert_eq!(
        tables[0],
        BTreeSet::from(["SecretArn".to_owned(), "Database".to_owned()])
    );
    let known = known_by_parser("db-migration");
    assert!(
        known.contains("SecretArn") && known.contains("Trigger"),
        "{known:?}"
    );
    assert!(!known.contains("ZzNotAProperty"));
}

fn rel(path: &Path) -> String {
    path.strip_prefix(harness::workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}
