//! The Lambda Runtime API (2018-06-01) for one sandbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::lambda::LambdaResult;

struct Pending {
    request_id: String,
    deadline_ms: u64,
    body: Vec<u8>,
}

struct Inner {
    queue_tx: mpsc::UnboundedSender<Pending>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<LambdaResult>>>,
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
    function_arn: String,
}

/// One sandbox's Runtime API on 127.0.0.1. A function started with
/// `AWS_LAMBDA_RUNTIME_API=`[`RuntimeApi::address`] polls it for events.
pub struct RuntimeApi {
    address: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Starts the API on a free port.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no port can be bound.
    pub async fn start(function_arn: &str) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("binding the Runtime API"))?;
        let address = listener
            .local_addr()
            .map_err(Error::io("reading the bound port"))?
            .to_string();
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            queue_tx,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            waiting: Mutex::new(HashMap::new()),
            first_next: Mutex::new(None),
            init_error: Mutex::new(None),
            function_arn: function_arn.to_owned(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&inner));
        let task = tokio::spawn(serve_loop(listener, app, None));
        Ok(Self {
            address,
            inner,
            task,
        })
    }

    /// `127.0.0.1:<port>`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queues an event; the receiver yields what the function reported for it.
    pub fn dispatch(
        &self,
        request_id: &str,
        body: Vec<u8>,
        deadline: SystemTime,
    ) -> oneshot::Receiver<LambdaResult> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiting) = self.inner.waiting.lock() {
            waiting.insert(request_id.to_owned(), tx);
        }
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let _ = self.inner.queue_tx.send(Pending {
            request_id: request_id.to_owned(),
            deadline_ms,
            body,
        });
        rx
    }

    /// When the function first asked for an event: the end of its init.
    pub fn first_next(&self) -> Option<Instant> {
        self.inner.first_next.lock().ok().and_then(|t| *t)
    }

    /// What the function reported to `/runtime/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.inner.init_error.lock().ok().and_then(|e| e.clone())
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    if let Ok(mut first) = inner.first_next.lock() {
        first.get_or_insert_with(Instant::now);
    }
    let pending = inner.queue_rx.lock().await.recv().await;
    let Some(pending) = pending else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", pending.request_id.clone());
    set(
        "lambda-runtime-deadline-ms",
        pending.deadline_ms.to_string(),
    );
    set(
        "lambda-runtime-invoked-function-arn",
        inner.function_arn.clone(),
    );
    set(
        "lambda-runtime-trace-id",
        format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            fastrand::u32(..),
            fastrand::u128(..) >> 32,
            fastrand::u64(..)
        ),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, pending.body).into_response()
}

fn finish(inner: &Inner, id: &str, result: LambdaResult) -> StatusCode {
    let waiter = inner.waiting.lock().ok().and_then(|mut w| w.remove(id));
    match waiter {
        Some(tx) => {
            let _ = tx.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    finish(&inner, &id, LambdaResult::Response(value))
}

async fn error(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    finish(
        &inner,
        &id,
        LambdaResult::Error {
            error_type: text("errorType"),
            error_message: text("errorMessage"),
        },
    )
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    if let Ok(mut e) = inner.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    StatusCode::ACCEPTED
}

/// Serves `app` on `listener`, over TLS when an acceptor is given, one task per connection.
pub(crate) async fn serve_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // As S3 does: without it, Nagle's algorithm holds the server's TLS handshake flight
        // for the client's delayed ACK (about 40 ms), a stall no real ResponseURL has.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(app);
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                }
            }
        });
    }
}
