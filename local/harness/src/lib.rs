//! CloudFormation and Lambda on loopback, for tests and the local stage runner.
//!
//! - [`ResponseServer`]: the `ResponseURL` side of CloudFormation. It records every PUT
//!   (headers and body), can refuse the first N with 500, and can serve HTTPS from a
//!   [`TestCa`] that functions trust through `SSL_CERT_FILE`.
//! - [`RuntimeApi`]: the Lambda Runtime API (2018-06-01) for one sandbox.
//! - [`Lambda`]: a real function binary started like Lambda starts it, in one or more
//!   sandboxes, fed events in order; each [`Invocation`] returns what CloudFormation received,
//!   what Lambda was told, and the log lines the function printed meanwhile.
//! - [`Moto`]: moto's AWS stand-ins (Secrets Manager) on a free port, for the real AWS SDK,
//!   and [`SecretsManager`], the tests' one client for putting secrets into moto and reading
//!   back what a function stored.
//! - [`CloudFormationApi`]: CloudFormation's `DescribeStacks` and `DescribeStackResource`,
//!   which functions call to confirm a request; [`Lambda::invoke`] records each event's stack
//!   operation as in progress while it runs, [`Lambda::invoke_forged`] does not.
//! - [`binary`] and [`bin_dir`]: the function binaries, built by the test that runs them
//!   (once per process), so a test never runs one older than its sources; [`pinned`] keeps a
//!   binary cargo built for the test from being replaced under it.
//! - [`Stack`]: builds the events CloudFormation sends (Create, Update, Delete) with
//!   `ResponseURL`s that point at the [`ResponseServer`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), harness::Error> {
//! use harness::{Lambda, LambdaConfig, ResponseServer, Stack};
//! use serde_json::json;
//!
//! let responses = ResponseServer::start().await?;
//! let lambda = Lambda::start(LambdaConfig::new(harness::binary("example-resource")?)).await?;
//! let stack = Stack::new("app-dev", &responses);
//! let invocation = lambda.invoke(stack.create("Thing", "Custom::Example", json!({"Name": "a"}))).await?;
//! assert_eq!(invocation.response()["Status"], "SUCCESS");
//! # Ok(()) }
//! ```

mod binary;
mod cloudformation;
mod error;
mod events;
mod lambda;
mod moto;
mod responses;
mod runtime_api;
mod secrets;
mod tls;

pub use binary::{bin_dir, binary, pinned, target_dir};
pub use cloudformation::{CloudFormationApi, Operation};
pub use error::Error;
pub use events::{Request, RequestType, Stack};
pub use lambda::{Invocation, Lambda, LambdaConfig, LambdaResult};
pub use moto::Moto;
pub use responses::{RecordedPut, ResponseServer};
pub use runtime_api::RuntimeApi;
pub use secrets::{SecretDescription, SecretValue, SecretsManager};
pub use tls::TestCa;

/// The workspace's root folder (where `Cargo.toml`, `.venv` and `template.yaml` are).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// Asserts that no secret reached a log line of `lambda` or a response body `responses`
/// received: none of `secrets`, and not the `ResponseURL`'s signature (a credential). The
/// failure message says where, without repeating the secret.
///
/// # Panics
///
/// When one did: that is the test failing.
#[track_caller]
pub fn assert_no_leak(lambda: &Lambda, responses: &ResponseServer, secrets: &[String]) {
    let mut needles: Vec<&str> = secrets.iter().map(String::as_str).collect();
    needles.extend([responses.signature(), "X-Amz-Signature", "X-Amz-Credential"]);
    let bodies: Vec<String> = responses
        .puts()
        .iter()
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .collect();
    for hay in lambda.logs().iter().chain(&bodies) {
        for needle in needles.iter().filter(|n| !n.is_empty()) {
            assert!(
                !hay.contains(needle),
                "a secret ({} characters) leaked into: {}",
                needle.len(),
                hay.replace(needle, "<THE SECRET>")
            );
        }
    }
}
