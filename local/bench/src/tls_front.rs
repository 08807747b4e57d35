//! A front for moto: HTTPS on loopback with the harness's test CA (and a plain-HTTP twin),
//! each connection passed through to moto's port, so a function's first AWS call is a real
//! HTTPS call; and the moment each connection arrived, which is when the caller's client was
//! ready to make its first call.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use harness::TestCa;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The front, listening until dropped.
pub struct TlsFront {
    https: String,
    http: String,
    accepted: Arc<Mutex<Vec<Instant>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TlsFront {
    /// Listens on two free loopback ports, one with `ca`'s server certificate and one in plain
    /// HTTP, and forwards every connection to `upstream` (`http://127.0.0.1:<port>`).
    pub async fn start(ca: &TestCa, upstream: &str) -> anyhow::Result<Self> {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("moto's endpoint `{upstream}` is not http://<ip>:<port>"))?;
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let secure = TcpListener::bind("127.0.0.1:0").await?;
        let plain = TcpListener::bind("127.0.0.1:0").await?;
        let https = format!("https://{}", secure.local_addr()?);
        let http = format!("http://{}", plain.local_addr()?);
        let tasks = vec![
            tokio::spawn(serve(
                secure,
                Some(TlsAcceptor::from(ca.server_config())),
                upstream,
                Arc::clone(&accepted),
            )),
            tokio::spawn(serve(plain, None, upstream, Arc::clone(&accepted))),
        ];
        Ok(Self {
            https,
            http,
            accepted,
            tasks,
        })
    }

    /// `https://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn https(&self) -> &str {
        &self.https
    }

    /// `http://127.0.0.1:<port>`: the same without TLS.
    pub fn http(&self) -> &str {
        &self.http
    }

    /// When the first connection at or after `since` arrived (on either port).
    pub fn first_connection_since(&self, since: Instant) -> Option<Instant> {
        self.accepted
            .lock()
            .ok()?
            .iter()
            .filter(|t| **t >= since)
            .min()
            .copied()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    upstream: SocketAddr,
    accepted: Arc<Mutex<Vec<Instant>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let now = Instant::now();
        if let Ok(mut accepted) = accepted.lock() {
            accepted.push(now);
        }
        let tls = tls.clone();
        tokio::spawn(async move {
            // Nagle off on both legs, or small requests would wait for delayed ACKs.
            let _ = client.set_nodelay(true);
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(client).await {
                        pass(stream, upstream).await;
                    }
                }
                None => pass(client, upstream).await,
            }
        });
    }
}

/// Bytes both ways between `client` and `upstream` until either side closes.
async fn pass(mut client: impl AsyncRead + AsyncWrite + Unpin, upstream: SocketAddr) {
    let Ok(mut moto) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = moto.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut moto).await;
}
