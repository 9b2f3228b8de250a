//! The pure change → target mapping and the `lilt why` explanations, including ignore sets
//! from several sources and specs built from a Plan.

use std::path::{Path, PathBuf};

use lilt_model::{
    BuildDetails, CustomBuild, DeployTarget, DockerBuild, DockerComposeBuild, DockerComposeTarget,
    IgnoreSet, ImageTarget, K8sCustomDeploy, K8sTarget, LiveUpdate, LocalTarget, Manifest, Plan,
    TriggerMode,
};
use lilt_watch::{
    IgnoreRule, IgnoreSource, Reason, SourcedIgnore, TargetId, Verdict, WatchSet, WatchSpec,
};

fn set(base: &str, patterns: &[&str]) -> IgnoreSet {
    IgnoreSet {
        base_path: PathBuf::from(base),
        patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
    }
}

fn id(text: &str) -> TargetId {
    TargetId::parse(text).expect("a target id")
}

/// Two images and a local resource, with a .tiltignore and watch_settings.
fn fixture() -> WatchSet {
    let specs = vec![
        WatchSpec {
            id: TargetId::image("api"),
            paths: vec![PathBuf::from("/repo/api")],
            ignores: vec![
                SourcedIgnore::new(
                    IgnoreSource::DockerBuild {
                        image: "api".to_owned(),
                    },
                    set("/repo/api", &["*.md", "!README.md", "tmp"]),
                ),
                SourcedIgnore::new(
                    IgnoreSource::Dockerfile {
                        file: PathBuf::from("/repo/api/Dockerfile"),
                    },
                    set("/repo/api/Dockerfile", &[]),
                ),
            ],
        },
        WatchSpec {
            id: TargetId::image("web"),
            paths: vec![PathBuf::from("/repo/web"), PathBuf::from("/repo/shared")],
            ignores: Vec::new(),
        },
        WatchSpec {
            id: TargetId::local("lint"),
            paths: vec![PathBuf::from("/repo")],
            ignores: vec![SourcedIgnore::new(
                IgnoreSource::LocalResource {
                    resource: "lint".to_owned(),
                },
                set("/repo", &["web/dist"]),
            )],
        },
        WatchSpec {
            id: id("image:nothing"),
            paths: Vec::new(),
            ignores: Vec::new(),
        },
    ];
    let global = vec![
        SourcedIgnore::new(
            IgnoreSource::Tiltignore {
                file: PathBuf::from("/repo/.tiltignore"),
            },
            set("/repo", &["**/node_modules"]),
        ),
        SourcedIgnore::new(IgnoreSource::WatchSettings, set("/repo", &["*.log"])),
    ];
    let (watch_set, errors) = WatchSet::build(specs, &global);
    assert!(errors.is_empty(), "{errors:?}");
    watch_set
}

fn check(path: &str, expected: &[&str]) {
    let got = fixture().affected([Path::new(path)]);
    let expected: Vec<TargetId> = expected.iter().map(|e| id(e)).collect();
    assert_eq!(got, expected, "{path}");
}

#[test]
fn changed_paths_map_to_the_targets_watching_them() {
    check("/repo/api/main.go", &["image:api", "local:lint"]);
    check("/repo/web/index.js", &["image:web", "local:lint"]);
    check("/repo/shared/util.js", &["image:web", "local:lint"]);
    check("/repo/README.md", &["local:lint"]);
    check("/elsewhere/file", &[]);
    // Targets without paths are dropped rather than matching nothing forever.
    assert_eq!(fixture().targets().count(), 3);
}

#[test]
fn each_target_applies_its_own_and_the_global_ignores() {
    check("/repo/api/notes.md", &["local:lint"]);
    check("/repo/api/README.md", &["image:api", "local:lint"]);
    check("/repo/api/tmp/x", &["local:lint"]);
    check("/repo/api/Dockerfile", &["local:lint"]);
    check("/repo/web/dist/app.js", &["image:web"]);
    check("/repo/web/node_modules/x/index.js", &[]);
    check("/repo/build.log", &[]);
    check("/repo/api/main.go~", &[]);
}

#[test]
fn affected_unions_over_a_batch() {
    let got = fixture().affected([
        Path::new("/repo/web/dist/app.js"),
        Path::new("/repo/api/main.go"),
    ]);
    assert_eq!(
        got,
        vec![id("image:api"), id("image:web"), id("local:lint")]
    );
}

fn verdict(path: &str, target: &str) -> Verdict {
    let explanation = fixture().explain(Path::new(path));
    match explanation
        .verdicts
        .into_iter()
        .find(|v| v.target == id(target))
    {
        Some(v) => v.verdict,
        None => panic!("no verdict for {target}"),
    }
}

#[test]
fn why_names_the_watched_path_that_triggers() {
    assert_eq!(
        verdict("/repo/web/a/b.js", "image:web"),
        Verdict::Triggers {
            watched: PathBuf::from("/repo/web")
        }
    );
    assert_eq!(
        verdict("/repo/web/a/../b.js", "local:lint").to_string(),
        "triggers (under watched path /repo)"
    );
}

#[test]
fn why_lists_the_watched_paths_a_path_is_outside_of() {
    let v = verdict("/repo/api/main.go", "image:web");
    assert_eq!(
        v,
        Verdict::DoesNotTrigger(Reason::OutsideWatchedPaths {
            watched: vec![PathBuf::from("/repo/web"), PathBuf::from("/repo/shared")]
        })
    );
    assert_eq!(
        v.to_string(),
        "does not trigger: outside every watched path (/repo/web, /repo/shared)"
    );
}

#[test]
fn why_names_the_pattern_and_its_source() {
    let Verdict::DoesNotTrigger(Reason::Ignored(hit)) = verdict("/repo/api/notes.md", "image:api")
    else {
        panic!("expected an ignore");
    };
    assert_eq!(
        hit.source,
        IgnoreSource::DockerBuild {
            image: "api".to_owned()
        }
    );
    assert_eq!(
        hit.rule,
        IgnoreRule::Pattern {
            pattern: "*.md".to_owned(),
            absolute: "/repo/api/*.md".to_owned()
        }
    );
    assert_eq!(
        verdict("/repo/web/node_modules/x.js", "image:web").to_string(),
        "does not trigger: ignored by pattern \"**/node_modules\" (relative to /repo) \
         from .tiltignore (/repo/.tiltignore)"
    );
    assert_eq!(
        verdict("/repo/x.log", "local:lint").to_string(),
        "does not trigger: ignored by pattern \"*.log\" (relative to /repo) from watch_settings(ignore=)"
    );
    assert_eq!(
        verdict("/repo/web/dist/a.js", "local:lint").to_string(),
        "does not trigger: ignored by pattern \"web/dist\" (relative to /repo) \
         from local_resource('lint', ignore=)"
    );
    assert_eq!(
        verdict("/repo/api/Dockerfile", "image:api").to_string(),
        "does not trigger: /repo/api/Dockerfile and everything under it is ignored by \
         the Dockerfile /repo/api/Dockerfile (changes to it reload the Tiltfile)"
    );
}

#[test]
fn why_reports_editor_temp_files() {
    assert_eq!(
        verdict("/repo/api/.main.go.swp", "image:api").to_string(),
        "does not trigger: looks like an editor temp file (built-in rule \"**/.*.swp\"), \
         which is always ignored"
    );
}

#[test]
fn the_whole_explanation_reads_as_one_block() {
    let text = fixture()
        .explain(Path::new("/repo/web/dist/app.js"))
        .to_string();
    assert_eq!(
        text,
        "/repo/web/dist/app.js:\n\
         \x20 image:api: does not trigger: outside every watched path (/repo/api)\n\
         \x20 image:web: triggers (under watched path /repo/web)\n\
         \x20 local:lint: does not trigger: ignored by pattern \"web/dist\" (relative to /repo) \
         from local_resource('lint', ignore=)\n"
    );
    let explanation = fixture().explain(Path::new("/repo/web/dist/app.js"));
    let triggered: Vec<&TargetId> = explanation.triggered().collect();
    assert_eq!(triggered, vec![&TargetId::image("web")]);
}

#[test]
fn a_bad_pattern_skips_its_set_and_is_reported() {
    let specs = vec![WatchSpec {
        id: TargetId::local("x"),
        paths: vec![PathBuf::from("/p")],
        ignores: vec![SourcedIgnore::new(
            IgnoreSource::LocalResource {
                resource: "x".to_owned(),
            },
            set("/p", &["ok", "bad["]),
        )],
    }];
    let (watch_set, errors) = WatchSet::build(specs, &[]);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "local_resource('x', ignore=): bad ignore pattern \"bad[\": \
         syntax error in pattern: unclosed character class"
    );
    assert_eq!(
        watch_set.affected([Path::new("/p/ok")]),
        vec![TargetId::local("x")]
    );
}

#[test]
fn skip_dir_keeps_watched_roots_and_their_ancestors() {
    let ws = fixture();
    assert!(ws.should_skip_dir(Path::new("/repo/web/node_modules")));
    assert!(!ws.should_skip_dir(Path::new("/repo/api")));
    assert!(
        !ws.should_skip_dir(Path::new("/repo/api/tmp")),
        "lint still watches it"
    );
    assert!(ws.should_skip_dir(Path::new("/elsewhere")));
    assert!(!ws.should_skip_dir(Path::new("/")));
    assert_eq!(ws.roots(), vec![PathBuf::from("/repo")]);
}

fn plan() -> Plan {
    let docker = ImageTarget {
        image_ref: "app".to_owned(),
        build: BuildDetails::Docker(DockerBuild {
            context: PathBuf::from("/proj/app"),
            dockerfile_path: Some(PathBuf::from("/proj/app/Dockerfile")),
            watch_ignores: vec![
                set("/proj/Tiltfile", &[]),
                set("/proj/app", &["build"]),
                set("/proj/app/Dockerfile", &[]),
            ],
            ..DockerBuild::default()
        }),
        live_update: LiveUpdate::default(),
        match_in_env_vars: false,
        entrypoint: Vec::new(),
        container_args: None,
        image_deps: Vec::new(),
    };
    let custom = ImageTarget {
        image_ref: "gen".to_owned(),
        build: BuildDetails::Custom(CustomBuild {
            deps: vec![PathBuf::from("/proj/gen")],
            outputs_image_ref_to: Some(PathBuf::from("/proj/gen/ref.txt")),
            ..CustomBuild::default()
        }),
        ..docker.clone()
    };
    let local = |name: &str, deps: Vec<PathBuf>| Manifest {
        name: name.to_owned(),
        image_targets: if name == "app" {
            vec![docker.clone(), custom.clone()]
        } else {
            Vec::new()
        },
        deploy: DeployTarget::Local(LocalTarget {
            deps,
            ignores: vec![set("/proj", &["*.tmp"])],
            ..LocalTarget::default()
        }),
        trigger_mode: TriggerMode::Auto,
        resource_deps: Vec::new(),
        labels: Default::default(),
        source_tiltfile: String::new(),
    };
    Plan {
        tiltfile: PathBuf::from("/proj/Tiltfile"),
        manifests: vec![
            local("app", vec![PathBuf::from("/proj/scripts")]),
            local("off", vec![PathBuf::from("/proj/off")]),
        ],
        images: vec![docker.clone(), custom.clone()],
        enabled: vec!["app".to_owned()],
        tiltignore: set("/proj", &[]),
        ..Plan::default()
    }
}

#[test]
fn specs_from_a_plan_follow_tilt() {
    let (specs, global) = WatchSet::specs_from_plan(&plan());
    let ids: Vec<String> = specs.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(
        ids,
        vec!["image:app", "image:gen", "local:app", "configs:(Tiltfile)"]
    );
    // An empty .tiltignore must not ignore the whole project; lilt's own `.lilt/` beside
    // the Tiltfile is never watched.
    assert_eq!(global.len(), 2);
    assert_eq!(global[0].set.base_path, PathBuf::from("/proj/.lilt"));
    assert_eq!(
        global[1].source,
        IgnoreSource::OutputsImageRefTo {
            file: PathBuf::from("/proj/gen/ref.txt")
        }
    );
    let (ws, errors) = WatchSet::from_plan(&plan());
    assert!(errors.is_empty());
    assert_eq!(
        ws.affected([Path::new("/proj/app/main.go")]),
        vec![TargetId::image("app")]
    );
    assert!(ws.affected([Path::new("/proj/gen/ref.txt")]).is_empty());
    assert!(ws.affected([Path::new("/proj/off/x")]).is_empty());
    assert_eq!(
        ws.affected([Path::new("/proj/Tiltfile")]),
        vec![TargetId::configs()]
    );
    let explained = ws.explain(Path::new("/proj/app/Dockerfile")).to_string();
    assert!(
        explained.contains(
            "image:app: does not trigger: /proj/app/Dockerfile and everything \
                            under it is ignored by the Dockerfile /proj/app/Dockerfile"
        ),
        "{explained}"
    );
    assert!(
        ws.explain(Path::new("/proj/app/build/x"))
            .to_string()
            .contains("from docker_build('app') ignores (.dockerignore, ignore= or only=)")
    );
}

#[test]
fn k8s_custom_deploy_deps_and_compose_builds_get_specs() {
    let compose_image = ImageTarget {
        image_ref: "svc-img".to_owned(),
        build: BuildDetails::DockerCompose(DockerComposeBuild {
            service: "svc".to_owned(),
            context: PathBuf::from("/c/svc"),
            dockerfile: PathBuf::from("/c/svc/Dockerfile"),
            watch_ignores: vec![
                set("/c/svc", &["*.pyc"]),
                set("/c/svc/Dockerfile", &[]),
                set("/c/svc/static", &[]),
            ],
        }),
        live_update: LiveUpdate::default(),
        match_in_env_vars: false,
        entrypoint: Vec::new(),
        container_args: None,
        image_deps: Vec::new(),
    };
    let manifest = |name: &str, deploy: DeployTarget, images: Vec<ImageTarget>| Manifest {
        name: name.to_owned(),
        image_targets: images,
        deploy,
        trigger_mode: TriggerMode::Auto,
        resource_deps: Vec::new(),
        labels: Default::default(),
        source_tiltfile: String::new(),
    };
    let plan = Plan {
        tiltfile: PathBuf::from("/c/Tiltfile"),
        manifests: vec![
            manifest(
                "crd",
                DeployTarget::K8s(K8sTarget {
                    custom_deploy: Some(K8sCustomDeploy {
                        deps: vec![PathBuf::from("/c/deploy")],
                        ..K8sCustomDeploy::default()
                    }),
                    ..K8sTarget::default()
                }),
                Vec::new(),
            ),
            manifest(
                "svc",
                DeployTarget::DockerCompose(DockerComposeTarget {
                    service: "svc".to_owned(),
                    image_maps: vec!["svc-img".to_owned()],
                    mounted_paths: vec![PathBuf::from("/c/svc/static")],
                    ..DockerComposeTarget::default()
                }),
                vec![compose_image],
            ),
        ],
        enabled: vec!["crd".to_owned(), "svc".to_owned()],
        ..Plan::default()
    };
    let (ws, errors) = WatchSet::from_plan(&plan);
    assert!(errors.is_empty());
    let ids: Vec<String> = ws.targets().map(TargetId::to_string).collect();
    assert_eq!(ids, vec!["k8s:crd", "image:svc-img", "configs:(Tiltfile)"]);
    assert_eq!(
        ws.affected([Path::new("/c/deploy/crd.yaml")]),
        vec![TargetId::k8s("crd")]
    );
    assert_eq!(
        ws.affected([Path::new("/c/svc/app.py")]),
        vec![TargetId::image("svc-img")]
    );
    assert!(
        ws.affected([Path::new("/c/svc/static/logo.png")])
            .is_empty()
    );
    assert!(ws.affected([Path::new("/c/svc/Dockerfile")]).is_empty());
    assert!(ws.affected([Path::new("/c/svc/x.pyc")]).is_empty());
    assert_eq!(
        ws.explain(Path::new("/c/svc/static/logo.png")).verdicts[1].to_string(),
        "image:svc-img: does not trigger: /c/svc/static and everything under it is ignored by \
         a bind mount of docker compose service 'svc' (the container sees it directly)"
    );
}

/// A repository root among a target's paths gets its `.git` ignored (Tilt's repository
/// ignores); `lilt why` names it, and a relative `.git` (Tilt writes one for custom builds)
/// means the working directory's.
#[test]
fn repository_git_dirs_are_ignored_and_named() {
    let mut p = plan();
    if let DeployTarget::Local(local) = &mut p.manifests[0].deploy {
        local.deps.push(PathBuf::from("/proj"));
        local.ignores.insert(0, set("/proj/.git", &[]));
    }
    let (ws, errors) = WatchSet::from_plan(&p);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(ws.affected([Path::new("/proj/.git/index")]).is_empty());
    assert_eq!(
        ws.affected([Path::new("/proj/main.go")]),
        vec![TargetId::local("app")]
    );
    assert!(
        ws.explain(Path::new("/proj/.git/HEAD"))
            .to_string()
            .contains("the repository's own data /proj/.git"),
        "{}",
        ws.explain(Path::new("/proj/.git/HEAD"))
    );

    let cwd = std::env::current_dir().expect("cwd");
    let relative = WatchSpec {
        id: TargetId::image("gen"),
        paths: vec![cwd.clone()],
        ignores: vec![SourcedIgnore::new(
            IgnoreSource::Repository {
                git_dir: PathBuf::from(".git"),
            },
            set(".git", &[]),
        )],
    };
    let (ws, errors) = WatchSet::build(vec![relative], &[]);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(ws.affected([cwd.join(".git/config").as_path()]).is_empty());
    assert_eq!(
        ws.affected([cwd.join("src/lib.rs").as_path()]),
        vec![TargetId::image("gen")]
    );
}
