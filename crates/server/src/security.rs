//! The server's defences, applied to every request before routing: the `Host` allowlist
//! (DNS rebinding), the same-origin check on `Origin` (CSRF, cross-site WebSocket
//! hijacking), the session token on `/api`, `/ws` and `/proxy`, the `?token=` cookie flow,
//! and headers that keep pages out of frames and tokens out of referrers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::conn::Conn;

pub const TOKEN_COOKIE: &str = "Tilt-Token";
pub const TOKEN_HEADER: &str = "X-Tilt-Token";

/// The middleware: host, origin, then token for protected paths.
pub(crate) async fn guard(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(host) = request_host(&req) else {
        return text(StatusCode::FORBIDDEN, "missing Host header");
    };
    if !host_allowed(&host, &state.config.allowed_hosts) {
        return text(StatusCode::FORBIDDEN, "host not allowed");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin_matches(origin, &host)
    {
        return text(StatusCode::FORBIDDEN, "cross-origin request forbidden");
    }
    let token_ok = presented_token(req.headers())
        .map(|candidate| constant_time_eq(candidate.as_bytes(), state.config.token.as_bytes()));
    if token_ok == Some(true)
        && let Some(Conn(slot)) = req.extensions().get::<Conn>()
    {
        // A client with the token keeps its connection when the connection cap is reached.
        slot.authenticate();
    }
    if is_protected(req.uri().path()) {
        match token_ok {
            None => return text(StatusCode::UNAUTHORIZED, "missing session token"),
            Some(false) => return text(StatusCode::UNAUTHORIZED, "invalid session token"),
            Some(true) => {}
        }
    }
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

pub(crate) fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{body}\n"),
    )
        .into_response()
}

/// Paths that need the session token.
pub fn is_protected(path: &str) -> bool {
    ["/api", "/ws", "/proxy"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

/// The `Host` header (or the URI authority of an HTTP/2 request), lowercased.
fn request_host(req: &Request) -> Option<String> {
    let raw = match req.headers().get(header::HOST) {
        Some(value) => value.to_str().ok()?.to_owned(),
        None => req.uri().authority()?.as_str().to_owned(),
    };
    let raw = raw.trim().to_ascii_lowercase();
    (!raw.is_empty()).then_some(raw)
}

/// Splits `host[:port]` (with `[v6]` brackets kept); `None` when malformed.
fn split_host(host: &str) -> Option<(&str, Option<&str>)> {
    let (name, rest) = if host.starts_with('[') {
        let end = host.find(']')?;
        (&host[..=end], &host[end + 1..])
    } else {
        match host.rfind(':') {
            Some(idx) => (&host[..idx], &host[idx..]),
            None => (host, ""),
        }
    };
    if name.is_empty() {
        return None;
    }
    match rest.strip_prefix(':') {
        None if rest.is_empty() => Some((name, None)),
        Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Some((name, Some(port)))
        }
        _ => None,
    }
}

/// `localhost`, `127.0.0.1` and `[::1]` with any port, plus the configured names.
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let Some((name, _port)) = split_host(host) else {
        return false;
    };
    if matches!(name, "localhost" | "127.0.0.1" | "[::1]") {
        return true;
    }
    extra.iter().any(|allowed| {
        let allowed = allowed.trim().to_ascii_lowercase();
        // An IPv6 `--host` is written without brackets; the Host header has them.
        let bracketed = if allowed.contains(':') && !allowed.starts_with('[') {
            format!("[{allowed}]")
        } else {
            allowed
        };
        !bracketed.is_empty() && bracketed == name
    })
}

/// An `Origin` matches when it is lilt's own: scheme `http` (lilt serves plain HTTP, so
/// `https://` on the same host and port is another origin), and the same host and port as
/// the request's `Host` (a missing port being 80 on either side).
fn origin_matches(origin: &HeaderValue, host: &str) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().to_ascii_lowercase();
    let Some(authority) = origin.strip_prefix("http://") else {
        return false;
    };
    match (split_host(authority), split_host(host)) {
        (Some((o_name, o_port)), Some((h_name, h_port))) => {
            o_name == h_name && o_port.unwrap_or("80") == h_port.unwrap_or("80")
        }
        _ => false,
    }
}

/// Where `GET PATH?token=…` sends the browser: the same path on lilt's own origin. A path
/// starting with `//` or `/\` would be read by a browser as another host
/// (`//evil.example/`), so leading slashes and backslashes collapse to one `/`.
pub fn same_origin_location(path: &str) -> String {
    let rest = path.trim_start_matches(['/', '\\']);
    if rest.chars().any(|c| c.is_control() || c == '\\') {
        return "/".to_owned();
    }
    format!("/{rest}")
}

/// The token from the `X-Tilt-Token` header, else from the `Tilt-Token` cookie.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(TOKEN_HEADER) {
        return value.to_str().ok().map(str::to_owned);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// Compares without an early exit, so response time does not reveal how much of a guess
/// was right. The length is not secret (tokens have a fixed length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode(value))
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'%' if idx + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[idx + 1..idx + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        idx += 3;
                    }
                    None => {
                        out.push(b'%');
                        idx += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                idx += 1;
            }
            b => {
                out.push(b);
                idx += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cookie that carries the token for a browser.
pub fn token_cookie(token: &str) -> String {
    format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_allowlist() {
        let extra = vec!["devbox.local".to_owned(), "::2".to_owned()];
        for ok in [
            "localhost",
            "localhost:10350",
            "127.0.0.1:1",
            "[::1]:10350",
            "[::1]",
            "devbox.local:80",
            "[::2]:5",
        ] {
            assert!(host_allowed(ok, &extra), "{ok} should be allowed");
        }
        for bad in [
            "evil.com",
            "localhost.evil.com",
            "127.0.0.2",
            "localhost:",
            "localhost:abc",
            "[::1",
            ":80",
            "0.0.0.0:10350",
        ] {
            assert!(!host_allowed(bad, &extra), "{bad} should be refused");
        }
    }

    #[test]
    fn origins_must_match_the_host_exactly() {
        let check = |origin: &str, host: &str| {
            origin_matches(&HeaderValue::from_str(origin).unwrap(), host)
        };
        assert!(check("http://localhost:10350", "localhost:10350"));
        assert!(check("HTTP://LOCALHOST:10350", "localhost:10350"));
        assert!(!check("http://localhost:10351", "localhost:10350"));
        assert!(!check("http://evil.com", "localhost:10350"));
        assert!(!check("null", "localhost:10350"));
        assert!(!check("https://localhost:10350", "localhost:10350"));
        assert!(!check("ws://localhost:10350", "localhost:10350"));
        assert!(check("http://localhost", "localhost:80"));
        assert!(!check("http://localhost:10350/", "localhost:10350"));
    }

    #[test]
    fn token_redirects_stay_on_lilts_origin() {
        assert_eq!(same_origin_location("/"), "/");
        assert_eq!(same_origin_location("/overview"), "/overview");
        assert_eq!(same_origin_location("//evil.example/"), "/evil.example/");
        assert_eq!(same_origin_location("/\\evil.example/"), "/evil.example/");
        assert_eq!(same_origin_location("/\\/evil.example"), "/evil.example");
        assert_eq!(same_origin_location("/a\\b"), "/");
    }

    #[test]
    fn token_comes_from_header_or_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; Tilt-Token=abc ; c=d"),
        );
        assert_eq!(presented_token(&headers).as_deref(), Some("abc"));
        headers.insert(TOKEN_HEADER, HeaderValue::from_static("hdr"));
        assert_eq!(presented_token(&headers).as_deref(), Some("hdr"));
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param("a=1&token=x%2Fy", "token").as_deref(),
            Some("x/y")
        );
        assert_eq!(query_param("token", "token").as_deref(), Some(""));
        assert_eq!(query_param("a=1", "token"), None);
        assert_eq!(query_param("token=%zz%", "token").as_deref(), Some("%zz%"));
    }

    #[test]
    fn protected_prefixes() {
        assert!(is_protected("/api/view"));
        assert!(is_protected("/ws/view"));
        assert!(is_protected("/proxy/apis/x"));
        assert!(is_protected("/api"));
        assert!(!is_protected("/apiary"));
        assert!(!is_protected("/r/api/overview"));
    }
}
