//! Tests of lilt-manifest's public API, one module per feature, in one test binary.

mod assemble;
mod fixtures;
mod image_ref;
mod images;
mod inject;
mod jsonpath;
mod k8s_resource;
mod object;
mod registry;
