//! The supervising bootstrap: a request is answered even when the process handling it dies.
//!
//! The `bootstrap` Lambda starts is a small supervisor. It talks to the Runtime API (through
//! lambda_runtime) and hands each event to a worker: the same binary, started again in worker
//! mode, connected over a Unix socket in the sandbox's temporary directory. The worker builds
//! the resource and runs it through the [`Runner`] as before; the supervisor builds nothing
//! but its socket until it must answer for a worker that could not:
//!
//! - the worker died mid-request (a signal, an exit: killed for memory, an abort, a stack
//!   overflow, a segfault in C code): the supervisor PUTs FAILED naming what happened, tells
//!   the Runtime API the invocation is done (a response, not an error, which would make
//!   Lambda replay the side effects; the error `ResponseNotDelivered` only when the FAILED
//!   could not be delivered, so that Lambda's retries and the failure destination still
//!   answer), and starts a fresh worker for the next event;
//! - the worker has not answered shortly before the deadline (a thrashing worker may never die
//!   by itself; the worker's own deadline, retries of its PUT included, ends before this
//!   point): the supervisor kills it and answers FAILED;
//! - the worker cannot start: each event is answered FAILED ("the function failed to start").
//!
//! The worker raises its own `oom_score_adj`, so that the kernel picks it, not the
//! supervisor, when memory runs out. `STACKWRIGHT_SUPERVISOR=off` runs the resource in the
//! bootstrap itself, as before.
//!
//! The wire between them is one JSON object per line: the supervisor sends
//! `{"payload": <event>, "lambda_left_ms": N}`, the worker answers `{"ok": <value>}` or
//! `{"error": {"errorType": …, "errorMessage": …}}`; the worker's first line, `{"ready": true}`,
//! says it started.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::answer::Answerer;
use crate::request::parse_event;
use crate::runner::{CustomResource, Deadlines, Runner};

/// Set in a worker's environment: the socket to connect to.
pub const WORKER_VARIABLE: &str = "STACKWRIGHT_WORKER_SOCKET";
/// `off` runs the resource in the bootstrap itself, without a supervisor.
pub const SUPERVISOR_VARIABLE: &str = "STACKWRIGHT_SUPERVISOR";
/// How long a worker may take to start before the supervisor gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What this process is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Supervisor,
    Worker(PathBuf),
    Alone,
}

impl Role {
    fn from_env() -> Self {
        if let Some(path) = std::env::var_os(WORKER_VARIABLE) {
            return Self::Worker(PathBuf::from(path));
        }
        if std::env::var(SUPERVISOR_VARIABLE).is_ok_and(|v| v.trim().eq_ignore_ascii_case("off")) {
            return Self::Alone;
        }
        Self::Supervisor
    }
}

/// Whether this process is a worker (a supervisor started it).
pub fn is_worker() -> bool {
    matches!(Role::from_env(), Role::Worker(_))
}

/// Serves a custom resource as Lambda runs it: a supervisor and a worker (see the module),
/// `build` run only in the worker. Call it from `main` after [`crate::init_tracing`].
///
/// # Errors
///
/// When the runtime itself stops (the Runtime API is gone); in a worker, when `build` fails
/// or the supervisor's socket cannot be reached (the supervisor then answers for it).
pub async fn serve<R, E, F, Fut>(build: F) -> Result<(), lambda_runtime::Error>
where
    R: CustomResource,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Into<lambda_runtime::Error>,
{
    match Role::from_env() {
        Role::Supervisor => supervise().await,
        Role::Worker(socket) => {
            let resource = build().await.map_err(Into::into)?;
            work(Runner::new(resource)?, &socket).await
        }
        Role::Alone => {
            let resource = build().await.map_err(Into::into)?;
            Box::pin(crate::run(resource)).await
        }
    }
}

/// How long before the supervisor's `kill_at` the worker's own deadline falls: room for the
/// job to reach the worker and its answer to come back.
const WORKER_ALLOWANCE: Duration = Duration::from_millis(100);

/// One line from the supervisor to its worker.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    payload: Value,
    lambda_left_ms: u64,
}

/// One line from the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Reply {
    Ready(bool),
    Ok(Value),
    Error(Failure),
}

#[derive(Debug, Serialize, Deserialize)]
struct Failure {
    #[serde(rename = "errorType")]
    error_type: String,
    #[serde(rename = "errorMessage")]
    error_message: String,
}

/// The worker's side: raise `oom_score_adj`, connect, say ready, then handle each job.
async fn work<R: CustomResource>(
    runner: Runner<R>,
    socket: &Path,
) -> Result<(), lambda_runtime::Error> {
    // The kernel's out-of-memory killer picks the highest score: this process, not the
    // supervisor, which then answers for it. Raising one's own score needs no privilege.
    if let Err(err) = std::fs::write("/proc/self/oom_score_adj", "1000") {
        tracing::debug!(error = %err, "could not raise oom_score_adj");
    }
    let stream = UnixStream::connect(socket).await?;
    let (read, mut write) = stream.into_split();
    send(&mut write, &Reply::Ready(true)).await?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let job: Job = serde_json::from_str(&line)?;
        let reply = match Box::pin(
            runner.handle_payload(job.payload, Duration::from_millis(job.lambda_left_ms)),
        )
        .await
        {
            Ok(value) => Reply::Ok(value),
            Err(diagnostic) => Reply::Error(Failure {
                error_type: diagnostic.error_type,
                error_message: diagnostic.error_message,
            }),
        };
        send(&mut write, &reply).await?;
    }
    // The supervisor is gone: so is the sandbox.
    Ok(())
}

async fn send<T: Serialize>(write: &mut OwnedWriteHalf, message: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    write.write_all(&line).await
}

/// A started worker.
struct Worker {
    child: Child,
    read: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

/// Why there is no worker.
#[derive(Debug, Clone)]
struct StartFailure(String);

/// The supervisor's state: the worker for the next event (started, or starting).
struct Supervisor {
    worker: Mutex<Option<tokio::task::JoinHandle<Result<Worker, StartFailure>>>>,
    socket_dir: PathBuf,
    answerer: std::sync::OnceLock<Result<Answerer, String>>,
    starts: std::sync::atomic::AtomicU32,
}

async fn supervise() -> Result<(), lambda_runtime::Error> {
    let supervisor = Arc::new(Supervisor {
        worker: Mutex::new(None),
        socket_dir: std::env::temp_dir(),
        answerer: std::sync::OnceLock::new(),
        starts: std::sync::atomic::AtomicU32::new(0),
    });
    // The worker starts while the Runtime API is asked for the first event.
    supervisor.start_worker().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let supervisor = Arc::clone(&supervisor);
        async move { Box::pin(supervisor.dispatch(event)).await }
    }))
    .await
}

impl Supervisor {
    /// Starts a worker in the background; the next event waits for it.
    async fn start_worker(self: &Arc<Self>) {
        let n = self
            .starts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .socket_dir
            .join(format!("stackwright-{}-{n}.sock", std::process::id()));
        let handle = tokio::spawn(async move { spawn_worker(&path).await });
        *self.worker.lock().await = Some(handle);
    }

    /// The worker for this event, waiting for it to start.
    async fn take_worker(self: &Arc<Self>) -> Result<Worker, StartFailure> {
        let pending = self.worker.lock().await.take();
        let handle = match pending {
            Some(handle) => handle,
            None => {
                self.start_worker().await;
                self.worker
                    .lock()
                    .await
                    .take()
                    .ok_or_else(|| StartFailure("no worker".into()))?
            }
        };
        handle
            .await
            .unwrap_or_else(|e| Err(StartFailure(format!("the start task failed: {e}"))))
    }

    /// The worker for this event: the one started for it or, when that one died while idle,
    /// a fresh one.
    async fn ready_worker(self: &Arc<Self>) -> Result<Worker, StartFailure> {
        let mut worker = self.take_worker().await?;
        if let Ok(Some(status)) = worker.child.try_wait() {
            tracing::warn!(worker = %death(status), "the idle worker had died: starting another");
            self.start_worker().await;
            worker = self.take_worker().await?;
        }
        Ok(worker)
    }

    fn answerer(&self) -> Result<&Answerer, String> {
        self.answerer
            .get_or_init(|| Answerer::from_env().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Hands one event to the worker and returns what the Runtime API is told.
    async fn dispatch(self: &Arc<Self>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let start = Instant::now();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let lambda_left = match event.context.deadline {
            0 => Duration::from_secs(900),
            deadline => Duration::from_millis(deadline.saturating_sub(now_ms)),
        };
        let hard = start + lambda_left;
        let service_timeout = parse_event(&event.payload)
            .ok()
            .and_then(|e| e.service_timeout);
        let deadlines = Deadlines::new(start, lambda_left, service_timeout);
        // The worker answers by `soft`; it is stopped halfway through the margin after it.
        let kill_at = deadlines.soft + deadlines.margin / 2;
        let payload = event.payload;
        let mut worker = match self.ready_worker().await {
            Ok(worker) => worker,
            Err(StartFailure(why)) => {
                tracing::error!(why = %why, "the worker did not start: answering FAILED");
                self.start_worker().await;
                return self
                    .answer_failed(
                        &payload,
                        &format!("the function failed to start: {why}"),
                        hard,
                    )
                    .await;
            }
        };
        // The worker's own deadline ends before `kill_at`: its answer, retries of the PUT
        // included, is over before the supervisor would take it for a hung worker.
        let worker_left = kill_at
            .saturating_duration_since(start)
            .saturating_sub(WORKER_ALLOWANCE);
        let job = Job {
            payload: payload.clone(),
            lambda_left_ms: worker_left.as_millis() as u64,
        };
        if let Err(err) = send(&mut worker.write, &job).await {
            tracing::warn!(error = %err, "could not hand the event to the worker");
        }
        let outcome = tokio::select! {
            line = worker.read.next_line() => match line {
                Ok(Some(line)) => match serde_json::from_str::<Reply>(&line) {
                    Ok(Reply::Ok(value)) => Ended::Answered(Ok(value)),
                    Ok(Reply::Error(f)) => Ended::Answered(Err(Diagnostic {
                        error_type: f.error_type,
                        error_message: f.error_message,
                    })),
                    Ok(Reply::Ready(_)) | Err(_) => Ended::Died,
                },
                Ok(None) | Err(_) => Ended::Died,
            },
            () = tokio::time::sleep_until(kill_at) => Ended::Late,
        };
        match outcome {
            Ended::Answered(result) => {
                *self.worker.lock().await = Some(tokio::spawn(async move { Ok(worker) }));
                result
            }
            Ended::Died => {
                // The socket closed: the process is ending, if not already gone.
                let status = tokio::time::timeout(Duration::from_secs(1), worker.child.wait())
                    .await
                    .ok()
                    .and_then(Result::ok);
                if status.is_none() {
                    let _ = worker.child.kill().await;
                }
                let what = status.map_or_else(|| "stopped answering".to_owned(), death);
                tracing::error!(worker = %what, "the worker died while handling the request: answering FAILED");
                self.start_worker().await;
                let request_type = payload["RequestType"].as_str().unwrap_or("request");
                let reason = format!(
                    "the function's worker process died while handling the {request_type}: {what}. \
                     How far it got is not known; the function's log has the detail"
                );
                self.answer_failed(&payload, &reason, hard).await
            }
            Ended::Late => {
                let _ = worker.child.kill().await;
                let after = kill_at.saturating_duration_since(start);
                tracing::error!(
                    after_ms = after.as_millis() as u64,
                    "the worker did not answer before the deadline: killed, answering FAILED"
                );
                self.start_worker().await;
                let reason = format!(
                    "timed out after {:.1} s: the function did not answer before the deadline \
                     (the earlier of the function's Timeout and the resource's ServiceTimeout) \
                     and its worker process was stopped. Raise the function's Timeout or the \
                     resource's ServiceTimeout, or find out why the work hangs",
                    after.as_secs_f64()
                );
                self.answer_failed(&payload, &reason, hard).await
            }
        }
    }

    /// PUTs FAILED for `payload` through the library's checks. Delivered (or refused by the
    /// `ResponseURL`), the Runtime API is told the invocation is done; not delivered, it gets
    /// the error, as from a worker, so that Lambda delivers the event again and, after its
    /// retries, the failure destination answers: a stack must never wait for an answer
    /// nobody will send.
    async fn answer_failed(
        &self,
        payload: &Value,
        reason: &str,
        deadline: Instant,
    ) -> Result<Value, Diagnostic> {
        let answerer = match self.answerer() {
            Ok(answerer) => answerer,
            Err(why) => {
                tracing::error!(error = %why, "cannot answer CloudFormation: no HTTP client");
                return Err(Diagnostic {
                    error_type: "ResponseNotDelivered".into(),
                    error_message: why,
                });
            }
        };
        answerer
            .fail(payload, reason, deadline)
            .await
            .inspect_err(|diagnostic| {
                tracing::error!(error = %diagnostic.error_message, "the FAILED answer was not delivered");
            })
    }
}

enum Ended {
    Answered(Result<Value, Diagnostic>),
    Died,
    Late,
}

/// Starts the worker and waits for its `ready`, or for its death.
async fn spawn_worker(path: &Path) -> Result<Worker, StartFailure> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)
        .map_err(|e| StartFailure(format!("cannot listen on `{}`: {e}", path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| StartFailure(format!("cannot find its own binary: {e}")))?;
    let mut child = Command::new(exe)
        .env(WORKER_VARIABLE, path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| StartFailure(format!("cannot start the worker process: {e}")))?;
    let accepted = tokio::select! {
        accepted = listener.accept() => accepted.map_err(|e| StartFailure(format!("the worker did not connect: {e}"))),
        status = child.wait() => Err(StartFailure(match status {
            Ok(status) => death(status),
            Err(e) => e.to_string(),
        })),
        () = tokio::time::sleep(START_TIMEOUT) => Err(StartFailure(format!("the worker did not start within {} s", START_TIMEOUT.as_secs()))),
    };
    let _ = std::fs::remove_file(path);
    let (stream, _) = match accepted {
        Ok(accepted) => accepted,
        Err(failure) => {
            let _ = child.kill().await;
            return Err(failure);
        }
    };
    let (read, write) = stream.into_split();
    let mut read = BufReader::new(read).lines();
    let ready = tokio::select! {
        line = read.next_line() => matches!(line.ok().flatten().and_then(|l| serde_json::from_str::<Reply>(&l).ok()), Some(Reply::Ready(true))),
        () = tokio::time::sleep(START_TIMEOUT) => false,
    };
    if !ready {
        let status = tokio::time::timeout(Duration::from_secs(1), child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        let _ = child.kill().await;
        return Err(StartFailure(status.map_or_else(
            || "the worker never said it was ready".into(),
            death,
        )));
    }
    Ok(Worker { child, read, write })
}

/// What a process's end says, in words a `Reason` can carry.
fn death(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return match signal {
            9 => "killed by SIGKILL, not by the supervisor: out of memory?".into(),
            6 => "aborted (SIGABRT): a stack overflow, an allocation failure or a panic while \
                  panicking"
                .into(),
            11 => "crashed (SIGSEGV)".into(),
            7 => "crashed (SIGBUS)".into(),
            4 => "crashed (SIGILL)".into(),
            8 => "crashed (SIGFPE)".into(),
            15 => "terminated (SIGTERM)".into(),
            other => format!("killed by signal {other}"),
        };
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use serde_json::json;

    use super::*;

    #[test]
    fn deaths_are_named() {
        assert_eq!(
            death(ExitStatus::from_raw(9)),
            "killed by SIGKILL, not by the supervisor: out of memory?"
        );
        assert!(death(ExitStatus::from_raw(6)).starts_with("aborted (SIGABRT)"));
        assert_eq!(death(ExitStatus::from_raw(11)), "crashed (SIGSEGV)");
        // A normal exit with status 1 is 1 << 8 in the raw wait status.
        assert_eq!(death(ExitStatus::from_raw(1 << 8)), "exited with status 1");
        assert_eq!(death(ExitStatus::from_raw(10)), "killed by signal 10");
    }

    #[test]
    fn replies_are_one_json_object_each() {
        let ok = serde_json::to_string(&Reply::Ok(json!({"Delivered": true}))).unwrap();
        assert_eq!(ok, r#"{"ok":{"Delivered":true}}"#);
        let ready = serde_json::to_string(&Reply::Ready(true)).unwrap();
        assert_eq!(ready, r#"{"ready":true}"#);
        let error: Reply = serde_json::from_str(
            r#"{"error":{"errorType":"ResponseNotDelivered","errorMessage":"x"}}"#,
        )
        .unwrap();
        assert!(matches!(error, Reply::Error(f) if f.error_type == "ResponseNotDelivered"));
    }
}
