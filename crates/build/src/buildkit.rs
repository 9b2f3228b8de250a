//! BuildKit through the Docker Engine API: which builder a daemon builds with (the docker
//! CLI's rule), the credentials BuildKit asks the session for, and BuildKit's progress
//! messages turned into plain log lines, like `docker build --progress=plain`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use bollard::auth::DockerCredentials;
use bollard::moby::buildkit::v1::{StatusResponse, Vertex, VertexStatus};

use crate::output::Lines;

/// The first Engine API version whose `/session` endpoint works without experimental mode
/// (Docker 18.09); older daemons refuse a BuildKit build.
pub const MIN_BUILDKIT_API: (u32, u32) = (1, 39);

/// The builder a daemon builds with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuilderKind {
    /// BuildKit, with a session that serves registry credentials.
    BuildKit,
    /// The classic builder, and why (logged with every build).
    Classic { reason: String },
}

/// What the daemon reports that decides the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    /// `Os` of `/version` (`linux`, `windows`).
    pub os: String,
    /// `ApiVersion` of `/version` (`1.41`).
    pub api_version: String,
    /// Whether the daemon has the `bridge` network, which BuildKit's `RUN` steps use unless
    /// the build asks for `network=host` or `none`. A daemon started with
    /// `--bridge=none` has none, and BuildKit fails every such step with "network bridge
    /// not found" (the classic builder does not need it).
    pub bridge_network: bool,
}

/// Chooses the builder as the docker CLI (23 and later) does, from `DOCKER_BUILDKIT` and
/// what the daemon reports:
///
/// 1. `DOCKER_BUILDKIT`, when set and not empty, decides (a Go boolean: `1`, `true`, `0`,
///    `false`, …); any other value is an error, as for the CLI.
/// 2. Otherwise BuildKit, unless the daemon runs on Windows.
///
/// Where lilt differs, both times to use the classic builder where BuildKit would fail:
/// a daemon whose API is older than [`MIN_BUILDKIT_API`] (as Tilt does), and, without
/// `DOCKER_BUILDKIT`, a daemon without a bridge network when the build's `network` is
/// neither `host` nor `none`. The CLI also takes a `Builder-Version: 2` header of
/// `/_ping` as a yes (a Windows daemon with experimental BuildKit); bollard's `ping` does
/// not expose headers, so lilt does not read it.
pub fn choose_builder(
    docker_buildkit: Option<&str>,
    daemon: &DaemonInfo,
    network: &str,
) -> Result<BuilderKind, String> {
    let api = parse_api_version(&daemon.api_version);
    let too_old = |why: &str| BuilderKind::Classic {
        reason: match api {
            Some((major, minor)) => format!(
                "{why}the daemon's API version {major}.{minor} is older than {}.{}, the first with BuildKit",
                MIN_BUILDKIT_API.0, MIN_BUILDKIT_API.1
            ),
            None => format!(
                "{why}the daemon did not report a usable API version ({:?})",
                daemon.api_version
            ),
        },
    };
    let recent = api.is_some_and(|v| v >= MIN_BUILDKIT_API);
    if let Some(value) = docker_buildkit.filter(|v| !v.is_empty()) {
        let on = parse_go_bool(value)
            .ok_or_else(|| format!("{value:?} is not a boolean value (use 1, true, 0 or false)"))?;
        return Ok(match (on, recent) {
            (false, _) => BuilderKind::Classic {
                reason: format!("DOCKER_BUILDKIT={value} is set"),
            },
            (true, true) => BuilderKind::BuildKit,
            (true, false) => too_old(&format!("DOCKER_BUILDKIT={value} is set, but ")),
        });
    }
    if daemon.os.eq_ignore_ascii_case("windows") {
        return Ok(BuilderKind::Classic {
            reason: "the daemon runs Windows containers, where the docker CLI uses the classic builder too".to_owned(),
        });
    }
    if !recent {
        return Ok(too_old(""));
    }
    if !daemon.bridge_network && !matches!(network, "host" | "none") {
        return Ok(BuilderKind::Classic {
            reason: "the daemon has no bridge network (dockerd --bridge=none), which BuildKit needs for RUN steps unless docker_build(network=\"host\"); DOCKER_BUILDKIT=1 forces BuildKit".to_owned(),
        });
    }
    Ok(BuilderKind::BuildKit)
}

/// `1.41` → `(1, 41)`.
fn parse_api_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Go's `strconv.ParseBool`, which the docker CLI applies to `DOCKER_BUILDKIT`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The registry host BuildKit names when it asks the session for credentials. Docker
/// Hub's images come from `registry-1.docker.io`; every other registry by its own host.
pub fn session_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// Credentials by registry host (as lilt knows them) re-keyed for the session. BuildKit's
/// session protocol carries a user name and a secret only: a `registrytoken` cannot be
/// passed, and those registries are left to the daemon (an error from the registry then
/// names the problem).
pub fn session_credentials(
    by_host: impl IntoIterator<Item = (String, DockerCredentials)>,
) -> HashMap<String, DockerCredentials> {
    by_host
        .into_iter()
        .filter(|(_, c)| {
            c.identitytoken.is_some() || (c.username.is_some() && c.password.is_some())
        })
        .map(|(host, c)| (session_host(&host).to_owned(), c))
        .collect()
}

/// A BuildKit session ID, unique to one build: BuildKit only needs it to tell sessions
/// apart, so time, process and a counter are enough.
pub fn new_session_id() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(nanos.to_be_bytes());
    h.update(std::process::id().to_be_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    format!("lilt-{}", crate::host::hex(&h.finalize()[..12]))
}

/// What lilt remembers about one BuildKit vertex (a step of the build graph).
#[derive(Debug, Default)]
struct VertexState {
    /// `#N` in the log, in the order vertices started.
    number: usize,
    name: String,
    announced: bool,
    finished: bool,
    /// The vertex's log output not yet ended by a newline.
    partial: Lines,
}

/// Turns BuildKit's status messages into log lines, in the shape of `docker build
/// --progress=plain`: `#N NAME` when a step starts, `#N OUTPUT LINE` for its output,
/// `#N ID done` for finished transfers, and `#N DONE 0.3s`, `#N CACHED` or
/// `#N ERROR: MESSAGE` when it ends. Byte-level progress is left out.
#[derive(Debug, Default)]
pub struct Progress {
    vertices: HashMap<String, VertexState>,
    count: usize,
    /// Transfers (vertex, id) already logged as done.
    statuses_done: HashSet<(String, String)>,
    /// The name of the step that failed, for the error message.
    failed: Option<String>,
    /// Whether `failed` holds a real failure (not a step cancelled because another failed).
    failed_for_real: bool,
}

impl Progress {
    /// The lines one status message adds to the log, grouped by step as plain output
    /// groups them: for each step of the message, its start, finished transfers, output,
    /// warnings and end (so its last output comes before its `DONE`); then what the
    /// message holds for steps it does not list.
    pub fn update(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut out = Vec::new();
        for v in &status.vertexes {
            self.state(&v.digest, Some(&v.name));
            // A vertex that has not started is only planned; BuildKit reports it again.
            let active =
                v.started.is_some() || v.cached || v.completed.is_some() || !v.error.is_empty();
            if active {
                self.announce(&v.digest, &mut out);
            }
            self.details(status, Some(&v.digest), &mut out);
            self.end(v, &mut out);
        }
        self.details(status, None, &mut out);
        out
    }

    /// Transfers, output and warnings of the message for `vertex`, or (with `None`) for
    /// vertices the message does not list.
    fn details(&mut self, status: &StatusResponse, vertex: Option<&str>, out: &mut Vec<String>) {
        let listed = |digest: &str| status.vertexes.iter().any(|v| v.digest == digest);
        let wanted = |digest: &str| match vertex {
            Some(v) => v == digest,
            None => !listed(digest),
        };
        for s in status.statuses.iter().filter(|s| wanted(&s.vertex)) {
            self.status(s, out);
        }
        for log in status.logs.iter().filter(|l| wanted(&l.vertex)) {
            let text = String::from_utf8_lossy(&log.msg);
            let state = self.state(&log.vertex, None);
            let number = state.number;
            let lines = state.partial.push(&text);
            self.announce(&log.vertex, out);
            out.extend(lines.into_iter().map(|l| format!("#{number} {l}")));
        }
        for w in status.warnings.iter().filter(|w| wanted(&w.vertex)) {
            self.announce(&w.vertex, out);
            let number = self.state(&w.vertex, None).number;
            out.push(format!(
                "#{number} WARNING: {}",
                String::from_utf8_lossy(&w.short).trim_end()
            ));
        }
    }

    /// Output lines still waiting for their newline (at the end of the build).
    pub fn finish(&mut self) -> Vec<String> {
        let mut states: Vec<&mut VertexState> = self.vertices.values_mut().collect();
        states.sort_by_key(|s| s.number);
        states
            .into_iter()
            .filter_map(|s| s.partial.finish().map(|l| format!("#{} {l}", s.number)))
            .collect()
    }

    /// The step that failed, as BuildKit names it (`[3/3] RUN false`).
    pub fn failed_step(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn state(&mut self, digest: &str, name: Option<&str>) -> &mut VertexState {
        let count = &mut self.count;
        let state = self.vertices.entry(digest.to_owned()).or_insert_with(|| {
            *count += 1;
            VertexState {
                number: *count,
                ..VertexState::default()
            }
        });
        if let Some(name) = name
            && !name.is_empty()
        {
            state.name = name.to_owned();
        }
        state
    }

    /// Logs `#N NAME` the first time a vertex does anything.
    fn announce(&mut self, digest: &str, out: &mut Vec<String>) {
        let state = self.state(digest, None);
        if !state.announced {
            state.announced = true;
            let name = if state.name.is_empty() {
                digest
            } else {
                &state.name
            };
            out.push(format!("#{} {name}", state.number));
        }
    }

    /// Logs how a vertex ended, once.
    fn end(&mut self, v: &Vertex, out: &mut Vec<String>) {
        let state = self.state(&v.digest, None);
        let finished = v.completed.is_some() || !v.error.is_empty();
        if !finished || state.finished {
            return;
        }
        state.finished = true;
        let number = state.number;
        if let Some(rest) = state.partial.finish() {
            out.push(format!("#{number} {rest}"));
        }
        if !v.error.is_empty() {
            out.push(format!("#{number} ERROR: {}", v.error));
            let cancelled = is_cancellation(&v.error);
            if self.failed.is_none() || (!self.failed_for_real && !cancelled) {
                self.failed = Some(v.name.clone());
                self.failed_for_real = !cancelled;
            }
        } else if v.cached {
            out.push(format!("#{number} CACHED"));
        } else {
            let secs = match (&v.started, &v.completed) {
                (Some(a), Some(b)) => {
                    ((b.seconds - a.seconds) as f64 + f64::from(b.nanos - a.nanos) / 1e9).max(0.0)
                }
                _ => 0.0,
            };
            out.push(format!("#{number} DONE {secs:.1}s"));
        }
    }

    fn status(&mut self, s: &VertexStatus, out: &mut Vec<String>) {
        if s.completed.is_none() {
            return;
        }
        // A transfer is reported many times while it runs; once, when done, is enough.
        if !self.statuses_done.insert((s.vertex.clone(), s.id.clone())) {
            return;
        }
        self.announce(&s.vertex, out);
        let number = self.state(&s.vertex, None).number;
        let mut line = format!("#{number} {}", s.id);
        if !s.name.is_empty() {
            let _ = write!(line, " {}", s.name);
        }
        if s.total > 0 {
            let _ = write!(line, " {} / {}", bytes(s.current), bytes(s.total));
        } else if s.current > 0 {
            let _ = write!(line, " {}", bytes(s.current));
        }
        line.push_str(" done");
        out.push(line);
    }
}

/// BuildKit cancels the other steps when one fails; their errors say only that.
fn is_cancellation(error: &str) -> bool {
    error.contains("context canceled") || error.contains("context cancelled")
}

/// `2.35kB`, as BuildKit's plain output shows sizes.
fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1000.0 {
        return format!("{n}B");
    }
    let mut value = n;
    for unit in ["kB", "MB", "GB", "TB"] {
        value /= 1000.0;
        if value < 1000.0 {
            return format!("{value:.2}{unit}");
        }
    }
    format!("{value:.2}PB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::moby::buildkit::v1::VertexLog;

    fn daemon(os: &str, api: &str, bridge: bool) -> DaemonInfo {
        DaemonInfo {
            os: os.into(),
            api_version: api.into(),
            bridge_network: bridge,
        }
    }

    #[test]
    fn builder_choice_follows_the_docker_cli() {
        let linux = daemon("linux", "1.41", true);
        assert_eq!(choose_builder(None, &linux, ""), Ok(BuilderKind::BuildKit));
        assert_eq!(
            choose_builder(Some(""), &linux, ""),
            Ok(BuilderKind::BuildKit),
            "empty is unset"
        );
        for off in ["0", "false", "F", "FALSE"] {
            let kind = choose_builder(Some(off), &linux, "").unwrap();
            assert!(
                matches!(&kind, BuilderKind::Classic { reason } if reason.contains(&format!("DOCKER_BUILDKIT={off}"))),
                "{kind:?}"
            );
        }
        let windows = daemon("windows", "1.41", true);
        assert_eq!(
            choose_builder(Some("true"), &windows, ""),
            Ok(BuilderKind::BuildKit)
        );
        assert!(matches!(
            choose_builder(None, &windows, ""),
            Ok(BuilderKind::Classic { .. })
        ));
        let old = choose_builder(Some("1"), &daemon("linux", "1.38", true), "").unwrap();
        assert!(
            matches!(&old, BuilderKind::Classic { reason } if reason.contains("1.38 is older than 1.39")),
            "{old:?}"
        );
        assert!(matches!(
            choose_builder(None, &daemon("linux", "", true), ""),
            Ok(BuilderKind::Classic { .. })
        ));
        let err = choose_builder(Some("yes"), &linux, "").unwrap_err();
        assert!(err.contains("\"yes\" is not a boolean"), "{err}");
    }

    #[test]
    fn a_daemon_without_a_bridge_builds_classic_unless_told_or_not_needed() {
        let bridgeless = daemon("linux", "1.41", false);
        let kind = choose_builder(None, &bridgeless, "").unwrap();
        assert!(
            matches!(&kind, BuilderKind::Classic { reason } if reason.contains("--bridge=none")),
            "{kind:?}"
        );
        assert!(matches!(
            choose_builder(None, &bridgeless, "default"),
            Ok(BuilderKind::Classic { .. })
        ));
        for network in ["host", "none"] {
            assert_eq!(
                choose_builder(None, &bridgeless, network),
                Ok(BuilderKind::BuildKit)
            );
        }
        assert_eq!(
            choose_builder(Some("1"), &bridgeless, ""),
            Ok(BuilderKind::BuildKit)
        );
    }

    #[test]
    fn session_credentials_use_the_hosts_buildkit_asks_for() {
        let basic = DockerCredentials {
            username: Some("u".into()),
            password: Some("p".into()),
            ..DockerCredentials::default()
        };
        let token_only = DockerCredentials {
            registrytoken: Some("t".into()),
            ..DockerCredentials::default()
        };
        let map = session_credentials([
            ("docker.io".to_owned(), basic.clone()),
            ("127.0.0.1:5101".to_owned(), basic.clone()),
            ("gcr.io".to_owned(), token_only),
        ]);
        assert_eq!(map.get("registry-1.docker.io"), Some(&basic));
        assert_eq!(map.get("127.0.0.1:5101"), Some(&basic));
        assert!(!map.contains_key("gcr.io"));
    }

    #[test]
    fn session_ids_differ() {
        assert_ne!(new_session_id(), new_session_id());
    }

    /// Sets a protobuf timestamp field (bollard does not re-export the type to name it).
    macro_rules! at {
        ($slot:expr, $seconds:expr, $nanos:expr) => {{
            let mut t = $slot.take().unwrap_or_default();
            t.seconds = $seconds;
            t.nanos = $nanos;
            $slot = Some(t);
        }};
    }

    fn vertex(digest: &str, name: &str) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            ..Vertex::default()
        }
    }

    #[test]
    fn progress_reads_like_plain_output() {
        let mut p = Progress::default();
        // Planned vertices print nothing until they start.
        let planned = StatusResponse {
            vertexes: vec![
                vertex("a", "[1/2] FROM base"),
                vertex("b", "[2/2] RUN echo hi"),
            ],
            ..StatusResponse::default()
        };
        assert!(p.update(&planned).is_empty());
        let mut a = vertex("a", "[1/2] FROM base");
        a.cached = true;
        at!(a.started, 10, 0);
        at!(a.completed, 10, 0);
        let mut b = vertex("b", "[2/2] RUN echo hi");
        at!(b.started, 10, 0);
        let lines = p.update(&StatusResponse {
            vertexes: vec![a.clone(), b.clone()],
            logs: vec![VertexLog {
                vertex: "b".into(),
                msg: b"hi\npart".to_vec(),
                ..VertexLog::default()
            }],
            ..StatusResponse::default()
        });
        assert_eq!(
            lines,
            vec![
                "#1 [1/2] FROM base",
                "#1 CACHED",
                "#2 [2/2] RUN echo hi",
                "#2 hi"
            ]
        );
        at!(b.completed, 10, 300_000_000);
        let mut transfer = VertexStatus {
            id: "transferring context:".into(),
            vertex: "b".into(),
            current: 2048,
            ..VertexStatus::default()
        };
        at!(transfer.completed, 10, 1);
        let lines = p.update(&StatusResponse {
            vertexes: vec![a, b.clone()],
            statuses: vec![transfer],
            ..StatusResponse::default()
        });
        assert_eq!(
            lines,
            vec![
                "#2 transferring context: 2.05kB done",
                "#2 part",
                "#2 DONE 0.3s"
            ]
        );
        // Repeated reports of finished work add nothing.
        assert!(
            p.update(&StatusResponse {
                vertexes: vec![b],
                ..StatusResponse::default()
            })
            .is_empty()
        );
        assert_eq!(p.failed_step(), None);
    }

    #[test]
    fn the_failing_step_is_the_first_real_error() {
        let mut p = Progress::default();
        let mut other = vertex("o", "[other 1/1] RUN sleep 5");
        at!(other.started, 1, 0);
        at!(other.completed, 2, 0);
        other.error = "context canceled".into();
        let mut failing = vertex("f", "[3/3] RUN exit 3");
        at!(failing.started, 1, 0);
        at!(failing.completed, 2, 0);
        failing.error = "executor failed running [/bin/sh -c exit 3]: exit code: 3".into();
        let lines = p.update(&StatusResponse {
            vertexes: vec![other, failing],
            ..StatusResponse::default()
        });
        assert_eq!(p.failed_step(), Some("[3/3] RUN exit 3"));
        assert!(
            lines.contains(
                &"#2 ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3".to_owned()
            ),
            "{lines:?}"
        );
        // Output without a final newline comes out at the end.
        let mut p = Progress::default();
        let mut v = vertex("x", "[1/1] RUN printf tail");
        at!(v.started, 1, 0);
        p.update(&StatusResponse {
            vertexes: vec![v],
            logs: vec![VertexLog {
                vertex: "x".into(),
                msg: b"tail".to_vec(),
                ..VertexLog::default()
            }],
            ..StatusResponse::default()
        });
        assert_eq!(p.finish(), vec!["#1 tail"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(37), "37B");
        assert_eq!(bytes(2048), "2.05kB");
        assert_eq!(bytes(3_500_000), "3.50MB");
    }
}
