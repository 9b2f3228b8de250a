//! Matching 100k paths against a realistic ignore set, alone and through the full
//! change → target mapping. Run with `cargo bench -p lilt-watch --bench matcher`.

use std::path::PathBuf;

use lilt_model::IgnoreSet;
use lilt_watch::{IgnoreSource, Matcher, SourcedIgnore, TargetId, WatchSet, WatchSpec};

fn main() {
    divan::main();
}

const ROOT: &str = "/home/dev/monorepo";

fn set(base: &str, patterns: &[&str]) -> IgnoreSet {
    IgnoreSet {
        base_path: PathBuf::from(base),
        patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A .dockerignore, a .tiltignore, watch_settings and the Tiltfile/Dockerfile sets, like a
/// mid-sized JavaScript + Python + Go monorepo would have.
fn ignores() -> Vec<SourcedIgnore> {
    let svc = format!("{ROOT}/services/api");
    vec![
        SourcedIgnore::new(
            IgnoreSource::Tiltfile {
                file: PathBuf::from(format!("{ROOT}/Tiltfile")),
            },
            set(&format!("{ROOT}/Tiltfile"), &[]),
        ),
        SourcedIgnore::new(
            IgnoreSource::DockerBuild {
                image: "api".to_owned(),
            },
            set(
                &svc,
                &[
                    "node_modules",
                    ".git",
                    "**/*.pyc",
                    "**/__pycache__",
                    "dist",
                    "build",
                    "coverage",
                    "*.log",
                    "!important.log",
                    ".venv",
                    "tmp/**",
                    "docs/*.md",
                    "!docs/README.md",
                    "**/.DS_Store",
                    "**/*.test.[jt]s",
                ],
            ),
        ),
        SourcedIgnore::new(
            IgnoreSource::Dockerfile {
                file: PathBuf::from(format!("{svc}/Dockerfile")),
            },
            set(&format!("{svc}/Dockerfile"), &[]),
        ),
        SourcedIgnore::new(
            IgnoreSource::Tiltignore {
                file: PathBuf::from(format!("{ROOT}/.tiltignore")),
            },
            set(
                ROOT,
                &[
                    "**/node_modules",
                    "**/target",
                    "**/.terraform",
                    "*.swp",
                    "bazel-*",
                ],
            ),
        ),
        SourcedIgnore::new(
            IgnoreSource::WatchSettings,
            set(ROOT, &["**/generated/**", "logs"]),
        ),
    ]
}

/// 100k paths: sources, tests, dependencies, build output, in the proportions a walk of a
/// real repository shows.
fn paths() -> Vec<PathBuf> {
    let kinds = [
        "src/components/widget{}.tsx",
        "src/lib/util{}.ts",
        "node_modules/pkg{}/lib/index.js",
        "node_modules/@scope/pkg{}/dist/index.d.ts",
        "app/models/model{}.py",
        "app/models/__pycache__/model{}.cpython-311.pyc",
        "dist/chunk{}.js",
        "tests/unit/widget{}.test.ts",
        "docs/page{}.md",
        "internal/pkg{}/handler.go",
        "generated/proto/msg{}.pb.go",
        ".git/objects/{}/abcdef",
    ];
    (0..100_000)
        .map(|idx| {
            let kind = kinds[idx % kinds.len()].replace("{}", &(idx / kinds.len()).to_string());
            PathBuf::from(format!("{ROOT}/services/api/{kind}"))
        })
        .collect()
}

#[divan::bench(sample_count = 20)]
fn match_100k_paths(bencher: divan::Bencher) {
    let matcher = match Matcher::new(&ignores()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let paths = paths();
    bencher.bench_local(|| paths.iter().filter(|p| matcher.matches(p)).count());
}

#[divan::bench(sample_count = 20)]
fn affected_targets_100k_paths(bencher: divan::Bencher) {
    let specs = vec![
        WatchSpec {
            id: TargetId::image("api"),
            paths: vec![PathBuf::from(format!("{ROOT}/services/api"))],
            ignores: ignores()[..3].to_vec(),
        },
        WatchSpec {
            id: TargetId::image("web"),
            paths: vec![PathBuf::from(format!("{ROOT}/services/web"))],
            ignores: Vec::new(),
        },
        WatchSpec {
            id: TargetId::local("lint"),
            paths: vec![PathBuf::from(ROOT)],
            ignores: Vec::new(),
        },
        WatchSpec {
            id: TargetId::configs(),
            paths: vec![PathBuf::from(format!("{ROOT}/Tiltfile"))],
            ignores: Vec::new(),
        },
    ];
    let (watch_set, _) = WatchSet::build(specs, &ignores()[3..]);
    let paths = paths();
    bencher.bench_local(|| {
        paths
            .iter()
            .map(|p| watch_set.affected([p.as_path()]).len())
            .sum::<usize>()
    });
}
