//! What the fuzz targets share: reading the input, and the oracle for "an error never echoes
//! the input's values".
//!
//! # The echo rule
//!
//! A string value of the input is *echoed* by an error text when all of these hold:
//!
//! - it is at least [`MIN_ECHO`] bytes long (shorter ones, `true` or `app`, are found in any
//!   sentence and protect nothing);
//! - it appears verbatim in the text;
//! - the text would not contain it anyway: with every occurrence of that value in the input
//!   replaced by filler of the same length, the parser's text no longer contains it (one
//!   text that still does, for any of the [`fillers`], makes it vocabulary). This
//!   leaves out object keys (named by design: an unknown property is named) and the parser's
//!   own vocabulary (a value `expected` or `ResourceProperties`).
//!
//! Each target may also name what its parser repeats on purpose (an unknown `RequestType`, an
//! RDS `engine`, an enum property's value outside its set): see the target.

use serde_json::Value;

/// The shortest string value the echo rule looks for, in bytes.
pub const MIN_ECHO: usize = 6;

/// The fuzzer's bytes as JSON, or `None` when they are not JSON (the JSON parser itself is
/// serde_json's, not ours).
pub fn json(data: &[u8]) -> Option<Value> {
    // Deeply nested input only measures serde_json's recursion limit.
    serde_json::from_slice(data).ok()
}

/// Every string value in `value`, at any depth, object keys left out.
pub fn string_values(value: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    collect(value, &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn collect<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect(v, out)),
        _ => {}
    }
}

/// `value` with every string value equal to `from` replaced by `to`.
pub fn replace_values(value: &Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(s) if s == from => Value::String(to.to_owned()),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| replace_values(v, from, to)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_values(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Fillers as long as `text` (in bytes), so that at least one is likely to pass the checks the
/// value passed: first `text` with its ASCII letters and digits changed and the rest kept
/// (`/test_url` becomes `/xxxx_xxx`), then runs of one character `text` does not contain: a
/// lower-case letter, an upper-case one, a digit, punctuation.
pub fn fillers(text: &str) -> Vec<String> {
    let shaped: String = text
        .chars()
        .map(|c| match c {
            'x' => 'q',
            c if c.is_ascii_lowercase() => 'x',
            'X' => 'Q',
            c if c.is_ascii_uppercase() => 'X',
            '0' => '1',
            c if c.is_ascii_digit() => '0',
            c => c,
        })
        .collect();
    let runs = ["xqz", "XQZ", "071", "#~^", "-_."]
        .iter()
        .filter_map(|chars| chars.chars().find(|c| !text.contains(*c)))
        .map(|c| c.to_string().repeat(text.len()));
    (shaped != text)
        .then_some(shaped)
        .into_iter()
        .chain(runs)
        .collect()
}

/// Panics when `text` (what `parse` says about `input`) echoes a string value of `input`
/// (the rule in the crate's docs). `parse` runs the parser again on a changed input and
/// returns its text (`None` when it now succeeds); `by_design` names values the parser
/// repeats on purpose, given the value and the text.
pub fn assert_no_echo(
    what: &str,
    input: &Value,
    text: &str,
    parse: impl Fn(&Value) -> Option<String>,
    by_design: impl Fn(&str, &str) -> bool,
) {
    assert_not_echoed(what, input, string_values(input), text, parse, by_design);
}

/// [`assert_no_echo`] for some of `input`'s string values only.
pub fn assert_not_echoed<'a>(
    what: &str,
    input: &Value,
    values: impl IntoIterator<Item = &'a str>,
    text: &str,
    parse: impl Fn(&Value) -> Option<String>,
    by_design: impl Fn(&str, &str) -> bool,
) {
    for value in values {
        if value.len() < MIN_ECHO || !text.contains(value) || by_design(value, text) {
            continue;
        }
        let vocabulary = fillers(value).iter().any(|filler| {
            let changed = replace_values(input, value, filler);
            parse(&changed).is_some_and(|again| again.contains(value))
        });
        assert!(
            vocabulary,
            "{what} echoes the input's value {value:?}: {text:?}"
        );
    }
}

/// `text` without the spans between each `open` and the next backtick: what a parser names on
/// purpose (`unknown value `…``), cut out before looking for echoes.
pub fn without_spans(text: &str, open: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        out.push_str(&rest[..at + open.len()]);
        rest = &rest[at + open.len()..];
        match rest.find('`') {
            Some(end) => rest = &rest[end..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// `text` without the values the project names on purpose as a choice outside its set
/// (`custom_resource::properties`: "a choice outside its set is a name, and named (kept
/// short)"): serde's unknown variant (``unknown value `…` ``) and a function's own list
/// (``expected `GET`, … or `DELETE`, got `…` ``).
pub fn without_named_choices(text: &str) -> String {
    let text = without_spans(text, "unknown value `");
    if text.contains("expected `") {
        without_spans(&text, ", got `")
    } else {
        text
    }
}
