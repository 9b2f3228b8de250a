//! `helm()` and `kustomize()`: YAML generators that run an external tool at load time and
//! return its output as a blob. Their inputs (chart directory, values files, local
//! subcharts, the kustomization and what it references) become config files.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]

use std::path::{Path, PathBuf};

use anyhow::bail;
use lilt_model::Cmd;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::none::NoneType;

use crate::builtins::args::{PathArg, Str};
use crate::builtins::{args, local};
use crate::state::TiltState;
use crate::values::Blob;

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    generator_builtins(builder);
}

/// Finds `tool` on the Tiltfile's `$PATH` (or takes it as a path when it has a `/`).
pub(crate) fn find_tool(state: &TiltState, tool: &str) -> Option<PathBuf> {
    if tool.contains('/') {
        let p = state.abs(tool);
        return p.is_file().then_some(p);
    }
    let path = state.env.borrow().get("PATH").cloned().unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Drops the documents `helm template` renders from a chart's `tests/` directory.
fn drop_helm_tests(text: &str) -> String {
    text.split("---\n")
        .filter(|doc| {
            !doc.lines().any(|line| {
                line.strip_prefix("# Source: ")
                    .is_some_and(|src| src.contains("/tests/"))
            })
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Local `file://` subchart directories from `requirements.yaml` (what Tilt reads) and
/// `Chart.yaml` (where Helm 3 keeps them).
fn local_subcharts(chart: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for file in ["requirements.yaml", "Chart.yaml"] {
        let Ok(text) = crate::paths::read_text(chart.join(file)) else {
            continue;
        };
        let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        for dep in doc
            .get("dependencies")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(rel) = dep
                .get("repository")
                .and_then(serde_json::Value::as_str)
                .and_then(|r| r.strip_prefix("file://"))
            {
                let p = crate::paths::absolute(chart, rel);
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Helm 3.0 leaves CRDs out of `helm template`; 3.1 and later need `--include-crds`.
fn helm_includes_crds_flag(version: &str) -> anyhow::Result<bool> {
    let last = version.trim().lines().last().unwrap_or("").trim();
    if last.starts_with("v3.0.") {
        Ok(false)
    } else if last.starts_with("v3.") || last.starts_with("3.") || last.starts_with("v4.") {
        Ok(true)
    } else {
        bail!("could not parse Helm version from string: {version:?}")
    }
}

/// Adds `namespace` to every object that has none (`helm template --namespace` does not).
fn add_namespace(text: &str, namespace: &str) -> anyhow::Result<String> {
    let mut objects = lilt_manifest::parse_yaml_stream(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    for obj in &mut objects {
        if obj.namespace().is_none_or(str::is_empty)
            && let Some(meta) = obj
                .value_mut()
                .as_object_mut()
                .and_then(|o| o.get_mut("metadata"))
                .and_then(serde_json::Value::as_object_mut)
        {
            meta.insert(
                "namespace".to_owned(),
                serde_json::Value::String(namespace.to_owned()),
            );
        }
    }
    Ok(lilt_manifest::to_yaml(&objects))
}

/// Paths a kustomization refers to, recursively: the kustomization file, and every file or
/// directory it lists as resources, bases, components, patches, generators' files, ...
fn kustomize_deps(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 32 {
        return;
    }
    let Some(file) = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
    else {
        return;
    };
    if out.contains(&file) {
        return;
    }
    out.push(file.clone());
    let Ok(text) = crate::paths::read_text(&file) else {
        return;
    };
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let mut refs: Vec<String> = Vec::new();
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(o) => o
                    .get("path")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned),
                _ => None,
            })
            .collect()
    };
    for key in [
        "resources",
        "bases",
        "components",
        "crds",
        "patches",
        "patchesStrategicMerge",
        "patchesJson6902",
        "configurations",
        "transformers",
        "generators",
    ] {
        refs.extend(strings(doc.get(key)));
    }
    for key in ["configMapGenerator", "secretGenerator"] {
        for generator in doc
            .get(key)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            for field in ["files", "envs"] {
                refs.extend(
                    strings(generator.get(field))
                        .into_iter()
                        .map(|f| f.split_once('=').map_or(f.clone(), |(_, p)| p.to_owned())),
                );
            }
            if let Some(env) = generator.get("env").and_then(serde_json::Value::as_str) {
                refs.push(env.to_owned());
            }
        }
    }
    for r in refs {
        if r.contains("://") || r.contains('\n') {
            continue;
        }
        let p = crate::paths::absolute(dir, &r);
        if p.is_dir() {
            kustomize_deps(&p, out, depth + 1);
        } else if p.is_file() && !out.contains(&p) {
            out.push(p);
        }
    }
}

#[starlark_module]
fn generator_builtins(builder: &mut GlobalsBuilder) {
    fn helm<'v>(
        paths: PathArg<'v>,
        #[starlark(default = Str(""))] name: Str<'v>,
        #[starlark(default = Str(""))] namespace: Str<'v>,
        #[starlark(default = NoneType)] values: Value<'v>,
        #[starlark(default = NoneType)] set: Value<'v>,
        #[starlark(default = Str(""))] kube_version: Str<'v>,
        #[starlark(default = false)] skip_crds: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let chart = state.abs(&paths);
        match std::fs::metadata(&chart) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "Could not read Helm chart directory {:?}: does not exist",
                chart.display().to_string()
            ),
            Err(e) => bail!(
                "Could not read Helm chart directory {:?}: {e}",
                chart.display().to_string()
            ),
            Ok(m) if !m.is_dir() => bail!(
                "helm() may only be called on directories with Chart.yaml: {:?}",
                chart.display().to_string()
            ),
            Ok(_) => {}
        }
        state.record_config_file(chart.clone());
        for sub in local_subcharts(&chart) {
            state.record_config_file(sub);
        }
        let Some(helm) = find_tool(state, "helm") else {
            bail!(
                "Unable to find Helm installation. Make sure `helm` is on your $PATH. \
                 Install it from https://helm.sh/docs/intro/install/"
            );
        };
        let cwd = state.cwd();
        let helm_str = helm.display().to_string();
        let version = local::run_quiet(
            state,
            &Cmd {
                argv: vec![helm_str, "version".into(), "--short".into()],
                dir: cwd.clone(),
                env: Vec::new(),
                echo_off: true,
            },
        )?;
        let include_crds = helm_includes_crds_flag(&version)?;
        let release = if name.is_empty() { "chart" } else { &name };
        let mut argv: Vec<String> = vec![
            "helm".into(),
            "template".into(),
            release.into(),
            chart.display().to_string(),
        ];
        if !namespace.is_empty() {
            argv.extend(["--namespace".into(), namespace.to_string()]);
        }
        if !kube_version.is_empty() {
            argv.extend(["--kube-version".into(), kube_version.into()]);
        }
        if !skip_crds && include_crds {
            argv.push("--include-crds".into());
        }
        for file in args::string_list(Some(values), "helm: values")? {
            state.record_config_file(state.abs(&file));
            argv.extend(["--values".into(), file]);
        }
        for s in args::string_list(Some(set), "helm: set")? {
            argv.extend(["--set".into(), s]);
        }
        let cmd = Cmd {
            argv,
            dir: cwd,
            env: Vec::new(),
            echo_off: false,
        };
        let out = local::run_logged_command(state, &cmd)?;
        let mut yaml = drop_helm_tests(&out);
        if !namespace.is_empty() {
            yaml = add_namespace(&yaml, &namespace)?;
        }
        Ok(eval.heap().alloc(Blob { text: yaml }))
    }

    fn kustomize<'v>(
        paths: PathArg<'v>,
        #[starlark(default = NoneType)] kustomize_bin: Value<'v>,
        #[starlark(default = NoneType)] flags: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let dir = state.abs(&paths);
        let cwd = state.cwd();
        let bin = args::opt_path(Some(kustomize_bin), "kustomize: kustomize_bin")?;
        let mut argv: Vec<String> = match &bin {
            Some(b) => {
                let abs = state.abs(b);
                if !is_executable(&abs) {
                    bail!(
                        "exec: {:?}: stat {}: no such file or directory",
                        abs.display().to_string(),
                        abs.display()
                    );
                }
                vec![abs.display().to_string(), "build".into()]
            }
            None if find_tool(state, "kustomize").is_some() => {
                vec!["kustomize".into(), "build".into()]
            }
            None if find_tool(state, "kubectl").is_some() => {
                state.print(
                    "Falling back to `kubectl kustomize` since `kustomize` was not found in PATH",
                );
                vec!["kubectl".into(), "kustomize".into()]
            }
            None => bail!(
                "Unable to find `kustomize` or `kubectl` on your $PATH. Install kustomize \
                 (https://kubectl.docs.kubernetes.io/installation/kustomize/) or kubectl, \
                 which includes `kubectl kustomize`."
            ),
        };
        argv.extend(args::string_list(Some(flags), "kustomize: flags")?);
        // kustomize mishandles absolute paths (kubernetes-sigs/kustomize#2789).
        let rel = crate::paths::relative(&dir, &cwd)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| dir.display().to_string());
        argv.push(if rel.is_empty() { ".".to_owned() } else { rel });
        let cmd = Cmd {
            argv,
            dir: cwd,
            env: Vec::new(),
            echo_off: false,
        };
        let yaml = local::run_logged_command(state, &cmd)?;
        let mut deps = Vec::new();
        kustomize_deps(&dir, &mut deps, 0);
        for d in deps {
            state.record_config_file(d);
        }
        Ok(eval.heap().alloc(Blob { text: yaml }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_tests_are_dropped() {
        let text = "# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/tests/t.yaml\nkind: T\n---\n# Source: c/templates/b.yaml\nkind: B\n";
        let out = drop_helm_tests(text);
        assert!(out.contains("kind: A") && out.contains("kind: B"));
        assert!(!out.contains("kind: T"));
    }

    #[test]
    fn helm_versions() {
        assert!(!helm_includes_crds_flag("v3.0.2+g19e47ee").expect("3.0"));
        assert!(helm_includes_crds_flag("v3.14.2+gc309b6f").expect("3.14"));
        assert!(helm_includes_crds_flag("WARNING: x\nv3.9.0").expect("multi-line"));
        assert!(helm_includes_crds_flag("v2.16.0").is_err());
    }

    #[test]
    fn namespace_added_only_where_missing() {
        let out = add_namespace(
            "kind: A\nmetadata:\n  name: a\n---\nkind: B\nmetadata:\n  name: b\n  namespace: keep\n",
            "ns",
        )
        .expect("ok");
        let objs = lilt_manifest::parse_yaml_stream(&out).expect("parse");
        assert_eq!(objs[0].namespace(), Some("ns"));
        assert_eq!(objs[1].namespace(), Some("keep"));
    }

    #[test]
    fn kustomization_deps_are_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("base")).expect("mkdir");
        std::fs::write(
            root.join("kustomization.yaml"),
            "resources:\n- base\n- svc.yaml\nconfigMapGenerator:\n- name: c\n  files:\n  - key=conf.txt\n",
        )
        .expect("write");
        std::fs::write(root.join("svc.yaml"), "kind: Service\n").expect("write");
        std::fs::write(root.join("conf.txt"), "x").expect("write");
        std::fs::write(
            root.join("base/kustomization.yaml"),
            "resources:\n- d.yaml\n",
        )
        .expect("write");
        std::fs::write(root.join("base/d.yaml"), "kind: Deployment\n").expect("write");
        let mut deps = Vec::new();
        kustomize_deps(root, &mut deps, 0);
        let names: Vec<String> = deps
            .iter()
            .map(|p| {
                p.strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "kustomization.yaml",
                "base/kustomization.yaml",
                "base/d.yaml",
                "svc.yaml",
                "conf.txt"
            ]
        );
    }
}
