//! The crate's errors. Each one's `Display` is the `Reason` CloudFormation shows: it names the
//! operation, the method and path, and what came back, with any credential masked.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::properties::Op;

/// One request as a reason names it: "the Create request `POST /v1/hooks`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Which of the template's operations sent it.
    pub op: Op,
    /// The method sent.
    pub method: Method,
    /// The URL's path, without the query.
    pub path: String,
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} request `{} {}`", self.op, self.method, self.path)
    }
}

/// A status as a reason shows it: `422 Unprocessable Entity`.
pub fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(text) => format!("{} {text}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A body snippet as a reason shows it.
pub fn body_text(snippet: &str) -> String {
    if snippet.is_empty() {
        "with an empty body".into()
    } else {
        format!("with `{snippet}`")
    }
}

/// "1 attempt", "3 attempts".
pub fn attempts_text(n: u32) -> String {
    if n == 1 {
        "1 attempt".into()
    } else {
        format!("{n} attempts")
    }
}

fn deadline_text(attempts: u32, wait: Duration, last: &str) -> String {
    let fix = "Raise the function's Timeout or the resource's ServiceTimeout, or lower `Retry.MaxAttempts` or `Retry.AttemptTimeoutSeconds`";
    if attempts == 0 {
        return format!("was not sent: too little time was left before the deadline. {fix}");
    }
    format!(
        "was given up after {} because the next attempt (in {:.1} s) would not finish before the deadline; the last try: {last}. {fix}",
        attempts_text(attempts),
        wait.as_secs_f64()
    )
}

/// What went wrong; the `Display` is the public `Reason`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A replacement at another place (`BaseUrl`, `Create.Path`, `Create.Method`) got the
    /// current object's id, which CloudFormation would take for an update in place.
    #[error(
        "the API gave the new object the id `{id}`, the id of the current object at the old place; CloudFormation would take that for an update in place and never delete the old object, so the move is refused and the old object stays current ({note}). To move the object, give the resource a new logical id in the same deploy: CloudFormation then creates the new one and deletes the old one once the update succeeds"
    )]
    MovedUnderSameId {
        /// The id both objects have.
        id: String,
        /// What became of the new object.
        note: String,
    },

    /// The server answered with a status the operation does not accept.
    #[error("{exchange} answered {status} {body}{after}{hint}")]
    Status {
        /// The request, for the reason: operation, method, path.
        exchange: Box<Exchange>,
        /// `422 Unprocessable Entity`.
        status: String,
        /// From [`body_text`]: a redacted snippet.
        body: String,
        /// `" after 5 attempts"` when retries ran out, else empty.
        after: String,
        /// What to do about it, starting with `"; "`, or empty.
        hint: String,
    },

    /// No answer: the connection failed or timed out.
    #[error("{exchange} got no answer after {}: {cause}{hint}", attempts_text(*.attempts))]
    Transport {
        /// The request, for the reason: operation, method, path.
        exchange: Box<Exchange>,
        /// How many attempts were made.
        attempts: u32,
        /// What happened on the last one.
        cause: String,
        /// What to do about it, starting with `"; "`, or empty.
        hint: String,
    },

    /// Retries could not go on before the deadline.
    #[error("{exchange} {}", deadline_text(*.attempts, *.wait, .last))]
    Deadline {
        /// The request, for the reason: operation, method, path.
        exchange: Box<Exchange>,
        /// How many attempts were made.
        attempts: u32,
        /// How long the next attempt would have waited (backoff or `Retry-After`).
        wait: Duration,
        /// What the last attempt got.
        last: String,
    },

    /// The Create succeeded but the id is not where `IdPointer` or `IdFrom` says.
    #[error(
        "{exchange} answered {status}, but {problem}. An object may have been created: look for it at the API and remove it by hand"
    )]
    NoId {
        /// The request, for the reason: operation, method, path.
        exchange: Box<Exchange>,
        /// The status as the reason shows it (`201 Created`).
        status: String,
        /// What was looked for and found instead.
        problem: String,
    },

    /// `Outputs` that find nothing in the response.
    #[error(
        "{exchange} answered {status}, but `Outputs` {names} found nothing in it: it has {found}. Fix the JSON pointers in `Outputs`{read_hint}"
    )]
    OutputsMissing {
        /// The request whose answer was read.
        exchange: Box<Exchange>,
        /// The status as the reason shows it (`201 Created`).
        status: String,
        /// The output names, in backticks.
        names: String,
        /// What the body holds (top-level keys).
        found: String,
        /// A hint to add `Read`, or empty.
        read_hint: String,
    },

    /// An output would put an `Auth` value into `Data`.
    #[error(
        "the output `{name}` would put the `Auth` credential into `Data`, where anyone who can describe the stack sees it; point it at another field"
    )]
    OutputRevealsSecret {
        /// The output's name.
        name: String,
    },

    /// Something failed after a new object was created; `note` says what became of it.
    #[error("{cause}; {note}")]
    AfterCreate {
        /// The failure the outputs step ran into.
        cause: Box<Error>,
        /// What became of the new object.
        note: String,
    },

    /// An `Auth` secret could not be read: the library's reason (its one table: not found,
    /// access denied, `kms:Decrypt`, no answer), after the property that named the secret.
    /// The library's error is shown, not chained as a source, so the log does not repeat it.
    #[error("`{property}`: {error}")]
    AuthRead {
        /// `Auth`, or `Auth[1]` in a list.
        property: String,
        /// What the library's reader said.
        error: custom_resource::Error,
    },

    /// An `Auth` secret was read but its value cannot be used.
    #[error("`Auth` secret `{arn}`: {problem}")]
    Secret {
        /// The secret's ARN or name, as the template gives it.
        arn: String,
        /// What is wrong, never the value.
        problem: String,
    },

    /// A URL could not be made from `BaseUrl`, the path and the id.
    #[error("the {op} URL: {problem}")]
    Url {
        /// The operation whose URL it is.
        op: Op,
        /// What is wrong.
        problem: String,
    },

    /// `BaseUrl`'s host (or an address it resolves to) is not one the stage allows
    /// ([`crate::hosts::HOSTS_VARIABLE`]): nothing was sent, no `Auth` secret read.
    #[error("the host `{host}` of `BaseUrl` is refused: {refusal}")]
    HostRefused {
        /// The host, as the URL has it.
        host: String,
        /// Why, naming the variable and what to list.
        refusal: crate::hosts::Refusal,
    },

    /// [`crate::hosts::HOSTS_VARIABLE`] cannot be parsed: nothing is sent until it is fixed.
    #[error("{0}")]
    HostsSetting(String),

    /// The HTTP client could not be set up.
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange() -> Box<Exchange> {
        Box::new(Exchange {
            op: Op::Create,
            method: Method::POST,
            path: "/v1/hooks".into(),
        })
    }

    #[test]
    fn reasons_name_operation_method_path_and_status() {
        let e = Error::Status {
            exchange: exchange(),
            status: status_text(StatusCode::UNPROCESSABLE_ENTITY),
            body: body_text(r#"{"message":"Validation Failed"}"#),
            after: String::new(),
            hint: String::new(),
        };
        assert_eq!(
            e.to_string(),
            r#"the Create request `POST /v1/hooks` answered 422 Unprocessable Entity with `{"message":"Validation Failed"}`"#
        );
        let e = Error::Status {
            exchange: exchange(),
            status: status_text(StatusCode::SERVICE_UNAVAILABLE),
            body: body_text(""),
            after: " after 5 attempts".into(),
            hint: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "the Create request `POST /v1/hooks` answered 503 Service Unavailable with an empty body after 5 attempts"
        );
        assert_eq!(status_text(StatusCode::from_u16(599).unwrap()), "599");
    }

    #[test]
    fn transport_and_deadline_reasons() {
        let e = Error::Transport {
            exchange: exchange(),
            attempts: 1,
            cause: "no answer within 4.0 s".into(),
            hint: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "the Create request `POST /v1/hooks` got no answer after 1 attempt: no answer within 4.0 s"
        );
        let e = Error::Deadline {
            exchange: exchange(),
            attempts: 2,
            wait: Duration::from_secs(120),
            last: "429 Too Many Requests".into(),
        };
        assert!(
            e.to_string().starts_with(
                "the Create request `POST /v1/hooks` was given up after 2 attempts because the next attempt (in 120.0 s) would not finish before the deadline; the last try: 429 Too Many Requests."
            ),
            "{e}"
        );
        let e = Error::Deadline {
            exchange: exchange(),
            attempts: 0,
            wait: Duration::ZERO,
            last: String::new(),
        };
        assert!(
            e.to_string()
                .starts_with("the Create request `POST /v1/hooks` was not sent: too little time"),
            "{e}"
        );
    }

    #[test]
    fn after_create_says_what_became_of_the_object() {
        let e = Error::AfterCreate {
            cause: Box::new(Error::OutputRevealsSecret { name: "Tok".into() }),
            note: "the new object `7` was deleted again".into(),
        };
        assert!(
            e.to_string()
                .ends_with("; the new object `7` was deleted again")
        );
    }
}
