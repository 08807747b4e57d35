//! Lambda's destination record: what the responder reads from it, and the `Reason` it builds.
//!
//! Lambda sends the record to an `OnFailure` destination when it gives up on an asynchronous
//! event (shapes and sources in `records/README.md`):
//!
//! ```json
//! {"version": "1.0", "timestamp": "…",
//!  "requestContext": {"requestId": "…", "functionArn": "…:function:name:live",
//!                     "condition": "RetriesExhausted", "approximateInvokeCount": 3},
//!  "requestPayload": {"RequestType": "Create", "ResponseURL": "…", …},
//!  "responseContext": {"statusCode": 200, "executedVersion": "7", "functionError": "Unhandled"},
//!  "responsePayload": {"errorType": "Runtime.ExitError", "errorMessage": "…"}}
//! ```
//!
//! Everything but `requestContext.condition` and `requestPayload` may be missing or of another
//! shape (`responsePayload` is whatever the function returned): the record is read by hand,
//! never through a typed event that could fail to deserialise.

use custom_resource::Redactor;
use custom_resource::redact::cut;
use serde_json::{Map, Value};

use crate::Error;

/// The longest `errorType` a `Reason` repeats, in characters.
pub const ERROR_TYPE_CHARS: usize = 80;
/// The longest `errorMessage` a `Reason` repeats, in characters.
pub const ERROR_MESSAGE_CHARS: usize = 600;
/// Property values shorter than this are not masked in the error message: masking `true` or
/// `app` would garble the text and protect nothing.
const SHORTEST_MASKED_VALUE: usize = 6;

/// Why Lambda gave up on the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Every attempt (`MaximumRetryAttempts` + 1) failed.
    RetriesExhausted,
    /// The event grew older than `MaximumEventAgeInSeconds` before an attempt succeeded.
    EventAgeExceeded,
}

impl Condition {
    /// The name Lambda gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::RetriesExhausted => "RetriesExhausted",
            Self::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// A record of a request Lambda gave up on: what the `Reason` is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure<'a> {
    /// Why Lambda gave up.
    pub condition: Condition,
    /// `approximateInvokeCount`: how many attempts ran (0 when the event aged out unrun).
    pub attempts: Option<u64>,
    /// The function and qualifier that failed (`stackwright-dev-db-migration:live`).
    pub function: Option<String>,
    /// Lambda's request id of the event, to find the attempts in the function's log.
    pub lambda_request_id: Option<String>,
    /// `responsePayload.errorType`, cut and redacted.
    pub error_type: Option<String>,
    /// `responsePayload.errorMessage`, on one line, cut and redacted.
    pub error_message: Option<String>,
    /// `requestPayload`: the CloudFormation event the function was given.
    pub request: &'a Value,
}

/// Reads a destination record.
///
/// # Errors
///
/// [`Error::NotAFailure`] for a record whose `condition` is not `RetriesExhausted` or
/// `EventAgeExceeded` (a `Success` record): there is nothing to answer.
/// [`Error::NotARecord`] when `record` is not a destination record at all.
pub fn read(record: &Value) -> Result<Failure<'_>, Error> {
    let Some(map) = record.as_object() else {
        return Err(Error::NotARecord(format!(
            "expected a JSON object, got {}",
            kind(record)
        )));
    };
    let context = map
        .get("requestContext")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::NotARecord("no `requestContext` object".into()))?;
    let condition = match context.get("condition").and_then(Value::as_str) {
        Some("RetriesExhausted") => Condition::RetriesExhausted,
        Some("EventAgeExceeded") => Condition::EventAgeExceeded,
        Some(other) => {
            return Err(Error::NotAFailure {
                condition: cut(&one_line(other), 40),
            });
        }
        None => {
            return Err(Error::NotARecord(
                "no `requestContext.condition` string".into(),
            ));
        }
    };
    let request = map
        .get("requestPayload")
        .filter(|p| p.is_object())
        .ok_or_else(|| Error::NotARecord("no `requestPayload` object".into()))?;
    let redactor = taught(request);
    let response = map.get("responsePayload").and_then(Value::as_object);
    // Why repeating these is safe: `errorType` and `errorMessage` are Lambda's own words
    // (`Runtime.ExitError`, "Task timed out after …", "Process exited before completing
    // request") or our functions' own, which the protocol library writes without a secret (its
    // `Reason`s and errors go through the request's `Redactor`; a `ResponseURL` prints as its
    // host). They are still cut, put on one line, and masked for every value the request
    // carries (its properties and its `ResponseURL`), the library's rule for its own lines
    // (`Redactor::redact_known`): should a message ever repeat the request, nothing of it
    // reaches CloudFormation. Token-like words are not masked, unlike text a third party wrote:
    // that would hide the request ids and host names that make the reason useful, and neither
    // writer puts a credential in these fields.
    let error_type = response
        .and_then(|r| r.get("errorType"))
        .and_then(Value::as_str)
        .map(|t| cut(&redactor.redact_known(&one_line(t)), ERROR_TYPE_CHARS))
        .filter(|t| !t.is_empty());
    let error_message = response
        .and_then(|r| r.get("errorMessage"))
        .and_then(Value::as_str)
        .map(|m| cut(&redactor.redact_known(&one_line(m)), ERROR_MESSAGE_CHARS))
        .filter(|m| !m.is_empty());
    Ok(Failure {
        condition,
        attempts: context
            .get("approximateInvokeCount")
            .and_then(Value::as_u64),
        function: context
            .get("functionArn")
            .and_then(Value::as_str)
            .and_then(function_of),
        lambda_request_id: context
            .get("requestId")
            .and_then(Value::as_str)
            .filter(|id| plain(id, 64))
            .map(str::to_owned),
        error_type,
        error_message,
        request,
    })
}

impl Failure<'_> {
    /// The `Reason` CloudFormation shows: what Lambda gave up on and why, the function's last
    /// error, and where to look.
    ///
    /// ```text
    /// the function `stackwright-dev-db-migration:live` failed 3 times and Lambda gave up
    /// (RetriesExhausted): Runtime.ExitError: RequestId: … Error: Runtime exited with error:
    /// signal: killed; its log has Lambda request `8ea123e4-…`
    /// ```
    pub fn reason(&self) -> String {
        let function = self
            .function
            .as_ref()
            .map_or_else(String::new, |f| format!(" `{f}`"));
        let mut reason = match (self.condition, self.attempts) {
            (Condition::EventAgeExceeded, Some(0)) => format!(
                "the event grew older than the function{function}'s MaximumEventAgeInSeconds \
                 before any attempt ran, and Lambda gave up (EventAgeExceeded)"
            ),
            (Condition::EventAgeExceeded, attempts) => format!(
                "the function{function} failed{} and the event grew older than its \
                 MaximumEventAgeInSeconds before another attempt, so Lambda gave up \
                 (EventAgeExceeded)",
                times(attempts)
            ),
            (Condition::RetriesExhausted, attempts) => format!(
                "the function{function} failed{} and Lambda gave up (RetriesExhausted)",
                times(attempts)
            ),
        };
        match (&self.error_type, &self.error_message) {
            (Some(t), Some(m)) => reason.push_str(&format!(": {t}: {m}")),
            (Some(t), None) => reason.push_str(&format!(": {t}")),
            (None, Some(m)) => reason.push_str(&format!(": {m}")),
            (None, None) => {}
        }
        if let Some(id) = &self.lambda_request_id {
            reason.push_str(&format!("; its log has Lambda request `{id}`"));
        }
        reason
    }
}

fn times(attempts: Option<u64>) -> String {
    match attempts {
        Some(1) => " once".into(),
        Some(n) => format!(" {n} times"),
        None => String::new(),
    }
}

/// `name:qualifier` from a function ARN (`arn:aws:lambda:region:account:function:name[:q]`),
/// when it is made of the characters Lambda allows.
fn function_of(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(7, ':');
    if parts.next() != Some("arn") || parts.nth(4) != Some("function") {
        return None;
    }
    parts
        .next()
        .filter(|name| plain(name, 140))
        .map(str::to_owned)
}

/// Whether `text` is short and made only of the characters of Lambda's names and ids.
fn plain(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '$' | '.'))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A redactor that knows every value the request carries: its `ResponseURL` (whole, and its
/// query string) and the string values of its properties, old and new.
fn taught(request: &Value) -> Redactor {
    let redactor = Redactor::new();
    if let Some(url) = request.get("ResponseURL").and_then(Value::as_str) {
        redactor.add(url);
        if let Some((_, query)) = url.split_once('?') {
            redactor.add(query);
        }
    }
    for key in ["ResourceProperties", "OldResourceProperties"] {
        if let Some(properties) = request.get(key).and_then(Value::as_object) {
            teach_properties(&redactor, properties);
        }
    }
    redactor
}

fn teach_properties(redactor: &Redactor, properties: &Map<String, Value>) {
    for (key, value) in properties {
        // The function's own ARN and the timeout: CloudFormation's, and no secret.
        if key != "ServiceToken" && key != "ServiceTimeout" {
            teach(redactor, value);
        }
    }
}

fn teach(redactor: &Redactor, value: &Value) {
    match value {
        Value::String(text) if text.chars().count() >= SHORTEST_MASKED_VALUE => {
            redactor.add(text);
        }
        Value::Array(items) => items.iter().for_each(|v| teach(redactor, v)),
        Value::Object(map) => map.values().for_each(|v| teach(redactor, v)),
        _ => {}
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const EXIT_ERROR: &str = include_str!("../records/retries-exhausted-exit-error.json");
    const PROCESS_EXITED: &str = include_str!("../records/retries-exhausted-process-exited.json");
    const HANDLED: &str = include_str!("../records/retries-exhausted-handled.json");
    const AGED: &str = include_str!("../records/event-age-exceeded.json");
    const AGED_UNRUN: &str = include_str!("../records/event-age-exceeded-never-ran.json");
    const SUCCESS: &str = include_str!("../records/success.json");

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_sample_records_round_trip() {
        for text in [
            EXIT_ERROR,
            PROCESS_EXITED,
            HANDLED,
            AGED,
            AGED_UNRUN,
            SUCCESS,
        ] {
            let value = parse(text);
            let again: Value =
                serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
            assert_eq!(value, again);
        }
    }

    #[test]
    fn each_record_shape_reads_as_what_it_is_with_its_reason() {
        // (record, condition, attempts, the Reason)
        let table: [(&str, Condition, Option<u64>, &str); 5] = [
            (
                EXIT_ERROR,
                Condition::RetriesExhausted,
                Some(3),
                "the function `stackwright-dev-db-migration:live` failed 3 times and Lambda gave \
                 up (RetriesExhausted): Runtime.ExitError: RequestId: \
                 3c5e1f4a-9b2d-4e7f-8a6c-1d0e9f8b7a65 Error: Runtime exited with error: signal: \
                 killed; its log has Lambda request `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`",
            ),
            (
                PROCESS_EXITED,
                Condition::RetriesExhausted,
                Some(3),
                "the function `stackwright-dev-db-migration:live` failed 3 times and Lambda gave \
                 up (RetriesExhausted): RequestId: e4b46cbf-b738-4d1a-8880-a18cdf61200e Process \
                 exited before completing request; its log has Lambda request \
                 `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`",
            ),
            (
                HANDLED,
                Condition::RetriesExhausted,
                Some(3),
                "the function `stackwright-dev-db-migration:live` failed 3 times and Lambda gave \
                 up (RetriesExhausted): ResponseNotDelivered: could not deliver the response to \
                 `cloudformation-custom-resource-response-useast1.s3.amazonaws.com` after 6 \
                 attempt(s): connection refused; its log has Lambda request \
                 `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`",
            ),
            (
                AGED,
                Condition::EventAgeExceeded,
                Some(2),
                "the function `stackwright-dev-db-migration:live` failed 2 times and the event \
                 grew older than its MaximumEventAgeInSeconds before another attempt, so Lambda \
                 gave up (EventAgeExceeded): Sandbox.Timedout: RequestId: \
                 5d6c7b8a-1e2f-4a3b-9c8d-7e6f5a4b3c2d Error: Task timed out after 600.00 \
                 seconds; its log has Lambda request `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`",
            ),
            (
                AGED_UNRUN,
                Condition::EventAgeExceeded,
                Some(0),
                "the event grew older than the function `stackwright-dev-db-migration:live`'s \
                 MaximumEventAgeInSeconds before any attempt ran, and Lambda gave up \
                 (EventAgeExceeded); its log has Lambda request \
                 `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`",
            ),
        ];
        for (text, condition, attempts, reason) in table {
            let record = parse(text);
            let failure = read(&record).unwrap();
            assert_eq!(failure.condition, condition, "{text}");
            assert_eq!(failure.attempts, attempts, "{text}");
            assert_eq!(failure.request, &record["requestPayload"]);
            assert_eq!(failure.reason(), reason);
        }
    }

    #[test]
    fn a_success_record_is_not_a_failure() {
        let err = read(&parse(SUCCESS)).unwrap_err();
        assert!(matches!(&err, Error::NotAFailure { condition } if condition == "Success"));
        assert_eq!(
            err.to_string(),
            "the record's condition is `Success`, not `RetriesExhausted` or `EventAgeExceeded`: \
             nothing to answer"
        );
    }

    #[test]
    fn other_conditions_are_not_failures_to_answer() {
        let mut record = parse(EXIT_ERROR);
        record["requestContext"]["condition"] = json!("ZeroReservedConcurrency");
        assert!(matches!(read(&record), Err(Error::NotAFailure { .. })));
    }

    #[test]
    fn what_is_not_a_record_says_what_is_missing() {
        let with_payload = |payload: Value| {
            let mut record = parse(EXIT_ERROR);
            record["requestPayload"] = payload;
            record
        };
        let mut no_condition = parse(EXIT_ERROR);
        no_condition["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("condition");
        for (record, problem) in [
            (json!([1]), "expected a JSON object, got an array"),
            (
                json!({"RequestType": "Create"}),
                "no `requestContext` object",
            ),
            (no_condition, "no `requestContext.condition` string"),
            (
                with_payload(json!("a string")),
                "no `requestPayload` object",
            ),
            (with_payload(Value::Null), "no `requestPayload` object"),
        ] {
            let err = read(&record).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("not a Lambda destination record: {problem}")
            );
        }
    }

    #[test]
    fn any_response_payload_is_taken_and_odd_fields_are_left_out() {
        for payload in [
            json!(null),
            json!("a string"),
            json!([1, 2]),
            json!({"errorType": 5}),
        ] {
            let mut record = parse(EXIT_ERROR);
            record["responsePayload"] = payload;
            record["requestContext"]["functionArn"] = json!("not an arn");
            record["requestContext"]["requestId"] = json!("spaces and `ticks`");
            record["requestContext"]["approximateInvokeCount"] = json!("three");
            let failure = read(&record).unwrap();
            assert_eq!(
                failure.reason(),
                "the function failed and Lambda gave up (RetriesExhausted)"
            );
        }
        let mut record = parse(EXIT_ERROR);
        record["requestContext"]["approximateInvokeCount"] = json!(1);
        record["responsePayload"] = json!({"errorType": "Runtime.ExitError"});
        assert_eq!(
            read(&record).unwrap().reason(),
            "the function `stackwright-dev-db-migration:live` failed once and Lambda gave up \
             (RetriesExhausted): Runtime.ExitError; its log has Lambda request \
             `8ea123e4-1db7-4aca-ad10-d9ca1234c1fd`"
        );
    }

    #[test]
    fn the_error_never_repeats_a_value_of_the_request_and_stays_short() {
        let mut record = parse(EXIT_ERROR);
        let signature = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=never-called";
        record["requestPayload"]["ResourceProperties"]["Keys"] = json!({"db_password": {"Value": "hunter2-correct-horse"}, "db_username": {"Value": "app"}});
        record["requestPayload"]["OldResourceProperties"] = json!({"Token": "old-token-value"});
        record["responsePayload"] = json!({
            "errorType": "Custom\nError",
            "errorMessage": format!(
                "login as app with hunter2-correct-horse (was old-token-value) at {signature}\n\t{}",
                "x".repeat(2000)
            ),
        });
        let failure = read(&record).unwrap();
        let reason = failure.reason();
        for secret in ["hunter2-correct-horse", "old-token-value", signature] {
            assert!(!reason.contains(secret), "{reason}");
        }
        assert_eq!(failure.error_type.as_deref(), Some("Custom Error"));
        let message = failure.error_message.unwrap();
        assert!(
            message.starts_with("login as app with *** (was ***) at *** x"),
            "{message}"
        );
        assert!(!message.contains('\n') && !message.contains('\t'));
        assert_eq!(
            message.chars().count(),
            ERROR_MESSAGE_CHARS + 1,
            "cut, with a mark"
        );
        assert!(reason.len() < 1024, "{}", reason.len());
    }

    #[test]
    fn the_function_is_named_from_its_arn() {
        assert_eq!(
            function_of("arn:aws:lambda:us-east-1:123456789012:function:f:live").as_deref(),
            Some("f:live")
        );
        assert_eq!(
            function_of("arn:aws:lambda:us-east-1:123456789012:function:f").as_deref(),
            Some("f")
        );
        assert_eq!(
            function_of("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST").as_deref(),
            Some("f:$LATEST")
        );
        for odd in [
            "",
            "arn:aws:lambda:us-east-1:123456789012:layer:f",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:function:f g",
        ] {
            assert_eq!(function_of(odd), None, "{odd}");
        }
    }
}
