//! Popular extensions that build on the Kubernetes builtins (`namespace`, `helm_resource`),
//! written as small faithful copies of tilt-extensions' Tiltfiles and loaded via ext://.

mod common;

use common::{Project, write_files};
use lilt_model::DeployTarget;

const NAMESPACE: &str = r#"
def namespace_yaml(name, annotations=[], labels=[]):
    metadata = {'name': name}
    if annotations:
        metadata['annotations'] = {a.split('=')[0]: a.split('=')[1] for a in annotations}
    if labels:
        metadata['labels'] = {l.split('=')[0]: l.split('=')[1] for l in labels}
    return encode_yaml({'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': metadata})

def namespace_create(name, allow_duplicates=False, annotations=[], labels=[]):
    k8s_yaml(namespace_yaml(name, annotations, labels), allow_duplicates=allow_duplicates)

def namespace_inject(x, ns):
    if type(x) == 'blob':
        objects = decode_yaml_stream(x)
    else:
        objects = read_yaml_stream(x)
    for o in objects:
        o['metadata']['namespace'] = ns
    return encode_yaml_stream(objects)
"#;

const HELM_RESOURCE: &str = r#"
def helm_resource(name, chart, release_name='', namespace='', image_deps=[], image_keys=[], flags=[], deps=[], labels=[], resource_deps=[], port_forwards=[], pod_readiness=''):
    if not release_name:
        release_name = name
    apply_cmd = ['python3', os.path.join(os.getcwd(), 'helm-apply-helper.py')] + flags
    env = {'RELEASE_NAME': release_name, 'CHART': chart}
    if namespace:
        env['NAMESPACE'] = namespace
    for i, key in enumerate(image_keys):
        env['TILT_IMAGE_KEY_%s' % i] = key
    k8s_custom_deploy(
        name,
        apply_cmd=apply_cmd,
        apply_env=env,
        delete_cmd=['helm', 'uninstall', release_name],
        deps=deps,
        image_deps=image_deps)
    k8s_resource(name, labels=labels, resource_deps=resource_deps, port_forwards=port_forwards)

def helm_repo(name, url, resource_name='', labels=[]):
    local_resource(resource_name or name, cmd=['helm', 'repo', 'add', name, url, '--force-update'], labels=labels)
"#;

#[test]
fn namespace_and_helm_resource_evaluate() {
    let repo = tempfile::tempdir().expect("tempdir");
    write_files(
        repo.path(),
        &[
            ("namespace/Tiltfile", NAMESPACE),
            ("helm_resource/Tiltfile", HELM_RESOURCE),
            ("helm_resource/helm-apply-helper.py", "print('ok')\n"),
        ],
    );
    let tiltfile = "load('ext://namespace', 'namespace_create', 'namespace_inject')\n\
        load('ext://helm_resource', 'helm_resource', 'helm_repo')\n\
        namespace_create('dev', labels=['team=a'])\n\
        k8s_yaml(namespace_inject(read_file('cm.yaml'), 'dev'))\n\
        helm_repo('bitnami', 'https://charts.bitnami.com/bitnami')\n\
        helm_resource('redis', 'bitnami/redis', namespace='dev', resource_deps=['bitnami'], labels=['db'])\n";
    let p = Project::with_env(
        &[
            ("Tiltfile", tiltfile),
            (
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n",
            ),
        ],
        &[("LILT_EXTENSIONS_REPO", &repo.path().display().to_string())],
    );
    let plan = p.plan();
    let redis = plan.manifest("redis").expect("redis");
    assert_eq!(redis.resource_deps, ["bitnami"]);
    assert!(redis.labels.contains_key("db"));
    assert!(matches!(redis.deploy, DeployTarget::K8s(_)));
    assert!(plan.manifest("bitnami").is_some());
    let yaml: String = plan
        .manifests
        .iter()
        .filter_map(|m| match &m.deploy {
            DeployTarget::K8s(k) => Some(k.yaml.clone()),
            _ => None,
        })
        .collect();
    assert!(yaml.contains("kind: Namespace"), "{yaml}");
    assert!(yaml.contains("namespace: dev"), "{yaml}");
}
