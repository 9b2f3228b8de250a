//! The dashboard's static files, embedded from `web/` (debug builds read them from disk),
//! served with their real types; unknown non-file routes get `index.html` (the dashboard
//! routes on the client). `GET /?token=…` turns the printed URL into a cookie.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::app::AppState;
use crate::security::{self, constant_time_eq, query_param, text, token_cookie};

#[derive(RustEmbed)]
#[folder = "../../web/"]
#[exclude = "dev/*"]
#[exclude = "test/*"]
#[exclude = "*.md"]
struct Assets;

/// Content type by extension. JavaScript must be `text/javascript` for module scripts.
pub fn content_type(path: &str) -> String {
    let ext = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match ext.as_deref() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8".to_owned(),
        Some("html") => "text/html; charset=utf-8".to_owned(),
        Some("css") => "text/css; charset=utf-8".to_owned(),
        Some("json") => "application/json".to_owned(),
        Some("svg") => "image/svg+xml".to_owned(),
        _ => mime_guess::from_path(path)
            .first_or_octet_stream()
            .essence_str()
            .to_owned(),
    }
}

/// Fallback handler: assets, the SPA shell, and the token-to-cookie redirect.
pub(crate) async fn serve_asset(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
) -> Response {
    let path = uri.path();
    if security::is_protected(path) {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    if let Some(token) = uri.query().and_then(|q| query_param(q, "token")) {
        if !constant_time_eq(token.as_bytes(), state.config.token.as_bytes()) {
            return text(StatusCode::UNAUTHORIZED, "invalid session token");
        }
        let Ok(cookie) = HeaderValue::from_str(&token_cookie(&state.config.token)) else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "token is not a valid cookie value",
            );
        };
        // Same path, no query: the token leaves the address bar and the history.
        let location = HeaderValue::from_str(&security::same_origin_location(path))
            .unwrap_or(HeaderValue::from_static("/"));
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
        )
            .into_response();
    }
    let rel = path.trim_start_matches('/');
    if let Some(file) = (!rel.is_empty()).then(|| Assets::get(rel)).flatten() {
        return file_response(rel, file.data.into_owned(), method);
    }
    // A missing script or stylesheet is an error, not a page: the dashboard would otherwise
    // fail with a confusing MIME error.
    if rel.starts_with("js/") || rel.starts_with("css/") {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    match Assets::get("index.html") {
        Some(file) => file_response("index.html", file.data.into_owned(), method),
        None => text(StatusCode::NOT_FOUND, "dashboard assets are missing"),
    }
}

fn file_response(path: &str, data: Vec<u8>, method: Method) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type(path)),
        // File names carry no content hash, so a new lilt must never meet a cached old file.
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if method == Method::HEAD {
        return (StatusCode::OK, headers).into_response();
    }
    (StatusCode::OK, headers, data).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(content_type("js/main.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("css/app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.png"), "image/png");
        assert_eq!(content_type("x.unknownext"), "application/octet-stream");
    }

    #[test]
    fn the_dashboard_is_embedded_without_dev_files() {
        assert!(Assets::get("index.html").is_some());
        assert!(Assets::get("js/main.js").is_some());
        assert!(Assets::iter().all(|p| !p.starts_with("dev/") && !p.starts_with("test/")));
    }
}
