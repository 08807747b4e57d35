//! `make bench`: what each function costs, measured under the harness on this machine.
//!
//! - package: the arm64 `bootstrap` as `sam build` made it, zipped; the x86_64 release binary;
//! - cold init: process start to its first `invocation/next` (median of `--runs` starts);
//! - cold path: init plus the first invocation, answered over HTTPS to a local CA trusted
//!   through `SSL_CERT_FILE`; and the same over plain HTTP without `SSL_CERT_FILE`, where the
//!   AWS SDK loads the machine's whole root store at init, as it does on Lambda;
//! - handling time and peak RSS: a Delete of a failed Create (no I/O), and a typical Create;
//! - migrations: 200 small migrations through db-migration against psql running the same SQL.
//!
//! Targets are printed beside the figures, not enforced: machines are noisy.

#![allow(clippy::print_stdout)] // a report printer

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::{Invocation, Lambda, LambdaConfig, Moto, ResponseServer, Stack, TestCa};
use serde::Serialize;
use serde_json::{Value, json};

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
}

#[derive(Debug, Serialize)]
struct Migrations {
    count: usize,
    function_ms: f64,
    psql_ms: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    date: String,
    machine: String,
    runs: usize,
    functions: Vec<Figures>,
    migrations: Option<Migrations>,
}

struct Args {
    release: PathBuf,
    featured: PathBuf,
    sam: PathBuf,
    out: PathBuf,
    runs: usize,
}

fn args() -> anyhow::Result<Args> {
    let root = harness::workspace_root();
    let mut args = Args {
        release: root.join("target/release"),
        featured: root.join("target/bench/release"),
        sam: root.join(".aws-sam/build"),
        out: root.join("target/bench/bench.json"),
        runs: 10,
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
}

async fn moto_call(endpoint: &str, operation: &str, body: Value) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("X-Amz-Target", format!("secretsmanager.{operation}"))
        .header("Content-Type", "application/x-amz-json-1.1")
        // moto routes by the credential scope's service; without it the call lands in S3.
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=local/20261126/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await?;
    if !status.is_success() {
        bail!("moto {operation}: {status} {value}");
    }
    Ok(value)
}

fn config(binary: PathBuf, responses: &ResponseServer, env: &Env) -> LambdaConfig {
    let mut config = LambdaConfig::new(binary)
        .responses(responses)
        .timeout(Duration::from_secs(60));
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

async fn measure(
    function: &str,
    logical: &str,
    args: &Args,
    env: &Env,
    ca: &Arc<TestCa>,
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

    // Cold starts over HTTPS and over plain HTTP (to tell TLS's share), interleaved so that
    // neither gets the machine's quieter moments: a new sandbox each time.
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
            paths.push(ms(init + first.duration));
        } else {
            plain_inits.push(ms(init));
            plain.push(ms(init + first.duration));
        }
    }

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

fn print(report: &Report) {
    println!(
        "\nstackwright benchmarks, {} on {}, median of {} runs\n",
        report.date, report.machine, report.runs
    );
    println!(
        "| function | arm64 zip (≤ 4 MB) | x86_64 binary | cold init (≤ 15 ms) | cold path, HTTPS (≤ 20 ms) | init / path with the system root store, HTTP | no-op Delete: time / peak RSS (≤ 16 MB) | typical Create: time / peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in &report.functions {
        let mb = |b: u64| b as f64 / 1_000_000.0;
        let zip = f.zip_arm64_bytes.map_or_else(
            || "n/a (run `make sam-build`)".to_owned(),
            |z| format!("{:.1} MB{}", mb(z), mark(z <= 4_000_000)),
        );
        println!(
            "| {} | {zip} | {:.1} MB | {:.1} ms{} | {:.1} ms{} | {:.1} ms / {:.1} ms | {:.2} ms / {:.1} MB{} | {:.0} ms / {:.1} MB{} ({}) |",
            f.function,
            mb(f.binary_x86_64_bytes),
            f.cold_init_median_ms,
            mark(f.cold_init_median_ms <= 15.0),
            f.cold_path_https_median_ms,
            mark(f.cold_path_https_median_ms <= 20.0),
            f.cold_init_http_median_ms,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let moto = Moto::start().await?;
    let secret = moto_call(
        moto.endpoint(),
        "CreateSecret",
        json!({"Name": format!("bench/db-{}", uuid::Uuid::new_v4()), "SecretString": json!({
            "engine": "postgres", "host": "127.0.0.1", "port": 5432, "username": "postgres", "password": "", "dbname": "postgres"}).to_string()}),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(stage_runner::standin::serve(listener, None));
    let env = Env {
        secret_arn: secret["ARN"]
            .as_str()
            .context("moto gave no ARN")?
            .to_owned(),
        moto,
        api_url,
    };
    let ca = Arc::new(TestCa::new()?);
    let mut functions = Vec::new();
    for (function, logical) in FUNCTIONS {
        eprintln!("measuring {function} …");
        functions.push(measure(function, logical, &args, &env, &ca).await?);
    }
    eprintln!("measuring 200 migrations …");
    let migrations = match migrations(&args, &env).await {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("migrations: {e:#}");
            None
        }
    };
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let report = Report {
        date,
        machine: machine(),
        runs: args.runs,
        functions,
        migrations,
    };
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)?)?;
    print(&report);
    println!("\n(figures also in {})", args.out.display());
    Ok(())
}
