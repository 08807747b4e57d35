//! The response body CloudFormation reads, kept within its 4096-byte limit, and the physical
//! ids the library chooses itself.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::request::Ids;

/// CloudFormation rejects a response body larger than this ("Response object is too long").
pub const MAX_BODY_BYTES: usize = 4096;

/// Physical ids longer than this are refused by CloudFormation.
pub const MAX_PHYSICAL_ID_BYTES: usize = 1024;

/// The prefix of the physical id answered for a Create that failed.
pub const FAILED_CREATE_PREFIX: &str = "stackwright:create-failed:";

/// SUCCESS or FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The request was carried out.
    Success,
    /// It was not; `Reason` says why.
    Failed,
}

/// The body PUT to the `ResponseURL`. It also reads one back, as CloudFormation does (the
/// stage runner): any field but `Status` may be missing or `null` in what another function
/// sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    /// SUCCESS or FAILED.
    pub status: Status,
    /// Always a string (CloudFormation shows it; `null` helps nobody).
    #[serde(default, deserialize_with = "null_as_default")]
    pub reason: String,
    /// The resource's physical id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub physical_resource_id: String,
    /// Copied from the request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub stack_id: String,
    /// Copied from the request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub request_id: String,
    /// Copied from the request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub logical_resource_id: String,
    /// Mask `Data` in CloudFormation's output.
    #[serde(default, deserialize_with = "null_as_default")]
    pub no_echo: bool,
    /// Attributes for `Fn::GetAtt`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Map<String, Value>,
}

/// `null` reads as the type's default, as a missing field does.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl Response {
    pub(crate) fn success(
        ids: &Ids,
        physical_id: String,
        data: Map<String, Value>,
        no_echo: bool,
    ) -> Self {
        Self {
            status: Status::Success,
            reason: String::new(),
            physical_resource_id: physical_id,
            stack_id: ids.stack_id.clone(),
            request_id: ids.request_id.clone(),
            logical_resource_id: ids.logical_resource_id.clone(),
            no_echo,
            data,
        }
    }

    pub(crate) fn failed(ids: &Ids, physical_id: String, reason: impl Into<String>) -> Self {
        Self {
            status: Status::Failed,
            reason: reason.into(),
            physical_resource_id: physical_id,
            stack_id: ids.stack_id.clone(),
            request_id: ids.request_id.clone(),
            logical_resource_id: ids.logical_resource_id.clone(),
            no_echo: false,
            data: Map::new(),
        }
    }

    /// Serialises the response within [`MAX_BODY_BYTES`]: control characters are stripped
    /// from `Reason`, a long `Reason` keeps its head and tail around a marker, and `Data` that
    /// cannot fit turns the response into FAILED naming the keys that were too large.
    pub fn into_body(mut self) -> Vec<u8> {
        self.reason = strip_control(&self.reason);
        let body = serialise(&self);
        if body.len() <= MAX_BODY_BYTES {
            return body;
        }
        if !self.data.is_empty() {
            let total = serialise(&self.data).len();
            let too_large = too_large_keys(&self);
            self.status = Status::Failed;
            self.reason = format!(
                "the response `Data` is {total} bytes, more than CloudFormation's \
                {MAX_BODY_BYTES}-byte limit for the whole response; too large: {}. Return smaller \
                values, or store large ones elsewhere (S3, SSM Parameter Store) and return a \
                reference",
                too_large.join(", ")
            );
            self.data = Map::new();
            self.no_echo = false;
        }
        let empty = serialise(&Self {
            reason: String::new(),
            ..self.clone()
        });
        let budget = MAX_BODY_BYTES.saturating_sub(empty.len());
        self.reason = cut_to_fit(&self.reason, budget);
        serialise(&self)
    }
}

fn serialise<T: Serialize>(value: &T) -> Vec<u8> {
    // A map of strings to JSON values always serialises.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Names the `Data` keys that have to go for the rest to fit, largest first.
fn too_large_keys(response: &Response) -> Vec<String> {
    let mut sizes: Vec<(String, usize)> = response
        .data
        .iter()
        .map(|(k, v)| (k.clone(), serialise(&k).len() + 1 + serialise(v).len()))
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut trial = response.clone();
    trial.reason = String::new();
    let mut named = Vec::new();
    for (key, size) in sizes {
        if serialise(&trial).len() <= MAX_BODY_BYTES {
            break;
        }
        trial.data.remove(&key);
        named.push(format!("`{}` ({size} bytes)", shorten_key(&key)));
    }
    named
}

fn shorten_key(key: &str) -> String {
    let clean = strip_control(key);
    if clean.len() <= 64 {
        return clean;
    }
    let end = floor_boundary(&clean, 64);
    format!("{}…", &clean[..end])
}

/// Removes control characters, turning line breaks and tabs into spaces.
pub(crate) fn strip_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// The length `text` takes inside a JSON string.
fn json_len(text: &str) -> usize {
    text.len() + text.chars().filter(|c| matches!(c, '"' | '\\')).count()
}

/// Cuts `text` (already free of control characters) to at most `budget` JSON-escaped bytes,
/// keeping its head and tail, on UTF-8 boundaries.
fn cut_to_fit(text: &str, budget: usize) -> String {
    if json_len(text) <= budget {
        return text.to_owned();
    }
    let marker = format!(" …[{} bytes cut]… ", text.len());
    let room = budget.saturating_sub(json_len(&marker));
    if room == 0 {
        let end = floor_by_json_len(text, budget);
        return text[..end].to_owned();
    }
    let head_room = room * 2 / 3;
    let head_end = floor_by_json_len(text, head_room);
    let tail_room = room - json_len(&text[..head_end]);
    let tail_start = ceil_by_json_len_from_end(text, tail_room);
    format!("{}{marker}{}", &text[..head_end], &text[tail_start..])
}

/// The largest char boundary `end` such that `text[..end]` takes at most `room` JSON bytes.
fn floor_by_json_len(text: &str, room: usize) -> usize {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        let len = json_len(c.encode_utf8(&mut [0; 4]));
        if used + len > room {
            return i;
        }
        used += len;
    }
    text.len()
}

/// The smallest char boundary `start` such that `text[start..]` takes at most `room` JSON bytes.
fn ceil_by_json_len_from_end(text: &str, room: usize) -> usize {
    let mut used = 0;
    let mut start = text.len();
    for (i, c) in text.char_indices().rev() {
        let len = json_len(c.encode_utf8(&mut [0; 4]));
        if used + len > room {
            break;
        }
        used += len;
        start = i;
    }
    start
}

fn floor_boundary(text: &str, max: usize) -> usize {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The physical id answered for a Create that failed: derived from the request, so a
/// re-delivered Create gets the same one, and recognisable, so the Delete CloudFormation
/// sends next succeeds at once.
pub fn failed_create_id(logical_resource_id: &str, request_id: &str) -> String {
    let id = format!("{FAILED_CREATE_PREFIX}{logical_resource_id}:{request_id}");
    let end = floor_boundary(&id, MAX_PHYSICAL_ID_BYTES);
    id[..end].to_owned()
}

/// Whether `physical_id` is one [`failed_create_id`] made.
pub fn is_failed_create_id(physical_id: &str) -> bool {
    physical_id.starts_with(FAILED_CREATE_PREFIX)
}

/// Whether `physical_id` is one CloudFormation made up because a Create never answered:
/// `<stack name>-<logical id>-<12 or 13 upper-case letters and digits>`, the two names
/// possibly shortened. Such an id never named anything a resource made: a Delete for it
/// deletes nothing and an Update for it creates.
pub fn invented_by_cloudformation(physical_id: &str, stack_name: &str, logical_id: &str) -> bool {
    let Some((prefix, suffix)) = physical_id.rsplit_once('-') else {
        return false;
    };
    let random = (12..=13).contains(&suffix.len())
        && suffix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !random || stack_name.is_empty() || logical_id.is_empty() {
        return false;
    }
    // The prefix is a (possibly shortened) stack name, `-`, a (possibly shortened) logical
    // id; stack names may themselves contain `-`, so try every split.
    prefix.match_indices('-').any(|(i, _)| {
        let (stack, logical) = (&prefix[..i], &prefix[i + 1..]);
        !stack.is_empty()
            && !logical.is_empty()
            && stack_name.starts_with(stack)
            && logical_id.starts_with(logical)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ids() -> Ids {
        Ids {
            request_id: "b3a2c1d0-0000-4000-8000-000000000000".into(),
            stack_id: "arn:aws:cloudformation:eu-west-1:123456789012:stack/app-dev/1f2e3d4c-aaaa-bbbb-cccc-0123456789ab".into(),
            logical_resource_id: "Database".into(),
            physical_resource_id: None,
        }
    }

    #[test]
    fn a_response_reads_back_as_written_and_another_functions_minimal_one_reads_too() {
        let written = Response::success(&ids(), "id-1".into(), Map::new(), true);
        let read: Response =
            serde_json::from_value(serde_json::to_value(&written).unwrap()).unwrap();
        assert_eq!(read, written);
        // cfn-response (Python) and others send `null` or leave fields out.
        let read: Response = serde_json::from_value(
            json!({"Status": "FAILED", "Reason": null, "PhysicalResourceId": "x", "Data": null}),
        )
        .unwrap();
        assert_eq!(read.status, Status::Failed);
        assert_eq!((read.reason.as_str(), read.no_echo), ("", false));
        assert!(read.data.is_empty());
        assert!(serde_json::from_value::<Response>(json!({"Reason": "no status"})).is_err());
    }

    #[test]
    fn ids_cloudformation_invents() {
        assert!(invented_by_cloudformation(
            "stackwright-test-Thing-1A2B3C4D5E6F",
            "stackwright-test",
            "Thing"
        ));
        assert!(invented_by_cloudformation(
            "app-Hook-ABCDEFGHIJKLM",
            "app",
            "Hook"
        ));
        // Shortened names.
        assert!(invented_by_cloudformation(
            "a-very-long-sta-VeryLongLogi-1A2B3C4D5E6F",
            "a-very-long-stack-name",
            "VeryLongLogicalId"
        ));
        // Ids a resource issues stay its ids.
        for id in [
            "42",
            "b3a2c1d0-0000-4000-8000-000000000000",
            "app-Hook-1a2b3c4d5e6f",
            "other-Hook-1A2B3C4D5E6F",
            "app-Other-1A2B3C4D5E6F",
            "app-Hook-1A2B3C4D5E6",
            "app-Hook",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/Hook-AbCdEf",
        ] {
            assert!(!invented_by_cloudformation(id, "app", "Hook"), "{id}");
        }
    }

    #[test]
    fn reason_is_a_string_even_when_empty() {
        let body = Response::success(&ids(), "id".into(), Map::new(), false).into_body();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Reason"], "");
        assert_eq!(v["Status"], "SUCCESS");
        for key in [
            "PhysicalResourceId",
            "StackId",
            "RequestId",
            "LogicalResourceId",
            "NoEcho",
            "Data",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn a_long_reason_with_control_and_multibyte_characters_fits() {
        let mut reason = String::new();
        for i in 0..10_000 {
            reason.push(match i % 7 {
                0 => '\u{7}',
                1 => 'é',
                2 => '"',
                3 => '\n',
                4 => '日',
                5 => '\\',
                _ => 'x',
            });
        }
        reason.insert_str(0, "HEAD ");
        reason.push_str(" TAIL");
        let body = Response::failed(&ids(), "id".into(), reason).into_body();
        assert!(body.len() <= MAX_BODY_BYTES, "{}", body.len());
        assert!(
            body.len() > MAX_BODY_BYTES - 16,
            "the budget is used: {}",
            body.len()
        );
        let text = String::from_utf8(body).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let reason = v["Reason"].as_str().unwrap();
        assert!(
            reason.starts_with("HEAD ") && reason.ends_with(" TAIL"),
            "{reason}"
        );
        assert!(reason.contains("bytes cut]"));
        assert!(!reason.chars().any(char::is_control));
    }

    #[test]
    fn data_that_cannot_fit_fails_naming_the_keys() {
        let mut data = Map::new();
        data.insert("Small".into(), json!("ok"));
        data.insert("Huge".into(), json!("x".repeat(5000)));
        data.insert("Big".into(), json!("y".repeat(3000)));
        let body = Response::success(&ids(), "id".into(), data, true).into_body();
        assert!(body.len() <= MAX_BODY_BYTES);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Status"], "FAILED");
        let reason = v["Reason"].as_str().unwrap();
        assert!(reason.contains("`Huge` (5009 bytes)"), "{reason}");
        assert!(!reason.contains("`Small`"), "{reason}");
        assert_eq!(
            v["PhysicalResourceId"], "id",
            "the id is kept so a rollback can delete it"
        );
        assert_eq!(v["Data"], json!({}));
    }

    #[test]
    fn data_that_fits_is_kept() {
        let mut data = Map::new();
        data.insert("Version".into(), json!("20240101000000"));
        let body = Response::success(&ids(), "id".into(), data, false).into_body();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Data"]["Version"], "20240101000000");
    }

    #[test]
    fn failed_create_ids_are_derived_and_recognised() {
        let a = failed_create_id("Db", "req-1");
        assert_eq!(a, failed_create_id("Db", "req-1"));
        assert_ne!(a, failed_create_id("Db", "req-2"));
        assert!(is_failed_create_id(&a));
        assert!(!is_failed_create_id("postgres://h:5432/app"));
    }

    #[test]
    fn cutting_respects_every_budget() {
        let text = "é\"日x\\".repeat(300);
        for budget in [0, 1, 2, 5, 20, 33, 100, 999] {
            let cut = cut_to_fit(&text, budget);
            assert!(json_len(&cut) <= budget, "{budget}: {}", json_len(&cut));
        }
    }
}
