//! The dashboard's web server: Tilt's View API over HTTP and WebSocket, the action
//! endpoints, and the embedded dashboard, secure by default.
//!
//! * [`app`] builds the axum router; [`bind`] and [`serve`] run it with graceful shutdown,
//!   on an accept loop that bounds connections and their timeouts ([`Limits`]).
//! * Security ([`security`]): every `/api`, `/ws` and `/proxy` request needs the session
//!   token (`X-Tilt-Token` header or `Tilt-Token` cookie); `GET /?token=…` sets the cookie;
//!   `Host` must be loopback or an allowed name; a present `Origin` must match `Host`;
//!   there are no CORS headers.
//! * [`convert`] turns an engine snapshot and log lines into Tilt's `View`, purely.
//! * [`wire`] holds the API's types and fixed values (statuses, annotations, span
//!   prefixes). They serialize and deserialize, so clients (the `lilt` CLI) read the API
//!   through the same types the server writes it with; [`logs`] adds the log endpoints'
//!   replies ([`logs::LogPage`], [`logs::SearchResult`]).
//! * `/ws/view` streams a complete View, then per-socket deltas (see `stream`). A complete
//!   View carries only the newest log lines; [`logs`] serves older pages and a search.
//!
//! Readers may skip intermediate snapshots: a delta describes the newest state relative to
//! what the same socket sent last, never every step in between.

pub mod actions;
mod app;
mod assets;
mod config;
mod conn;
pub mod convert;
pub mod logs;
pub mod security;
mod stream;
mod trim;
pub mod wire;

pub use app::{app, bind, serve};
pub use config::{Limits, ServerConfig, ServerDeps, ServerError, generate_token};
pub use stream::MIN_INTERVAL;
