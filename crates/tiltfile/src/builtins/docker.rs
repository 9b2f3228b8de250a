//! `docker_build` and `custom_build`: image declarations.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]

use std::path::{Path, PathBuf};

use anyhow::bail;
use lilt_model::{BuildDetails, CustomBuild, DockerBuild, IgnoreSet, ImageTarget};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::none::NoneType;

use crate::builtins::{args, live_update};
use crate::ignores;
use crate::state::TiltState;
use crate::values::{CustomBuildValue, string_like};

const CACHE_OBSOLETE_WARNING: &str = "docker_build(cache=...) is obsolete, and currently a no-op.\n\
     You should switch to live_update to optimize your builds.";

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    docker_builtins(builder);
}

/// Checks a Docker image reference: `[host[:port]/]path[:tag][@digest]`, lowercase path.
/// The error is Docker's parser's own text; callers add the context Tilt adds.
pub(crate) fn validate_ref(reference: &str) -> anyhow::Result<()> {
    let invalid = |why: &str| anyhow::anyhow!("invalid reference format{why}");
    if reference.is_empty() {
        return Err(invalid(""));
    }
    // Docker's normalization checks the repository path (with `library/` added to a
    // one-component Docker Hub name, up to the tag) for uppercase before anything else.
    let remote = normalized_remote(reference);
    if remote.chars().any(|c| c.is_uppercase()) {
        return Err(invalid(&format!(
            ": repository name ({remote}) must be lowercase"
        )));
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !ok {
            return Err(invalid(""));
        }
    }
    // The tag is after the last ':' that follows the last '/'.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (path, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(invalid(""));
        }
    }
    let mut parts: Vec<&str> = path.split('/').collect();
    let first = parts[0];
    let has_domain = parts.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase()));
    if has_domain {
        let host = parts.remove(0);
        let (h, port) = match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        };
        let host_ok = !h.is_empty()
            && h.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if !host_ok || !port_ok {
            return Err(invalid(""));
        }
    }
    for component in parts {
        let ok = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_alphanumeric())
            && component.ends_with(|c: char| c.is_ascii_alphanumeric())
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return Err(invalid(""));
        }
    }
    Ok(())
}

/// The repository path Docker's `ParseNormalizedNamed` checks for case: the part after the
/// registry host (a first component with `.` or `:`, `localhost`, or uppercase letters is a
/// host), with `library/` for a one-component Docker Hub name, up to the first `:`.
fn normalized_remote(reference: &str) -> String {
    let remainder = match reference.split_once('/') {
        Some((first, rest))
            if first == "localhost"
                || first.contains(['.', ':'])
                || first.to_lowercase() != first =>
        {
            rest.to_owned()
        }
        Some((first, rest)) if first == "docker.io" || first == "index.docker.io" => {
            if rest.contains('/') {
                rest.to_owned()
            } else {
                format!("library/{rest}")
            }
        }
        Some(_) => reference.to_owned(),
        None => format!("library/{reference}"),
    };
    match remainder.split_once(':') {
        Some((remote, _)) => remote.to_owned(),
        None => remainder,
    }
}

fn add_image(state: &TiltState, image: ImageTarget) -> anyhow::Result<()> {
    let mut decl = state.decl.borrow_mut();
    if decl.images.iter().any(|i| i.image_ref == image.image_ref) {
        bail!(
            "Image for ref {:?} has already been defined",
            image.image_ref
        );
    }
    decl.images.push(image);
    Ok(())
}

fn entrypoint(value: Value<'_>, dir: PathBuf) -> anyhow::Result<Vec<String>> {
    Ok(args::command(Some(value), dir, Vec::new(), "entrypoint")?.argv)
}

fn container_args(value: Value<'_>) -> anyhow::Result<Option<Vec<String>>> {
    if value.is_none() {
        return Ok(None);
    }
    args::strict_string_list(Some(value), "Argument 'container_args'").map(Some)
}

fn check_patterns(patterns: &[String], what: &str) -> anyhow::Result<()> {
    for p in patterns {
        if p.contains('\n') {
            bail!("{what} cannot contain newlines; found {what}: {p:?}");
        }
    }
    Ok(())
}

/// `only=` entries are paths: a glob there is a mistake Tilt reports.
fn check_only(only: &[String]) -> anyhow::Result<()> {
    if let Some(path) = only.iter().find(|p| p.contains('*')) {
        bail!("'only' does not support '*' file globs. Must be a real path: {path}");
    }
    Ok(())
}

#[starlark_module]
fn docker_builtins(builder: &mut GlobalsBuilder) {
    fn docker_build<'v>(
        r#ref: &str,
        context: &str,
        #[starlark(default = NoneType)] build_args: Value<'v>,
        #[starlark(default = NoneType)] dockerfile: Value<'v>,
        #[starlark(default = NoneType)] dockerfile_contents: Value<'v>,
        #[starlark(default = NoneType)] cache: Value<'v>,
        #[starlark(default = NoneType)] live_update: Value<'v>,
        #[starlark(default = false)] match_in_env_vars: bool,
        #[starlark(default = NoneType)] ignore: Value<'v>,
        #[starlark(default = NoneType)] only: Value<'v>,
        #[starlark(default = NoneType)] entrypoint: Value<'v>,
        #[starlark(default = NoneType)] container_args: Value<'v>,
        #[starlark(default = "")] target: &str,
        #[starlark(default = NoneType)] ssh: Value<'v>,
        #[starlark(default = NoneType)] secret: Value<'v>,
        #[starlark(default = NoneType)] network: Value<'v>,
        #[starlark(default = NoneType)] extra_tag: Value<'v>,
        #[starlark(default = NoneType)] cache_from: Value<'v>,
        #[starlark(default = false)] pull: bool,
        #[starlark(default = NoneType)] platform: Value<'v>,
        #[starlark(default = NoneType)] extra_hosts: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        validate_ref(r#ref)
            .map_err(|e| anyhow::anyhow!("Argument 1 (ref): can't parse {:?}: {e}", r#ref))?;
        let context = state.abs(context);
        if !dockerfile_contents.is_none() && !dockerfile.is_none() {
            bail!("Cannot specify both dockerfile and dockerfile_contents keyword arguments");
        }
        let (dockerfile_path, contents) = if !dockerfile_contents.is_none() {
            match string_like(dockerfile_contents) {
                Some(text) => (None, text),
                None => bail!("Argument (dockerfile_contents): must be string or blob."),
            }
        } else {
            let path = match args::opt_string(Some(dockerfile), "dockerfile")? {
                Some(p) => state.abs(&p),
                None => context.join("Dockerfile"),
            };
            state.record_config_file(path.clone());
            let text = match state.read_text_capped(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                    bail!("error reading dockerfile: {}: {e}", path.display())
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("error reading dockerfile: {}", path.display())));
                }
            };
            (Some(path), text)
        };
        if !cache.is_none() {
            state.warn(CACHE_OBSOLETE_WARNING);
        }
        let live_update = live_update::from_steps(state, Some(live_update))
            .map_err(|e| anyhow::anyhow!("live_update: {e}"))?;
        let ignore_patterns = args::string_list(Some(ignore), "ignore")?;
        check_patterns(&ignore_patterns, "ignore")?;
        let only = args::string_list(Some(only), "only")?;
        check_patterns(&only, "only")?;
        check_only(&only)?;
        let extra_tags = args::string_list(Some(extra_tag), "extra_tag")?;
        for tag in &extra_tags {
            validate_ref(tag).map_err(|e| {
                anyhow::anyhow!("Argument extra_tag={tag:?} not a valid image reference: {e}")
            })?;
        }
        let mut build_args: Vec<(String, Option<String>)> =
            args::string_dict(Some(build_args), "build_args")?
                .into_iter()
                .map(|(k, v)| (k, if v.is_empty() { None } else { Some(v) }))
                .collect();
        build_args.sort();
        let platform = match args::opt_string(Some(platform), "platform")? {
            Some(p) if !p.is_empty() => p,
            _ => state.env_var("DOCKER_DEFAULT_PLATFORM").unwrap_or_default(),
        };
        // Tilt's order: the Tiltfile, repository roots, then ignore=, only= and the
        // .dockerignore of the context.
        let mut context_ignores = vec![IgnoreSet {
            base_path: state.current_file(),
            patterns: Vec::new(),
        }];
        // Tilt keeps `<context>/Dockerfile` as the Dockerfile path even when the contents
        // come from `dockerfile_contents`, and derives ignores from it.
        let ignore_dockerfile = dockerfile_path
            .clone()
            .unwrap_or_else(|| context.join("Dockerfile"));
        context_ignores.extend(ignores::repo_ignores([
            ignore_dockerfile.as_path(),
            context.as_path(),
        ]));
        context_ignores.extend(ignores::build_dir_ignores(
            state,
            std::slice::from_ref(&context),
            &ignore_patterns,
            &only,
            Some(&ignore_dockerfile),
        ));
        // The Tiltfile reads the Dockerfile, so a change to it reloads rather than rebuilds.
        let mut watch_ignores = context_ignores.clone();
        watch_ignores.push(IgnoreSet {
            base_path: ignore_dockerfile,
            patterns: Vec::new(),
        });
        let image = ImageTarget {
            image_ref: r#ref.to_owned(),
            build: BuildDetails::Docker(DockerBuild {
                context: context.clone(),
                dockerfile_path,
                dockerfile_contents: contents,
                build_args,
                target: target.to_owned(),
                ssh: args::string_list(Some(ssh), "ssh")?,
                secret: args::string_list(Some(secret), "secret")?,
                network: args::opt_string(Some(network), "network")?.unwrap_or_default(),
                extra_tags,
                cache_from: args::string_list(Some(cache_from), "cache_from")?,
                pull,
                platform,
                extra_hosts: args::string_list(Some(extra_hosts), "extra_hosts")?,
                context_ignores,
                watch_ignores,
            }),
            live_update,
            match_in_env_vars,
            entrypoint: self::entrypoint(entrypoint, state.cwd())?,
            container_args: self::container_args(container_args)?,
            image_deps: Vec::new(),
        };
        add_image(state, image)?;
        Ok(NoneType)
    }

    fn custom_build<'v>(
        r#ref: &str,
        command: Value<'v>,
        deps: Value<'v>,
        #[starlark(default = "")] tag: &str,
        #[starlark(default = false)] disable_push: bool,
        #[starlark(default = false)] skips_local_docker: bool,
        #[starlark(default = NoneType)] live_update: Value<'v>,
        #[starlark(default = false)] match_in_env_vars: bool,
        #[starlark(default = NoneType)] ignore: Value<'v>,
        #[starlark(default = NoneType)] entrypoint: Value<'v>,
        #[starlark(default = NoneType)] container_args: Value<'v>,
        #[starlark(default = NoneType)] command_bat_val: Value<'v>,
        #[starlark(default = "")] outputs_image_ref_to: &str,
        #[starlark(default = NoneType)] command_bat: Value<'v>,
        #[starlark(default = NoneType)] image_deps: Value<'v>,
        #[starlark(default = NoneType)] env: Value<'v>,
        #[starlark(default = NoneType)] dir: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let _ = (command_bat_val, command_bat); // Windows only.
        let state = TiltState::get(eval)?;
        validate_ref(r#ref)
            .map_err(|e| anyhow::anyhow!("Argument 1 (ref): can't parse {:?}: {e}", r#ref))?;
        let dir = match args::opt_string(Some(dir), "dir")? {
            Some(d) => state.abs(&d),
            None => state.cwd(),
        };
        let env = args::string_dict(Some(env), "env")?;
        let cmd = args::command(Some(command), dir, env, "Argument 2 (command)")?;
        if cmd.is_empty() {
            bail!("Argument 2 (command) can't be empty");
        }
        if !tag.is_empty() && !outputs_image_ref_to.is_empty() {
            bail!("Cannot specify both tag= and outputs_image_ref_to=");
        }
        let deps = args::path_list(state, Some(deps), "Argument 3 (deps)")?;
        let live_update = live_update::from_steps(state, Some(live_update))
            .map_err(|e| anyhow::anyhow!("live_update: {e}"))?;
        let ignores = args::string_list(Some(ignore), "ignore")?;
        check_patterns(&ignores, "ignore")?;
        let image_deps = args::string_list(Some(image_deps), "image_deps")?;
        for dep in &image_deps {
            validate_ref(dep).map_err(|e| {
                anyhow::anyhow!("for parameter image_deps: must be a valid image reference: {e}")
            })?;
        }
        // A custom build has no Dockerfile: Tilt checks the empty path (the working
        // directory) for a repository too, then each dep.
        let mut ignore_sets = vec![IgnoreSet {
            base_path: state.current_file(),
            patterns: Vec::new(),
        }];
        ignore_sets.extend(ignores::repo_ignores(
            std::iter::once(Path::new("")).chain(deps.iter().map(PathBuf::as_path)),
        ));
        ignore_sets.extend(ignores::build_dir_ignores(
            state,
            &deps,
            &ignores,
            &[],
            None,
        ));
        let outputs = if outputs_image_ref_to.is_empty() {
            None
        } else {
            Some(state.abs(outputs_image_ref_to))
        };
        let image = ImageTarget {
            image_ref: r#ref.to_owned(),
            build: BuildDetails::Custom(CustomBuild {
                cmd,
                deps,
                tag: tag.to_owned(),
                disable_push,
                skips_local_docker,
                outputs_image_ref_to: outputs,
                ignores: ignore_sets,
            }),
            live_update,
            match_in_env_vars,
            entrypoint: self::entrypoint(entrypoint, state.cwd())?,
            container_args: self::container_args(container_args)?,
            image_deps,
        };
        add_image(state, image)?;
        Ok(eval.heap().alloc(CustomBuildValue {
            image_ref: r#ref.to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_ref;

    #[test]
    fn image_refs() {
        for ok in [
            "foo",
            "gcr.io/a/b",
            "localhost:5000/x:tag",
            "a/b-c_d.e:1.0",
            "registry.example.com:443/x@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert!(validate_ref(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Foo", "a//b", "a:", "-a", "a/b:tag with space"] {
            assert!(validate_ref(bad).is_err(), "{bad}");
        }
    }

    /// Docker's reference parser names the normalized repository path it found uppercase in.
    #[test]
    fn uppercase_errors_name_the_normalized_repository() {
        let message = |r: &str| validate_ref(r).err().map(|e| e.to_string());
        assert_eq!(
            message("Not A Ref!").as_deref(),
            Some(
                "invalid reference format: repository name (library/Not A Ref!) must be lowercase"
            )
        );
        assert_eq!(
            message("gcr.io/Proj/app:Tag").as_deref(),
            Some("invalid reference format: repository name (Proj/app) must be lowercase")
        );
        // A tag may hold uppercase letters; an uppercase first component is a host.
        assert!(validate_ref("app:TAG").is_ok());
        assert!(validate_ref("Registry/app").is_ok());
    }
}
