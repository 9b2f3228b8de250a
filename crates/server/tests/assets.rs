//! Over real HTTP: the embedded dashboard, its content types and the single-page fallback.

mod common;

use common::{sample_logs, sample_snapshot, start};

#[tokio::test]
async fn files_are_served_with_their_types() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let index = s.get("/", &[]).await;
    assert_eq!(index.status, 200);
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    assert!(index.body.contains(r#"<base href="/">"#));

    let js = s.get("/js/main.js", &[]).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.body,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/js/main.js"))
            .unwrap()
    );

    let css = s.get("/css/app.css", &[]).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[tokio::test]
async fn unknown_routes_get_the_dashboard_shell() {
    let s = start(sample_snapshot(), sample_logs()).await;
    let index = s.get("/", &[]).await.body;
    for path in [
        "/overview",
        "/r/api/overview",
        "/r/(all)/overview",
        "/anything/else?x=1",
    ] {
        let resp = s.get(path, &[]).await;
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(resp.body, index, "{path}");
    }
    // Missing scripts are errors, not pages; dev and test files are not served.
    for path in ["/js/nope.js", "/css/nope.css"] {
        assert_eq!(s.get(path, &[]).await.status, 404, "{path}");
    }
    for path in ["/dev/serve.py", "/test/state.test.mjs", "/README.md"] {
        let resp = s.get(path, &[]).await;
        assert_eq!(resp.body, index, "{path} must not be served as a file");
    }
    let head = common::request(s.addr, "HEAD", "/", &[], "").await;
    assert_eq!(head.status, 200);
    assert_eq!(
        common::request(s.addr, "POST", "/", &[], "").await.status,
        405
    );
}
