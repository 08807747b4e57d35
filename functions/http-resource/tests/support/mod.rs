//! What the `http-resource` integration tests share: the function run under the harness with
//! leak checks, a scripted API of the tests' own for the faults, and json-server (installed
//! from the npm registry into the target directory) as a real REST API nobody here wrote.

#![allow(dead_code)]

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use harness::{Invocation, Lambda, LambdaConfig, ResponseServer, Stack};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The variable listing where the function may send requests.
pub const HOSTS_VARIABLE: &str = "STACKWRIGHT_HTTP_HOSTS";

/// The resource type under test.
pub const TYPE: &str = "Custom::HttpResource";

/// The function under test, run as Lambda runs it, with every log line at TRACE so the leak
/// checks see everything it could print.
pub struct Setup {
    pub responses: ResponseServer,
    pub lambda: Lambda,
    pub stack: Stack,
    secrets: Mutex<Vec<String>>,
}

impl Setup {
    pub async fn new(stack: &str) -> Self {
        Self::with(stack, |c| c).await
    }

    pub async fn with(stack: &str, configure: impl FnOnce(LambdaConfig) -> LambdaConfig) -> Self {
        let responses = ResponseServer::start().await.expect("response server");
        let binary = harness::pinned(env!("CARGO_BIN_EXE_http-resource")).expect("the binary");
        // The tests' APIs listen on 127.0.0.1: the stage lists that address, and nothing
        // else (a test of the list sets its own after this).
        let config = LambdaConfig::new(binary)
            .responses(&responses)
            .env("RUST_LOG", "trace")
            .env(HOSTS_VARIABLE, "127.0.0.1");
        let lambda = Lambda::start(configure(config))
            .await
            .expect("the http-resource binary");
        let stack = Stack::new(stack, &responses);
        Self {
            responses,
            lambda,
            stack,
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// A value that must appear in no log line and no response.
    pub fn secret(&self, value: &str) {
        self.secrets.lock().unwrap().push(value.to_owned());
    }

    /// Invokes the function and checks that nothing secret leaked, so far, into its logs or
    /// any response CloudFormation received.
    pub async fn invoke(&self, event: Value) -> Invocation {
        let invocation = self.lambda.invoke(event).await.expect("invoke");
        self.assert_no_leak();
        invocation
    }

    /// As [`Setup::invoke`], while CloudFormation says the stack is `stack_status`
    /// (`UPDATE_ROLLBACK_IN_PROGRESS`, a cleanup phase).
    pub async fn invoke_during(&self, event: Value, stack_status: &str) -> Invocation {
        let invocation = self
            .lambda
            .invoke_during(event, stack_status)
            .await
            .expect("invoke");
        self.assert_no_leak();
        invocation
    }

    pub fn assert_no_leak(&self) {
        let secrets = self.secrets.lock().unwrap().clone();
        harness::assert_no_leak(&self.lambda, &self.responses, &secrets);
    }

    pub fn create(&self, properties: Value) -> Value {
        self.stack.create("Hook", TYPE, properties)
    }

    pub fn update(&self, id: &str, properties: Value, old: Value) -> Value {
        self.stack.update("Hook", TYPE, id, properties, old)
    }

    pub fn delete(&self, id: &str, properties: Value) -> Value {
        self.stack.delete("Hook", TYPE, id, properties)
    }
}

/// The `Reason` of a response.
pub fn reason(response: &Value) -> &str {
    response["Reason"].as_str().expect("Reason is a string")
}

/// Asserts SUCCESS and returns the response.
#[track_caller]
pub fn succeeded(invocation: &Invocation) -> Value {
    let r = invocation.response();
    assert_eq!(
        r["Status"],
        "SUCCESS",
        "{}\nlogs:\n{}",
        reason(&r),
        invocation.logs.join("\n")
    );
    assert!(invocation.lambda.is_ok(), "{:?}", invocation.lambda);
    r
}

/// Asserts FAILED (delivered, Lambda told Ok) and returns the reason.
#[track_caller]
pub fn failed(invocation: &Invocation) -> String {
    let r = invocation.response();
    assert_eq!(
        r["Status"],
        "FAILED",
        "logs:\n{}",
        invocation.logs.join("\n")
    );
    assert!(invocation.lambda.is_ok(), "{:?}", invocation.lambda);
    reason(&r).to_owned()
}

// ---------------------------------------------------------------------------------------
// A scripted API of the tests' own.

/// One request the API received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as received (still percent-encoded).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What the API answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Accept the request and never answer.
    Hang,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn empty(status: u16) -> Self {
        Self::Respond {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Self::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct ApiState {
    seen: Mutex<Vec<Seen>>,
    handler: Box<Handler>,
}

/// An HTTP API on 127.0.0.1 that records every request and answers as its handler says.
pub struct FakeApi {
    addr: SocketAddr,
    state: Arc<ApiState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    /// `handler` gets each request and its 0-based arrival number.
    pub async fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(ApiState {
            seen: Mutex::new(Vec::new()),
            handler: Box::new(handler),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// Answers the n-th request with `script[n]`, and every later one with `then`.
    pub async fn scripted(script: Vec<Reply>, then: Reply) -> Self {
        Self::start(move |_, n| script.get(n).cloned().unwrap_or_else(|| then.clone())).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

async fn handle(State(state): State<Arc<ApiState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    let n = {
        let mut all = state.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    match (state.handler)(&seen, n) {
        Reply::Hang => std::future::pending().await,
        Reply::Respond {
            status,
            headers,
            body,
        } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            for (name, value) in headers {
                response.headers_mut().append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            response
        }
    }
}

/// A Secrets Manager of the tests' own, which records every call: a test that must read no
/// secret shows that nothing arrived. It answers `GetSecretValue` for any id with
/// `{"token": <token>}`. Point the function at it with [`FakeSecrets::env`].
pub struct FakeSecrets {
    api: FakeApi,
}

impl FakeSecrets {
    pub async fn start(token: &str) -> Self {
        let secret = serde_json::json!({"token": token}).to_string();
        let api = FakeApi::start(move |req, _| {
            let id = req.json()["SecretId"].as_str().unwrap_or_default().to_owned();
            match req.header("x-amz-target") {
                Some("secretsmanager.GetSecretValue") => Reply::Respond {
                    status: 200,
                    headers: vec![(
                        "content-type".into(),
                        "application/x-amz-json-1.1".into(),
                    )],
                    body: serde_json::json!({
                        "ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{id}-AbCdEf"),
                        "Name": id,
                        "SecretString": secret,
                        "VersionId": "00000000-0000-0000-0000-000000000001",
                        "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": 1_764_547_200,
                    })
                    .to_string(),
                },
                _ => Reply::json(400, serde_json::json!({"__type": "InvalidRequestException"})),
            }
        })
        .await;
        Self { api }
    }

    /// What the function needs to reach it (the harness's own CloudFormation keeps its more
    /// specific variable).
    pub fn env(&self) -> (&'static str, String) {
        ("AWS_ENDPOINT_URL", self.api.base_url())
    }

    /// The secret ids read so far.
    pub fn reads(&self) -> Vec<String> {
        self.api
            .seen()
            .iter()
            .map(|r| r.json()["SecretId"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// json-server 0.17.4, from the npm registry.

const JSON_SERVER_VERSION: &str = "0.17.4";

/// `target/npm`: git-ignored, shared by every test binary and run.
fn npm_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("npm")
}

fn installed(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("node_modules/json-server/package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|p| p["version"] == JSON_SERVER_VERSION)
}

/// Installs json-server once: skipped when already there; test threads of one binary wait
/// on a `OnceLock`, test binaries running at once on a file lock.
fn json_server_cli() -> anyhow::Result<PathBuf> {
    static CLI: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CLI.get_or_init(|| install().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn install() -> anyhow::Result<PathBuf> {
    let dir = npm_dir();
    let cli = dir.join("node_modules/json-server/lib/cli/bin.js");
    if installed(&dir) {
        return Ok(cli);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = File::create(dir.join(".install.lock")).context("creating the install lock")?;
    lock.lock().context("taking the install lock")?;
    if !installed(&dir) {
        let status = std::process::Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--loglevel=error"])
            .arg(format!("json-server@{JSON_SERVER_VERSION}"))
            .stdin(Stdio::null())
            .status()
            .context("running npm (Node.js 20 and npm must be installed)")?;
        if !status.success() || !installed(&dir) {
            bail!("`npm install json-server@{JSON_SERVER_VERSION}` failed: {status}");
        }
    }
    drop(lock);
    Ok(cli)
}

/// json-server on a free loopback port over a temporary `db.json`; killed when dropped.
pub struct JsonServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl JsonServer {
    pub async fn start(db: Value) -> anyhow::Result<Self> {
        let cli = tokio::task::spawn_blocking(json_server_cli).await??;
        let mut last = None;
        // A free port can be taken by someone else before json-server binds it: try again.
        for _ in 0..3 {
            let dir = tempfile::tempdir()?;
            let db_file = dir.path().join("db.json");
            std::fs::write(&db_file, serde_json::to_vec_pretty(&db)?)?;
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let mut child = Command::new("node")
                .arg(&cli)
                .arg(&db_file)
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--quiet",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting json-server with node")?;
            let until = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait()? {
                    last = Some(anyhow::anyhow!("json-server exited with {status}"));
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Ok(Self {
                        child,
                        port,
                        _dir: dir,
                    });
                }
                if Instant::now() >= until {
                    bail!("json-server is not listening on {port} after 30 s");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("json-server did not start")))
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET `path` straight from json-server: (status, body).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.base_url()))
            .await
            .expect("GET json-server");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
