//! pods/log, pods/exec, pods/portforward (stage 2).

use std::sync::Arc;

use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;

use crate::kubelet::Kubelet;
use crate::server::{Body, Query};
use crate::status::ApiError;
use crate::store::Store;

pub(crate) async fn logs(
    _s: &Store,
    _k: Option<Arc<Kubelet>>,
    _ns: &str,
    _n: &str,
    _q: &Query,
) -> Result<Response<Body>, ApiError> {
    Err(ApiError::bad_request("not yet"))
}
pub(crate) async fn exec(
    _s: &Store,
    _k: Option<Arc<Kubelet>>,
    _r: Request<Incoming>,
    _ns: &str,
    _n: &str,
    _q: &Query,
) -> Result<Response<Body>, ApiError> {
    Err(ApiError::bad_request("not yet"))
}
pub(crate) async fn portforward(
    _s: &Store,
    _k: Option<Arc<Kubelet>>,
    _r: Request<Incoming>,
    _ns: &str,
    _n: &str,
    _q: &Query,
) -> Result<Response<Body>, ApiError> {
    Err(ApiError::bad_request("not yet"))
}
