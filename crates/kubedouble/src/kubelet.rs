//! The kubelet (stage 2).

use std::sync::Arc;

use tokio::sync::watch;

use crate::store::Store;
use crate::{Backoff, ContainerInfo, Error};

pub(crate) struct Kubelet {
    _store: Arc<Store>,
}

impl Kubelet {
    pub fn new(store: Arc<Store>, _host: &str, _b: Backoff) -> Result<Arc<Self>, Error> {
        Ok(Arc::new(Kubelet { _store: store }))
    }
    pub async fn run(self: Arc<Self>, _shutdown: watch::Receiver<bool>) {}
    pub async fn kill(&self, _ns: &str, _pod: &str, _c: &str) -> Result<(), Error> {
        Err(Error::NotFound("no kubelet yet".into()))
    }
    pub fn containers(&self) -> Vec<ContainerInfo> {
        Vec::new()
    }
    pub async fn remove_all(&self) {}
    pub fn remove_all_blocking(&self) {}
}
