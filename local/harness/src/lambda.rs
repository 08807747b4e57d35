//! A function binary run the way Lambda runs it: sandboxes started on demand, events fed
//! through the Runtime API, the process killed at the deadline.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

use crate::cloudformation::Operation;
use crate::{CloudFormationApi, Error, RecordedPut, ResponseServer, RuntimeApi};

/// The variable listing the origins a function may answer besides CloudFormation's bucket.
const RESPONSE_HOSTS: &str = "STACKWRIGHT_RESPONSE_HOSTS";
/// The variable listing the stacks a function acts for.
const STACKS: &str = "STACKWRIGHT_STACKS";
/// The variable listing the destructive switches the function's stage allows.
const ALLOW: &str = "STACKWRIGHT_ALLOW";
/// Every switch: tests run as a stage that allows everything, unless they say otherwise.
const ALL_SWITCHES: &str =
    "AllowDown,DropDatabase,DeleteSecret,AdoptAnySecret,DeleteRemote,InsecureTls,DropUser";
/// Where the function asks CloudFormation whether a request is real.
const CLOUDFORMATION_ENDPOINT: &str = "AWS_ENDPOINT_URL_CLOUDFORMATION";

/// What the function told the Runtime API about one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaResult {
    /// `POST …/response`.
    Response(Value),
    /// `POST …/error`: Lambda would retry an asynchronous invocation.
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
    /// No answer before the deadline: Lambda killed the sandbox.
    Timeout,
    /// The process exited before answering.
    Crashed(String),
}

impl LambdaResult {
    /// Whether the function reported success.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Response(_))
    }
}

/// How to run a function.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    binary: PathBuf,
    name: String,
    timeout: Duration,
    memory_mb: u32,
    region: String,
    concurrency: usize,
    env: Vec<(String, String)>,
    responses: Option<ResponseServer>,
    cloudformation: Option<CloudFormationApi>,
    echo: bool,
}

impl std::fmt::Debug for ResponseServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResponseServer({})", self.base_url())
    }
}

impl LambdaConfig {
    /// A function from `binary`, with a 30-second timeout, 128 MB, one sandbox at a time.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        let binary = binary.into();
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        Self {
            binary,
            name,
            timeout: Duration::from_secs(30),
            memory_mb: 128,
            region: "us-east-1".into(),
            concurrency: 1,
            env: Vec::new(),
            responses: None,
            cloudformation: None,
            echo: std::env::var_os("HARNESS_ECHO").is_some(),
        }
    }

    /// The function's Timeout: the deadline each invocation gets.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The function name (default: the binary's file name).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The region in `AWS_REGION`.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// How many sandboxes may run at once (Lambda's concurrency).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// An environment variable for the function (the function sees only what Lambda sets,
    /// `PATH`, and these).
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The `ResponseURL` server events point at: invocations collect its PUTs, and when it
    /// serves HTTPS the function trusts its CA through `SSL_CERT_FILE`.
    #[must_use]
    pub fn responses(mut self, server: &ResponseServer) -> Self {
        self.responses = Some(server.clone());
        self
    }

    /// The CloudFormation API the function asks to confirm requests (default: one of its
    /// own, started with the function).
    #[must_use]
    pub fn cloudformation(mut self, api: &CloudFormationApi) -> Self {
        self.cloudformation = Some(api.clone());
        self
    }

    /// Copies the function's log lines to stderr as they come (also `HARNESS_ECHO=1`).
    #[must_use]
    pub fn echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }
}

/// One invocation: what CloudFormation received and what Lambda was told.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id.
    pub aws_request_id: String,
    /// What the function reported to the Runtime API.
    pub lambda: LambdaResult,
    /// The PUTs to this event's `ResponseURL` made during the invocation, in order.
    pub puts: Vec<RecordedPut>,
    /// The log lines the sandbox printed during the invocation.
    pub logs: Vec<String>,
    /// From dispatch to the Runtime API answer.
    pub duration: Duration,
    /// Process start to its first `invocation/next`, when this invocation started a sandbox.
    pub cold_init: Option<Duration>,
    /// The sandbox's peak resident memory after the invocation (`VmHWM`), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// The sandbox's proportional set size after the invocation, summed over its process and
    /// its descendants (a supervisor and its worker share the binary's pages), in KiB.
    pub pss_kib: Option<u64>,
}

impl Invocation {
    /// The PUTs the server accepted (2xx): what CloudFormation received.
    pub fn delivered(&self) -> Vec<&RecordedPut> {
        self.puts
            .iter()
            .filter(|p| (200..300).contains(&p.answered))
            .collect()
    }

    /// The one response CloudFormation received, as JSON.
    ///
    /// # Panics
    ///
    /// Unless exactly one PUT was accepted and its body is JSON: this is a test helper, and
    /// anything else breaks the protocol's first promise.
    #[track_caller]
    #[allow(clippy::panic)]
    pub fn response(&self) -> Value {
        let delivered = self.delivered();
        assert_eq!(
            delivered.len(),
            1,
            "expected exactly one delivered response, got {}: lambda={:?}\nlogs:\n{}",
            delivered.len(),
            self.lambda,
            self.logs.join("\n")
        );
        delivered[0].json().unwrap_or_else(|| {
            panic!(
                "the response body is not JSON: {:?}",
                String::from_utf8_lossy(&delivered[0].body)
            )
        })
    }
}

struct Sandbox {
    api: RuntimeApi,
    child: Child,
    spawned: Instant,
    logs: Arc<Mutex<Vec<String>>>,
    invocations: u32,
    /// The sandbox's own `/tmp` (`TMPDIR`), as each Lambda execution environment has one.
    _tmp: Option<tempfile::TempDir>,
}

/// A function, run in sandboxes on this machine.
pub struct Lambda {
    config: LambdaConfig,
    cloudformation: CloudFormationApi,
    free: Mutex<Vec<Sandbox>>,
    permits: Semaphore,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Lambda {
    /// Prepares the function; sandboxes start on the first invocations, as on Lambda.
    ///
    /// # Errors
    ///
    /// [`Error::MissingBinary`] when the binary does not exist.
    pub async fn start(config: LambdaConfig) -> Result<Self, Error> {
        if !config.binary.is_file() {
            return Err(Error::MissingBinary {
                name: config.binary.display().to_string(),
                dir: config
                    .binary
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            });
        }
        let cloudformation = match &config.cloudformation {
            Some(api) => api.clone(),
            None => CloudFormationApi::start().await?,
        };
        Ok(Self {
            cloudformation,
            permits: Semaphore::new(config.concurrency),
            config,
            free: Mutex::new(Vec::new()),
            logs: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Every log line any sandbox printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The CloudFormation API this function asks to confirm requests.
    pub fn cloudformation(&self) -> &CloudFormationApi {
        &self.cloudformation
    }

    /// The configuration.
    pub fn config(&self) -> &LambdaConfig {
        &self.config
    }

    async fn spawn(&self) -> Result<Sandbox, Error> {
        let arn = format!(
            "arn:aws:lambda:{}:123456789012:function:{}",
            self.config.region, self.config.name
        );
        let api = RuntimeApi::start(&arn).await?;
        let mut cmd = Command::new(&self.config.binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.config.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.config.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.config.name),
            )
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/26/[$LATEST]{:032x}", fastrand::u128(..)),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_REGION", &self.config.region)
            .env("AWS_DEFAULT_REGION", &self.config.region)
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8");
        if let Some(dir) = self.config.binary.parent() {
            cmd.env("LAMBDA_TASK_ROOT", dir);
        }
        // The function answers only CloudFormation's bucket and the origins listed in this
        // variable: the harness's ResponseURL server is added to whatever the test (or the
        // template, under the stage runner) lists.
        let mut response_hosts: Vec<&str> = Vec::new();
        if let Some(responses) = &self.config.responses {
            response_hosts.push(responses.base_url());
            if let Some(ca) = responses.ca_file() {
                cmd.env("SSL_CERT_FILE", ca);
            }
        }
        for (key, value) in &self.config.env {
            if key == RESPONSE_HOSTS {
                response_hosts.extend(value.split(',').map(str::trim).filter(|v| !v.is_empty()));
            } else {
                cmd.env(key, value);
            }
        }
        if !response_hosts.is_empty() {
            cmd.env(RESPONSE_HOSTS, response_hosts.join(","));
        }
        // The function acts only for the stacks this lists: by default, every stack of the
        // harness's account in the function's region (a test of the check sets its own).
        // Each execution environment has its own /tmp.
        let tmp = if self.config.env.iter().any(|(k, _)| k == "TMPDIR") {
            None
        } else {
            let dir = tempfile::Builder::new()
                .prefix("sandbox-")
                .tempdir()
                .map_err(Error::io("making the sandbox's /tmp"))?;
            cmd.env("TMPDIR", dir.path());
            Some(dir)
        };
        // Lambda always sets credentials (the execution role's); these are dummies for the
        // loopback stand-ins.
        for (key, value) in [
            ("AWS_ACCESS_KEY_ID", "harness"),
            ("AWS_SECRET_ACCESS_KEY", "harness"),
            (CLOUDFORMATION_ENDPOINT, self.cloudformation.endpoint()),
            // Tests run as a stage that allows every switch; a test of a switch sets its own.
            (ALLOW, ALL_SWITCHES),
        ] {
            if !self.config.env.iter().any(|(k, _)| k == key) {
                cmd.env(key, value);
            }
        }
        if !self.config.env.iter().any(|(key, _)| key == STACKS) {
            cmd.env(
                STACKS,
                format!(
                    "arn:aws:cloudformation:{}:123456789012:stack/*",
                    self.config.region
                ),
            );
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = cmd.spawn().map_err(Error::io(format!(
            "starting `{}`",
            self.config.binary.display()
        )))?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(
                out,
                Arc::clone(&logs),
                Arc::clone(&self.logs),
                self.config.echo,
            ));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(
                err,
                Arc::clone(&logs),
                Arc::clone(&self.logs),
                self.config.echo,
            ));
        }
        Ok(Sandbox {
            api,
            child,
            spawned,
            logs,
            invocations: 0,
            _tmp: tmp,
        })
    }

    /// Sends `event` to a free sandbox (starting one when none is free and concurrency allows)
    /// and waits for the function's answer, at most until its deadline; then, like Lambda,
    /// kills the sandbox. CloudFormation confirms it: while it runs, the stack operation it
    /// describes is in progress ([`CloudFormationApi`]).
    ///
    /// # Errors
    ///
    /// When a sandbox cannot be started or the event cannot be serialised.
    pub async fn invoke(&self, event: Value) -> Result<Invocation, Error> {
        self.invoke_as(event, Operation::InProgress(None)).await
    }

    /// As [`Lambda::invoke`], with the stack in `stack_status` meanwhile
    /// (`UPDATE_ROLLBACK_IN_PROGRESS` for a rollback's Update,
    /// `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS` for the Delete of a replaced id).
    ///
    /// # Errors
    ///
    /// As [`Lambda::invoke`].
    pub async fn invoke_during(
        &self,
        event: Value,
        stack_status: &str,
    ) -> Result<Invocation, Error> {
        self.invoke_as(event, Operation::InProgress(Some(stack_status)))
            .await
    }

    /// As [`Lambda::invoke`], for an event CloudFormation did not send: what the stand-in
    /// CloudFormation knew before stands (set it with [`CloudFormationApi::set_stack`]).
    ///
    /// # Errors
    ///
    /// As [`Lambda::invoke`].
    pub async fn invoke_forged(&self, event: Value) -> Result<Invocation, Error> {
        self.invoke_as(event, Operation::Forged).await
    }

    async fn invoke_as(&self, event: Value, operation: Operation<'_>) -> Result<Invocation, Error> {
        self.cloudformation.begin(&event, operation);
        let invocation = self.deliver(&event).await;
        let answer = invocation
            .as_ref()
            .ok()
            .and_then(|i| i.delivered().first().and_then(|p| p.json()));
        self.cloudformation.end(&event, operation, answer.as_ref());
        invocation
    }

    async fn deliver(&self, event: &Value) -> Result<Invocation, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Event(e.to_string()))?;
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        let mut sandbox = match reused {
            Some(s) => s,
            None => self.spawn().await?,
        };
        let cold = sandbox.invocations == 0;
        sandbox.invocations += 1;
        let body = serde_json::to_vec(event).map_err(|e| Error::Event(e.to_string()))?;
        let response_path = event
            .get("ResponseURL")
            .and_then(Value::as_str)
            .and_then(|u| u.split_once("://"))
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
            .map(|p| p.split('?').next().unwrap_or_default().to_owned());
        let seq_start = self.config.responses.as_ref().map_or(0, |r| r.puts().len());
        let log_start = sandbox.logs.lock().map_or(0, |l| l.len());
        let aws_request_id = uuid::Uuid::new_v4().to_string();
        let start = Instant::now();
        let rx = sandbox.api.dispatch(
            &aws_request_id,
            body,
            SystemTime::now() + self.config.timeout,
        );
        // Lambda's deadline is hard; a little slack keeps a busy test machine from flaking.
        let grace = Duration::from_millis(250);
        let lambda = tokio::select! {
            result = rx => result.unwrap_or_else(|_| LambdaResult::Crashed("the Runtime API went away".into())),
            status = sandbox.child.wait() => LambdaResult::Crashed(match status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            }),
            () = tokio::time::sleep(self.config.timeout + grace) => LambdaResult::Timeout,
        };
        let duration = start.elapsed();
        let peak_rss_kib = sandbox.child.id().and_then(peak_rss_kib);
        let pss_kib = sandbox.child.id().and_then(tree_pss_kib);
        let alive = lambda.is_ok() || matches!(lambda, LambdaResult::Error { .. });
        if !alive {
            let _ = sandbox.child.kill().await;
        }
        settle(&sandbox.logs).await;
        let logs = sandbox
            .logs
            .lock()
            .map(|l| {
                l.get(log_start..)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let puts = match (&self.config.responses, &response_path) {
            (Some(server), Some(path)) => server
                .puts()
                .into_iter()
                .skip(seq_start)
                .filter(|p| &p.path == path)
                .collect(),
            _ => Vec::new(),
        };
        let cold_init = if cold {
            sandbox
                .api
                .first_next()
                .map(|t| t.saturating_duration_since(sandbox.spawned))
        } else {
            None
        };
        if alive && let Ok(mut free) = self.free.lock() {
            free.push(sandbox);
        }
        Ok(Invocation {
            aws_request_id,
            lambda,
            puts,
            logs,
            duration,
            cold_init,
            peak_rss_kib,
            pss_kib,
        })
    }

    /// Stops every idle sandbox (the next invocation is cold again).
    pub fn stop(&self) {
        if let Ok(mut free) = self.free.lock() {
            free.clear();
        }
    }
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    sandbox: Arc<Mutex<Vec<String>>>,
    all: Arc<Mutex<Vec<String>>>,
    echo: bool,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if echo {
            eprintln!("[function] {line}");
        }
        if let Ok(mut l) = all.lock() {
            l.push(line.clone());
        }
        if let Ok(mut l) = sandbox.lock() {
            l.push(line);
        }
    }
}

/// Waits until the log stops growing for a moment, so lines printed just before the answer
/// are in.
async fn settle(logs: &Mutex<Vec<String>>) {
    let mut last = usize::MAX;
    for _ in 0..20 {
        let now = logs.lock().map_or(0, |l| l.len());
        if now == last {
            return;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `Pss` of process `pid` and its descendants (`/proc/<pid>/smaps_rollup`), in KiB.
fn tree_pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let own: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
    let children: u64 = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter_map(tree_pss_kib)
        .sum();
    Some(own + children)
}

/// `VmHWM` of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
