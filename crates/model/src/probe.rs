//! Readiness probes for `local_resource(serve_cmd=...)`.

/// A readiness probe with Kubernetes semantics and Tilt's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub initial_delay_secs: i32,
    pub timeout_secs: i32,
    pub period_secs: i32,
    pub success_threshold: i32,
    pub failure_threshold: i32,
    pub action: ProbeAction,
}

/// What a probe does to decide readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// Ready when the command exits 0 within the timeout.
    Exec { command: Vec<String> },
    /// Ready when the response status is 200–399.
    HttpGet {
        host: String,
        port: i32,
        scheme: String,
        path: String,
    },
    /// Ready when a TCP connection opens.
    TcpSocket { host: String, port: i32 },
}
