//! The Compose tool the user has, and the command lines lilt runs it with.
//!
//! As Tilt: `TILT_DOCKER_COMPOSE_CMD` when set, else the v2 plugin (`docker compose`) when
//! `docker compose version` answers, else `docker-compose` (v1). Every command names the
//! project exactly as the Tiltfile resolved it (`-p`, `--project-directory`, each `-f`,
//! `--env-file`, each `--profile`), so Compose sees what `lilt up` evaluated.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use lilt_model::ComposeProject;

use crate::ComposeError;

/// The variable that names the Compose command (Tilt's).
pub const COMMAND_VAR: &str = "TILT_DOCKER_COMPOSE_CMD";

/// Which generation of Compose runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `docker compose`, the CLI plugin.
    V2Plugin,
    /// `docker-compose` 1.x (Python), or whatever `TILT_DOCKER_COMPOSE_CMD` names.
    Standalone,
}

/// The Compose command: its program and leading arguments (`["docker", "compose"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeCommand {
    pub program: Vec<String>,
    pub flavor: Flavor,
}

impl ComposeCommand {
    /// The command named by `TILT_DOCKER_COMPOSE_CMD` (split on whitespace, so
    /// `docker compose` works too), when set and not empty.
    pub fn from_override(value: Option<&str>) -> Option<ComposeCommand> {
        let program: Vec<String> = value?.split_whitespace().map(str::to_owned).collect();
        if program.is_empty() {
            return None;
        }
        let flavor = if program.len() > 1 && program[1] == "compose" {
            Flavor::V2Plugin
        } else {
            Flavor::Standalone
        };
        Some(ComposeCommand { program, flavor })
    }

    /// Finds the Compose tool as Tilt does, running `docker compose version` with `env`
    /// (the environment Compose itself will run with).
    pub async fn detect(env: &[(String, String)]) -> Result<ComposeCommand, ComposeError> {
        let lookup = |k: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        if let Some(cmd) = ComposeCommand::from_override(lookup(COMMAND_VAR)) {
            return Ok(cmd);
        }
        let plugin = tokio::process::Command::new("docker")
            .args(["compose", "version"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if plugin.is_ok_and(|s| s.success()) {
            return Ok(ComposeCommand {
                program: vec!["docker".to_owned(), "compose".to_owned()],
                flavor: Flavor::V2Plugin,
            });
        }
        let path = lookup("PATH").unwrap_or_default();
        if std::env::split_paths(path).any(|dir| is_executable(&dir.join("docker-compose"))) {
            return Ok(ComposeCommand {
                program: vec!["docker-compose".to_owned()],
                flavor: Flavor::Standalone,
            });
        }
        Err(ComposeError::NoComposeTool)
    }

    /// The full command line: the program, the project's options, then `args`.
    pub fn argv(
        &self,
        project: &ComposeProject,
        extra_files: &[PathBuf],
        args: &[&str],
    ) -> Vec<String> {
        let mut argv = self.program.clone();
        argv.extend(project_args(project, extra_files));
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The options that name the project, as the Tiltfile resolved it; `extra_files` (lilt's
/// image override) come after the user's files, so they win the merge.
pub fn project_args(project: &ComposeProject, extra_files: &[PathBuf]) -> Vec<String> {
    let mut args = vec!["--project-name".to_owned(), project.name.clone()];
    if !project.project_path.as_os_str().is_empty() {
        args.push("--project-directory".to_owned());
        args.push(project.project_path.display().to_string());
    }
    for file in project.config_paths.iter().chain(extra_files) {
        args.push("--file".to_owned());
        args.push(file.display().to_string());
    }
    if let Some(env_file) = &project.env_file {
        args.push("--env-file".to_owned());
        args.push(env_file.display().to_string());
    }
    for profile in &project.profiles {
        args.push("--profile".to_owned());
        args.push(profile.clone());
    }
    args
}

/// The arguments of `up` for one service: detached, without its dependencies (lilt
/// deploys those as their own resources), building it first when Compose builds it.
/// Compose itself recreates the container when its configuration or image changed, and
/// leaves it alone otherwise.
pub fn up_args(service: &str, compose_builds: bool, wait: bool) -> Vec<&str> {
    let mut args = vec!["up", "--detach", "--no-deps"];
    if compose_builds {
        args.push("--build");
    }
    if wait {
        args.push("--wait");
    }
    args.push(service);
    args
}

/// The arguments of `down` for the project (`lilt down`): volumes are removed only when
/// asked, as Tilt's `--delete-volumes`.
pub fn down_args(delete_volumes: bool) -> Vec<&'static str> {
    let mut args = vec!["down"];
    if delete_volumes {
        args.push("--volumes");
    }
    args
}

/// The YAML of lilt's override file: each service takes the image lilt built for it.
/// `version` repeats the first Compose file's, because Compose v1 refuses to merge files
/// of different format versions.
pub fn override_yaml(version: Option<&str>, images: &[(String, String)]) -> String {
    let mut out = String::new();
    if let Some(version) = version {
        out.push_str(&format!("version: {}\n", quote(version)));
    }
    out.push_str("services:\n");
    for (service, image) in images {
        out.push_str(&format!(
            "  {}:\n    image: {}\n",
            quote(service),
            quote(image)
        ));
    }
    out
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The top-level `version:` of a Compose file's text, unquoted, if it has one.
pub fn file_version(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("version:")?;
        let value = rest.split('#').next()?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Writes the override that puts lilt's built images on `service` into `dir` (lilt's own
/// directory; the user's files are never touched) and returns its path. One file per
/// service, so concurrent updates of two services never write the same file.
pub fn write_override(
    dir: &Path,
    project: &ComposeProject,
    service: &str,
    image: &str,
) -> Result<PathBuf, ComposeError> {
    let version = project
        .config_paths
        .first()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|text| file_version(&text));
    let text = override_yaml(
        version.as_deref(),
        &[(service.to_owned(), image.to_owned())],
    );
    let dir = dir.join(safe_name(&project.name));
    std::fs::create_dir_all(&dir).map_err(|e| ComposeError::Override {
        path: dir.clone(),
        source: e,
    })?;
    let path = dir.join(format!("{}.override.yml", safe_name(service)));
    std::fs::write(&path, text).map_err(|e| ComposeError::Override {
        path: path.clone(),
        source: e,
    })?;
    Ok(path)
}

/// A name safe as one path component.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> ComposeProject {
        ComposeProject {
            name: "shop".into(),
            config_paths: vec!["/src/compose.yml".into(), "/src/compose.dev.yml".into()],
            project_path: "/src".into(),
            env_file: Some("/src/dev.env".into()),
            profiles: vec!["debug".into(), "tools".into()],
            wait: false,
        }
    }

    #[test]
    fn argv_names_the_project_as_resolved_with_the_override_last() {
        let cmd = ComposeCommand {
            program: vec!["docker-compose".into()],
            flavor: Flavor::Standalone,
        };
        let argv = cmd.argv(
            &project(),
            &["/tmp/o.yml".into()],
            &up_args("web", false, false),
        );
        assert_eq!(
            argv.join(" "),
            "docker-compose --project-name shop --project-directory /src \
             --file /src/compose.yml --file /src/compose.dev.yml --file /tmp/o.yml \
             --env-file /src/dev.env --profile debug --profile tools up --detach --no-deps web"
        );
    }

    #[test]
    fn up_builds_only_when_compose_builds_and_down_keeps_volumes() {
        assert_eq!(
            up_args("api", true, true),
            ["up", "--detach", "--no-deps", "--build", "--wait", "api"]
        );
        assert_eq!(down_args(false), ["down"]);
        assert_eq!(down_args(true), ["down", "--volumes"]);
    }

    #[test]
    fn override_variable_wins_and_may_name_the_plugin() {
        let cmd = ComposeCommand::from_override(Some("/opt/bin/docker-compose")).unwrap();
        assert_eq!(cmd.program, ["/opt/bin/docker-compose"]);
        assert_eq!(cmd.flavor, Flavor::Standalone);
        let cmd = ComposeCommand::from_override(Some("docker compose")).unwrap();
        assert_eq!(cmd.flavor, Flavor::V2Plugin);
        assert_eq!(ComposeCommand::from_override(Some("  ")), None);
        assert_eq!(ComposeCommand::from_override(None), None);
    }

    #[test]
    fn override_file_repeats_the_version_and_quotes_values() {
        assert_eq!(
            file_version("# c\nversion: '3.8' # x\nservices: {}\n").as_deref(),
            Some("3.8")
        );
        assert_eq!(file_version("services:\n  version: 1\n"), None);
        assert_eq!(
            override_yaml(Some("2.4"), &[("web".into(), "app:tilt-0123".into())]),
            "version: \"2.4\"\nservices:\n  \"web\":\n    image: \"app:tilt-0123\"\n"
        );
    }

    #[test]
    fn override_is_written_to_lilt_dir_per_service() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("compose.yml");
        std::fs::write(&src, "version: \"3.8\"\nservices:\n  web: {}\n").unwrap();
        let mut p = project();
        p.config_paths = vec![src.clone()];
        let out = dir.path().join("state");
        let path = write_override(&out, &p, "web", "app:tilt-1").unwrap();
        assert_eq!(path, out.join("shop").join("web.override.yml"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("version: \"3.8\"\n"), "{text}");
        assert!(text.contains("image: \"app:tilt-1\""), "{text}");
        // The user's file is untouched.
        assert_eq!(
            std::fs::read_to_string(&src).unwrap(),
            "version: \"3.8\"\nservices:\n  web: {}\n"
        );
    }
}
