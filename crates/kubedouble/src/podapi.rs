//! The pod subresources that reach a running container, as the kubelet serves them through
//! kube-apiserver: `pods/log` (follow, previous, container, timestamps, sinceSeconds,
//! sinceTime, tailLines, limitBytes; a plain-text chunked stream of the container's stdout and
//! stderr), `pods/exec` over WebSocket with the `v5.channel.k8s.io` / `v4.channel.k8s.io`
//! sub-protocols (channels 0 stdin, 1 stdout, 2 stderr, 3 status `Status` JSON, 4 resize,
//! 255 close), and `pods/portforward` over WebSocket (a data and an error channel per port,
//! each opened with the port number, to the pod's port on 127.0.0.1 under host networking).

use std::sync::Arc;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::LogsOptionsBuilder;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::kubelet::Kubelet;
use crate::server::{Body, Query, full, streaming};
use crate::status::ApiError;
use crate::store::{Store, meta_str};
use crate::time;

fn pod_of(store: &Store, ns: &str, name: &str) -> Result<Value, ApiError> {
    let rt = store
        .resource("", "v1", "pods")
        .ok_or_else(ApiError::no_resource)?;
    store.get(&rt, ns, name)
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request means: `container=`, the `kubectl.kubernetes.io/default-container`
/// annotation, or the only one; otherwise the apiserver's 400.
fn pick_container(pod: &Value, q: &Query) -> Result<String, ApiError> {
    let name = meta_str(pod, "name").unwrap_or_default();
    let mains = names(pod, "containers");
    let inits = names(pod, "initContainers");
    if let Some(c) = q.get("container").filter(|c| !c.is_empty()) {
        if mains.iter().chain(inits.iter()).any(|n| n == c) {
            return Ok(c.to_string());
        }
        return Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        )));
    }
    if let Some(d) = pod
        .pointer("/metadata/annotations/kubectl.kubernetes.io~1default-container")
        .and_then(Value::as_str)
    {
        return Ok(d.to_string());
    }
    if mains.len() == 1 {
        return Ok(mains[0].clone());
    }
    let mut msg = format!(
        "a container name must be specified for pod {name}, choose one of: [{}]",
        mains.join(" ")
    );
    if !inits.is_empty() {
        msg.push_str(&format!(
            " or one of the init containers: [{}]",
            inits.join(" ")
        ));
    }
    Err(ApiError::bad_request(msg))
}

fn kubelet_of(k: Option<Arc<Kubelet>>, pod: &Value) -> Result<Arc<Kubelet>, ApiError> {
    let name = meta_str(pod, "name").unwrap_or_default();
    match k {
        Some(k) if pod.pointer("/spec/nodeName").is_some() => Ok(k),
        _ => Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        ))),
    }
}

/// RFC 3339 with nanoseconds and trailing zeros trimmed (Go's `time.RFC3339Nano`), the
/// timestamp format of CRI logs.
fn rfc3339_nano(nanos: i128) -> String {
    let full_ = time::format_nanos(nanos, time::Precision::Nanos);
    let (head, _) = full_.split_at(full_.len() - 1);
    let trimmed = head.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}Z")
}

/// `GET pods/{name}/log`.
pub(crate) async fn logs(
    store: &Store,
    k: Option<Arc<Kubelet>>,
    ns: &str,
    name: &str,
    q: &Query,
    // `KubeDouble::drop_watches` ends followed logs too, as a dropped connection would.
    mut dropped: tokio::sync::watch::Receiver<u64>,
) -> Result<Response<Body>, ApiError> {
    let pod = pod_of(store, ns, name)?;
    let container = pick_container(&pod, q)?;
    let k = kubelet_of(k, &pod)?;
    let previous = q.flag("previous");
    let (id, _) = k.container_id(ns, name, &container, previous)?;
    let follow = q.flag("follow") && !previous;
    let want_ts = q.flag("timestamps");
    let since: Option<i128> = match (q.get("sinceTime"), q.get("sinceSeconds")) {
        (Some(t), _) => Some(
            time::parse_rfc3339(t)
                .ok_or_else(|| ApiError::bad_request(format!("invalid sinceTime: {t}")))?,
        ),
        (None, Some(s)) => {
            let s: i64 = s
                .parse()
                .map_err(|_| ApiError::bad_request("sinceSeconds must be an integer"))?;
            Some(time::now_nanos() - i128::from(s) * 1_000_000_000)
        }
        _ => None,
    };
    let limit: Option<usize> = q.get("limitBytes").and_then(|l| l.parse().ok());
    let mut opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .timestamps(true);
    if let Some(t) = q.get("tailLines").and_then(|t| t.parse::<i64>().ok()) {
        opts = opts.tail(&t.to_string());
    }
    if let Some(s) = since {
        // Docker filters by whole seconds; the exact cut is made below from the timestamps.
        opts = opts.since((s / 1_000_000_000) as i32);
    }
    let docker = k.docker().clone();
    let (tx, resp) = streaming(200, "text/plain");
    tokio::spawn(async move {
        let mut stream = docker.logs(&id, Some(opts.build()));
        let mut sent = 0usize;
        loop {
            let item = tokio::select! {
                item = stream.next() => item,
                _ = dropped.changed() => break,
            };
            let Some(Ok(out)) = item else { break };
            let bytes = out.into_bytes();
            let line = String::from_utf8_lossy(&bytes);
            let (ts, text) = line.split_once(' ').unwrap_or(("", &line));
            let nanos = time::parse_rfc3339(ts);
            if let (Some(s), Some(n)) = (since, nanos)
                && n < s
            {
                continue;
            }
            let rendered = if want_ts {
                format!(
                    "{} {text}",
                    nanos.map_or_else(|| ts.to_string(), rfc3339_nano)
                )
            } else {
                text.to_string()
            };
            let mut chunk = Bytes::from(rendered);
            if let Some(l) = limit {
                if sent >= l {
                    break;
                }
                chunk.truncate(l - sent);
            }
            sent += chunk.len();
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    Ok(resp)
}

/// Upgrades to a WebSocket with one of the channel sub-protocols kube-rs offers.
fn upgrade(req: &Request<Incoming>, prefer: &[&str]) -> Result<(Response<Body>, String), ApiError> {
    let h = req.headers();
    let is_ws = h
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = h.get(SEC_WEBSOCKET_KEY).and_then(|v| v.to_str().ok());
    let (true, Some(key)) = (is_ws, key) else {
        return Err(ApiError::bad_request("Upgrade request required"));
    };
    let offered: Vec<String> = h
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .collect();
    let Some(proto) = prefer.iter().find(|p| offered.iter().any(|o| o == *p)) else {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade: no supported sub-protocol among {offered:?}"
        )));
    };
    let mut r = full(101, "", Bytes::new());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let hs = r.headers_mut();
    hs.remove(hyper::header::CONTENT_TYPE);
    hs.insert(UPGRADE, HeaderValue::from_static("websocket"));
    hs.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    if let Ok(v) = HeaderValue::from_str(&accept) {
        hs.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Ok(v) = HeaderValue::from_str(proto) {
        hs.insert(SEC_WEBSOCKET_PROTOCOL, v);
    }
    Ok((r, proto.to_string()))
}

/// A close frame with status 1000, as golang.org/x/net/websocket's `Close` sends (kubectl's
/// client treats any other code, even "no status", as an error).
fn normal_close() -> Message {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::binary(v)
}

/// `pods/{name}/exec`.
pub(crate) async fn exec(
    store: &Store,
    k: Option<Arc<Kubelet>>,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let pod = pod_of(store, ns, name)?;
    let container = pick_container(&pod, q)?;
    let k = kubelet_of(k, &pod)?;
    let command = q.all("command");
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let (id, running) = k.container_id(ns, name, &container, false)?;
    if !running {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )));
    }
    let (stdin, stdout, stderr, tty) = (
        q.flag("stdin"),
        q.flag("stdout"),
        q.flag("stderr"),
        q.flag("tty"),
    );
    let (resp, proto) = upgrade(&req, &["v5.channel.k8s.io", "v4.channel.k8s.io"])?;
    let docker = k.docker().clone();
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        run_exec(
            docker,
            ws,
            id,
            command,
            stdin,
            stdout,
            stderr,
            tty,
            proto == "v5.channel.k8s.io",
        )
        .await;
    });
    Ok(resp)
}

#[allow(clippy::too_many_arguments)]
async fn run_exec<S>(
    docker: Docker,
    ws: WebSocketStream<S>,
    id: String,
    command: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
    v5: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut source) = ws.split();
    let created = docker
        .create_exec(
            &id,
            CreateExecOptions {
                cmd: Some(command.clone()),
                attach_stdin: Some(stdin),
                attach_stdout: Some(stdout),
                attach_stderr: Some(stderr),
                tty: Some(tty),
                ..Default::default()
            },
        )
        .await;
    let started = match created {
        Ok(c) => docker.start_exec(&c.id, None).await.map(|s| (c.id, s)),
        Err(e) => Err(e),
    };
    let (exec_id, output, mut input) = match started {
        Ok((eid, StartExecResults::Attached { output, input })) => (eid, output, input),
        other => {
            let msg = match other {
                Err(e) => e.to_string(),
                _ => "exec detached".into(),
            };
            let status = json!({"metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError",
                "details": {"causes": [{"message": msg}]}, "code": 500});
            let _ = sink.send(frame(3, status.to_string().as_bytes())).await;
            let _ = sink.send(normal_close()).await;
            return;
        }
    };
    // The streams announce themselves with an empty frame on each channel.
    for (ch, on) in [(1u8, stdout), (2, stderr), (3, true)] {
        if on {
            let _ = sink.send(frame(ch, &[])).await;
        }
    }
    let mut output = output;
    let mut stdin_open = stdin;
    let mut output_done = false;
    let mut client_gone = false;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    let exited = |r: Result<bollard::models::ExecInspectResponse, bollard::errors::Error>| {
        r.map(|i| i.running == Some(false)).unwrap_or(true)
    };
    loop {
        tokio::select! {
            msg = source.next(), if !client_gone => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match b[0] {
                    0 if stdin_open && input.write_all(&b[1..]).await.is_err() => {
                        stdin_open = false;
                    }
                    // v5: a CLOSE of stdin ends the process's input (EOF).
                    255 if v5 && b.get(1) == Some(&0) => {
                        let _ = input.shutdown().await;
                        stdin_open = false;
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // v4 has no stdin CLOSE: the client closing the stream ends stdin.
                    let _ = input.shutdown().await;
                    stdin_open = false;
                    client_gone = true;
                }
                _ => {}
            },
            out = output.next(), if !output_done => match out {
                Some(Ok(o)) => {
                    use bollard::container::LogOutput;
                    let ch = match &o {
                        LogOutput::StdErr { .. } => 2,
                        _ => 1,
                    };
                    if !client_gone && sink.send(frame(ch, &o.into_bytes())).await.is_err() {
                        client_gone = true;
                    }
                }
                _ => output_done = true,
            },
            // The process may end without output to close (no stdout attached): poll it.
            _ = tick.tick(), if output_done || client_gone => {
                if exited(docker.inspect_exec(&exec_id).await) {
                    break;
                }
            }
        }
    }
    let code = docker
        .inspect_exec(&exec_id)
        .await
        .ok()
        .and_then(|i| i.exit_code)
        .unwrap_or(-1);
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    let _ = sink.send(frame(3, status.to_string().as_bytes())).await;
    let _ = sink.send(normal_close()).await;
}

/// Runs a command in a container and returns its exit code (readiness probes).
pub(crate) async fn exec_status(docker: &Docker, id: &str, cmd: Vec<String>) -> Option<i64> {
    let c = docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(cmd),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .ok()?;
    if let Ok(StartExecResults::Attached { mut output, .. }) = docker.start_exec(&c.id, None).await
    {
        while output.next().await.is_some() {}
    }
    docker.inspect_exec(&c.id).await.ok()?.exit_code
}

/// `pods/{name}/portforward`.
pub(crate) async fn portforward(
    store: &Store,
    k: Option<Arc<Kubelet>>,
    req: Request<Incoming>,
    ns: &str,
    name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let pod = pod_of(store, ns, name)?;
    let _k = kubelet_of(k, &pod)?;
    if pod.pointer("/status/phase").and_then(Value::as_str) != Some("Running") {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running"
        )));
    }
    let ports: Vec<u16> = q
        .all("ports")
        .iter()
        .flat_map(|p| p.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|p| !p.is_empty())
        .map(|p| p.trim().parse::<u16>())
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::bad_request("invalid port"))?;
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least 1 port must be specified"));
    }
    let uid = meta_str(&pod, "uid").unwrap_or_default().to_string();
    let (resp, _proto) = upgrade(&req, &["v4.channel.k8s.io", "v5.channel.k8s.io"])?;
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        run_portforward(ws, ports, uid).await;
    });
    Ok(resp)
}

async fn run_portforward<S>(ws: WebSocketStream<S>, ports: Vec<u16>, uid: String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut source) = ws.split();
    // Every channel opens with its port number (little endian).
    for (i, p) in ports.iter().enumerate() {
        let le = p.to_le_bytes();
        let _ = sink.send(frame((2 * i) as u8, &le)).await;
        let _ = sink.send(frame((2 * i + 1) as u8, &le)).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Option<Vec<u8>>)>(64);
    let mut writers = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        match tokio::net::TcpStream::connect(("127.0.0.1", *p)).await {
            Ok(conn) => {
                let (mut r, w) = conn.into_split();
                writers.push(Some(w));
                let tx = tx.clone();
                let ch = (2 * i) as u8;
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    loop {
                        match r.read(&mut buf).await {
                            Ok(0) | Err(_) => {
                                let _ = tx.send((ch, None)).await;
                                return;
                            }
                            Ok(n) => {
                                if tx.send((ch, Some(buf[..n].to_vec()))).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
            Err(e) => {
                writers.push(None);
                let msg = format!(
                    "error forwarding port {p} to pod {uid}, uid : failed to connect to localhost:{p} inside namespace: {e}"
                );
                let _ = sink.send(frame((2 * i + 1) as u8, msg.as_bytes())).await;
                let _ = tx.send(((2 * i) as u8, None)).await;
            }
        }
    }
    drop(tx);
    let mut open = ports.len();
    loop {
        tokio::select! {
            msg = source.next() => match msg {
                Some(Ok(Message::Binary(b))) if b.len() > 1 && b[0] % 2 == 0 => {
                    let i = (b[0] / 2) as usize;
                    if let Some(Some(w)) = writers.get_mut(i)
                        && w.write_all(&b[1..]).await.is_err()
                    {
                        writers[i] = None;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
            got = rx.recv() => match got {
                Some((ch, Some(data))) => {
                    if sink.send(frame(ch, &data)).await.is_err() {
                        break;
                    }
                }
                Some((_, None)) => {
                    open -= 1;
                    if open == 0 {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let _ = sink.send(normal_close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nano_timestamps_trim_zeros() {
        let n = time::parse_rfc3339("2026-12-02T15:23:08.120000000Z").unwrap();
        assert_eq!(rfc3339_nano(n), "2026-12-02T15:23:08.12Z");
        let n = time::parse_rfc3339("2026-12-02T15:23:08Z").unwrap();
        assert_eq!(rfc3339_nano(n), "2026-12-02T15:23:08Z");
    }
}
