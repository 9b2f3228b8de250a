//! The client commands (`get`, `logs`, `trigger`, `enable`, `disable`, `args`, `wait`,
//! `describe`, `open`) that talk to a running `lilt up` over its dashboard API, authenticated with
//! the session token that `lilt up` left in the per-user state directory. Requests and replies
//! are the server's own types ([`lilt_server::wire`]), so a renamed field or status breaks
//! the build rather than the output.

mod args;
mod describe;
mod enable;
mod get;
mod http;
mod logs;
mod open;
mod time;
mod trigger;
mod view;
mod wait;
mod ws;

pub(crate) use args::ArgsOptions;
pub(crate) use enable::EnableOptions;
pub(crate) use get::{Format as GetFormat, GetOptions};
pub(crate) use logs::LogsOptions;
pub(crate) use wait::WaitOptions;

use anyhow::{Context, anyhow, bail};
use lilt_server::wire::View;
use serde::Serialize;
use serde::de::DeserializeOwned;

use http::{HttpError, Response};

/// Flags that say where the running lilt is.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConnectFlags {
    /// Port of the running lilt's dashboard.
    #[arg(long, env = "TILT_PORT", default_value_t = 10350)]
    pub(crate) port: u16,
    /// Host of the running lilt's dashboard (only needed if it was started with --host).
    #[arg(long, env = "TILT_HOST", default_value = "localhost")]
    pub(crate) host: String,
}

/// A connection target with its session token.
pub(crate) struct Client {
    /// The host to dial (brackets of an IPv6 literal removed).
    dial_host: String,
    port: u16,
    /// `host:port` as users typed it, for messages and the `Host` header.
    authority: String,
    token: String,
}

impl Client {
    /// Finds the lilt on `flags` and its token; fails with a hint when none runs there.
    pub(crate) async fn connect(flags: &ConnectFlags) -> anyhow::Result<Client> {
        let host = flags.host.trim();
        let dial_host = match host.trim_start_matches('[').trim_end_matches(']') {
            // Listening everywhere is reachable on loopback.
            "" | "0.0.0.0" => "127.0.0.1".to_owned(),
            "::" => "::1".to_owned(),
            h => h.to_owned(),
        };
        let authority = if dial_host.contains(':') {
            format!("[{dial_host}]:{}", flags.port)
        } else {
            format!("{dial_host}:{}", flags.port)
        };
        let path = crate::token::token_path(flags.port);
        let token = match crate::token::read_token(flags.port) {
            Ok(token) if !token.is_empty() => token,
            result => {
                let reachable = tokio::net::TcpStream::connect((dial_host.as_str(), flags.port))
                    .await
                    .is_ok();
                if !reachable {
                    bail!(not_running(&authority));
                }
                let why = match result {
                    Err(e) => e.to_string(),
                    Ok(_) => "the file is empty".to_owned(),
                };
                bail!(
                    "something listens on {authority}, but there is no lilt session token for port {} at {} ({why}): is it a lilt started by another user, or with another LILT_STATE_DIR?",
                    flags.port,
                    path.display()
                );
            }
        };
        Ok(Client {
            dial_host,
            port: flags.port,
            authority,
            token,
        })
    }

    /// `host:port` of the running lilt.
    pub(crate) fn authority(&self) -> &str {
        &self.authority
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<Response> {
        let resp = http::request(
            (&self.dial_host, self.port),
            &self.authority,
            method,
            path,
            &[(lilt_server::security::TOKEN_HEADER, &self.token)],
            body,
        )
        .await
        .map_err(|e| match e {
            HttpError::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                anyhow!(not_running(&self.authority))
            }
            HttpError::Connect(e) => anyhow!("cannot reach a lilt on {}: {e}", self.authority),
            HttpError::Exchange(why) => {
                anyhow!(
                    "the lilt on {} did not answer {method} {path}: {why}",
                    self.authority
                )
            }
        })?;
        if resp.status == 401 {
            bail!(
                "the lilt on {} refused the session token from {}: it belongs to another lilt (restart the client's lilt, or pass --port)",
                self.authority,
                crate::token::token_path(self.port).display()
            );
        }
        Ok(resp)
    }

    /// GET a JSON document of type `T`.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self.call("GET", path, None).await?;
        if resp.status != 200 {
            bail!("GET {path}: ({}): {}", resp.status, resp.text());
        }
        serde_json::from_slice(&resp.body)
            .with_context(|| format!("GET {path}: the reply is not the JSON lilt serves"))
    }

    /// POST a JSON body; the caller judges the status.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<Response> {
        self.call("POST", path, Some(&serde_json::to_vec(body)?))
            .await
    }

    /// PUT a JSON body; the caller judges the status.
    pub(crate) async fn put_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<Response> {
        self.call("PUT", path, Some(&serde_json::to_vec(body)?))
            .await
    }

    /// The complete View, without its log unless `logs`.
    pub(crate) async fn view(&self, logs: bool) -> anyhow::Result<View> {
        let path = if logs {
            "/api/view"
        } else {
            "/api/view?logs=false"
        };
        self.get_json(path).await
    }

    /// The `/ws/view` stream: a complete View, then deltas.
    pub(crate) async fn watch(&self) -> anyhow::Result<ws::ViewStream> {
        ws::ViewStream::open(&self.dial_host, self.port, &self.authority, &self.token).await
    }
}

/// The message for a port where nothing listens.
fn not_running(authority: &str) -> String {
    format!("no lilt is running on {authority}: start one with `lilt up`, or pass --port")
}

/// Runs a client command on a small single-threaded runtime.
pub(crate) fn block_on<F: std::future::Future<Output = anyhow::Result<u8>>>(
    fut: F,
) -> anyhow::Result<u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

/// `lilt trigger RESOURCE`.
pub(crate) fn trigger(flags: ConnectFlags, resource: String) -> anyhow::Result<u8> {
    block_on(trigger::run(flags, resource))
}

/// `lilt get TYPE [NAME...]`.
pub(crate) fn get(flags: ConnectFlags, opts: GetOptions) -> anyhow::Result<u8> {
    block_on(get::run(flags, opts))
}

/// `lilt logs [RESOURCE...]`.
pub(crate) fn logs(flags: ConnectFlags, opts: LogsOptions) -> anyhow::Result<u8> {
    block_on(logs::run(flags, opts))
}

/// `lilt enable` / `lilt disable`.
pub(crate) fn enable(flags: ConnectFlags, opts: EnableOptions) -> anyhow::Result<u8> {
    block_on(enable::run(flags, opts))
}

/// `lilt args [-- ARGS...]`.
pub(crate) fn args(flags: ConnectFlags, opts: ArgsOptions) -> anyhow::Result<u8> {
    block_on(args::run(flags, opts))
}

/// `lilt wait --for=condition=Ready uiresource/NAME...`.
pub(crate) fn wait(flags: ConnectFlags, opts: WaitOptions) -> anyhow::Result<u8> {
    block_on(wait::run(flags, opts))
}

/// `lilt describe uiresource [NAME]`.
pub(crate) fn describe(flags: ConnectFlags, args: Vec<String>) -> anyhow::Result<u8> {
    block_on(describe::run(flags, args))
}

/// `lilt open NAME`.
pub(crate) fn open(flags: ConnectFlags, name: String) -> anyhow::Result<u8> {
    block_on(open::run(flags, name))
}
