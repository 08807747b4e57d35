//! The HTTP resource's remote API, stood in locally: a small JSON REST store.
//!
//! `POST /<collection>` creates an object (201, with `id` in the body and a `Location`
//! header); `GET`, `PUT`, `PATCH` and `DELETE /<collection>/<id>` do what they say (404 when
//! there is no such object); `GET /<collection>` lists. Objects persist to a JSON file, so the
//! stand-in keeps its state across restarts like a real remote service.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};
use tokio::net::TcpListener;

type Store = BTreeMap<String, BTreeMap<String, Value>>;

struct Api {
    store: Mutex<Store>,
    file: Option<PathBuf>,
}

impl Api {
    fn save(&self, store: &Store) {
        if let Some(file) = &self.file
            && let Ok(text) = serde_json::to_string_pretty(store)
        {
            let _ = std::fs::write(file, text);
        }
    }
}

/// Serves the stand-in on `listener` until the task is dropped, persisting to `file`.
///
/// # Errors
///
/// When serving fails.
pub async fn serve(listener: TcpListener, file: Option<PathBuf>) -> std::io::Result<()> {
    let store: Store = file
        .as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let api = Arc::new(Api {
        store: Mutex::new(store),
        file,
    });
    let app = Router::new()
        .route("/{collection}", get(list).post(create))
        .route(
            "/{collection}/{id}",
            get(read).put(replace).patch(patch).delete(remove),
        )
        .with_state(api);
    axum::serve(listener, app).await
}

fn json(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn body_object(body: &Bytes) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn not_an_object() -> Response {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({"error": "expected a JSON object"}),
    )
}

async fn list(State(api): State<Arc<Api>>, Path(collection): Path<String>) -> Response {
    let store = api.store.lock().map(|s| s.clone()).unwrap_or_default();
    let items: Vec<Value> = store
        .get(&collection)
        .map(|c| c.values().cloned().collect())
        .unwrap_or_default();
    json(StatusCode::OK, &Value::Array(items))
}

async fn create(
    State(api): State<Arc<Api>>,
    Path(collection): Path<String>,
    body: Bytes,
) -> Response {
    let Some(mut object) = body_object(&body) else {
        return not_an_object();
    };
    let id = format!("{:012x}", uuid::Uuid::new_v4().as_u128() >> 80);
    object.insert("id".into(), Value::String(id.clone()));
    let value = Value::Object(object);
    let Ok(mut store) = api.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    store
        .entry(collection.clone())
        .or_default()
        .insert(id.clone(), value.clone());
    api.save(&store);
    let mut response = json(StatusCode::CREATED, &value);
    if let Ok(location) = HeaderValue::from_str(&format!("/{collection}/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

async fn read(
    State(api): State<Arc<Api>>,
    Path((collection, id)): Path<(String, String)>,
) -> Response {
    let found = api
        .store
        .lock()
        .ok()
        .and_then(|s| s.get(&collection).and_then(|c| c.get(&id)).cloned());
    match found {
        Some(v) => json(StatusCode::OK, &v),
        None => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        ),
    }
}

async fn change(api: &Api, collection: &str, id: &str, body: &Bytes, merge: bool) -> Response {
    let Some(incoming) = body_object(body) else {
        return not_an_object();
    };
    let Ok(mut store) = api.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Some(existing) = store.get_mut(collection).and_then(|c| c.get_mut(id)) else {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        );
    };
    let mut object = if merge {
        existing.as_object().cloned().unwrap_or_default()
    } else {
        Map::new()
    };
    object.extend(incoming);
    object.insert("id".into(), Value::String(id.to_owned()));
    *existing = Value::Object(object);
    let value = existing.clone();
    api.save(&store);
    json(StatusCode::OK, &value)
}

async fn replace(
    State(api): State<Arc<Api>>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change(&api, &collection, &id, &body, false).await
}

async fn patch(
    State(api): State<Arc<Api>>,
    Path((collection, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    change(&api, &collection, &id, &body, true).await
}

async fn remove(
    State(api): State<Arc<Api>>,
    Path((collection, id)): Path<(String, String)>,
    _headers: HeaderMap,
) -> Response {
    let Ok(mut store) = api.store.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let removed = store
        .get_mut(&collection)
        .and_then(|c| c.remove(&id))
        .is_some();
    api.save(&store);
    if removed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        )
    }
}
