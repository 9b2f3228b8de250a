//! Kubernetes YAML as data: parse multi-document YAML, find workloads and image references,
//! group objects into resources and name them the way Tilt does, and inject built image
//! refs and labels at deploy time. Pure: no I/O, no async, no cluster client.
//!
//! The Tiltfile layer records `k8s_yaml`, `k8s_kind`, `k8s_resource`, ... calls as plain
//! data and hands them to [`assemble`]; the Kubernetes runtime calls [`inject`] before it
//! applies a resource's objects.

mod assemble;
mod duplicates;
mod error;
mod filter;
mod image_ref;
mod images;
mod inject;
mod jsonpath;
mod object;
mod registry;
mod selector;

pub use assemble::{
    AssembleInput, Assembly, BuildImage, DiscoveryStrategy, K8sResource, K8sResourceCall,
    NamingFunction, TriggerChoice, assemble, service_matches_workload, unique_names,
};
pub use duplicates::ObjectIndex;
pub use error::{ImageRefError, ManifestError};
pub use filter::{YamlFilter, filter_yaml};
pub use image_ref::{ImageRef, RefSelector};
pub use images::{ImageHit, ImageSite, find_images};
pub use inject::{
    DeployedImage, MANAGED_BY_LABEL, MANAGED_BY_VALUE, POD_TEMPLATE_HASH_LABEL, inject,
    inject_managed_by, inject_pod_template_hashes,
};
pub use jsonpath::{JsonPath, PathSeg, ValuePath};
pub use object::{
    DEFAULT_NAMESPACE, K8sObject, ObjectId, join_selector_parts, parse_yaml_stream, sort_for_apply,
    sort_for_delete, split_selector, to_yaml, value_to_go_yaml, value_to_yaml,
};
pub use registry::{CONTENT_TAG_PREFIX, Registry, TaggedRefs, content_tag, escape_name};
pub use selector::{ImageLocator, KindRule, ObjectSelector, PodReadiness};
