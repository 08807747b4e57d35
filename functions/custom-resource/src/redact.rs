//! Keeping credentials out of `Reason`s and logs: the values a request learned (a password, an
//! auth header), and anything in a third party's text that looks like a token.
//!
//! One [`Redactor`] lives with each request ([`crate::Request::redactor`]); what the resource
//! teaches it, the runner masks in the `Reason` and in every log line the runner writes.

use std::sync::{Arc, PoisonError, RwLock};

use serde_json::Value;

use crate::Secret;

/// The longest body snippet a `Reason` or a log line carries, in characters.
pub const SNIPPET_CHARS: usize = 300;
/// How much of a body is looked at for a snippet.
const SNIPPET_SOURCE_BYTES: usize = 64 * 1024;
/// What a redacted value is replaced with.
pub const MASK: &str = "***";

/// Redacts the values it was taught (passwords, auth values, header values that look like
/// credentials) and, in [`Redactor::redact`], anything that looks like a token.
///
/// Clones share what they know: the copy a resource teaches is the one the runner reads.
#[derive(Default, Clone)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<Secret<String>>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.read().len())
    }
}

impl Redactor {
    /// A redactor that knows no values yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Secret<String>>> {
        // A panic while holding the lock leaves the list as it was: still usable.
        self.secrets.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a value that must never be shown, and its JSON-escaped form.
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        if secrets.iter().any(|s| s.expose() == value) {
            return;
        }
        if let Ok(quoted) = serde_json::to_string(value) {
            let escaped = &quoted[1..quoted.len() - 1];
            if escaped != value {
                secrets.push(Secret::from(escaped));
            }
        }
        secrets.push(Secret::from(value));
        // Longest first, so that a value containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
    }

    /// Whether `text` contains a known value.
    pub fn reveals(&self, text: &str) -> bool {
        self.read()
            .iter()
            .any(|s| text.contains(s.expose().as_str()))
    }

    /// `text` with the known values masked, and nothing else: what the runner applies to
    /// every `Reason` and log line, which name ids that may look like tokens.
    pub fn redact_known(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in self.read().iter() {
            if text.contains(secret.expose().as_str()) {
                text = text.replace(secret.expose().as_str(), MASK);
            }
        }
        text
    }

    /// `text` with known values and token-like words masked: for text a third party wrote
    /// (an API's error body).
    pub fn redact(&self, text: &str) -> String {
        redact_tokens(&self.redact_known(text))
    }

    /// A short, one-line, redacted rendering of a response body for a `Reason` or a log
    /// line: JSON values under names like `token` or `password` masked, then known values and
    /// token-like words, whitespace collapsed, cut to [`SNIPPET_CHARS`].
    pub fn snippet(&self, body: &[u8]) -> String {
        let head = &body[..body.len().min(SNIPPET_SOURCE_BYTES)];
        let text = String::from_utf8_lossy(head);
        let text = match serde_json::from_str::<Value>(&text) {
            Ok(mut value) => {
                mask_sensitive_fields(&mut value);
                value.to_string()
            }
            Err(_) => text.into_owned(),
        };
        let text = self.redact(&text);
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        cut(&collapsed, SNIPPET_CHARS)
    }
}

/// Cuts `text` to `max` characters, marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}…")
}

/// Whether a field or parameter name suggests a credential.
pub fn sensitive_name(name: &str) -> bool {
    const WORDS: [&str; 13] = [
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "auth",
        "credential",
        "key",
        "private",
        "signature",
        "session",
        "cookie",
        "bearer",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
}

/// Masks, in place, every JSON value stored under a [`sensitive_name`].
pub fn mask_sensitive_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if sensitive_name(key) && !matches!(v, Value::Null | Value::Bool(_)) {
                    *v = Value::String(MASK.into());
                } else {
                    mask_sensitive_fields(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_sensitive_fields),
        _ => {}
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.' | '~')
}

/// Whether a word looks like a generated credential: long, with letters and digits (API
/// keys, JWTs, UUIDs, hex digests), or very long in mixed case.
pub fn looks_like_token(word: &str) -> bool {
    let len = word.chars().count();
    let digit = word.chars().any(|c| c.is_ascii_digit());
    let alpha = word.chars().any(|c| c.is_ascii_alphabetic());
    let upper = word.chars().any(|c| c.is_ascii_uppercase());
    let lower = word.chars().any(|c| c.is_ascii_lowercase());
    (len >= 20 && digit && alpha) || (len >= 32 && upper && lower)
}

/// Masks token-like words, the word after `Bearer`/`Basic`/`token`, and the value after a
/// credential-like name (`api_key=…`, `"password": "…"`).
pub fn redact_tokens(text: &str) -> String {
    // Split into runs of token characters and the gaps between them.
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut in_run = None;
    for (i, c) in text.char_indices() {
        let run = is_token_char(c);
        match in_run {
            Some(r) if r == run => {}
            Some(r) => {
                parts.push((r, &text[start..i]));
                start = i;
                in_run = Some(run);
            }
            None => in_run = Some(run),
        }
    }
    if let Some(r) = in_run {
        parts.push((r, &text[start..]));
    }

    let mut out = String::with_capacity(text.len());
    let mut previous: Option<&str> = None;
    let mut gap = "";
    for (is_run, part) in parts {
        if !is_run {
            out.push_str(part);
            gap = part;
            continue;
        }
        let after_marker = previous.is_some_and(|p| marks_a_value(p, gap));
        if after_marker && is_scheme(part) {
            // `Authorization: Bearer x`: the scheme stays, the word after it goes.
            out.push_str(part);
        } else if after_marker || looks_like_token(part) {
            out.push_str(MASK);
        } else if let Some((name, value)) = part.split_once('=')
            && !value.is_empty()
            && sensitive_name(name)
        {
            out.push_str(name);
            out.push('=');
            out.push_str(MASK);
        } else {
            out.push_str(part);
        }
        previous = Some(part);
        gap = "";
    }
    out
}

fn is_scheme(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "bearer" | "basic" | "token" | "digest"
    )
}

/// Whether the word after `word` and `gap` is a credential: `Bearer x`, `token: x`,
/// `"api_key": "x"`.
fn marks_a_value(word: &str, gap: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let scheme = is_scheme(word);
    match gap {
        " " => scheme,
        ":" | ": " | "=" | "\":\"" | "\": \"" | "='" | "=\"" | "=\\\"" => {
            scheme || sensitive_name(&lower)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn known_values_are_masked_also_json_escaped() {
        let r = Redactor::new();
        r.add("s3cr\"et");
        r.add("");
        r.add("s3cr\"et");
        assert_eq!(r.redact("x s3cr\"et y"), "x *** y");
        assert_eq!(r.snippet(br#"{"echo": "s3cr\"et"}"#), r#"{"echo":"***"}"#);
        assert!(r.reveals("…s3cr\"et…"));
        assert!(!r.reveals("nothing here"));
        assert_eq!(format!("{r:?}"), "Redactor(2 values)");
    }

    #[test]
    fn clones_share_what_they_learn_and_known_values_alone_spare_ids() {
        let r = Redactor::new();
        let runner_copy = r.clone();
        r.add("pa55word");
        let reason = "login failed for pa55word on app-Thing-1a2b3c4d5e6f7a8b9c0d";
        assert_eq!(
            runner_copy.redact_known(reason),
            "login failed for *** on app-Thing-1a2b3c4d5e6f7a8b9c0d"
        );
    }

    #[test]
    fn token_like_words_are_masked() {
        for token in [
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc123def456ghi789",
            "3f2a9c4e-1b7d-4e8a-9c2f-6d5e4b3a2c1d",
            "0123456789abcdef0123456789abcdef",
            "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
        ] {
            assert_eq!(redact_tokens(&format!("id {token}.")), "id ***", "{token}");
        }
        // Words, paths and short ids stay readable.
        for plain in [
            "Validation Failed: hook already exists on this repository",
            "https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook",
            "monitor 123456 not found",
            "internationalization",
        ] {
            assert_eq!(redact_tokens(plain), plain);
        }
    }

    #[test]
    fn values_after_credential_names_and_schemes_are_masked() {
        assert_eq!(
            redact_tokens("Authorization: Bearer abc"),
            "Authorization: Bearer ***"
        );
        assert_eq!(redact_tokens("authorization=xyz"), "authorization=***");
        assert_eq!(
            redact_tokens("sent Bearer abc and Basic xyz"),
            "sent Bearer *** and Basic ***"
        );
        assert_eq!(redact_tokens("?api_key=abc&x=1"), "?api_key=***&x=1");
        assert_eq!(
            redact_tokens("password: hunter2, user: bob"),
            "password: ***, user: bob"
        );
        assert_eq!(redact_tokens(r#""secret": "short""#), r#""secret": "***""#);
        assert_eq!(redact_tokens("the token is fine"), "the token *** fine");
    }

    #[test]
    fn json_fields_with_credential_names_are_masked() {
        let mut v = json!({"id": 1, "config": {"secret": "abc", "url": "https://x"}, "tokens": ["a"], "auth": null, "list": [{"api_key": 5}]});
        mask_sensitive_fields(&mut v);
        assert_eq!(
            v,
            json!({"id": 1, "config": {"secret": "***", "url": "https://x"}, "tokens": "***", "auth": null, "list": [{"api_key": "***"}]})
        );
    }

    #[test]
    fn snippets_are_one_short_line() {
        let r = Redactor::new();
        let body = format!("<html>\n  <body>{}</body>\n</html>", "x ".repeat(400));
        let s = r.snippet(body.as_bytes());
        assert!(!s.contains('\n'));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
        assert!(s.ends_with('…'));
        assert_eq!(r.snippet(b""), "");
        assert_eq!(r.snippet(&[0xff, b'a']), "\u{fffd}a");
    }
}
