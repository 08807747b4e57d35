//! The RDS secret JSON: db-migration's `secret::parse_secret` and the library's
//! `secrets::json_object` (the reader every function uses), on any `SecretString`.
//!
//! Asserted: no panic; a parsed secret holds the `password` the JSON held; an error never
//! echoes a value of the secret (the password with it), except the `engine` value, which an
//! unsupported engine names on purpose; text that is not JSON is never repeated.
#![no_main]

use custom_resource::Secret;
use custom_resource::secrets::json_object;
use db_migration::secret::parse_secret;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use stackwright_fuzz::{MIN_ECHO, assert_no_echo, fillers};

const ID: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-db-AbCdEf";

fn problems(text: &str) -> Option<String> {
    let secret = Secret::new(text.to_owned());
    let a = parse_secret(ID, &secret).err().map(|e| e.to_string());
    let b = json_object(ID, &secret).err().map(|e| e.to_string());
    (a.is_some() || b.is_some())
        .then(|| format!("{}\n{}", a.unwrap_or_default(), b.unwrap_or_default()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = Secret::new(text.to_owned());
    if let Ok(parsed) = parse_secret(ID, &secret) {
        let value: Value = serde_json::from_str(text).expect("a parsed secret is JSON");
        assert_eq!(
            Some(parsed.password.expose().as_str()),
            value["password"].as_str()
        );
        assert!(parsed.port > 0);
    }
    if let Ok(map) = json_object(ID, &secret) {
        assert_eq!(
            Value::Object(map),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
    let Some(problem) = problems(text) else {
        return;
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            let engine = value.get("engine").and_then(Value::as_str);
            assert_no_echo(
                "a secret's reason",
                &value,
                &problem,
                |v| problems(&v.to_string()),
                |v, _| engine == Some(v),
            );
        }
        Err(_) => {
            // Text that is not JSON is one value: repeated only when the reason would name it
            // anyway (`engine`, the secret's id).
            let trimmed = text.trim();
            if trimmed.len() >= MIN_ECHO && problem.contains(trimmed) {
                let vocabulary = fillers(trimmed).iter().any(|filler| {
                    problems(&text.replace(trimmed, filler)).is_some_and(|t| t.contains(trimmed))
                });
                assert!(
                    vocabulary,
                    "a secret's reason repeats its text: {problem:?}"
                );
            }
        }
    }
});
