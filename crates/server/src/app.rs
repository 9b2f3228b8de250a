//! The router, its shared state, the reading endpoints (`/api/view`, `/api/snapshot`), and
//! binding/serving with graceful shutdown.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use lilt_engine::{Checkpoint, LogStore, Snapshot};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{ServerConfig, ServerDeps, ServerError};
use crate::security::{guard, query_param, text};
use crate::{actions, assets, convert, logs, stream};
use lilt_model::rfc3339;

/// Everything a handler needs, shared by all requests and sockets.
pub(crate) struct AppState {
    pub config: ServerConfig,
    pub deps: ServerDeps,
    /// The serialized objects of the newest snapshot, computed once for all sockets.
    cache: Mutex<Option<Arc<Objects>>>,
    /// The newest complete View with logs, shared by every reader of the same state
    /// instead of one copy each (they are megabytes with a long log).
    complete: Mutex<Option<CompleteView>>,
    /// Open `/ws/view` sockets, against `config.limits.max_websockets`.
    websockets: AtomicUsize,
    /// Flips to true when the server shuts down, so WebSocket tasks end.
    pub shutdown: watch::Receiver<bool>,
    /// Keeps `shutdown` open for routers built by [`app`], which never shut down by themselves.
    _shutdown_sender: Option<watch::Sender<bool>>,
}

struct CompleteView {
    snapshot: Arc<Snapshot>,
    to: Checkpoint,
    json: Bytes,
}

/// A place among the open WebSockets, given back on drop.
pub(crate) struct WebSocketTicket {
    state: Arc<AppState>,
}

impl Drop for WebSocketTicket {
    fn drop(&mut self) {
        self.state.websockets.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One snapshot's View objects as JSON text, with a hash of each for delta detection.
pub(crate) struct Objects {
    pub snapshot: Arc<Snapshot>,
    pub tilt_start_time: String,
    pub session: Serialized,
    pub resources: Vec<(String, Serialized)>,
    pub buttons: Vec<(String, Serialized)>,
}

pub(crate) struct Serialized {
    pub json: String,
    pub hash: u64,
}

impl Serialized {
    fn of<T: serde::Serialize>(value: &T) -> Serialized {
        // The wire types hold only strings, numbers, maps and lists: this cannot fail.
        let json = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
        let mut hasher = DefaultHasher::new();
        json.hash(&mut hasher);
        Serialized {
            hash: hasher.finish(),
            json,
        }
    }
}

/// The dashboard's router: API, WebSocket, actions and assets, all behind the guards of
/// [`crate::security`].
pub fn app(config: ServerConfig, deps: ServerDeps) -> Router {
    let (sender, receiver) = watch::channel(false);
    router(AppState::new(config, deps, receiver, Some(sender)))
}

fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/api/view", get(view_handler))
        .route("/api/snapshot", get(snapshot_handler))
        .route("/api/logs", get(logs::logs_handler))
        .route("/api/logs/search", get(logs::search_handler))
        .route("/ws/view", get(stream::ws_handler))
        .route(
            "/api/trigger",
            post(actions::trigger).fallback(actions::must_post),
        )
        .route(
            "/api/override/trigger_mode",
            post(actions::override_trigger_mode).fallback(actions::must_post),
        )
        .route(
            "/api/tiltfile/cancel",
            post(actions::cancel_tiltfile_load).fallback(actions::must_post),
        )
        .route(
            "/api/set_tiltfile_args",
            post(actions::set_tiltfile_args).fallback(actions::must_post),
        )
        .route(
            "/proxy/apis/tilt.dev/v1alpha1/uibuttons/{name}/status",
            put(actions::click_button).fallback(actions::must_put),
        )
        .fallback(assets::serve_asset)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Binds `config.host:config.port` (`localhost` means 127.0.0.1).
pub async fn bind(config: &ServerConfig) -> Result<TcpListener, ServerError> {
    let host = if config.host.is_empty() || config.host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        config.host.as_str()
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    TcpListener::bind((host, config.port))
        .await
        .map_err(|source| ServerError::Bind {
            addr: format!("{}:{}", config.host, config.port),
            source,
        })
}

/// Serves the dashboard on `listener` until `shutdown` completes; then open WebSockets are
/// closed and in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    deps: ServerDeps,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (sender, receiver) = watch::channel(false);
    let limits = config.limits.clone();
    let router = router(AppState::new(config, deps, receiver, None));
    crate::conn::serve(listener, router, &limits, async move {
        shutdown.await;
        let _ = sender.send(true);
    })
    .await;
    Ok(())
}

impl AppState {
    fn new(
        config: ServerConfig,
        deps: ServerDeps,
        shutdown: watch::Receiver<bool>,
        sender: Option<watch::Sender<bool>>,
    ) -> AppState {
        AppState {
            config,
            deps,
            cache: Mutex::new(None),
            complete: Mutex::new(None),
            websockets: AtomicUsize::new(0),
            shutdown,
            _shutdown_sender: sender,
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.deps.snapshots.borrow().clone()
    }

    /// The serialized objects of the current snapshot (cached per snapshot).
    pub fn objects(&self) -> Arc<Objects> {
        let snap = self.snapshot();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(objs) = cache.as_ref()
            && Arc::ptr_eq(&objs.snapshot, &snap)
        {
            return objs.clone();
        }
        let objs = Arc::new(Objects::new(snap));
        *cache = Some(objs.clone());
        objs
    }

    /// A place for one more WebSocket, or `None` at the cap.
    pub fn websocket_ticket(self: &Arc<Self>) -> Option<WebSocketTicket> {
        let max = self.config.limits.max_websockets;
        self.websockets
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(WebSocketTicket {
            state: self.clone(),
        })
    }

    pub fn logs(&self) -> MutexGuard<'_, LogStore> {
        // A panic elsewhere while holding the lock leaves valid data: keep serving it.
        self.deps.logs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Objects {
    fn new(snapshot: Arc<Snapshot>) -> Objects {
        let resources = convert::resources(&snapshot)
            .iter()
            .map(|r| (r.metadata.name.clone(), Serialized::of(r)))
            .collect();
        let buttons = convert::buttons(&snapshot)
            .iter()
            .map(|b| (b.metadata.name.clone(), Serialized::of(b)))
            .collect();
        Objects {
            tilt_start_time: convert::tilt_start_time(&snapshot),
            session: Serialized::of(&convert::session(&snapshot)),
            resources,
            buttons,
            snapshot,
        }
    }
}

/// Assembles a View message from pre-serialized parts.
pub(crate) fn view_json<'a>(
    is_complete: bool,
    tilt_start_time: &str,
    session: Option<&str>,
    resources: impl Iterator<Item = &'a str>,
    buttons: impl Iterator<Item = &'a str>,
    log_list: Option<&str>,
) -> String {
    let mut out = String::with_capacity(4096 + log_list.map_or(0, str::len));
    out.push_str(r#"{"isComplete":"#);
    out.push_str(if is_complete { "true" } else { "false" });
    out.push_str(r#","tiltStartTime":""#);
    out.push_str(tilt_start_time);
    out.push('"');
    if let Some(session) = session {
        out.push_str(r#","uiSession":"#);
        out.push_str(session);
    }
    push_array(&mut out, "uiResources", resources);
    push_array(&mut out, "uiButtons", buttons);
    if let Some(log_list) = log_list {
        out.push_str(r#","logList":"#);
        out.push_str(log_list);
    }
    out.push('}');
    out
}

fn push_array<'a>(out: &mut String, key: &str, items: impl Iterator<Item = &'a str>) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":[");
    for (idx, item) in items.enumerate() {
        if idx > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
}

/// The complete View as JSON, with the newest lines (see [`logs::VIEW_TAIL_LINES`]) or none
/// (`logs == false`), and the checkpoint it reaches. Older lines are paged in through
/// `/api/logs`. The view with logs is built once per state and shared.
pub(crate) fn complete_view_json(state: &AppState, logs: bool) -> (Bytes, Checkpoint) {
    let objs = state.objects();
    if logs {
        let to = state.logs().checkpoint();
        let cache = state.complete.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(view) = cache.as_ref()
            && view.to == to
            && Arc::ptr_eq(&view.snapshot, &objs.snapshot)
        {
            return (view.json.clone(), to);
        }
    }
    // Copy under the lock (bounded by the tail), write the JSON after releasing it.
    let tail = logs::tail(&state.logs(), logs);
    let mut log_json = String::new();
    logs::write_tail_log_list(&mut log_json, &tail);
    let to = tail.to;
    let json = Bytes::from(view_json(
        true,
        &objs.tilt_start_time,
        Some(&objs.session.json),
        objs.resources.iter().map(|(_, s)| s.json.as_str()),
        objs.buttons.iter().map(|(_, s)| s.json.as_str()),
        Some(&log_json),
    ));
    if logs {
        let mut cache = state.complete.lock().unwrap_or_else(|e| e.into_inner());
        *cache = Some(CompleteView {
            snapshot: objs.snapshot.clone(),
            to,
            json: json.clone(),
        });
    }
    (json, to)
}

fn wants_logs(query: Option<&str>) -> bool {
    query
        .and_then(|q| query_param(q, "logs"))
        .is_none_or(|v| v != "false" && v != "0")
}

async fn view_handler(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let logs = wants_logs(query.as_deref());
    match tokio::task::spawn_blocking(move || complete_view_json(&state, logs).0).await {
        Ok(json) => json_response(json),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to build the view",
        ),
    }
}

async fn snapshot_handler(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Response {
    let logs = wants_logs(query.as_deref());
    let built = tokio::task::spawn_blocking(move || complete_view_json(&state, logs).0).await;
    match built {
        Ok(view) => {
            let created = rfc3339::format(SystemTime::now());
            let view = String::from_utf8_lossy(&view);
            json_response(Bytes::from(format!(
                r#"{{"view":{view},"createdAt":"{created}"}}"#
            )))
        }
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to build the view",
        ),
    }
}

pub(crate) fn json_response(json: impl Into<Bytes>) -> Response {
    let json: Bytes = json.into();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response()
}
