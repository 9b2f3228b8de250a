//! Benchmarks for parsing and assembling a 100-workload project (Deployments with a
//! Service each, spread over 30 YAML texts), the shape of a large Tiltfile's k8s_yaml calls.

use lilt_manifest::{
    AssembleInput, BuildImage, ImageRef, K8sObject, RefSelector, assemble, parse_yaml_stream,
};

fn main() {
    divan::main();
}

const WORKLOADS: usize = 100;
const TEXTS: usize = 30;

fn pair(idx: usize) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{idx}
  labels:
    app: svc-{idx}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: svc-{idx}
  template:
    metadata:
      labels:
        app: svc-{idx}
        tier: backend
    spec:
      containers:
      - name: main
        image: gcr.io/project/svc-{idx}
        ports:
        - containerPort: 8080
        env:
        - name: LOG_LEVEL
          value: debug
        resources:
          limits:
            memory: 128Mi
            cpu: 500m
---
apiVersion: v1
kind: Service
metadata:
  name: svc-{idx}
spec:
  selector:
    app: svc-{idx}
  ports:
  - port: 80
    targetPort: 8080
"
    )
}

fn texts() -> Vec<String> {
    let mut texts = vec![String::new(); TEXTS];
    for idx in 0..WORKLOADS {
        let text = &mut texts[idx % TEXTS];
        if !text.is_empty() {
            text.push_str("---\n");
        }
        text.push_str(&pair(idx));
    }
    texts
}

fn images() -> Vec<BuildImage> {
    let refs: Vec<ImageRef> = (0..WORKLOADS)
        .filter_map(|idx| ImageRef::parse(&format!("gcr.io/project/svc-{idx}")).ok())
        .collect();
    RefSelector::for_builds(&refs)
        .unwrap_or_default()
        .into_iter()
        .map(|selector| BuildImage {
            selector,
            match_in_env_vars: false,
        })
        .collect()
}

fn parse_all(texts: &[String]) -> Vec<K8sObject> {
    texts
        .iter()
        .flat_map(|t| parse_yaml_stream(t).unwrap_or_default())
        .collect()
}

#[divan::bench]
fn parse_30_texts(bencher: divan::Bencher) {
    let texts = texts();
    bencher.bench(|| parse_all(divan::black_box(&texts)));
}

#[divan::bench]
fn assemble_100_workloads(bencher: divan::Bencher) {
    let objects = parse_all(&texts());
    let images = images();
    bencher
        .with_inputs(|| (objects.clone(), images.clone()))
        .bench_values(|(objects, images)| {
            assemble(AssembleInput {
                objects,
                images,
                ..AssembleInput::default()
            })
        });
}

#[divan::bench]
fn parse_and_assemble(bencher: divan::Bencher) {
    let texts = texts();
    let images = images();
    bencher
        .with_inputs(|| images.clone())
        .bench_values(|images| {
            let assembly = assemble(AssembleInput {
                objects: parse_all(&texts),
                images,
                ..AssembleInput::default()
            });
            assert!(assembly.is_ok_and(|a| a.resources.len() == WORKLOADS));
        });
}

#[divan::bench]
fn parse_image_ref() -> Option<ImageRef> {
    ImageRef::parse(divan::black_box(
        "gcr.io/project/svc-42:tilt-0123456789abcdef",
    ))
    .ok()
}

#[divan::bench]
fn find_images_in_200_objects(bencher: divan::Bencher) {
    let objects = parse_all(&texts());
    bencher.bench(|| {
        objects
            .iter()
            .map(|o| {
                lilt_manifest::find_images(o, &[], &[])
                    .map(|h| h.len())
                    .unwrap_or(0)
            })
            .sum::<usize>()
    });
}
