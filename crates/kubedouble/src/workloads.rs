//! Workload controllers (stage 2).

use crate::store::Store;

pub(crate) struct Workloads;

impl Workloads {
    pub fn new() -> Self {
        Workloads
    }
    pub fn pass(&mut self, _store: &Store) {}
}
