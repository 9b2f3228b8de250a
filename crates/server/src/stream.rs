//! `/ws/view`: a complete View on connect, then deltas with only what changed since the
//! previous message on this socket (resources and buttons by hash, log lines by checkpoint).
//!
//! Each socket runs in its own task and computes its delta only when it is about to send,
//! so a slow client delays nobody else and never queues a backlog: its next delta simply
//! covers more. Memory per socket is one hash per object plus a checkpoint, and at most one
//! [`FRAGMENT`] of a message in its write buffer: messages go out as WebSocket fragments cut
//! from one shared buffer (the complete View is built once per state for every client), so
//! a client that does not read holds no copy of a View. Changes are sent at once, then at
//! most one message per [`MIN_INTERVAL`] while a burst lasts. A client that cannot take a
//! message within the send timeout ([`crate::Limits::ws_send_timeout`]) is disconnected (it
//! reconnects and starts over from a complete View), and so is one whose missed log lines
//! were dropped. The number of sockets is capped ([`crate::Limits::max_websockets`]).
//!
//! The upgrade is done here rather than with axum's `WebSocketUpgrade`, whose messages can
//! only be sent whole: each would be copied entire into the socket's write buffer, which
//! then keeps that capacity for the life of the socket.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use lilt_engine::Checkpoint;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::app::{AppState, Objects, complete_view_json, view_json};
use crate::conn::Conn;
use crate::convert;
use crate::logs::VIEW_TAIL_LINES;
use crate::security::text;
use lilt_model::rfc3339;

/// At most one message per socket per this interval during bursts.
pub const MIN_INTERVAL: Duration = Duration::from_millis(20);
/// How often new log lines are looked for when no snapshot announces them.
const LOG_POLL: Duration = Duration::from_millis(50);
const PING_EVERY: Duration = Duration::from_secs(30);
/// A client silent (not even a pong) for this long is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// Messages are sent in fragments of this size, each copied into the socket's write buffer
/// only when the previous one has gone out.
const FRAGMENT: usize = 16 << 10;
/// The client sends nothing but control frames.
const MAX_INCOMING: usize = 64 << 10;

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;
type Sink = futures::stream::SplitSink<Socket, Message>;

pub(crate) async fn ws_handler(State(state): State<Arc<AppState>>, mut req: Request) -> Response {
    let key = match upgrade_key(req.method(), req.headers()) {
        Ok(key) => key,
        Err(why) => return text(StatusCode::BAD_REQUEST, why),
    };
    let Some(ticket) = state.websocket_ticket() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many dashboard WebSockets are open; close some dashboard tabs",
        );
    };
    let Some(on_upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return text(
            StatusCode::BAD_REQUEST,
            "this connection cannot be upgraded",
        );
    };
    // The socket keeps its connection's place among the open connections.
    let conn = req.extensions().get::<Conn>().cloned();
    let accept = derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(4 << 10)
            .write_buffer_size(0)
            .max_write_buffer_size(4 * FRAGMENT)
            .max_message_size(Some(MAX_INCOMING))
            .max_frame_size(Some(MAX_INCOMING));
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        run(state, socket).await;
        drop((ticket, conn));
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    match HeaderValue::from_str(&accept) {
        Ok(value) => {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
            resp
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "bad accept key").into_response(),
    }
}

/// The `Sec-WebSocket-Key` of a valid version-13 upgrade request (RFC 6455 §4.2.1).
fn upgrade_key(method: &Method, headers: &HeaderMap) -> Result<String, &'static str> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if method != Method::GET {
        return Err("a WebSocket upgrade must be a GET");
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err("expected a WebSocket upgrade");
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err("unsupported WebSocket version (13 is supported)");
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or("missing Sec-WebSocket-Key")
}

/// What this socket's client has: a hash per object and the log checkpoint.
#[derive(Default)]
struct Sent {
    session: u64,
    resources: HashMap<String, u64>,
    buttons: HashMap<String, u64>,
    checkpoint: Checkpoint,
}

enum Next {
    Message(Bytes),
    Nothing,
}

async fn run(state: Arc<AppState>, socket: Socket) {
    let send_timeout = state.config.limits.ws_send_timeout;
    let (mut sink, mut incoming) = socket.split();
    let mut snapshots = state.deps.snapshots.clone();
    snapshots.borrow_and_update();
    let mut shutdown = state.shutdown.clone();

    let first = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || complete(&state)).await
    };
    let Ok((message, mut sent)) = first else {
        return;
    };
    if !send(&mut sink, message, send_timeout).await {
        return;
    }

    let mut last_send = Instant::now();
    let mut last_heard = Instant::now();
    let mut dirty = false;
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut log_poll = tokio::time::interval(LOG_POLL);
    log_poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break; // The engine is gone.
                }
                dirty = true;
            }
            _ = log_poll.tick(), if !dirty => {
                if state.logs().checkpoint() != sent.checkpoint {
                    dirty = true;
                }
            }
            msg = incoming.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT || !send_ping(&mut sink, send_timeout).await {
                    break;
                }
            }
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep_until(last_send + MIN_INTERVAL), if dirty => {
                dirty = false;
                snapshots.borrow_and_update();
                // Off the async workers: a fallback to a complete View can take a while.
                let task_state = state.clone();
                let mut task_sent = std::mem::take(&mut sent);
                let Ok((next, new_sent)) = tokio::task::spawn_blocking(move || {
                    let next = next_message(&task_state, &mut task_sent);
                    (next, task_sent)
                })
                .await
                else {
                    break;
                };
                sent = new_sent;
                match next {
                    Next::Message(message) => {
                        if !send(&mut sink, message, send_timeout).await {
                            break;
                        }
                        last_send = Instant::now();
                    }
                    Next::Nothing => {}
                }
            }
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// Sends one text message, in fragments cut from the shared buffer, within `limit`.
async fn send(sink: &mut Sink, message: Bytes, limit: Duration) -> bool {
    let fragments = async {
        let mut start = 0;
        loop {
            let end = (start + FRAGMENT).min(message.len());
            let opcode = if start == 0 {
                Data::Text
            } else {
                Data::Continue
            };
            let frame = Frame::message(
                message.slice(start..end),
                OpCode::Data(opcode),
                end == message.len(),
            );
            sink.send(Message::Frame(frame)).await?;
            if end == message.len() {
                return Ok::<(), tokio_tungstenite::tungstenite::Error>(());
            }
            start = end;
        }
    };
    matches!(tokio::time::timeout(limit, fragments).await, Ok(Ok(())))
}

async fn send_ping(sink: &mut Sink, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, sink.send(Message::Ping(Bytes::new()))).await,
        Ok(Ok(()))
    )
}

/// The complete View and what the client has after it.
fn complete(state: &AppState) -> (Bytes, Sent) {
    let (json, checkpoint) = complete_view_json(state, true);
    let objs = state.objects();
    let sent = Sent {
        session: objs.session.hash,
        resources: objs
            .resources
            .iter()
            .map(|(n, s)| (n.clone(), s.hash))
            .collect(),
        buttons: objs
            .buttons
            .iter()
            .map(|(n, s)| (n.clone(), s.hash))
            .collect(),
        checkpoint,
    };
    (json, sent)
}

/// The delta since `sent` (updating it), or a complete View when lines the client never
/// got were dropped from the store.
fn next_message(state: &AppState, sent: &mut Sent) -> Next {
    let objs = state.objects();
    let copied = {
        let store = state.logs();
        let to = store.checkpoint();
        if to == sent.checkpoint {
            Ok(None)
        } else if to < sent.checkpoint || to - sent.checkpoint > VIEW_TAIL_LINES {
            // A client further behind than a complete View's tail starts over from one.
            Err(())
        } else {
            let lines = store.since(sent.checkpoint, None);
            if (to - sent.checkpoint) as usize == lines.len() {
                Ok(Some((lines.into_iter().cloned().collect::<Vec<_>>(), to)))
            } else {
                // Lines the client never got were dropped: only a complete View is right.
                Err(())
            }
        }
    };
    let log_json = match copied {
        Err(()) => {
            let (json, new_sent) = complete(state);
            *sent = new_sent;
            return Next::Message(json);
        }
        Ok(None) => None,
        Ok(Some((lines, to))) => {
            let mut out = String::with_capacity(lines.iter().map(|l| l.text.len() + 96).sum());
            convert::write_log_list(&mut out, &lines, sent.checkpoint, to);
            sent.checkpoint = to;
            Some(out)
        }
    };
    delta(&objs, sent, log_json)
}

fn delta(objs: &Objects, sent: &mut Sent, log_json: Option<String>) -> Next {
    let session = (objs.session.hash != sent.session).then(|| {
        sent.session = objs.session.hash;
        objs.session.json.as_str()
    });
    let deleted_at = rfc3339::format(objs.snapshot.at);
    let resources = changed_objects(&objs.resources, &mut sent.resources, &deleted_at);
    let buttons = changed_objects(&objs.buttons, &mut sent.buttons, &deleted_at);
    if session.is_none() && resources.is_empty() && buttons.is_empty() && log_json.is_none() {
        return Next::Nothing;
    }
    Next::Message(Bytes::from(view_json(
        false,
        &objs.tilt_start_time,
        session,
        resources.iter().map(String::as_str),
        buttons.iter().map(String::as_str),
        log_json.as_deref(),
    )))
}

/// Objects whose hash differs from what the client has, and deletion stubs for the ones
/// that vanished (Tilt's convention: `metadata.deletionTimestamp` set).
fn changed_objects(
    current: &[(String, crate::app::Serialized)],
    sent: &mut HashMap<String, u64>,
    deleted_at: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, ser) in current {
        if sent.get(name) != Some(&ser.hash) {
            sent.insert(name.clone(), ser.hash);
            out.push(ser.json.clone());
        }
    }
    if sent.len() > current.len() {
        let live: std::collections::HashSet<&str> =
            current.iter().map(|(n, _)| n.as_str()).collect();
        let mut gone: Vec<String> = sent
            .keys()
            .filter(|n| !live.contains(n.as_str()))
            .cloned()
            .collect();
        gone.sort();
        for name in gone {
            sent.remove(&name);
            let meta = crate::wire::ObjectMeta {
                name,
                deletion_timestamp: Some(deleted_at.to_owned()),
                ..Default::default()
            };
            let stub = serde_json::json!({ "metadata": meta });
            out.push(stub.to_string());
        }
    }
    out
}
