//! The services a stage needs on loopback, started once and reused by later runs: moto's
//! Secrets Manager, PostgreSQL, and the HTTP resource's stand-in API.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// Where things are.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project root (for `.venv/bin/moto_server`).
    pub root: PathBuf,
    /// Where pid/port files, logs and the throwaway PostgreSQL cluster live (git-ignored).
    pub dir: PathBuf,
    /// The `stackwright` binary, which serves the stand-in API.
    pub exe: PathBuf,
}

/// The running services.
#[derive(Debug, Clone)]
pub struct Services {
    /// moto's endpoint.
    pub moto_endpoint: String,
    /// PostgreSQL host.
    pub postgres_host: String,
    /// PostgreSQL port.
    pub postgres_port: u16,
    /// PostgreSQL user (trust authentication; no password).
    pub postgres_user: String,
    /// The stand-in API's base URL.
    pub api_url: String,
}

impl Services {
    /// The `${local:NAME}` values for the overrides file.
    pub fn placeholders(&self, stack: &str, stage: &str) -> BTreeMap<String, String> {
        [
            ("moto.endpoint", self.moto_endpoint.clone()),
            ("postgres.host", self.postgres_host.clone()),
            ("postgres.port", self.postgres_port.to_string()),
            ("postgres.user", self.postgres_user.clone()),
            ("postgres.password", String::new()),
            ("api.url", self.api_url.clone()),
            ("stack", stack.to_owned()),
            ("stage", stage.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The environment a function needs to reach moto with the real AWS SDK.
    pub fn aws_env(&self, region: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.moto_endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_REGION", region),
            ("AWS_DEFAULT_REGION", region),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

fn wait_listening(port: u16, what: &str, log: &Path) -> Result<(), Error> {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if listening(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::Service(format!(
        "{what} did not start listening on 127.0.0.1:{port} within 30 s; see `{}`",
        log.display()
    )))
}

fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Service(format!("no free port: {e}")))
}

/// Starts `program args` in a session of its own (so it outlives this process and the
/// terminal), output to `log`; returns its pid.
fn daemon(program: &Path, args: &[String], log: &Path) -> Result<u32, Error> {
    let file = std::fs::File::create(log)
        .map_err(|e| Error::Service(format!("cannot create `{}`: {e}", log.display())))?;
    let err = file
        .try_clone()
        .map_err(|e| Error::Service(e.to_string()))?;
    // A spawned child is never a process-group leader, so setsid(1) execs in place: the pid
    // is the daemon's.
    let child = Command::new("setsid")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::Service(format!("cannot start `{}`: {e}", program.display())))?;
    Ok(child.id())
}

/// Stops every service started under `dir` (the machine's own PostgreSQL is left alone; a
/// throwaway cluster is stopped).
pub fn stop(dir: &Path, out: &mut dyn Write) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid")
            && let Ok(pid) = std::fs::read_to_string(&path)
        {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stopped = Command::new("kill")
                .arg(pid.trim())
                .status()
                .is_ok_and(|s| s.success());
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("port"));
            if stopped {
                let _ = writeln!(out, "  {name}: stopped");
            }
        }
    }
    let data = dir.join("postgres");
    if data.join("postmaster.pid").is_file()
        && let Some(bin) = postgres_bin()
    {
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin.join("pg_ctl"));
            c
        } else {
            Command::new(bin.join("pg_ctl"))
        };
        if cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "stop"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            let _ = writeln!(out, "  postgres (throwaway): stopped");
        }
    }
}

fn read_port(file: &Path) -> Option<u16> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// A daemon recorded by its port file: reused when it still listens, started otherwise.
fn ensure_daemon(
    dir: &Path,
    name: &str,
    program: &Path,
    args: impl Fn(u16) -> Vec<String>,
    out: &mut dyn Write,
) -> Result<u16, Error> {
    let port_file = dir.join(format!("{name}.port"));
    if let Some(port) = read_port(&port_file)
        && listening(port)
    {
        let _ = writeln!(out, "  {name}: running on 127.0.0.1:{port}");
        return Ok(port);
    }
    let port = free_port()?;
    let log = dir.join(format!("{name}.log"));
    let pid = daemon(program, &args(port), &log)?;
    std::fs::write(dir.join(format!("{name}.pid")), pid.to_string())
        .map_err(|e| Error::Service(e.to_string()))?;
    wait_listening(port, name, &log)?;
    std::fs::write(&port_file, port.to_string()).map_err(|e| Error::Service(e.to_string()))?;
    let _ = writeln!(
        out,
        "  {name}: started on 127.0.0.1:{port} (log: {})",
        log.display()
    );
    Ok(port)
}

/// Makes sure every service runs, starting what does not.
///
/// # Errors
///
/// [`Error::Service`] saying what is missing and how to get it.
pub fn ensure(options: &Options, stage: &str, out: &mut dyn Write) -> Result<Services, Error> {
    std::fs::create_dir_all(&options.dir)
        .map_err(|e| Error::Service(format!("cannot create `{}`: {e}", options.dir.display())))?;
    let _ = writeln!(out, "Local services:");
    let moto = options.root.join(".venv/bin/moto_server");
    if !moto.is_file() {
        return Err(Error::Service(format!(
            "`{}` is missing: run `make tools` to install moto into the project's virtualenv",
            moto.display()
        )));
    }
    let moto_port = ensure_daemon(
        &options.dir,
        "moto",
        &moto,
        |p| vec!["-H".into(), "127.0.0.1".into(), "-p".into(), p.to_string()],
        out,
    )?;
    let (postgres_host, postgres_port) = ensure_postgres(options, out)?;
    let data = options.dir.join(format!("api-{stage}.json"));
    let api_port = ensure_daemon(
        &options.dir,
        &format!("api-{stage}"),
        &options.exe,
        |p| {
            vec![
                "local".into(),
                "serve-api".into(),
                "--port".into(),
                p.to_string(),
                "--data".into(),
                data.display().to_string(),
            ]
        },
        out,
    )?;
    Ok(Services {
        moto_endpoint: format!("http://127.0.0.1:{moto_port}"),
        postgres_host,
        postgres_port,
        postgres_user: "postgres".into(),
        api_url: format!("http://127.0.0.1:{api_port}"),
    })
}

/// The machine's PostgreSQL on 127.0.0.1:5432 when it answers (unless
/// `STACKWRIGHT_LOCAL_PG=throwaway`); otherwise a throwaway cluster under the services folder.
fn ensure_postgres(options: &Options, out: &mut dyn Write) -> Result<(String, u16), Error> {
    let forced = std::env::var("STACKWRIGHT_LOCAL_PG").is_ok_and(|v| v == "throwaway");
    if !forced && listening(5432) {
        let _ = writeln!(out, "  postgres: using the server on 127.0.0.1:5432");
        return Ok(("127.0.0.1".into(), 5432));
    }
    let port = 54329;
    if listening(port) {
        let _ = writeln!(
            out,
            "  postgres: throwaway cluster running on 127.0.0.1:{port}"
        );
        return Ok(("127.0.0.1".into(), port));
    }
    let Some(bin) = postgres_bin() else {
        return Err(Error::Service(
            "no PostgreSQL answers on 127.0.0.1:5432 and no `initdb` was found to make a throwaway \
            one: install PostgreSQL (Debian: `apt install postgresql`) or start yours on \
            127.0.0.1:5432 with trust authentication for user `postgres`".into(),
        ));
    };
    let data = options.dir.join("postgres");
    let sock = options.dir.join("postgres-sock");
    let log = options.dir.join("postgres.log");
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let run = |program: PathBuf, args: Vec<String>| -> Result<(), Error> {
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let status = cmd
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| Error::Service(format!("cannot run `{}`: {e}", program.display())))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Service(format!(
                "`{} {}` failed ({status})",
                program.display(),
                args.join(" ")
            )))
        }
    };
    for dir in [&data, &sock] {
        std::fs::create_dir_all(dir).map_err(|e| Error::Service(e.to_string()))?;
    }
    if as_root {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&data)
            .arg(&sock)
            .status();
        let _ = std::fs::File::create(&log);
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&log)
            .status();
    }
    if !data.join("PG_VERSION").is_file() {
        run(
            bin.join("initdb"),
            vec![
                "-D".into(),
                data.display().to_string(),
                "-U".into(),
                "postgres".into(),
                "--auth=trust".into(),
            ],
        )?;
    }
    run(
        bin.join("pg_ctl"),
        vec![
            "-D".into(),
            data.display().to_string(),
            "-o".into(),
            format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                sock.display()
            ),
            "-l".into(),
            log.display().to_string(),
            "-w".into(),
            "start".into(),
        ],
    )?;
    let _ = writeln!(
        out,
        "  postgres: started a throwaway cluster on 127.0.0.1:{port} ({})",
        data.display()
    );
    Ok(("127.0.0.1".into(), port))
}

fn postgres_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"));
    on_path
        .chain(debian)
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}
