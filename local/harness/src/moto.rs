//! moto's Secrets Manager (and the rest of its AWS stand-ins) on a free loopback port.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::{Error, SecretsManager};

/// A `moto_server` process, killed when dropped. Point a function's AWS SDK at it with
/// [`Moto::env`] (the SDK's own `AWS_ENDPOINT_URL` variable and dummy credentials), and
/// prepare or inspect its secrets with [`Moto::secrets_manager`].
pub struct Moto {
    _child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it accepts connections.
    ///
    /// The executable is `$MOTO_SERVER`, else the project's `.venv/bin/moto_server`
    /// (`make tools` installs it), else `moto_server` on `PATH`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be started or does not listen within 30 seconds.
    pub async fn start() -> Result<Self, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(Error::io("finding a free port for moto"))?
            .port();
        let program = executable();
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::io(format!(
                "starting `{}` (run `make tools` to install moto into .venv)",
                program.display()
            )))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Self {
                    _child: child,
                    endpoint,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Io {
                    context: format!("`{}` exited with {status}", program.display()),
                    source: std::io::Error::other("moto_server stopped"),
                });
            }
            if tokio::time::Instant::now() >= until {
                return Err(Error::Io {
                    context: format!("moto on port {port}"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "not listening after 30 s",
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A Secrets Manager client for this moto, in us-east-1 (the region of [`Moto::env`]).
    pub fn secrets_manager(&self) -> SecretsManager {
        SecretsManager::new(&self.endpoint)
    }

    /// The variables a function (or an SDK client in a test) needs to reach this moto:
    /// `AWS_ENDPOINT_URL`, dummy credentials, and a region.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}

fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = crate::workspace_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("moto_server")
}
