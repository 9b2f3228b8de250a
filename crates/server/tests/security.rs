//! Over real HTTP: the token on every protected route kind, the cookie flow, the Host
//! allowlist, the Origin check and the absence of CORS and token leaks.

mod common;

use common::{TOKEN, request, sample_logs, sample_snapshot, start, start_with_hosts, ws_connect};

/// One route of each protected kind.
const PROTECTED: [(&str, &str); 6] = [
    ("GET", "/api/view"),
    ("GET", "/api/snapshot"),
    ("POST", "/api/trigger"),
    ("POST", "/api/override/trigger_mode"),
    ("POST", "/api/set_tiltfile_args"),
    ("PUT", "/proxy/apis/tilt.dev/v1alpha1/uibuttons/seed/status"),
];

#[tokio::test]
async fn protected_routes_need_the_token() {
    let mut server = start(sample_snapshot(), sample_logs()).await;
    for (method, path) in PROTECTED {
        let none = request(server.addr, method, path, &[], "{}").await;
        assert_eq!(none.status, 401, "{method} {path} without a token");
        assert_eq!(none.body, "missing session token\n");

        let wrong = request(server.addr, method, path, &[("X-Tilt-Token", "nope")], "{}").await;
        assert_eq!(
            wrong.status, 401,
            "{method} {path} with a wrong header token"
        );
        assert_eq!(wrong.body, "invalid session token\n");

        let wrong_cookie = request(
            server.addr,
            method,
            path,
            &[("Cookie", "Tilt-Token=nope")],
            "{}",
        )
        .await;
        assert_eq!(
            wrong_cookie.status, 401,
            "{method} {path} with a wrong cookie"
        );

        // Unknown paths under a protected prefix are refused before they are looked up.
        let unknown = request(server.addr, method, &format!("{path}x"), &[], "").await;
        assert_eq!(unknown.status, 401);
    }
    assert!(server.no_action(), "refused requests must not act");

    let header = request(
        server.addr,
        "GET",
        "/api/view",
        &[("X-Tilt-Token", TOKEN)],
        "",
    )
    .await;
    assert_eq!(header.status, 200);
    let cookie = format!("theme=dark; Tilt-Token={TOKEN}");
    let by_cookie = request(server.addr, "GET", "/api/view", &[("Cookie", &cookie)], "").await;
    assert_eq!(by_cookie.status, 200);
    let trigger = request(
        server.addr,
        "POST",
        "/api/trigger",
        &[("Cookie", &cookie)],
        r#"{"manifest_names":["api"]}"#,
    )
    .await;
    assert_eq!(trigger.status, 200);
    assert!(server.next_action().await.is_some());
}

#[tokio::test]
async fn websocket_needs_the_token() {
    let server = start(sample_snapshot(), sample_logs()).await;
    assert_eq!(ws_connect(server.addr, &[]).await.err(), Some(401));
    assert_eq!(
        ws_connect(server.addr, &[("Cookie", "Tilt-Token=bad")])
            .await
            .err(),
        Some(401)
    );
    let cookie = format!("Tilt-Token={TOKEN}");
    assert!(
        ws_connect(server.addr, &[("Cookie", &cookie)])
            .await
            .is_ok()
    );
    assert!(
        ws_connect(server.addr, &[("X-Tilt-Token", TOKEN)])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn token_url_sets_the_cookie_and_redirects() {
    let server = start(sample_snapshot(), sample_logs()).await;
    let resp = server.get(&format!("/?token={TOKEN}"), &[]).await;
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some("/"));
    assert_eq!(
        resp.header("set-cookie"),
        Some(format!("Tilt-Token={TOKEN}; HttpOnly; SameSite=Strict; Path=/").as_str())
    );

    let wrong = server.get("/?token=guess", &[]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("set-cookie"), None);
    assert!(!wrong.body.contains(TOKEN));

    // Plain page loads never hand out the token.
    let page = server.get("/", &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("set-cookie"), None);
    assert!(!page.body.contains(TOKEN));
}

#[tokio::test]
async fn no_endpoint_returns_the_token() {
    let server = start(sample_snapshot(), sample_logs()).await;
    for path in [
        "/",
        "/overview",
        "/api/view",
        "/api/snapshot",
        "/js/main.js",
    ] {
        let resp = server.get_authed(path).await;
        assert!(!resp.body.contains(TOKEN), "{path} leaks the token");
        assert!(
            resp.headers.iter().all(|(_, v)| !v.contains(TOKEN)),
            "{path} leaks the token in a header"
        );
    }
}

#[tokio::test]
async fn foreign_hosts_are_refused_everywhere() {
    let server = start(sample_snapshot(), sample_logs()).await;
    for path in ["/", "/js/main.js", "/api/view", "/r/api/overview"] {
        let resp = server
            .get(
                path,
                &[("Host", "evil.example:10350"), ("X-Tilt-Token", TOKEN)],
            )
            .await;
        assert_eq!(resp.status, 403, "{path} with a foreign Host");
    }
    let port = server.addr.port();
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "[::1]:80".to_owned(),
        "localhost".to_owned(),
    ] {
        let resp = server
            .get("/api/view", &[("Host", &host), ("X-Tilt-Token", TOKEN)])
            .await;
        assert_eq!(resp.status, 200, "Host {host}");
    }
    assert_eq!(
        server.get("/", &[("Host", "evil.example")]).await.status,
        403
    );
}

#[tokio::test]
async fn configured_hosts_are_allowed() {
    let server = start_with_hosts(
        sample_snapshot(),
        sample_logs(),
        vec!["devbox.lan".to_owned()],
    )
    .await;
    let ok = server
        .get(
            "/api/view",
            &[("Host", "devbox.lan:10350"), ("X-Tilt-Token", TOKEN)],
        )
        .await;
    assert_eq!(ok.status, 200);
    let other = server
        .get(
            "/api/view",
            &[("Host", "otherbox.lan:10350"), ("X-Tilt-Token", TOKEN)],
        )
        .await;
    assert_eq!(other.status, 403);
}

#[tokio::test]
async fn foreign_origins_are_refused_and_same_origin_accepted() {
    let mut server = start(sample_snapshot(), sample_logs()).await;
    let host = server.host();
    let same = format!("http://{host}");
    let foreign = [
        "http://evil.example".to_owned(),
        format!("http://localhost:{}", server.addr.port() + 1),
        "null".to_owned(),
    ];
    for origin in &foreign {
        let resp = server
            .get("/api/view", &[("Origin", origin), ("X-Tilt-Token", TOKEN)])
            .await;
        assert_eq!(resp.status, 403, "Origin {origin}");
        assert_eq!(resp.body, "cross-origin request forbidden\n");
        let post = request(
            server.addr,
            "POST",
            "/api/trigger",
            &[("Origin", origin), ("X-Tilt-Token", TOKEN)],
            r#"{"manifest_names":["api"]}"#,
        )
        .await;
        assert_eq!(post.status, 403);
        assert_eq!(
            ws_connect(server.addr, &[("Origin", origin), ("X-Tilt-Token", TOKEN)])
                .await
                .err(),
            Some(403)
        );
    }
    assert!(server.no_action());

    let ok = server
        .get("/api/view", &[("Origin", &same), ("X-Tilt-Token", TOKEN)])
        .await;
    assert_eq!(ok.status, 200);
    assert!(
        ws_connect(server.addr, &[("Origin", &same), ("X-Tilt-Token", TOKEN)])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn no_cors_headers_and_defensive_headers() {
    let server = start(sample_snapshot(), sample_logs()).await;
    let preflight = request(
        server.addr,
        "OPTIONS",
        "/api/view",
        &[
            ("Access-Control-Request-Method", "GET"),
            ("X-Tilt-Token", TOKEN),
        ],
        "",
    )
    .await;
    for resp in [
        preflight,
        server.get_authed("/api/view").await,
        server.get("/", &[]).await,
    ] {
        assert!(
            resp.headers
                .iter()
                .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control-")),
            "CORS header in {:?}",
            resp.headers
        );
    }
    let page = server.get("/", &[]).await;
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn serve_returns_after_shutdown() {
    let server = start(sample_snapshot(), sample_logs()).await;
    let _socket = ws_connect(server.addr, &[("X-Tilt-Token", TOKEN)])
        .await
        .expect("socket");
    let addr = server.addr;
    assert!(server.stop().await.is_ok());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Issue 9: `GET //evil.example/?token=…` redirected to `//evil.example/`, which a browser
/// reads as another site: a leaked token turned lilt into an open redirect.
#[tokio::test]
async fn token_redirect_to_a_double_slash_path_stays_on_lilts_origin() {
    let server = start(sample_snapshot(), sample_logs()).await;
    for (path, expected) in [
        ("//evil.example/", "/evil.example/"),
        ("///evil.example/x", "/evil.example/x"),
        ("//evil.example", "/evil.example"),
        ("/overview", "/overview"),
    ] {
        let resp = server.get(&format!("{path}?token={TOKEN}"), &[]).await;
        assert_eq!(resp.status, 303, "{path}");
        assert_eq!(resp.header("location"), Some(expected), "{path}");
    }
}

/// Issue 9: the Origin check compared only host and port, so `https://127.0.0.1:PORT`
/// passed although lilt serves plain HTTP: another origin by the browser's rules.
#[tokio::test]
async fn origin_with_another_scheme_is_refused() {
    let mut server = start(sample_snapshot(), sample_logs()).await;
    let host = server.host();
    for origin in [format!("https://{host}"), format!("ws://{host}")] {
        let resp = server
            .get("/api/view", &[("Origin", &origin), ("X-Tilt-Token", TOKEN)])
            .await;
        assert_eq!(resp.status, 403, "Origin {origin}");
        let post = request(
            server.addr,
            "POST",
            "/api/trigger",
            &[("Origin", &origin), ("X-Tilt-Token", TOKEN)],
            r#"{"manifest_names":["api"]}"#,
        )
        .await;
        assert_eq!(post.status, 403, "Origin {origin}");
        assert_eq!(
            ws_connect(server.addr, &[("Origin", &origin), ("X-Tilt-Token", TOKEN)])
                .await
                .err(),
            Some(403),
            "Origin {origin}"
        );
    }
    assert!(server.no_action());
    let same = format!("http://{host}");
    let ok = server
        .get("/api/view", &[("Origin", &same), ("X-Tilt-Token", TOKEN)])
        .await;
    assert_eq!(ok.status, 200);
}
