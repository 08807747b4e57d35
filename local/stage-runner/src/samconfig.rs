//! A stage's environment in `samconfig.toml`: stack name, region and parameter overrides.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

/// What the local runner needs from one environment of `samconfig.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    /// `stack_name`.
    pub stack_name: String,
    /// `region`, default us-east-1.
    pub region: String,
    /// `parameter_overrides`, parsed.
    pub parameters: BTreeMap<String, String>,
}

/// Reads environment `stage` of the samconfig file at `path`.
///
/// # Errors
///
/// [`Error::Config`] when the file cannot be read, or has no such environment.
pub fn load(path: &Path, stage: &str) -> Result<StageConfig, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read `{}`: {e}", path.display())))?;
    parse(&text, stage).map_err(|e| Error::Config(format!("`{}`: {e}", path.display())))
}

/// Parses samconfig text.
///
/// # Errors
///
/// When the text is not TOML or the environment is missing.
pub fn parse(text: &str, stage: &str) -> Result<StageConfig, String> {
    let root: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let Some(env) = root.get(stage).and_then(toml::Value::as_table) else {
        let known: Vec<&String> = root
            .iter()
            .filter(|(_, v)| v.is_table())
            .map(|(k, _)| k)
            .collect();
        return Err(format!(
            "no environment `[{stage}]`; environments: {known:?}"
        ));
    };
    let get = |key: &str| -> Option<&toml::Value> {
        ["deploy", "global"].iter().find_map(|cmd| {
            env.get(*cmd)
                .and_then(|c| c.get("parameters"))
                .and_then(|p| p.get(key))
        })
    };
    let stack_name = get("stack_name")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("`[{stage}.deploy.parameters]` has no `stack_name`"))?
        .to_owned();
    let region = get("region")
        .and_then(toml::Value::as_str)
        .unwrap_or("us-east-1")
        .to_owned();
    let parameters = match get("parameter_overrides") {
        Some(toml::Value::String(s)) => parse_overrides(s)?,
        Some(toml::Value::Array(items)) => {
            let joined: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect();
            parse_overrides(
                &joined
                    .iter()
                    .map(|s| quote_if_needed(s))
                    .collect::<Vec<_>>()
                    .join(" "),
            )?
        }
        _ => BTreeMap::new(),
    };
    Ok(StageConfig {
        stack_name,
        region,
        parameters,
    })
}

fn quote_if_needed(item: &str) -> String {
    match item.split_once('=') {
        Some((k, v)) if v.contains(' ') && !v.starts_with('"') => format!("{k}=\"{v}\""),
        _ => item.to_owned(),
    }
}

/// `Key=Value Other="with spaces" Third=''` (and `ParameterKey=K,ParameterValue=V`).
fn parse_overrides(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for token in tokens(text)? {
        if let Some(rest) = token.strip_prefix("ParameterKey=") {
            let (key, value) = rest
                .split_once(",ParameterValue=")
                .ok_or_else(|| format!("cannot read parameter override `{token}`"))?;
            out.insert(key.to_owned(), value.to_owned());
            continue;
        }
        let (key, value) = token
            .split_once('=')
            .ok_or_else(|| format!("parameter override `{token}` is not `Key=Value`"))?;
        out.insert(key.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// Splits on whitespace outside quotes, removing the quotes.
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_token = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_token = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut current));
                    in_token = false;
                }
            }
            (None, c) => {
                current.push(c);
                in_token = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unbalanced quote in `{text}`"));
    }
    if in_token {
        out.push(current);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
version = 0.1
[default.global.parameters]
stack_name = "stackwright"
[dev.deploy.parameters]
stack_name = "stackwright-dev"
region = "eu-west-1"
parameter_overrides = "Stage=dev WebhookBaseUrl=\"\" Note=\"two words\""
[prod.deploy.parameters]
stack_name = "stackwright-prod"
parameter_overrides = ["Stage=prod", "Note=a b"]
"#;

    #[test]
    fn reads_a_stage() {
        let dev = parse(TEXT, "dev").unwrap();
        assert_eq!(dev.stack_name, "stackwright-dev");
        assert_eq!(dev.region, "eu-west-1");
        assert_eq!(dev.parameters["Stage"], "dev");
        assert_eq!(dev.parameters["WebhookBaseUrl"], "");
        assert_eq!(dev.parameters["Note"], "two words");
        let prod = parse(TEXT, "prod").unwrap();
        assert_eq!(prod.parameters["Note"], "a b");
        assert_eq!(prod.region, "us-east-1");
        assert!(
            parse(TEXT, "qa")
                .unwrap_err()
                .contains("no environment `[qa]`")
        );
    }

    #[test]
    fn parameter_key_value_form() {
        let p = parse_overrides("ParameterKey=Stage,ParameterValue=test").unwrap();
        assert_eq!(p["Stage"], "test");
    }
}
