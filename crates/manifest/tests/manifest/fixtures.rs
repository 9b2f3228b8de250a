//! YAML builders shared by the tests.

use lilt_manifest::{K8sObject, parse_yaml_stream};

pub fn parse(yaml: &str) -> Vec<K8sObject> {
    match parse_yaml_stream(yaml) {
        Ok(objects) => objects,
        Err(err) => panic!("fixture yaml does not parse: {err}\n{yaml}"),
    }
}

pub fn deployment(name: &str, image: &str) -> String {
    deployment_in(name, "", image)
}

/// A Deployment whose pods carry `app: <name>`; `namespace` may be empty.
pub fn deployment_in(name: &str, namespace: &str, image: &str) -> String {
    let ns = if namespace.is_empty() {
        String::new()
    } else {
        format!("\n  namespace: {namespace}")
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}{ns}
  labels:
    app: {name}
spec:
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: {image}
"
    )
}

/// A Service selecting `app: <app>`; `namespace` may be empty.
pub fn service(name: &str, namespace: &str, app: &str) -> String {
    let ns = if namespace.is_empty() {
        String::new()
    } else {
        format!("\n  namespace: {namespace}")
    };
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}{ns}
spec:
  selector:
    app: {app}
  ports:
  - port: 80
"
    )
}

pub fn secret(name: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ndata: {{}}\n")
}

pub fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

pub fn join(docs: &[String]) -> String {
    docs.join("---\n")
}
