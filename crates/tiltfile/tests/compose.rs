//! `docker_compose` and `dc_resource`: Compose files read natively, services as
//! resources, image matching, renames, profiles, interpolation and Tilt's error texts.
//! Scenarios follow Tilt's `tiltfile_docker_compose_test.go`.

mod common;

use common::Project;
use lilt_model::{BuildDetails, DeployTarget, DockerComposeTarget, Manifest, TriggerMode};

const SIMPLE: &str = "version: '3'
services:
  foo:
    build: ./foo
    command: sleep 100
    ports:
      - \"12312:80\"
";

const TWO: &str = "services:
  foo:
    build: ./foo
    command: sleep 100
    ports:
      - \"12312:80\"
  bar:
    image: bar-image
    expose:
      - \"3000\"
    depends_on:
      - foo
";

const THREE: &str = "services:
  bar:
    image: bar-image
    depends_on: [db, foo]
  db:
    image: db-image
  foo:
    image: foo-image
    ports: ['12312:80']
    depends_on:
      db:
        condition: service_healthy
";

fn dc(m: &Manifest) -> &DockerComposeTarget {
    match &m.deploy {
        DeployTarget::DockerCompose(dc) => dc,
        other => panic!("{} is not a compose resource: {other:?}", m.name),
    }
}

fn names(p: &Project) -> Vec<String> {
    p.plan().manifests.iter().map(|m| m.name.clone()).collect()
}

#[test]
fn simple_service_with_compose_build() {
    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        ("docker-compose.yml", SIMPLE),
        ("Tiltfile", "docker_compose('docker-compose.yml')\n"),
    ]);
    let plan = p.plan();
    let m = plan.manifest("foo").expect("foo");
    let target = dc(m);
    assert_eq!(target.service, "foo");
    assert_eq!(target.project.name, p.dir_name());
    assert_eq!(
        target.project.config_paths,
        vec![p.path("docker-compose.yml")]
    );
    assert_eq!(target.published_ports, vec![12312]);
    assert_eq!(
        target.service_yaml,
        format!(
            "build:\n    context: {}\n    dockerfile: Dockerfile\ncommand:\n    - sleep\n    - \"100\"\nnetworks:\n    default: null\nports:\n    - mode: ingress\n      target: 80\n      published: \"12312\"\n      protocol: tcp\n",
            p.path("foo").display()
        )
    );
    assert_eq!(m.links()[0].url, "http://localhost:12312/");
    assert_eq!(m.image_targets.len(), 1);
    let image = &m.image_targets[0];
    assert_eq!(image.image_ref, format!("{}_foo", p.dir_name()));
    match &image.build {
        BuildDetails::DockerCompose(b) => {
            assert_eq!(b.service, "foo");
            assert_eq!(b.context, p.path("foo"));
            assert_eq!(b.dockerfile, p.path("foo/Dockerfile"));
        }
        other => panic!("expected a compose build, got {other:?}"),
    }
    assert!(plan.config_files.contains(&p.path("docker-compose.yml")));
}

#[test]
fn depends_on_becomes_resource_deps_and_orders_services() {
    let p = Project::new(&[
        ("docker-compose.yml", THREE),
        ("Tiltfile", "docker_compose('docker-compose.yml')\n"),
    ]);
    assert_eq!(names(&p), ["db", "foo", "bar"]);
    let plan = p.plan();
    assert_eq!(
        plan.manifest("bar").map(|m| m.resource_deps.clone()),
        Some(vec!["db".to_owned(), "foo".to_owned()])
    );
    assert_eq!(
        plan.manifest("foo").map(|m| m.resource_deps.clone()),
        Some(vec!["db".to_owned()])
    );
}

#[test]
fn new_name_rewrites_other_services_deps() {
    let p = Project::new(&[
        ("docker-compose.yml", THREE),
        (
            "Tiltfile",
            "docker_compose('docker-compose.yml')\ndc_resource('db', new_name='db2')\ndc_resource('foo', new_name='foo2')\n",
        ),
    ]);
    assert_eq!(names(&p), ["db2", "foo2", "bar"]);
    let plan = p.plan();
    let deps = |n: &str| {
        plan.manifest(n)
            .map(|m| m.resource_deps.clone())
            .unwrap_or_default()
    };
    assert_eq!(deps("foo2"), ["db2"]);
    assert_eq!(deps("bar"), ["db2", "foo2"]);
    assert_eq!(dc(plan.manifest("db2").expect("db2")).service, "db");
}

#[test]
fn docker_build_matches_image_or_project_service_name() {
    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        ("bar/Dockerfile", "FROM alpine\n"),
        ("docker-compose.yml", TWO),
        (
            "Tiltfile",
            "docker_build('gcr.io/foo', './foo')\ndocker_build('bar-image', './bar')\ndocker_compose('docker-compose.yml')\ndc_resource('foo', 'gcr.io/foo')\n",
        ),
    ]);
    let plan = p.plan();
    let foo = plan.manifest("foo").expect("foo");
    assert_eq!(foo.image_targets.len(), 1);
    assert_eq!(foo.image_targets[0].image_ref, "gcr.io/foo");
    assert!(matches!(
        foo.image_targets[0].build,
        BuildDetails::Docker(_)
    ));
    assert_eq!(dc(foo).image_maps, ["gcr.io/foo"]);
    let bar = plan.manifest("bar").expect("bar");
    assert_eq!(bar.image_targets[0].image_ref, "bar-image");
    assert!(p.result().warnings.is_empty(), "{:?}", p.result().warnings);
}

#[test]
fn unused_image_suggests_compose_images() {
    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        (
            "docker-compose.yml",
            "services:\n  foo:\n    image: gcr.io/foo\n",
        ),
        (
            "Tiltfile",
            "docker_build('gcr.typo.io/foo', 'foo')\ndocker_compose('docker-compose.yml')\n",
        ),
    ]);
    let warnings = p.result().warnings;
    assert_eq!(
        warnings,
        vec![
            "Image not used in any Docker Compose config:\n    ✕ gcr.typo.io/foo\nDid you mean…\n    - gcr.io/foo\nSkipping this image build\nIf this is deliberate, suppress this warning with: update_settings(suppress_unused_image_warnings=[\"gcr.typo.io/foo\"])".to_owned()
        ]
    );
}

#[test]
fn errors_match_tilt() {
    let cases: &[(&str, &str)] = &[
        ("docker_compose(None)", "Nothing to compose"),
        (
            "docker_compose(True)",
            "expected blob | path (string). Actual type: starlark.Bool",
        ),
        (
            "local_resource('foo', 'echo')\ndocker_compose('docker-compose.yml')",
            "local_resource named \"foo\" already exists",
        ),
        (
            "docker_compose('docker-compose.yml')\nlocal_resource('foo', 'echo')",
            "dc_resource named \"foo\" already exists",
        ),
        (
            "docker_compose('docker-compose.yml')\ndc_resource('nope')",
            "no Docker Compose service found with name \"nope\". Found these instead:\n\tfoo",
        ),
        (
            "docker_build('gcr.io/foo', './foo', entrypoint='./foo')\ndocker_compose('docker-compose.yml')\ndc_resource('foo', 'gcr.io/foo')",
            "docker_build/custom_build.entrypoint not supported for Docker Compose resources",
        ),
        (
            "docker_compose('docker-compose.yml')\ndefault_registry('bar.com')",
            "default_registry is not supported with docker compose",
        ),
    ];
    for (tiltfile, expected) in cases {
        let p = Project::new(&[
            ("foo/Dockerfile", "FROM alpine\n"),
            ("docker-compose.yml", SIMPLE),
            ("Tiltfile", tiltfile),
        ]);
        let err = p.error();
        assert!(
            err.contains(expected),
            "{tiltfile}\nexpected {expected:?} in {err:?}"
        );
    }
}

#[test]
fn dc_resource_options() {
    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        ("docker-compose.yml", TWO),
        (
            "Tiltfile",
            "docker_compose('docker-compose.yml')\ndc_resource('foo', trigger_mode=TRIGGER_MODE_MANUAL, auto_init=False, labels=['app'], links=['localhost:9/x'], infer_links=False, resource_deps=['bar'])\ndc_resource('bar', labels='db')\n",
        ),
    ]);
    let err = p.error();
    assert!(
        err.contains("cycle detected in resource dependency graph"),
        "{err}"
    );

    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        ("docker-compose.yml", TWO),
        (
            "Tiltfile",
            "trigger_mode(TRIGGER_MODE_MANUAL)\ndocker_compose('docker-compose.yml')\ndc_resource('foo', auto_init=False, labels=['app'], links=[link('localhost:9/x', 'x')], infer_links=False)\n",
        ),
    ]);
    let plan = p.plan();
    let foo = plan.manifest("foo").expect("foo");
    assert_eq!(foo.trigger_mode, TriggerMode::Manual);
    assert_eq!(foo.labels.keys().collect::<Vec<_>>(), ["app"]);
    let links: Vec<String> = foo.links().into_iter().map(|l| l.url).collect();
    assert_eq!(links, ["http://localhost:9/x"]);
    assert_eq!(
        plan.manifest("bar").map(|m| m.trigger_mode),
        Some(TriggerMode::ManualWithAutoInit)
    );
}

#[test]
fn profiles_from_argument_and_environment() {
    let yml =
        "services:\n  foo:\n    image: foo\n  bar:\n    image: bar\n    profiles: [barprofile]\n";
    let files = |tf: &'static str| vec![("docker-compose.yml", yml), ("Tiltfile", tf)];
    let p = Project::new(&files("docker_compose('docker-compose.yml')\n"));
    assert_eq!(names(&p), ["foo"]);
    let p = Project::new(&files(
        "docker_compose('docker-compose.yml', profiles=['barprofile'])\n",
    ));
    assert_eq!(names(&p), ["foo", "bar"]);
    let p = Project::with_env(
        &files("docker_compose('docker-compose.yml')\n"),
        &[("COMPOSE_PROFILES", "barprofile")],
    );
    assert_eq!(names(&p), ["foo", "bar"]);
    assert_eq!(dc(&p.plan().manifests[0]).project.profiles, ["barprofile"]);
}

#[test]
fn env_file_and_dotenv_interpolation() {
    let yml = "services:\n  bar:\n    image: \"bar-${TAG:-latest}\"\n    ports:\n      - \"$BAR_PORT:$BAR_PORT\"\n    environment:\n      - LITERAL=$$HOME\n    env_file: bar.env\n";
    let p = Project::new(&[
        ("docker-compose.yml", yml),
        ("local.env", "BAR_PORT=4000\n"),
        ("bar.env", "X=1\n"),
        (
            "Tiltfile",
            "docker_compose('docker-compose.yml', env_file='local.env')\n",
        ),
    ]);
    let plan = p.plan();
    let bar = dc(plan.manifest("bar").expect("bar"));
    assert_eq!(bar.published_ports, vec![4000]);
    assert!(
        bar.service_yaml.contains("image: bar-latest"),
        "{}",
        bar.service_yaml
    );
    assert!(
        bar.service_yaml.contains("LITERAL: $HOME"),
        "{}",
        bar.service_yaml
    );
    assert_eq!(bar.project.env_file, Some(p.path("local.env")));
    for f in ["local.env", "bar.env", "docker-compose.yml"] {
        assert!(
            plan.config_files.contains(&p.path(f)),
            "{f} not a config file"
        );
    }

    // `.env` next to the compose file, overridden by the Tiltfile's environment.
    let p = Project::with_env(
        &[
            ("docker-compose.yml", yml),
            (".env", "BAR_PORT=5000\nTAG=fromdotenv\n"),
            ("bar.env", ""),
            ("Tiltfile", "docker_compose('docker-compose.yml')\n"),
        ],
        &[("TAG", "fromenv")],
    );
    let plan = p.plan();
    let bar = dc(plan.manifest("bar").expect("bar"));
    assert_eq!(bar.published_ports, vec![5000]);
    assert!(
        bar.service_yaml.contains("image: bar-fromenv"),
        "{}",
        bar.service_yaml
    );
}

#[test]
fn several_files_merge_and_same_project_calls_merge() {
    let base = "services:\n  web:\n    image: web:1\n    ports: ['8000:80']\n    environment:\n      A: '1'\n";
    let over = "services:\n  web:\n    image: web:2\n    ports: ['8001:81']\n    environment:\n      B: '2'\n  db:\n    image: pg\n";
    let p = Project::new(&[
        ("base.yml", base),
        ("override.yml", over),
        ("Tiltfile", "docker_compose(['base.yml', 'override.yml'])\n"),
    ]);
    let plan = p.plan();
    let web = dc(plan.manifest("web").expect("web"));
    assert_eq!(web.published_ports, vec![8000, 8001]);
    assert!(web.service_yaml.contains("image: web:2"));
    assert!(
        web.service_yaml.contains("A: \"1\"") && web.service_yaml.contains("B: \"2\""),
        "{}",
        web.service_yaml
    );

    let p = Project::new(&[
        ("base.yml", base),
        ("override.yml", over),
        (
            "Tiltfile",
            "docker_compose('base.yml')\ndocker_compose('override.yml')\n",
        ),
    ]);
    assert_eq!(names(&p), ["web", "db"]);
    assert_eq!(
        dc(&p.plan().manifests[0]).project.config_paths,
        vec![p.path("base.yml"), p.path("override.yml")]
    );
}

#[test]
fn blobs_are_written_to_files_and_use_the_tiltfile_dir() {
    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        (
            "Tiltfile",
            "docker_compose([blob('''services:\n  foo:\n    build: ./foo\n'''), blob('''services:\n  bar:\n    image: bar\n''')], project_name='blobs')\n",
        ),
    ]);
    let plan = p.plan();
    assert_eq!(plan.manifests.len(), 2);
    let foo = dc(plan.manifest("foo").expect("foo"));
    assert_eq!(foo.project.name, "blobs");
    assert_eq!(foo.project.project_path, p.root());
    assert_eq!(foo.project.config_paths.len(), 2);
    assert!(foo.project.config_paths.iter().all(|c| c.is_file()));
    assert!(
        foo.service_yaml
            .contains(&p.path("foo").display().to_string())
    );
}

#[test]
fn bind_mounts_are_not_watched_by_compose_builds() {
    let yml = "services:\n  foo:\n    build: ./foo\n    volumes:\n      - ./foo:/foo\n      - bar:/bar\n      - type: volume\n        source: baz\n        target: /baz\nvolumes:\n  bar: {}\n  baz: {}\n";
    let p = Project::new(&[
        ("foo/Dockerfile", "FROM alpine\n"),
        ("docker-compose.yml", yml),
        ("Tiltfile", "docker_compose('docker-compose.yml')\n"),
    ]);
    let plan = p.plan();
    let foo = plan.manifest("foo").expect("foo");
    assert_eq!(dc(foo).mounted_paths, vec![p.path("foo")]);
    match &foo.image_targets[0].build {
        BuildDetails::DockerCompose(b) => {
            let bases: Vec<_> = b
                .watch_ignores
                .iter()
                .map(|i| i.base_path.clone())
                .collect();
            assert_eq!(bases, vec![p.path("foo/Dockerfile"), p.path("foo")]);
        }
        other => panic!("expected a compose build, got {other:?}"),
    }
}
