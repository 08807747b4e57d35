//! The `ResponseURL` side of CloudFormation: records every PUT.

use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::{Error, TestCa};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedPut {
    /// Order of arrival across the server.
    pub seq: u64,
    /// The HTTP method (CloudFormation expects PUT).
    pub method: String,
    /// The path, which ends with the request id.
    pub path: String,
    /// The query string as received.
    pub query: String,
    /// Every header, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, exactly as sent (chunked bodies already joined).
    pub body: Vec<u8>,
    /// The status the server answered with.
    pub answered: u16,
}

impl RecordedPut {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

struct Inner {
    puts: Mutex<Vec<RecordedPut>>,
    fail_next: AtomicU32,
    refuse_with: AtomicU16,
    seq: AtomicU64,
    arrived: Notify,
}

/// A `ResponseURL` server on 127.0.0.1, over HTTP or HTTPS. Cheap to clone; stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct ResponseServer {
    inner: Arc<Inner>,
    base: String,
    signature: String,
    ca: Option<Arc<TestCa>>,
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ResponseServer {
    /// Starts a plain-HTTP server on a free port.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no port can be bound.
    pub async fn start() -> Result<Self, Error> {
        Self::serve(None).await
    }

    /// Starts an HTTPS server whose certificate `ca` signed; functions trust it through
    /// `SSL_CERT_FILE` (see [`ResponseServer::ca_file`]).
    ///
    /// # Errors
    ///
    /// As [`ResponseServer::start`].
    pub async fn start_https(ca: Arc<TestCa>) -> Result<Self, Error> {
        Self::serve(Some(ca)).await
    }

    async fn serve(ca: Option<Arc<TestCa>>) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("binding the ResponseURL server"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("reading the bound port"))?
            .port();
        let inner = Arc::new(Inner {
            puts: Mutex::new(Vec::new()),
            fail_next: AtomicU32::new(0),
            refuse_with: AtomicU16::new(0),
            seq: AtomicU64::new(0),
            arrived: Notify::new(),
        });
        let app = Router::new()
            .fallback(record)
            .with_state(Arc::clone(&inner));
        let acceptor = ca
            .as_ref()
            .map(|ca| tokio_rustls::TlsAcceptor::from(ca.server_config()));
        let base = match ca {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let task = tokio::spawn(crate::runtime_api::serve_loop(listener, app, acceptor));
        let signature: String = (0..32)
            .map(|_| format!("{:02x}", fastrand::u8(..)))
            .collect();
        Ok(Self {
            inner,
            base,
            signature,
            ca,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// A presigned-looking `ResponseURL` for `request_id`. Its query string carries
    /// [`ResponseServer::signature`], which must never appear in a log.
    pub fn url_for(&self, request_id: &str) -> String {
        format!(
            "{}/cloudformation-responses/{request_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAHARNESS%2F20261126%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261126T000000Z&X-Amz-Expires=7200&X-Amz-SignedHeaders=host&X-Amz-Signature={}",
            self.base, self.signature
        )
    }

    /// The secret part of every URL's query string.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// `http://127.0.0.1:<port>` or `https://localhost:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The CA file functions must trust, when serving HTTPS.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref().map(TestCa::ca_file)
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: u32) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answers every PUT from now on with `status` (an expired or forged URL gets 403 from
    /// S3); 0 goes back to answering 200.
    pub fn refuse_with(&self, status: u16) {
        self.inner.refuse_with.store(status, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn puts(&self) -> Vec<RecordedPut> {
        self.inner
            .puts
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// The requests for `request_id`'s URL.
    pub fn puts_for(&self, request_id: &str) -> Vec<RecordedPut> {
        let suffix = format!("/{request_id}");
        self.puts()
            .into_iter()
            .filter(|p| p.path.ends_with(&suffix))
            .collect()
    }

    /// Waits until at least `n` requests arrived for `request_id`, or `timeout` passed.
    pub async fn wait_for(
        &self,
        request_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<RecordedPut> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            let puts = self.puts_for(request_id);
            if puts.len() >= n || tokio::time::Instant::now() >= until {
                return puts;
            }
            let _ = tokio::time::timeout_at(until, notified).await;
        }
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let fail = inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let refused = StatusCode::from_u16(inner.refuse_with.load(Ordering::SeqCst)).ok();
    let status = match refused {
        Some(status) if !fail => status,
        _ if fail => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::OK,
    };
    let put = RecordedPut {
        seq: inner.seq.fetch_add(1, Ordering::SeqCst),
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        answered: status.as_u16(),
    };
    if let Ok(mut puts) = inner.puts.lock() {
        puts.push(put);
    }
    inner.arrived.notify_waiters();
    status
}
