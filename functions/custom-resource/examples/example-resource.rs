//! A small custom resource on the protocol library, used by the protocol tests.
//!
//! It manages nothing outside itself: its physical id is `example:<Name>`, so changing `Name`
//! is a replacement. `Behavior` makes it misbehave on purpose (fail, panic, hang) so the tests
//! can show that CloudFormation is answered every time. `Destructive: true` asks for the
//! `DropDatabase` switch, to show how switches the stage does not allow are handled.

use std::time::Duration;

use custom_resource::properties::de;
use custom_resource::{CustomResource, Outcome, Request, Switch};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Properties {
    name: String,
    #[serde(default)]
    behavior: Behavior,
    #[serde(default, deserialize_with = "de::opt_number")]
    sleep_seconds: Option<f64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    count: Option<u32>,
    #[serde(default, deserialize_with = "de::boolean")]
    enabled: bool,
    /// With `Behavior: Fail`, the length of the error message (control and multi-byte
    /// characters included).
    #[serde(default, deserialize_with = "de::opt_number")]
    reason_length: Option<usize>,
    /// Size of a `Blob` attribute in `Data`.
    #[serde(default, deserialize_with = "de::opt_number")]
    data_bytes: Option<usize>,
    /// Asks for the `DropDatabase` switch; a Delete without it retains (does nothing).
    #[serde(default, deserialize_with = "de::boolean")]
    destructive: bool,
    /// Answers with `NoEcho`.
    #[serde(default, deserialize_with = "de::boolean")]
    no_echo: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
enum Behavior {
    #[default]
    Succeed,
    Fail,
    Panic,
    Sleep,
    /// `std::process::abort()`.
    Abort,
    /// Recurses until the stack overflows (Rust then aborts).
    StackOverflow,
    /// Sends itself SIGKILL: the stand-in for the kernel's out-of-memory kill.
    Kill,
    /// Sends itself SIGSEGV (twice: see below).
    Segfault,
    /// `std::process::exit(1)`.
    Exit,
    /// Limits its address space (`prlimit --as`) and allocates past it: the allocation fails
    /// and Rust aborts.
    OutOfMemory,
    /// Stops itself (SIGSTOP): a process that never answers and never dies by itself.
    Freeze,
    /// Succeeds, except while CloudFormation says the stack is rolling back: a rollback that
    /// fails (`UPDATE_ROLLBACK_FAILED`).
    FailOnRollback,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("the example was asked to fail: {0}")]
    AskedTo(String),
}

struct Example;

/// How many times this process ran a request: a request answered again from the sandbox's
/// record does not count.
static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Recurses until the stack overflows; `black_box` keeps it from becoming a loop.
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 512]);
    if std::hint::black_box(depth) == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[1]
}

/// Sends this process a signal with `kill(1)` (no `unsafe` needed).
fn signal_self(signal: &str) {
    let pid = std::process::id().to_string();
    let sent = std::process::Command::new("kill")
        .args([signal, &pid])
        .status();
    // SIGKILL and SIGSEGV end the process before this line; SIGSTOP stops it here.
    tracing::error!(?sent, signal, "still running after the signal");
}

impl Example {
    async fn act(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        let props = &request.properties;
        let runs = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        match props.behavior {
            Behavior::Succeed => {}
            Behavior::Fail => {
                let len = props.reason_length.unwrap_or(20);
                let text: String = "ok\u{7}é\n日\"\\\t".chars().cycle().take(len).collect();
                return Err(Error::AskedTo(text));
            }
            Behavior::Panic => panic!("the example was asked to panic"),
            Behavior::Abort => std::process::abort(),
            Behavior::StackOverflow => {
                let depth = recurse(std::hint::black_box(0));
                tracing::error!(depth, "the stack did not overflow");
            }
            Behavior::Kill => signal_self("-KILL"),
            Behavior::Segfault => {
                // Rust's own SIGSEGV handler (its stack-overflow guard) lets a signal that is
                // not a fault on the guard page pass once and restores the default action:
                // the second one ends the process as a real segfault would.
                signal_self("-SEGV");
                signal_self("-SEGV");
            }
            Behavior::Exit => std::process::exit(1),
            Behavior::OutOfMemory => {
                let pid = std::process::id().to_string();
                let limited = std::process::Command::new("prlimit")
                    .args(["--pid", &pid, "--as=1000000000"])
                    .status();
                tracing::info!(?limited, "address space limited to 1 GB");
                let big: Vec<u8> = Vec::with_capacity(std::hint::black_box(4 << 30));
                tracing::error!(capacity = big.capacity(), "the allocation did not fail");
            }
            Behavior::Freeze => signal_self("-STOP"),
            Behavior::FailOnRollback => {
                if request.rolling_back() == Some(true) {
                    return Err(Error::AskedTo("fails while rolling back".into()));
                }
            }
            Behavior::Sleep => {
                tokio::time::sleep(Duration::from_secs_f64(
                    props.sleep_seconds.unwrap_or(3600.0),
                ))
                .await;
            }
        }
        let mut outcome = Outcome::new(format!("example:{}", props.name))
            .with("Name", props.name.clone())
            .with("Enabled", props.enabled)
            .with("RequestType", request.request_type.to_string())
            .with("Runs", runs)
            .with("Allowed", request.allows(Switch::DropDatabase))
            .with(
                "Phase",
                request
                    .phase
                    .as_ref()
                    .map_or_else(|| "unconfirmed".to_owned(), ToString::to_string),
            );
        if props.no_echo {
            outcome = outcome.no_echo(true);
        }
        if let Some(count) = props.count {
            outcome = outcome.with("Count", count);
        }
        if let Some(bytes) = props.data_bytes {
            outcome = outcome.with("Blob", "b".repeat(bytes));
        }
        Ok(outcome)
    }
}

impl CustomResource for Example {
    type Properties = Properties;
    type Error = Error;

    async fn create(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.act(request).await
    }

    async fn update(&self, request: &Request<Properties>) -> Result<Outcome, Error> {
        self.act(request).await
    }

    async fn delete(&self, request: &Request<Properties>) -> Result<(), Error> {
        if request.properties.destructive && !request.allows(Switch::DropDatabase) {
            // Retained: what the switch guards is not touched.
            return Ok(());
        }
        self.act(request).await.map(|_| ())
    }

    fn switches(&self, properties: &Properties) -> Vec<Switch> {
        if properties.destructive {
            vec![Switch::DropDatabase]
        } else {
            Vec::new()
        }
    }

    fn issued(&self, physical_id: &str, _resource: custom_resource::Resource<'_>) -> bool {
        physical_id.starts_with("example:")
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    custom_resource::init_tracing();
    Box::pin(custom_resource::serve(|| async {
        // A function that cannot start: the supervisor answers each event for it.
        if let Ok(why) = std::env::var("EXAMPLE_FAIL_TO_START") {
            return Err(lambda_runtime::Error::from(format!(
                "the example was asked not to start: {why}"
            )));
        }
        Ok(Example)
    }))
    .await
}
