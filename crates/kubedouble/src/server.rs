//! The HTTPS front: TLS accept loop, bearer-token authentication, the REST path layout of
//! kube-apiserver (`/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}`,
//! `/apis/{group}/{version}/...`), verbs from method + path + `watch`, request bodies (3 MiB
//! limit, as `MaxRequestBodyBytes`), patch content types, `Status` error bodies, discovery
//! documents, chunked watch streams, the request log and injected faults.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::resources::{self, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{ChangeKind, DeleteOpts, Deleted, ListOpts, PatchType, Store, WriteCtx};
use crate::{Fault, RequestRecord};

pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// `MaxRequestBodyBytes` of kube-apiserver.
pub(crate) const MAX_BODY: usize = 3 * 1024 * 1024;

/// State the handlers share.
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub token: String,
    pub server_addr: String,
    pub bookmark_interval: Duration,
    pub faults: Mutex<Vec<Fault>>,
    pub requests: Mutex<Vec<RequestRecord>>,
    /// Bumped to end every open watch (a fault: "the apiserver dropped my watches").
    pub drop_watches: watch::Sender<u64>,
    pub shutdown: watch::Receiver<bool>,
    pub pods: Option<Arc<crate::kubelet::Kubelet>>,
}

pub(crate) fn full(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

pub(crate) fn json_response(code: u16, v: &Value) -> Response<Body> {
    full(code, "application/json", v.to_string())
}

pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_status())
}

/// A streamed body fed by a channel; the sender sees an error once the client is gone.
pub(crate) fn streaming(code: u16, content_type: &str) -> (mpsc::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    (tx, r)
}

/// Accepts TLS connections until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let tls = tls.clone();
        let shared = shared.clone();
        let mut conn_shutdown = shared.shutdown.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// Percent-decoding for paths and query values (`+` is a space in queries).
fn decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parsed query string.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k, true), decode(v, true)),
                    None => (decode(p, true), String::new()),
                })
                .collect(),
        )
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }
}

/// Where a request goes.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Version,
    Health,
    Api,
    Apis,
    Group(String),
    Discovery(String, String),
    Resource(ResourcePath),
    Unknown,
}

#[derive(Debug, Clone)]
pub(crate) struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub(crate) fn route(path: &str) -> Route {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode(s, false))
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match s.as_slice() {
        ["version"] => return Route::Version,
        ["healthz" | "livez" | "readyz", ..] => return Route::Health,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["api", v] => return Route::Discovery(String::new(), v.to_string()),
        ["apis", g] => return Route::Group(g.to_string()),
        ["apis", g, v] => return Route::Discovery(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::Unknown,
    };
    let rp = |ns: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: ns.map(str::to_string),
            plural: plural.to_string(),
            name: name.map(str::to_string),
            sub: sub.map(str::to_string),
        })
    };
    match rest {
        // /api/v1/namespaces/{name}/status|finalize: the namespace's own subresources.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            rp(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => rp(Some(ns), plural, None, None),
        ["namespaces", ns, plural, name] => rp(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub] => rp(Some(ns), plural, Some(name), Some(sub)),
        [plural] => rp(None, plural, None, None),
        [plural, name] => rp(None, plural, Some(name), None),
        [plural, name, sub] => rp(None, plural, Some(name), Some(sub)),
        _ => Route::Unknown,
    }
}

fn wants_aggregated(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=APIGroupDiscoveryList"))
}

const AGGREGATED_CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The verb kube-apiserver's RequestInfo would compute.
fn verb_of(method: &Method, route: &Route, q: &Query) -> String {
    let Route::Resource(rp) = route else {
        return method.as_str().to_lowercase();
    };
    match (method.as_str(), rp.name.is_some()) {
        ("GET", false) if q.flag("watch") => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
    .to_string()
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let q = Query::parse(req.uri().query());
    let route = route(&path);
    let verb = verb_of(&method, &route, &q);
    let ua = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let public = matches!(route, Route::Version | Route::Health);
    let authed = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", shared.token));
    let resp = if !authed && !public {
        error_response(&ApiError::new(401, "Unauthorized", "Unauthorized"))
    } else if let Some(f) = take_fault(&shared, &verb, &route) {
        if let Some(stall) = f.stall {
            tokio::time::sleep(stall).await;
            dispatch(&shared, req, &route, &q, &ua).await
        } else {
            let mut r = error_response(&f.error());
            if let Some(secs) = f.retry_after_seconds
                && let Ok(v) = HeaderValue::from_str(&secs.to_string())
            {
                r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
            }
            r
        }
    } else {
        dispatch(&shared, req, &route, &q, &ua).await
    };
    let record = RequestRecord {
        method: method.to_string(),
        path,
        query: raw_query,
        verb,
        status: resp.status().as_u16(),
        user_agent: ua,
    };
    if let Ok(mut log) = shared.requests.lock() {
        log.push(record);
    }
    resp
}

fn take_fault(shared: &Shared, verb: &str, route: &Route) -> Option<Fault> {
    let (resource, ns, name) = match route {
        Route::Resource(rp) => {
            let res = match &rp.sub {
                Some(s) => format!("{}/{}", rp.plural, s),
                None => rp.plural.clone(),
            };
            (Some(res), rp.namespace.clone(), rp.name.clone())
        }
        _ => (None, None, None),
    };
    let mut faults = shared.faults.lock().ok()?;
    let i = faults.iter().position(|f| {
        f.verb.as_deref().is_none_or(|v| v == verb)
            && f.resource
                .as_deref()
                .is_none_or(|r| Some(r) == resource.as_deref())
            && f.namespace
                .as_deref()
                .is_none_or(|n| Some(n) == ns.as_deref())
            && f.name.as_deref().is_none_or(|n| Some(n) == name.as_deref())
    })?;
    let f = faults[i].clone();
    match faults[i].times.as_mut() {
        Some(t) if *t <= 1 => {
            faults.remove(i);
        }
        Some(t) => *t -= 1,
        None => {}
    }
    Some(f)
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::too_large(MAX_BODY))
            } else {
                Err(ApiError::bad_request(format!(
                    "reading the request body: {e}"
                )))
            }
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

/// `fieldManager`, or the User-Agent's first segment as kube-apiserver derives it.
fn manager(q: &Query, ua: &str) -> String {
    match q.get("fieldManager") {
        Some(m) => m.to_string(),
        None => ua.split('/').next().unwrap_or("").to_string(),
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    route: &Route,
    q: &Query,
    ua: &str,
) -> Response<Body> {
    let types: Vec<ResourceType> = shared.store.types().iter().map(|t| (**t).clone()).collect();
    match route {
        Route::Version => json_response(
            200,
            &json!({
                "major": "1", "minor": "33",
                "gitVersion": "v1.33.0-lilt-kubedouble",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.24.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }),
        ),
        Route::Health => full(200, "text/plain; charset=utf-8", "ok"),
        Route::Api => {
            if wants_aggregated(&req) {
                full(
                    200,
                    AGGREGATED_CT,
                    resources::aggregated(&types, true).to_string(),
                )
            } else {
                json_response(200, &resources::api_versions(&shared.server_addr))
            }
        }
        Route::Apis => {
            if wants_aggregated(&req) {
                full(
                    200,
                    AGGREGATED_CT,
                    resources::aggregated(&types, false).to_string(),
                )
            } else {
                json_response(200, &resources::group_list(&types))
            }
        }
        Route::Group(g) => match resources::group(&types, g) {
            Some(v) => json_response(200, &v),
            None => full(404, "text/plain; charset=utf-8", "404 page not found\n"),
        },
        Route::Discovery(g, v) => match resources::resource_list(&types, g, v) {
            Some(doc) => json_response(200, &doc),
            None => full(404, "text/plain; charset=utf-8", "404 page not found\n"),
        },
        Route::Unknown => full(404, "text/plain; charset=utf-8", "404 page not found\n"),
        Route::Resource(rp) => {
            let Some(rt) = shared.store.resource(&rp.group, &rp.version, &rp.plural) else {
                return error_response(&ApiError::no_resource());
            };
            match resource(shared, req, &rt, rp, q, ua).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
        }
    }
}

async fn resource(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    rt: &ResourceType,
    rp: &ResourcePath,
    q: &Query,
    ua: &str,
) -> Result<Response<Body>, ApiError> {
    let store = &shared.store;
    let v = rp.version.as_str();
    // Cluster-scoped resources have no namespace segment; namespaced ones may omit it only
    // to list/watch across namespaces.
    if !rt.namespaced && rp.namespace.is_some() {
        return Err(ApiError::no_resource());
    }
    let ns_owned = rp.namespace.clone().unwrap_or_default();
    let ns = ns_owned.as_str();
    if rt.namespaced && rp.namespace.is_none() && (rp.name.is_some() || req.method() != Method::GET)
    {
        return Err(ApiError::no_resource());
    }
    if let Some(sub) = &rp.sub
        && !rt.subresources.contains(sub)
    {
        return Err(ApiError::no_resource());
    }
    let sub = rp.sub.as_deref();
    let dry_run = q.get("dryRun") == Some("All");
    let mut ctx = WriteCtx {
        manager: manager(q, ua),
        dry_run,
        force: q.flag("force"),
        subresource: sub
            .filter(|s| *s == "status" || *s == "finalize")
            .map(str::to_string),
    };
    let method = req.method().clone();
    match (method.as_str(), rp.name.as_deref(), sub) {
        ("GET", Some(name), Some("log")) => {
            let pods = shared.pods.clone();
            let dropped = shared.drop_watches.subscribe();
            crate::podapi::logs(store, pods, ns, name, q, dropped).await
        }
        ("GET" | "POST", Some(name), Some("exec")) => {
            crate::podapi::exec(store, shared.pods.clone(), req, ns, name, q).await
        }
        ("GET" | "POST", Some(name), Some("portforward")) => {
            crate::podapi::portforward(store, shared.pods.clone(), req, ns, name, q).await
        }
        ("GET", Some(name), _) => {
            let obj = store.get(rt, ns, name)?;
            Ok(json_response(200, &Store::present(rt, v, obj)))
        }
        ("GET", None, None) => {
            let labels = q
                .get("labelSelector")
                .map(LabelSelector::parse)
                .transpose()
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
            let fields = q
                .get("fieldSelector")
                .map(|s| FieldSelector::parse(s, &rt.field_labels))
                .transpose()
                .map_err(ApiError::bad_request)?;
            let nsf = rp.namespace.as_deref();
            if q.flag("watch") {
                return watch(shared, rt, v, nsf, labels, fields, q);
            }
            let opts = ListOpts {
                labels,
                fields,
                limit: q.get("limit").and_then(|l| l.parse().ok()),
                continue_token: q
                    .get("continue")
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
                resource_version: q.get("resourceVersion").map(str::to_string),
                exact: q.get("resourceVersionMatch") == Some("Exact"),
            };
            Ok(json_response(200, &store.list(rt, v, nsf, &opts)?))
        }
        ("POST", None, None) => {
            let body = parse_json(&read_body(req).await?)?;
            let obj = store.create(rt, v, ns, body, &ctx)?;
            Ok(json_response(201, &Store::present(rt, v, obj)))
        }
        ("PUT", Some(name), None | Some("status" | "finalize")) => {
            let body = parse_json(&read_body(req).await?)?;
            let obj = store.update(rt, v, ns, name, body, &ctx)?;
            Ok(json_response(200, &Store::present(rt, v, obj)))
        }
        ("PATCH", Some(name), None | Some("status")) => {
            let ct = req
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let body = read_body(req).await?;
            match ct.as_str() {
                "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                    let text = std::str::from_utf8(&body)
                        .map_err(|_| ApiError::bad_request("the apply body is not UTF-8"))?;
                    let applied: Value = serde_saphyr::from_str(text)
                        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
                    if q.get("force").is_some_and(|f| f != "true" && f != "false") {
                        return Err(ApiError::bad_request("force must be true or false"));
                    }
                    let (obj, created) = store.apply(rt, v, ns, name, applied, &ctx)?;
                    Ok(json_response(
                        if created { 201 } else { 200 },
                        &Store::present(rt, v, obj),
                    ))
                }
                "application/merge-patch+json"
                | "application/strategic-merge-patch+json"
                | "application/json-patch+json" => {
                    if q.get("force").is_some() {
                        return Err(ApiError::bad_request(
                            "force may not be specified for non-apply patch",
                        ));
                    }
                    ctx.force = false;
                    let ty = match ct.as_str() {
                        "application/merge-patch+json" => PatchType::Merge,
                        "application/strategic-merge-patch+json" => PatchType::Strategic,
                        _ => PatchType::Json,
                    };
                    let patch = parse_json(&body)?;
                    let obj = store.patch(rt, v, ns, name, ty, &patch, &ctx)?;
                    Ok(json_response(200, &Store::present(rt, v, obj)))
                }
                other => Err(ApiError::unsupported_media(other)),
            }
        }
        ("DELETE", Some(name), None) => {
            let body = read_body(req).await?;
            let opts = delete_opts(q, &body)?;
            match store.delete(rt, ns, name, &opts)? {
                Deleted::Pending(obj) => {
                    let code = if opts.propagation.as_deref() == Some("Foreground") {
                        202
                    } else {
                        200
                    };
                    Ok(json_response(code, &Store::present(rt, v, obj)))
                }
                Deleted::Gone(obj) => Ok(json_response(200, &Store::deleted_body(rt, v, obj))),
            }
        }
        ("DELETE", None, None) => {
            let body = read_body(req).await?;
            let opts = delete_opts(q, &body)?;
            let labels = q
                .get("labelSelector")
                .map(LabelSelector::parse)
                .transpose()
                .map_err(ApiError::bad_request)?;
            let fields = q
                .get("fieldSelector")
                .map(|s| FieldSelector::parse(s, &rt.field_labels))
                .transpose()
                .map_err(ApiError::bad_request)?;
            let mut items = Vec::new();
            for obj in store.all(rt, rp.namespace.as_deref()) {
                if labels.as_ref().is_some_and(|l| !l.matches_object(&obj))
                    || fields.as_ref().is_some_and(|f| !f.matches(&obj))
                {
                    continue;
                }
                let name = crate::store::meta_str(&obj, "name")
                    .unwrap_or_default()
                    .to_string();
                let objns = crate::store::meta_str(&obj, "namespace")
                    .unwrap_or_default()
                    .to_string();
                match store.delete(rt, &objns, &name, &opts) {
                    Ok(Deleted::Pending(o) | Deleted::Gone(o)) => {
                        items.push(Store::present(rt, v, o))
                    }
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                200,
                &json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(v),
                    "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": items}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn delete_opts(q: &Query, body: &[u8]) -> Result<DeleteOpts, ApiError> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_json(body)?
    };
    let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let mut propagation =
        s("propagationPolicy").or_else(|| q.get("propagationPolicy").map(str::to_string));
    if propagation.is_none() {
        match b.get("orphanDependents").and_then(Value::as_bool) {
            Some(true) => propagation = Some("Orphan".into()),
            Some(false) => propagation = Some("Background".into()),
            None => {}
        }
    }
    if let Some(p) = &propagation
        && !matches!(p.as_str(), "Orphan" | "Foreground" | "Background")
    {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            ),
        ));
    }
    let dry = b
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "All"))
        || q.get("dryRun") == Some("All");
    Ok(DeleteOpts {
        propagation,
        grace_seconds: b
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok())),
        precondition_uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: dry,
    })
}

/// A watch event line.
fn event_line(ty: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": ty, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn watch(
    shared: &Arc<Shared>,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let send_initial = q.flag("sendInitialEvents");
    let bookmarks = q.flag("allowWatchBookmarks");
    if send_initial && q.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let (tx, resp) = streaming(200, "application/json");
    let start = match shared
        .store
        .watch(rt, ns, q.get("resourceVersion"), send_initial)
    {
        Ok(s) => s,
        Err(e) if e.code == 410 => {
            // The watch cache answers a too-old resourceVersion with a 200 and one ERROR event.
            let line = event_line("ERROR", &e.to_status());
            tokio::spawn(async move {
                let _ = tx.send(line).await;
            });
            return Ok(resp);
        }
        Err(e) => return Err(e),
    };
    let rt = rt.clone();
    let version = version.to_string();
    let ns = ns.map(str::to_string);
    let mut drop_rx = shared.drop_watches.subscribe();
    let mut shutdown = shared.shutdown.clone();
    let interval = shared.bookmark_interval;
    tokio::spawn(async move {
        let matches = |o: &Value| {
            labels.as_ref().is_none_or(|l| l.matches_object(o))
                && fields.as_ref().is_none_or(|f| f.matches(o))
        };
        let present = |o: &Value| Store::present(&rt, &version, o.clone());
        let mut seen = start.rv;
        for c in &start.initial {
            if let Some((ty, obj)) = classify(c, &matches)
                && tx.send(event_line(ty, &present(obj))).await.is_err()
            {
                return;
            }
        }
        let bookmark = |rv: u64, initial_end: bool| {
            let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
            if initial_end {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            event_line(
                "BOOKMARK",
                &json!({"kind": rt.kind, "apiVersion": rt.api_version(&version), "metadata": meta}),
            )
        };
        if send_initial && tx.send(bookmark(seen, true)).await.is_err() {
            return;
        }
        let mut rx = start.rx;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        drop_rx.mark_unchanged();
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Ok(c) => {
                        seen = seen.max(c.rv);
                        if c.group != rt.group || c.plural != rt.plural {
                            continue;
                        }
                        if let Some(n) = &ns && *n != c.namespace {
                            continue;
                        }
                        if let Some((ty, obj)) = classify(&c, &matches)
                            && tx.send(event_line(ty, &present(obj))).await.is_err()
                        {
                            return;
                        }
                    }
                    // A watcher too slow for the stream is closed; the client resumes.
                    Err(_) => return,
                },
                _ = ticker.tick() => {
                    if bookmarks && tx.send(bookmark(seen, false)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = drop_rx.changed() => return,
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

/// The event type a change is for a watcher with a selector (the watch cache's rules: an
/// object that starts matching is ADDED, one that stops matching is DELETED).
fn classify<'a>(
    c: &'a crate::store::Change,
    matches: &impl Fn(&Value) -> bool,
) -> Option<(&'static str, &'a Value)> {
    let new = matches(&c.object);
    match c.kind {
        ChangeKind::Added => new.then_some(("ADDED", &*c.object)),
        ChangeKind::Deleted => {
            let old = c.old.as_deref().is_none_or(matches) || new;
            old.then_some(("DELETED", &*c.object))
        }
        ChangeKind::Modified => {
            let old = c.old.as_deref().is_some_and(matches);
            match (old, new) {
                (true, true) => Some(("MODIFIED", &*c.object)),
                (false, true) => Some(("ADDED", &*c.object)),
                (true, false) => Some(("DELETED", &*c.object)),
                (false, false) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let Route::Resource(r) = route("/apis/apps/v1/namespaces/dev/deployments/web/status")
        else {
            panic!()
        };
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.sub.as_deref()
            ),
            ("apps", Some("dev"), Some("web"), Some("status"))
        );
        let Route::Resource(r) = route("/api/v1/namespaces/dev") else {
            panic!()
        };
        assert_eq!(
            (r.plural.as_str(), r.name.as_deref()),
            ("namespaces", Some("dev"))
        );
        let Route::Resource(r) = route("/api/v1/namespaces/dev/finalize") else {
            panic!()
        };
        assert_eq!(r.sub.as_deref(), Some("finalize"));
        let Route::Resource(r) = route("/api/v1/pods") else {
            panic!()
        };
        assert!(r.namespace.is_none() && r.name.is_none());
        assert!(matches!(route("/apis/apps/v1"), Route::Discovery(..)));
        assert_eq!(decode("a%3Db+c", true), "a=b c");
    }
}
