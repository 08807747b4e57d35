//! `make bench`: what each function costs, measured under the harness on this machine.
//!
//! - package: the arm64 `bootstrap` as `sam build` made it, zipped; the x86_64 release binary;
//! - cold init: process start to its first `invocation/next` (median of `--runs` starts),
//!   beside the same figure for a bare `lambda_runtime` binary (`bare-lambda`, started
//!   between the functions' starts) and the ratio to it;
//! - cold path: process start to the answer of the first invocation (init included), answered
//!   over HTTPS to a local CA trusted through `SSL_CERT_FILE`, and over plain HTTP (TLS's
//!   share);
//! - the root store on the first HTTPS call: a cold start whose first request calls Secrets
//!   Manager over HTTPS (moto behind a TLS front with the test CA, trusted through
//!   `SSL_CERT_FILE`), with `SSL_CERT_DIR` at the system store and at an empty folder. A
//!   client that loads native roots reads `SSL_CERT_DIR` (rustls-native-certs reads only the
//!   variables when one is set), so the difference is what the system store costs it. The
//!   same for `sdk-roots-probe` with the SDK's default client, the control that shows the
//!   bench can see that cost, and with the shared client;
//! - handling time and peak RSS: a Delete of a failed Create (no I/O), and a typical Create;
//! - migrations: 200 small migrations through db-migration against psql running the same SQL;
//! - the confirmation call: http-resource's typical Create, cold and warm, with the library
//!   asking CloudFormation (`DescribeStacks` + `DescribeStackResource`, at once, the harness's
//!   stand-in on loopback) and with `STACKWRIGHT_CONFIRM=off`. On AWS add one round trip to
//!   CloudFormation's endpoint in the region, which loopback cannot show.
//!
//! - the supervising bootstrap: cold starts of a no-op with the supervisor and without it
//!   (`STACKWRIGHT_SUPERVISOR=off`), alternating, and PSS over both processes after a warm one;
//!   `--only supervisor` measures this alone (against the bare binary's cold init) and prints
//!   its table without writing `bench.json`.
//!
//! Targets are printed beside the figures, not enforced: machines are noisy.

#![allow(clippy::print_stdout)] // a report printer

mod tls_front;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::{Invocation, Lambda, LambdaConfig, Moto, ResponseServer, Stack, TestCa};
use serde::Serialize;
use serde_json::{Value, json};
use tls_front::TlsFront;

/// The bare `lambda_runtime` binary (this package's `bare-lambda`).
const BARE: &str = "bare-lambda";
/// One GetSecretValue through either SDK client (this package's `sdk-roots-probe`).
const PROBE: &str = "sdk-roots-probe";
/// Where the system's root store is on this machine (Debian's `ca-certificates`).
const SYSTEM_STORE: &str = "/etc/ssl/certs";

const FUNCTIONS: [(&str, &str); 3] = [
    ("db-migration", "DbMigrationFunction"),
    ("secret-seeder", "SecretSeederFunction"),
    ("http-resource", "HttpResourceFunction"),
];

#[derive(Debug, Serialize)]
struct Figures {
    function: String,
    zip_arm64_bytes: Option<u64>,
    binary_x86_64_bytes: u64,
    cold_init_ms: Vec<f64>,
    cold_init_median_ms: f64,
    cold_init_ratio_to_bare: f64,
    cold_path_https_ms: Vec<f64>,
    cold_path_https_median_ms: f64,
    cold_path_http_ms: Vec<f64>,
    cold_init_http_median_ms: f64,
    cold_path_http_median_ms: f64,
    noop_handling_median_ms: f64,
    noop_peak_rss_kib: u64,
    create: String,
    create_handling_ms: f64,
    create_peak_rss_kib: u64,
    first_https_call: RootStore,
}

/// Cold starts whose first request calls Secrets Manager over HTTPS, with the system root
/// store readable through `SSL_CERT_DIR` and not.
///
/// `connect`: process start to the first connection at the AWS endpoint, when the client is
/// built and making its first call: a root store is read before it (at init or when the client
/// is built), and moto's own time, which varies by tens of milliseconds, is not in it. The
/// difference of its medians is the root store's cost. `answer`: process start to the answer of
/// the first request, moto included.
#[derive(Debug, Serialize)]
struct RootStore {
    what: String,
    system_store: Variant,
    empty_dir: Variant,
    /// `system_store` − `empty_dir`, connect medians.
    connect_difference_ms: f64,
    /// `system_store` − `empty_dir`, answer medians.
    answer_difference_ms: f64,
    /// No `SSL_CERT_FILE` or `SSL_CERT_DIR`, moto over plain HTTP: a client that loads native
    /// roots then reads openssl-probe's default file and folder (what README's old
    /// "system root store" column measured).
    unset_http: Option<Variant>,
}

/// The cold starts of one variant, in milliseconds.
#[derive(Debug, Default, Serialize)]
struct Variant {
    init_ms: Vec<f64>,
    connect_ms: Vec<f64>,
    answer_ms: Vec<f64>,
    init_median_ms: f64,
    connect_median_ms: f64,
    answer_median_ms: f64,
}

impl Variant {
    fn push(&mut self, start: &Cold) {
        self.init_ms.push(start.init);
        self.connect_ms.extend(start.connect);
        self.answer_ms.push(start.answer);
    }

    fn finish(mut self) -> Self {
        self.init_median_ms = median(&self.init_ms);
        self.connect_median_ms = median(&self.connect_ms);
        self.answer_median_ms = median(&self.answer_ms);
        self
    }
}

#[derive(Debug, Serialize)]
struct Bare {
    binary_x86_64_bytes: u64,
    cold_init_ms: Vec<f64>,
    cold_init_median_ms: f64,
    /// To the answer of a first event (no `ResponseURL` PUT): a check that the init is in the
    /// harness's duration.
    cold_path_median_ms: f64,
}

#[derive(Debug, Serialize)]
struct Probe {
    client: String,
    first_https_call: RootStore,
}

#[derive(Debug, Serialize)]
struct Migrations {
    count: usize,
    function_ms: f64,
    psql_ms: f64,
    ratio: f64,
}

/// The supervising bootstrap's cost: cold starts of the no-op with it and without
/// (`STACKWRIGHT_SUPERVISOR=off`), alternating, and the memory after a warm one.
#[derive(Debug, Serialize)]
struct SupervisorCost {
    function: String,
    init_on_ms: Vec<f64>,
    init_off_ms: Vec<f64>,
    path_on_ms: Vec<f64>,
    path_off_ms: Vec<f64>,
    /// PSS summed over the sandbox's processes after a warm no-op, in KiB.
    pss_on_kib: u64,
    pss_off_kib: u64,
}

/// The cost of asking CloudFormation before acting.
#[derive(Debug, Serialize)]
struct Confirmation {
    what: String,
    cold_on_ms: Vec<f64>,
    cold_off_ms: Vec<f64>,
    warm_on_ms: Vec<f64>,
    warm_off_ms: Vec<f64>,
    cold_difference_ms: f64,
    warm_difference_ms: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    date: String,
    machine: String,
    runs: usize,
    bare_lambda: Bare,
    functions: Vec<Figures>,
    probes: Vec<Probe>,
    migrations: Option<Migrations>,
    confirmation: Confirmation,
    supervisor: Vec<SupervisorCost>,
}

struct Args {
    release: PathBuf,
    featured: PathBuf,
    sam: PathBuf,
    out: PathBuf,
    runs: usize,
    /// `supervisor`: only the supervising bootstrap's cost, printed and not written.
    only: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let root = harness::workspace_root();
    let mut args = Args {
        release: root.join("target/release"),
        featured: root.join("target/bench/release"),
        sam: root.join(".aws-sam/build"),
        out: root.join("target/bench/bench.json"),
        runs: 10,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--release-dir" => args.release = value.into(),
            "--featured-dir" => args.featured = value.into(),
            "--sam-build-dir" => args.sam = value.into(),
            "--out" => args.out = value.into(),
            "--runs" => args.runs = value.parse().context("--runs")?,
            "--only" if value == "supervisor" => args.only = Some(value),
            other => bail!("unknown flag `{other}`"),
        }
    }
    Ok(args)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The arm64 bootstrap as `sam build` left it, zipped the way `sam package` zips it.
fn zipped(bootstrap: &Path, out_dir: &Path, name: &str) -> anyhow::Result<Option<u64>> {
    if !bootstrap.is_file() {
        return Ok(None);
    }
    let zip = out_dir.join(format!("{name}-arm64.zip"));
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[1], 'bootstrap')",
        ])
        .arg(bootstrap)
        .arg(&zip)
        .status()?;
    if !status.success() {
        bail!("zipping {}", bootstrap.display());
    }
    Ok(Some(std::fs::metadata(&zip)?.len()))
}

/// A Delete for the id of a Create that failed: the library answers it without I/O.
fn noop(stack: &Stack, kind: &str) -> Value {
    stack.delete(
        "Bench",
        kind,
        "stackwright:create-failed:Bench:00000000-0000-0000-0000-000000000000",
        json!({}),
    )
}

fn answered(invocation: &Invocation, what: &str) -> anyhow::Result<Value> {
    let delivered = invocation.delivered();
    let Some(body) = delivered.first().and_then(|p| p.json()) else {
        bail!(
            "{what}: no response ({:?})\n{}",
            invocation.lambda,
            invocation.logs.join("\n")
        );
    };
    if body["Status"] != "SUCCESS" {
        bail!("{what}: {}", body["Reason"]);
    }
    Ok(body)
}

struct Env {
    moto: Moto,
    secret_arn: String,
    api_url: String,
    /// A JSON secret `{"token": …}`, for http-resource's `Auth` and the probe.
    token_arn: String,
    /// A database secret whose port nothing listens on: db-migration reads it over HTTPS,
    /// then fails to connect at once, so its first request is the secret read and little else.
    closed_port_arn: String,
    /// moto behind TLS with the test CA.
    front: TlsFront,
    /// Empty: `SSL_CERT_DIR` that holds no roots.
    empty_dir: tempfile::TempDir,
}

fn config(binary: PathBuf, responses: &ResponseServer, env: &Env) -> LambdaConfig {
    let mut config = LambdaConfig::new(binary)
        .responses(responses)
        .timeout(Duration::from_secs(60))
        // http-resource's local API.
        .env("STACKWRIGHT_HTTP_HOSTS", "127.0.0.1");
    for (k, v) in env.moto.env() {
        config = config.env(k, v);
    }
    config
}

fn psql(database: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args([
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running psql")?;
    if !status.success() {
        bail!("psql {args:?} failed");
    }
    Ok(())
}

/// The properties of a typical Create, and a note saying what it does.
fn typical_create(function: &str, env: &Env, n: usize) -> (Value, String) {
    match function {
        "db-migration" => (
            json!({"SecretArn": env.secret_arn, "Database": format!("swbench_{}_{n}", std::process::id()), "CreateDatabase": "true",
                   "Tls": "Disable", "OnDelete": "DropDatabase"}),
            "creates a database, applies the example migrations and seeds".into(),
        ),
        "secret-seeder" => (
            json!({"Name": format!("bench/{}", uuid::Uuid::new_v4()), "OnDelete": "ForceDelete", "Keys": {
                "password": {"Generate": "password", "Length": "32"},
                "short_password": {"Generate": "password", "Length": "16", "ExcludePunctuation": "true"},
                "signing_key": {"Generate": "token", "Bytes": "32", "Encoding": "base64url"},
                "client_id": {"Generate": "uuid"},
                "username": {"Value": "app"}}}),
            "seeds five keys into moto".into(),
        ),
        _ => (
            json!({"BaseUrl": env.api_url, "Create": {"Path": "/hooks", "Body": {"name": "bench", "events": ["deployment"]}},
                   "Delete": {"Path": "/hooks/{id}"}}),
            "creates an object on a local REST API".into(),
        ),
    }
}

/// What a cold start's first request must end with.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A SUCCESS at the `ResponseURL`.
    Success,
    /// A response at the `ResponseURL`, whatever its status.
    Answer,
    /// A response to the Runtime API (a binary that is not a custom resource).
    Runtime,
}

/// One cold start, in milliseconds from process start.
struct Cold {
    /// To the first `invocation/next`.
    init: f64,
    /// To the first connection at the front, if there was one.
    connect: Option<f64>,
    /// To the answer of the first request (the harness's duration, which starts when the
    /// process is spawned).
    answer: f64,
}

/// One cold start of `config` whose first request is `event`.
async fn cold_start(
    config: LambdaConfig,
    event: Value,
    expect: Expect,
    what: &str,
    front: Option<&TlsFront>,
) -> anyhow::Result<Cold> {
    let lambda = Lambda::start(config).await?;
    // The sandbox's process starts inside `invoke`, after its Runtime API is bound: a fraction
    // of a millisecond after this.
    let started = Instant::now();
    let first = lambda.invoke(event).await?;
    match expect {
        Expect::Success => {
            answered(&first, what)?;
        }
        Expect::Answer => {
            if first.delivered().is_empty() {
                bail!(
                    "{what}: no response ({:?})\n{}",
                    first.lambda,
                    first.logs.join("\n")
                );
            }
        }
        Expect::Runtime => {
            if !first.lambda.is_ok() {
                bail!("{what}: {:?}\n{}", first.lambda, first.logs.join("\n"));
            }
        }
    }
    let init = first
        .cold_init
        .context("the first invocation reports its init")?;
    Ok(Cold {
        init: ms(init),
        connect: front
            .and_then(|f| f.first_connection_since(started))
            .map(|t| ms(t - started)),
        // The harness times an invocation from its dispatch, which for a cold one is right
        // after the process was spawned: the duration already holds the init.
        answer: ms(first.duration),
    })
}

/// Cold starts of `base` (which points `AWS_ENDPOINT_URL` at the front's HTTPS port and trusts
/// the test CA through `SSL_CERT_FILE`) with `SSL_CERT_DIR` at the system store and at an
/// empty folder, alternating which goes first; and, when `unset` is given, that configuration
/// too (no `SSL_CERT_*`, the front's plain-HTTP port).
async fn root_store(
    runs: usize,
    what: &str,
    base: &LambdaConfig,
    unset: Option<&LambdaConfig>,
    env: &Env,
    event: impl Fn() -> Value,
    expect: Expect,
) -> anyhow::Result<RootStore> {
    let empty_dir = env.empty_dir.path().display().to_string();
    let (mut system, mut empty, mut none) =
        (Variant::default(), Variant::default(), Variant::default());
    let front = Some(&env.front);
    for run in 0..runs {
        let order = if run % 2 == 0 {
            [SYSTEM_STORE, empty_dir.as_str()]
        } else {
            [empty_dir.as_str(), SYSTEM_STORE]
        };
        for dir in order {
            let config = base.clone().env("SSL_CERT_DIR", dir);
            let start = connected(cold_start(config, event(), expect, what, front).await?)?;
            if dir == SYSTEM_STORE {
                system.push(&start);
            } else {
                empty.push(&start);
            }
        }
        if let Some(unset) = unset {
            none.push(&connected(
                cold_start(unset.clone(), event(), expect, what, front).await?,
            )?);
        }
    }
    let (system, empty) = (system.finish(), empty.finish());
    Ok(RootStore {
        what: what.to_owned(),
        connect_difference_ms: system.connect_median_ms - empty.connect_median_ms,
        answer_difference_ms: system.answer_median_ms - empty.answer_median_ms,
        system_store: system,
        empty_dir: empty,
        unset_http: unset.map(|_| none.finish()),
    })
}

/// `start`, if it connected to the AWS endpoint: a root-store figure without that connection
/// would measure nothing.
fn connected(start: Cold) -> anyhow::Result<Cold> {
    if start.connect.is_none() {
        bail!("the first request never connected to the AWS endpoint (the TLS front)");
    }
    Ok(start)
}

/// The first request of each function that calls Secrets Manager, and what it does.
fn first_https_request(function: &str, env: &Env, stack: &Stack) -> (Value, Expect, String) {
    let kind = "Custom::Bench";
    match function {
        "db-migration" => (
            stack.create(
                "Bench",
                kind,
                json!({"SecretArn": env.closed_port_arn, "Database": "swbench_closed", "Tls": "Disable"}),
            ),
            Expect::Answer,
            "Create: reads its database secret, then finds the port closed (FAILED)".into(),
        ),
        "secret-seeder" => (
            stack.create(
                "Bench",
                kind,
                json!({"Name": format!("bench/first-https/{}", uuid::Uuid::new_v4()),
                       "Keys": {"username": {"Value": "app"}}}),
            ),
            Expect::Success,
            "Create of a secret with one fixed key".into(),
        ),
        _ => (
            stack.create(
                "Bench",
                kind,
                json!({"BaseUrl": env.api_url, "Auth": {"SecretArn": env.token_arn, "Key": "token"},
                       "Create": {"Path": "/hooks", "Body": {"name": "bench"}}, "Delete": {"Path": "/hooks/{id}"}}),
            ),
            Expect::Success,
            "Create with `Auth`: reads the token, then POSTs to a local REST API".into(),
        ),
    }
}

/// The probe's first-HTTPS-call figures with `client` (`default` or `shared`).
async fn probe(args: &Args, env: &Env, ca: &TestCa, client: &str) -> anyhow::Result<Probe> {
    let binary = args.release.join(PROBE);
    if !binary.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p bench --bins`",
            binary.display()
        );
    }
    let mut unset = LambdaConfig::new(binary)
        .timeout(Duration::from_secs(60))
        .env("STACKWRIGHT_PROBE_CLIENT", client);
    for (k, v) in env.moto.env() {
        unset = unset.env(k, v);
    }
    unset = unset.env("AWS_ENDPOINT_URL", env.front.http());
    let base = unset
        .clone()
        .env("AWS_ENDPOINT_URL", env.front.https())
        .env("SSL_CERT_FILE", ca.ca_file().display().to_string());
    let what = match client {
        "default" => "sdk-roots-probe, the SDK's default client (native roots): GetSecretValue",
        _ => "sdk-roots-probe, the shared client (compiled-in roots): GetSecretValue",
    };
    let token = env.token_arn.clone();
    let first_https_call = root_store(
        args.runs,
        what,
        &base,
        Some(&unset),
        env,
        || json!({"SecretId": token}),
        Expect::Runtime,
    )
    .await?;
    Ok(Probe {
        client: client.to_owned(),
        first_https_call,
    })
}

async fn measure(
    function: &str,
    logical: &str,
    args: &Args,
    env: &Env,
    ca: &Arc<TestCa>,
    bare_starts: &mut Variant,
) -> anyhow::Result<Figures> {
    let binary = args.release.join(function);
    let size = std::fs::metadata(&binary)
        .with_context(|| {
            format!(
                "{} (build it with `cargo build --release`)",
                binary.display()
            )
        })?
        .len();
    let zip = zipped(
        &args.sam.join(logical).join("bootstrap"),
        args.out.parent().unwrap_or(Path::new(".")),
        function,
    )?;
    let kind = "Custom::Bench";

    // Cold starts over HTTPS and over plain HTTP (to tell TLS's share), and of the bare
    // lambda_runtime binary, interleaved so that none gets the machine's quieter moments: a
    // new sandbox each time.
    let bare = args.release.join(BARE);
    let https = ResponseServer::start_https(Arc::clone(ca)).await?;
    let secure = Stack::new("stackwright-bench", &https);
    let http = ResponseServer::start().await?;
    let stack = Stack::new("stackwright-bench", &http);
    let mut inits = Vec::new();
    let mut paths = Vec::new();
    let mut plain = Vec::new();
    let mut plain_inits = Vec::new();
    for run in 0..args.runs * 2 {
        let tls = run % 2 == 0;
        let (server, events) = if tls {
            (&https, &secure)
        } else {
            (&http, &stack)
        };
        let lambda = Lambda::start(config(binary.clone(), server, env)).await?;
        let first = lambda.invoke(noop(events, kind)).await?;
        answered(&first, "cold no-op")?;
        let init = first
            .cold_init
            .context("the first invocation reports its init")?;
        if tls {
            inits.push(ms(init));
            // The harness times the invocation from its dispatch, right after the spawn: the
            // init is in it (the spawn itself is not), so it is not added again.
            paths.push(ms(first.duration));
        } else {
            plain_inits.push(ms(init));
            plain.push(ms(first.duration));
            drop(lambda);
            let start = cold_start(
                config(bare.clone(), &https, env),
                noop(&secure, kind),
                Expect::Runtime,
                "bare lambda_runtime",
                None,
            )
            .await?;
            bare_starts.push(&start);
        }
    }

    // The first request that calls Secrets Manager, over HTTPS, with and without the system
    // root store readable.
    let base = config(binary.clone(), &https, env).env("AWS_ENDPOINT_URL", env.front.https());
    let (_, expect, what) = first_https_request(function, env, &secure);
    let first_https_call = root_store(
        args.runs,
        &what,
        &base,
        None,
        env,
        || first_https_request(function, env, &secure).0,
        expect,
    )
    .await?;

    // Warm handling of the no-op, and of a typical Create, on HTTP.
    let lambda = Lambda::start(config(binary.clone(), &http, env)).await?;
    let mut noops = Vec::new();
    let mut rss = 0;
    for _ in 0..args.runs {
        let inv = lambda.invoke(noop(&stack, kind)).await?;
        answered(&inv, "warm no-op")?;
        noops.push(ms(inv.duration));
        rss = inv.peak_rss_kib.unwrap_or_default();
    }
    let fresh = Lambda::start(config(binary.clone(), &http, env)).await?;
    answered(&fresh.invoke(noop(&stack, kind)).await?, "init")?;
    let (properties, what) = typical_create(function, env, 0);
    let created = fresh
        .invoke(stack.create("Bench", kind, properties.clone()))
        .await?;
    let body = answered(&created, "typical create")?;
    let id = body["PhysicalResourceId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    answered(
        &fresh
            .invoke(stack.delete("Bench", kind, &id, properties))
            .await?,
        "clean-up delete",
    )?;

    Ok(Figures {
        function: function.to_owned(),
        zip_arm64_bytes: zip,
        binary_x86_64_bytes: size,
        cold_init_median_ms: median(&inits),
        cold_init_ratio_to_bare: f64::NAN,
        cold_init_ms: inits,
        cold_path_https_median_ms: median(&paths),
        cold_path_https_ms: paths,
        cold_path_http_median_ms: median(&plain),
        cold_path_http_ms: plain,
        cold_init_http_median_ms: median(&plain_inits),
        noop_handling_median_ms: median(&noops),
        noop_peak_rss_kib: rss,
        create: what,
        create_handling_ms: ms(created.duration),
        create_peak_rss_kib: created.peak_rss_kib.unwrap_or_default(),
        first_https_call,
    })
}

/// 200 small migrations: db-migration (secret fetch included, process start excluded) against
/// psql running the same SQL in one session, without `--single-transaction`.
async fn migrations(args: &Args, env: &Env) -> anyhow::Result<Migrations> {
    const COUNT: usize = 200;
    let binary = args.featured.join("db-migration");
    if !binary.is_file() {
        bail!(
            "{} is missing: build it with `cargo build --release -p db-migration --features test-folders --target-dir target/bench`",
            binary.display()
        );
    }
    let dir = tempfile::tempdir()?;
    let folder = dir.path().join("migrations");
    std::fs::create_dir_all(&folder)?;
    std::fs::create_dir_all(dir.path().join("no-seeds"))?;
    let mut all = String::new();
    for i in 0..COUNT {
        let sql = format!(
            "CREATE TABLE bench_{i} (id bigint PRIMARY KEY, name text NOT NULL);\nCREATE INDEX bench_{i}_name ON bench_{i} (name);\nINSERT INTO bench_{i} VALUES (1, 'x');\n"
        );
        std::fs::write(
            folder.join(format!(
                "{}_bench_{i}.sql",
                20_000_000_000_000_i64 + i as i64
            )),
            &sql,
        )?;
        all.push_str(&sql);
    }
    let script = dir.path().join("all.sql");
    std::fs::write(&script, &all)?;
    let base = format!("swbench_mig_{}", std::process::id());
    let (ours, theirs) = (format!("{base}_fn"), format!("{base}_psql"));
    for db in [&ours, &theirs] {
        psql(
            "postgres",
            &[
                "-c",
                &format!("DROP DATABASE IF EXISTS {db}"),
                "-c",
                &format!("CREATE DATABASE {db}"),
            ],
        )?;
    }

    let http = ResponseServer::start().await?;
    let stack = Stack::new("stackwright-bench", &http);
    let lambda = Lambda::start(
        config(binary, &http, env)
            .env("STACKWRIGHT_MIGRATIONS_DIR", folder.display().to_string())
            .env(
                "STACKWRIGHT_SEEDS_DIR",
                dir.path().join("no-seeds").display().to_string(),
            ),
    )
    .await?;
    answered(
        &lambda
            .invoke(noop(&stack, "Custom::DatabaseMigration"))
            .await?,
        "init",
    )?;
    let properties = json!({"SecretArn": env.secret_arn, "Database": ours, "Tls": "Disable"});
    let inv = lambda
        .invoke(stack.create("Bench", "Custom::DatabaseMigration", properties))
        .await?;
    let body = answered(&inv, "200 migrations")?;
    if body["Data"]["Applied"].to_string().trim_matches('"') != COUNT.to_string() {
        bail!(
            "expected {COUNT} migrations applied, got Data {}",
            body["Data"]
        );
    }
    let function_ms = ms(inv.duration);

    let started = Instant::now();
    psql(&theirs, &["-f", &script.display().to_string()])?;
    let psql_ms = ms(started.elapsed());
    for db in [&ours, &theirs] {
        psql(
            "postgres",
            &["-c", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")],
        )?;
    }
    Ok(Migrations {
        count: COUNT,
        function_ms,
        psql_ms,
        ratio: function_ms / psql_ms,
    })
}

fn mark(ok: bool) -> &'static str {
    if ok { "" } else { " (over)" }
}

/// What the supervisor costs `function`: cold starts of a no-op with and without it,
/// alternating, and the PSS of the sandbox after a warm no-op.
async fn supervisor_cost(function: &str, args: &Args, env: &Env) -> anyhow::Result<SupervisorCost> {
    let binary = args.release.join(function);
    let http = ResponseServer::start().await?;
    let stack = Stack::new("stackwright-bench", &http);
    let mut cost = SupervisorCost {
        function: function.to_owned(),
        init_on_ms: Vec::new(),
        init_off_ms: Vec::new(),
        path_on_ms: Vec::new(),
        path_off_ms: Vec::new(),
        pss_on_kib: 0,
        pss_off_kib: 0,
    };
    for run in 0..args.runs * 2 {
        let on = run % 2 == 0;
        let mut config = config(binary.clone(), &http, env);
        if !on {
            config = config.env("STACKWRIGHT_SUPERVISOR", "off");
        }
        let lambda = Lambda::start(config).await?;
        let first = lambda.invoke(noop(&stack, "Custom::Bench")).await?;
        answered(&first, "supervisor: cold no-op")?;
        let init = ms(first
            .cold_init
            .context("the first invocation reports its init")?);
        let warm = lambda.invoke(noop(&stack, "Custom::Bench")).await?;
        answered(&warm, "supervisor: warm no-op")?;
        let pss = warm.pss_kib.unwrap_or_default();
        if on {
            cost.init_on_ms.push(init);
            cost.path_on_ms.push(ms(first.duration));
            cost.pss_on_kib = cost.pss_on_kib.max(pss);
        } else {
            cost.init_off_ms.push(init);
            cost.path_off_ms.push(ms(first.duration));
            cost.pss_off_kib = cost.pss_off_kib.max(pss);
        }
    }
    Ok(cost)
}

/// http-resource's typical Create, cold then warm, with the confirmation on and off, `runs`
/// times each, alternating which goes first.
async fn confirmation(args: &Args, env: &Env) -> anyhow::Result<Confirmation> {
    let binary = args.release.join("http-resource");
    let (mut cold_on, mut cold_off, mut warm_on, mut warm_off) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..args.runs {
        let order = if run % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for on in order {
            let http = ResponseServer::start().await?;
            let mut config = config(binary.clone(), &http, env);
            if !on {
                config = config.env("STACKWRIGHT_CONFIRM", "off");
            }
            let lambda = Lambda::start(config).await?;
            let stack = Stack::new("stackwright-bench", &http);
            let (properties, _) = typical_create("http-resource", env, run);
            let cold = lambda
                .invoke(stack.create("Cold", "Custom::HttpResource", properties.clone()))
                .await?;
            answered(&cold, "confirmation: cold Create")?;
            let warm = lambda
                .invoke(stack.create("Warm", "Custom::HttpResource", properties))
                .await?;
            answered(&warm, "confirmation: warm Create")?;
            let calls = lambda.cloudformation().calls().len();
            if (calls > 0) != on {
                bail!("confirmation {on}: the function made {calls} CloudFormation calls");
            }
            let (cold_v, warm_v) = if on {
                (&mut cold_on, &mut warm_on)
            } else {
                (&mut cold_off, &mut warm_off)
            };
            cold_v.push(ms(cold.duration));
            warm_v.push(ms(warm.duration));
        }
    }
    Ok(Confirmation {
        what: "http-resource: a typical Create (an object on a local REST API)".into(),
        cold_difference_ms: median(&cold_on) - median(&cold_off),
        warm_difference_ms: median(&warm_on) - median(&warm_off),
        cold_on_ms: cold_on,
        cold_off_ms: cold_off,
        warm_on_ms: warm_on,
        warm_off_ms: warm_off,
    })
}

fn print(report: &Report) {
    println!(
        "\nstackwright benchmarks, {} on {}, median of {} runs\n",
        report.date, report.machine, report.runs
    );
    let bare = &report.bare_lambda;
    let mb = |b: u64| b as f64 / 1_000_000.0;
    println!(
        "| function | arm64 zip (≤ 4 MB) | x86_64 binary | cold init (≤ 2× bare) | cold path: HTTPS (≤ 20 ms) / plain HTTP | no-op Delete: time / peak RSS (≤ 16 MB) | typical Create: time / peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| bare lambda_runtime | — | {:.1} MB | {:.1} ms (1×) | — | — | — |",
        mb(bare.binary_x86_64_bytes),
        bare.cold_init_median_ms,
    );
    for f in &report.functions {
        let zip = f.zip_arm64_bytes.map_or_else(
            || "n/a (run `make sam-build`)".to_owned(),
            |z| format!("{:.1} MB{}", mb(z), mark(z <= 4_000_000)),
        );
        println!(
            "| {} | {zip} | {:.1} MB | {:.1} ms ({:.1}×){} | {:.1} ms{} / {:.1} ms | {:.2} ms / {:.1} MB{} | {:.0} ms / {:.1} MB{} ({}) |",
            f.function,
            mb(f.binary_x86_64_bytes),
            f.cold_init_median_ms,
            f.cold_init_ratio_to_bare,
            mark(f.cold_init_ratio_to_bare <= 2.0),
            f.cold_path_https_median_ms,
            mark(f.cold_path_https_median_ms <= 20.0),
            f.cold_path_http_median_ms,
            f.noop_handling_median_ms,
            f.noop_peak_rss_kib as f64 / 1024.0,
            mark(f.noop_peak_rss_kib <= 16 * 1024),
            f.create_handling_ms,
            f.create_peak_rss_kib as f64 / 1024.0,
            mark(f.create_peak_rss_kib <= 16 * 1024),
            f.create,
        );
    }
    println!(
        "\nbare lambda_runtime: {} cold starts between the functions' (`bare-lambda`, same release profile); \
         its first answer (no `ResponseURL` PUT) {:.1} ms",
        bare.cold_init_ms.len(),
        bare.cold_path_median_ms,
    );

    println!(
        "\nFirst Secrets Manager call over HTTPS, cold (moto behind TLS, the test CA in `SSL_CERT_FILE`):\n\
         process start to the call's connection / to the answer of the first request\n"
    );
    println!(
        "| binary: first request | system store readable (`SSL_CERT_DIR={SYSTEM_STORE}`) | not (`SSL_CERT_DIR` empty) | difference (≤ 2 ms) | no `SSL_CERT_*`, plain HTTP |"
    );
    println!("|---|---|---|---|---|");
    let rows = report
        .functions
        .iter()
        .map(|f| (f.function.as_str(), &f.first_https_call, true))
        .chain(
            report
                .probes
                .iter()
                .map(|p| ("sdk-roots-probe", &p.first_https_call, p.client == "shared")),
        );
    let pair = |v: &Variant| {
        format!(
            "{:.1} ms / {:.1} ms",
            v.connect_median_ms, v.answer_median_ms
        )
    };
    for (name, r, ours) in rows {
        let what = r.what.strip_prefix("sdk-roots-probe, ").unwrap_or(&r.what);
        println!(
            "| {name}: {what} | {} | {} | {:+.1} ms{} / {:+.1} ms | {} |",
            pair(&r.system_store),
            pair(&r.empty_dir),
            r.connect_difference_ms,
            if ours {
                mark(r.connect_difference_ms <= 2.0)
            } else {
                " (control)"
            },
            r.answer_difference_ms,
            r.unset_http.as_ref().map_or_else(|| "—".to_owned(), pair),
        );
    }
    if let Some(m) = &report.migrations {
        println!(
            "\n{} migrations: db-migration {:.0} ms, psql {:.0} ms: {:.2}× psql (≤ 1.3×){}",
            m.count,
            m.function_ms,
            m.psql_ms,
            m.ratio,
            mark(m.ratio <= 1.3)
        );
    }
    print_supervisor(&report.supervisor, report.bare_lambda.cold_init_median_ms);
    let c = &report.confirmation;
    println!(
        "\nAsking CloudFormation before acting ({}), median: cold {:.1} ms with / {:.1} ms without \
         (+{:.1} ms), warm {:.1} ms / {:.1} ms (+{:.1} ms); on AWS add a round trip to the \
         regional endpoint",
        c.what,
        median(&c.cold_on_ms),
        median(&c.cold_off_ms),
        c.cold_difference_ms,
        median(&c.warm_on_ms),
        median(&c.warm_off_ms),
        c.warm_difference_ms,
    );
}

/// The supervisor's table: its cost against `bare_init_ms`, the bare binary's cold init.
fn print_supervisor(supervisor: &[SupervisorCost], bare_init_ms: f64) {
    println!(
        "\nThe supervising bootstrap (a worker process per sandbox), median of cold no-op starts \
         with / without (`STACKWRIGHT_SUPERVISOR=off`):\n"
    );
    println!(
        "| function | cold init (≤ 2× bare) | cold path (≤ +3 ms) | PSS after a warm no-op, both processes (≤ +2 MB) |"
    );
    println!("|---|---|---|---|");
    for s in supervisor {
        let (init_on, init_off) = (median(&s.init_on_ms), median(&s.init_off_ms));
        let (path_on, path_off) = (median(&s.path_on_ms), median(&s.path_off_ms));
        let ratio = init_on / bare_init_ms;
        let grown = s.pss_on_kib as f64 / 1024.0 - s.pss_off_kib as f64 / 1024.0;
        println!(
            "| {} | {init_on:.1} / {init_off:.1} ms ({ratio:.1}× bare){} | {path_on:.1} / {path_off:.1} ms (+{:.1} ms){} | {:.1} / {:.1} MB (+{grown:.1} MB){} |",
            s.function,
            mark(ratio <= 2.0),
            path_on - path_off,
            mark(path_on - path_off <= 3.0),
            s.pss_on_kib as f64 / 1024.0,
            s.pss_off_kib as f64 / 1024.0,
            mark(grown <= 2.0),
        );
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} × {cpu}")
}

/// `--only supervisor`: the supervisor's table alone, against the bare binary's cold init.
async fn only_supervisor(args: &Args, env: &Env, bare: &Path) -> anyhow::Result<()> {
    let http = ResponseServer::start().await?;
    let stack = Stack::new("stackwright-bench", &http);
    let mut inits = Vec::new();
    for _ in 0..args.runs {
        let start = cold_start(
            config(bare.to_path_buf(), &http, env),
            noop(&stack, "Custom::Bench"),
            Expect::Runtime,
            "bare lambda_runtime",
            None,
        )
        .await?;
        inits.push(start.init);
    }
    let mut supervisor = Vec::new();
    for (function, _) in FUNCTIONS {
        eprintln!("measuring the supervisor of {function} …");
        supervisor.push(supervisor_cost(function, args, env).await?);
    }
    print_supervisor(&supervisor, median(&inits));
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let moto = Moto::start().await?;
    // The harness's one Secrets Manager client.
    let secrets = moto.secrets_manager();
    let secret = secrets.call(
        "CreateSecret",
        &json!({"Name": format!("bench/db-{}", uuid::Uuid::new_v4()), "SecretString": json!({
            "engine": "postgres", "host": "127.0.0.1", "port": 5432, "username": "postgres", "password": "", "dbname": "postgres"}).to_string()}),
    )
    .await?;
    let token = secrets
        .call(
            "CreateSecret",
            &json!({"Name": format!("bench/token-{}", uuid::Uuid::new_v4()),
               "SecretString": json!({"token": "bench-token"}).to_string()}),
        )
        .await?;
    // A port nothing listens on: bound, then released.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let closed = secrets.call(
        "CreateSecret",
        &json!({"Name": format!("bench/closed-{}", uuid::Uuid::new_v4()), "SecretString": json!({
            "engine": "postgres", "host": "127.0.0.1", "port": closed_port, "username": "postgres", "password": "", "dbname": "postgres"}).to_string()}),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(stage_runner::standin::serve(listener, None));
    let ca = Arc::new(TestCa::new()?);
    let arn = |v: &Value| -> anyhow::Result<String> {
        Ok(v["ARN"].as_str().context("moto gave no ARN")?.to_owned())
    };
    let env = Env {
        secret_arn: arn(&secret)?,
        token_arn: arn(&token)?,
        closed_port_arn: arn(&closed)?,
        front: TlsFront::start(&ca, moto.endpoint()).await?,
        empty_dir: tempfile::tempdir()?,
        moto,
        api_url,
    };
    let bare = args.release.join(BARE);
    if args.only.is_some() {
        return only_supervisor(&args, &env, &bare).await;
    }
    let bare_size = std::fs::metadata(&bare)
        .with_context(|| {
            format!(
                "{} (build it with `cargo build --release --bins`)",
                bare.display()
            )
        })?
        .len();
    let mut bare_starts = Variant::default();
    let mut functions = Vec::new();
    for (function, logical) in FUNCTIONS {
        eprintln!("measuring {function} …");
        functions.push(measure(function, logical, &args, &env, &ca, &mut bare_starts).await?);
    }
    let bare_lambda = Bare {
        binary_x86_64_bytes: bare_size,
        cold_init_median_ms: median(&bare_starts.init_ms),
        cold_init_ms: bare_starts.init_ms,
        cold_path_median_ms: median(&bare_starts.answer_ms),
    };
    for f in &mut functions {
        f.cold_init_ratio_to_bare = f.cold_init_median_ms / bare_lambda.cold_init_median_ms;
    }
    let mut probes = Vec::new();
    for client in ["default", "shared"] {
        eprintln!("measuring sdk-roots-probe with the {client} client …");
        probes.push(probe(&args, &env, &ca, client).await?);
    }
    eprintln!("measuring 200 migrations …");
    let migrations = match migrations(&args, &env).await {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("migrations: {e:#}");
            None
        }
    };
    let mut supervisor = Vec::new();
    for (function, _) in FUNCTIONS {
        eprintln!("measuring the supervisor of {function} …");
        supervisor.push(supervisor_cost(function, &args, &env).await?);
    }
    eprintln!("measuring the confirmation call …");
    let confirmation = confirmation(&args, &env).await?;
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let report = Report {
        date,
        machine: machine(),
        runs: args.runs,
        bare_lambda,
        functions,
        probes,
        migrations,
        confirmation,
        supervisor,
    };
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    print(&report);
    println!("\n(figures also in {})", args.out.display());
    Ok(())
}
