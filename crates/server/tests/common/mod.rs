//! Test harness: snapshot builders, a real server on 127.0.0.1:0, a raw HTTP/1.1 client and
//! a WebSocket client.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lilt_engine::{
    Action, BuildReason, BuildRecord, ButtonClick, EngineConfig, EngineMode, EngineState,
    LogBudget, LogLevel, LogSource, LogStore, NewLogLine, ResourceState, RuntimePhase,
    RuntimeState, Snapshot, SpanId, SpanKind,
};
use lilt_model::{
    ButtonAction, ButtonInput, ButtonInputKind, ButtonLocation, Cmd, DeployTarget, Link,
    LocalTarget, Manifest, Plan, TriggerMode, UiButton,
};
use lilt_server::{ServerConfig, ServerDeps};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A fixed clock: `t(n)` is n seconds after 2026-09-21T…Z.
pub fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

/// `sh -c SCRIPT`; an empty script is no command.
fn sh(script: &str) -> Option<Cmd> {
    if script.is_empty() {
        return None;
    }
    Some(Cmd {
        argv: vec!["sh".into(), "-c".into(), script.into()],
        dir: PathBuf::from("/project"),
        ..Cmd::default()
    })
}

pub fn local(name: &str, cmd: &str, serve: &str) -> Manifest {
    Manifest {
        name: name.to_owned(),
        image_targets: Vec::new(),
        deploy: DeployTarget::Local(LocalTarget {
            update_cmd: sh(cmd),
            serve_cmd: sh(serve),
            ..LocalTarget::default()
        }),
        trigger_mode: TriggerMode::Auto,
        resource_deps: Vec::new(),
        labels: BTreeMap::new(),
        source_tiltfile: String::new(),
    }
}

pub fn with_link(mut m: Manifest, url: &str, name: &str) -> Manifest {
    #[allow(
        irrefutable_let_patterns,
        reason = "refutable once the model has more deploy targets"
    )]
    if let DeployTarget::Local(l) = &mut m.deploy {
        l.links.push(Link {
            url: url.to_owned(),
            name: name.to_owned(),
        });
    }
    m
}

pub fn with_labels(mut m: Manifest, labels: &[&str]) -> Manifest {
    m.labels = labels
        .iter()
        .map(|l| ((*l).to_owned(), (*l).to_owned()))
        .collect();
    m
}

pub fn resource(m: Manifest) -> ResourceState {
    ResourceState::new(Arc::new(m), true)
}

pub fn build(seq: u64, start: u64, finish: Option<u64>, error: Option<&str>) -> BuildRecord {
    BuildRecord {
        span_id: SpanId {
            kind: SpanKind::Build,
            seq,
        },
        reason: BuildReason {
            initial: true,
            ..BuildReason::default()
        },
        changed_files: Vec::new(),
        images: Vec::new(),
        live_update: None,
        start_time: t(start),
        finish_time: finish.map(t),
        error: error.map(str::to_owned),
        warnings: Vec::new(),
    }
}

pub fn button(name: &str, location: ButtonLocation) -> UiButton {
    UiButton {
        name: name.to_owned(),
        location,
        text: format!("Run {name}"),
        icon_name: String::new(),
        icon_svg: String::new(),
        disabled: false,
        requires_confirmation: false,
        inputs: Vec::new(),
        action: ButtonAction::None,
        requires_ready: None,
    }
}

pub fn text_input(name: &str, default: &str) -> ButtonInput {
    ButtonInput {
        name: name.to_owned(),
        label: name.to_uppercase(),
        kind: ButtonInputKind::Text {
            default_value: default.to_owned(),
            placeholder: String::new(),
        },
    }
}

/// Four resources in various states and three buttons:
/// * `api`: serve_cmd running (pid 4242) and ready, one good build, a link, labels.
/// * `web`: building now, a failed build before, pending file change, held on `api`.
/// * `worker`: disabled.
/// * `job`: manual, queued.
/// * buttons `seed` (on api, text input), `reset` (Global, confirmation), `migrate`
///   (requires `web` ready, so disabled).
pub fn sample_snapshot() -> Snapshot {
    let mut state = EngineState::new(
        EngineConfig {
            mode: EngineMode::Up,
            tiltfile_args: Vec::new(),
            ci_timeout: Duration::from_secs(1800),
        },
        t(0),
    );
    state.tiltfile.pending = None;
    state.tiltfile.history.push_back(BuildRecord {
        span_id: SpanId {
            kind: SpanKind::Tiltfile,
            seq: 1,
        },
        ..build(1, 1, Some(2), None)
    });

    let mut api = resource(with_labels(
        with_link(
            local("api", "make api", "./api"),
            "http://localhost:8080/",
            "api",
        ),
        &["backend"],
    ));
    api.history.push_back(build(2, 3, Some(5), None));
    api.build_count = 1;
    api.last_deploy_time = Some(t(5));
    api.last_ready_or_succeeded = Some(t(6));
    api.runtime = RuntimeState {
        start_requested: false,
        phase: RuntimePhase::Running {
            span_id: SpanId {
                kind: SpanKind::Serve,
                seq: 3,
            },
            pid: Some(4242),
            since: t(5),
        },
        ready: true,
        info: None,
        error: None,
    };

    let mut web = resource(with_labels(local("web", "make web", ""), &["frontend"]));
    web.history
        .push_back(build(4, 7, Some(8), Some("exit status 2")));
    web.current_build = Some(build(5, 10, None, None));
    web.build_count = 2;
    web.pending_files
        .insert(PathBuf::from("/project/web/a.js"), t(9));

    let mut worker = resource(local("worker", "make worker", ""));
    worker.enabled = false;

    let mut job = resource(local("job", "make job", ""));
    job.trigger_mode = TriggerMode::Manual;
    job.triggered_at = Some(t(11));

    state.resources = vec![api, web, worker, job];

    let mut seed = button("seed", ButtonLocation::Resource("api".into()));
    seed.inputs.push(text_input("rows", "100"));
    let mut reset = button("reset", ButtonLocation::Global);
    reset.requires_confirmation = true;
    let mut migrate = button("migrate", ButtonLocation::Resource("api".into()));
    migrate.requires_ready = Some("web".into());

    let plan = Plan {
        tiltfile: PathBuf::from("/project/Tiltfile"),
        manifests: state
            .resources
            .iter()
            .map(|r| (*r.manifest).clone())
            .collect(),
        buttons: vec![seed, reset, migrate],
        ..Plan::default()
    };
    let mut holds = BTreeMap::new();
    holds.insert(
        "job".to_owned(),
        lilt_engine::Hold {
            reason: lilt_engine::HoldReason::WaitingForDep,
            on: vec!["api".to_owned()],
        },
    );
    state.button_clicks.insert(
        "seed".to_owned(),
        ButtonClick {
            at: t(12),
            inputs: vec![("rows".to_owned(), "5".to_owned())],
        },
    );
    Snapshot {
        state,
        holds,
        plan: Some(Arc::new(plan)),
        log_checkpoint: 0,
        fatal_error: String::new(),
        at: t(13),
    }
}

pub fn log_line(
    resource: Option<&str>,
    span: Option<SpanId>,
    source: LogSource,
    text: &str,
) -> NewLogLine {
    NewLogLine {
        resource: resource.map(str::to_owned),
        span_id: span,
        level: LogLevel::Info,
        time: t(20),
        source,
        text: text.to_owned(),
    }
}

pub fn build_span(seq: u64) -> Option<SpanId> {
    Some(SpanId {
        kind: SpanKind::Build,
        seq,
    })
}

/// A store with a Tiltfile line, two build lines and a serve line.
pub fn sample_logs() -> LogStore {
    let mut store = LogStore::new(LogBudget::DEFAULT);
    store.append(log_line(
        Some("(Tiltfile)"),
        Some(SpanId {
            kind: SpanKind::Tiltfile,
            seq: 1,
        }),
        LogSource::System,
        "Loading Tiltfile at: /project/Tiltfile",
    ));
    store.append(log_line(
        Some("api"),
        build_span(2),
        LogSource::Build,
        "building api",
    ));
    store.append(NewLogLine {
        level: LogLevel::Warn,
        ..log_line(
            Some("web"),
            build_span(4),
            LogSource::Build,
            "deprecated flag",
        )
    });
    store.append(log_line(
        Some("api"),
        Some(SpanId {
            kind: SpanKind::Serve,
            seq: 3,
        }),
        LogSource::Runtime,
        "listening on :8080",
    ));
    store
}

/// A server on 127.0.0.1:0 with the engine side in the test's hands.
pub struct TestServer {
    pub addr: SocketAddr,
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    pub logs: Arc<Mutex<LogStore>>,
    pub actions: mpsc::UnboundedReceiver<Action>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), lilt_server::ServerError>>>,
}

pub async fn start(snapshot: Snapshot, logs: LogStore) -> TestServer {
    start_with_hosts(snapshot, logs, Vec::new()).await
}

pub async fn start_with_hosts(
    snapshot: Snapshot,
    logs: LogStore,
    allowed_hosts: Vec<String>,
) -> TestServer {
    start_with(
        snapshot,
        logs,
        allowed_hosts,
        lilt_server::Limits::default(),
    )
    .await
}

pub async fn start_with_limits(
    snapshot: Snapshot,
    logs: LogStore,
    limits: lilt_server::Limits,
) -> TestServer {
    start_with(snapshot, logs, Vec::new(), limits).await
}

async fn start_with(
    snapshot: Snapshot,
    logs: LogStore,
    allowed_hosts: Vec<String>,
    limits: lilt_server::Limits,
) -> TestServer {
    let (snap_tx, snap_rx) = watch::channel(Arc::new(snapshot));
    let logs = Arc::new(Mutex::new(logs));
    let (action_tx, action_rx) = mpsc::unbounded_channel();
    let config = ServerConfig {
        token: TOKEN.to_owned(),
        host: "127.0.0.1".to_owned(),
        port: 0,
        allowed_hosts,
        limits,
    };
    let listener = lilt_server::bind(&config).await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let deps = ServerDeps {
        snapshots: snap_rx,
        logs: logs.clone(),
        actions: action_tx,
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(lilt_server::serve(listener, config, deps, async move {
        let _ = stop_rx.await;
    }));
    TestServer {
        addr,
        snapshots: snap_tx,
        logs,
        actions: action_rx,
        shutdown: Some(stop_tx),
        task: Some(task),
    }
}

impl TestServer {
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Shuts the server down and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<(), lilt_server::ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }

    /// The next action the server sent, waiting up to 5 s.
    pub async fn next_action(&mut self) -> Option<Action> {
        tokio::time::timeout(Duration::from_secs(5), self.actions.recv())
            .await
            .ok()
            .flatten()
    }

    pub fn no_action(&mut self) -> bool {
        self.actions.try_recv().is_err()
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", path, headers, "").await
    }

    pub async fn get_authed(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[("X-Tilt-Token", TOKEN)], "").await
    }

    pub async fn send(&self, method: &str, path: &str, body: &str) -> Resp {
        request(
            self.addr,
            method,
            path,
            &[
                ("X-Tilt-Token", TOKEN),
                ("Content-Type", "application/json"),
            ],
            body,
        )
        .await
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 exchange over a fresh connection. A `Host` in `headers` replaces the default.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Opens `/ws/view` with extra headers; `Err` carries the HTTP status of a refused upgrade.
pub async fn ws_connect(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let mut req = format!("ws://{addr}/ws/view")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName =
            name.parse().expect("header name");
        req.headers_mut()
            .insert(name, HeaderValue::from_str(value).expect("header value"));
    }
    let stream = TcpStream::connect(addr).await.expect("connect");
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(other) => panic!("websocket error: {other}"),
    }
}

/// The next text message as JSON, waiting up to 5 s.
pub async fn ws_next(ws: &mut Ws) -> serde_json::Value {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("socket open")
            .expect("no socket error");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("JSON message");
        }
    }
}

/// Names of the objects in a View array.
pub fn names(view: &serde_json::Value, key: &str) -> Vec<String> {
    view[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
