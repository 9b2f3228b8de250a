//! `custom_build`: hash the `deps`, look for the content tag, otherwise run the command with
//! `EXPECTED_REF` and friends in its own process group, then find, tag and push its image.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use lilt_manifest::ImageRef;
use lilt_model::{CustomBuild, CustomOutputMode, ImageTarget};
use lilt_watch::Matcher;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::context::{HashCache, ScanError, field, scan};
use crate::docker::hash_deps;
use crate::error::BuildError;
use crate::registry::{daemon_image_id, push, registry_digest, tag};
use crate::{BuiltImage, Dep, Run};

/// How long a cancelled command gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How long output is still read after the command exits (a background process it left
/// behind may hold its stdout open forever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Hash of the `deps` (files and directories, after `ignore=`), the command and its options.
fn inputs_hash(build: &CustomBuild, deps_digest: &[u8; 32], deps: &[Dep<'_>]) -> [u8; 32] {
    let mut h = Sha256::new();
    field(&mut h, b"lilt custom_build v1");
    h.update((build.cmd.argv.len() as u64).to_be_bytes());
    for arg in &build.cmd.argv {
        field(&mut h, arg.as_bytes());
    }
    field(&mut h, build.cmd.dir.as_os_str().as_encoded_bytes());
    h.update((build.cmd.env.len() as u64).to_be_bytes());
    for (k, v) in &build.cmd.env {
        field(&mut h, k.as_bytes());
        field(&mut h, v.as_bytes());
    }
    field(&mut h, build.tag.as_bytes());
    field(&mut h, build.output_mode().wire().as_bytes());
    let outputs = build
        .outputs_image_ref_to
        .as_deref()
        .unwrap_or(Path::new(""));
    field(&mut h, outputs.as_os_str().as_encoded_bytes());
    field(&mut h, deps_digest);
    hash_deps(&mut h, deps);
    h.finalize().into()
}

/// One digest over every dep path: a directory by its scanned contents, a file by its
/// contents, a missing path as missing.
fn deps_digest(
    paths: &[PathBuf],
    matcher: &Matcher,
    cache: &HashCache,
) -> Result<[u8; 32], ScanError> {
    let mut h = Sha256::new();
    for path in paths {
        field(&mut h, path.as_os_str().as_encoded_bytes());
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                field(&mut h, b"dir");
                field(&mut h, &scan(path, matcher, cache)?.digest());
            }
            Ok(_) if matcher.matches(&lilt_watch::clean_path(path)) => field(&mut h, b"ignored"),
            Ok(meta) => {
                let bytes = std::fs::read(path).map_err(|source| ScanError::Io {
                    path: path.clone(),
                    source,
                })?;
                field(&mut h, b"file");
                h.update(
                    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()).to_be_bytes(),
                );
                field(&mut h, &Sha256::digest(&bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => field(&mut h, b"missing"),
            Err(source) => {
                return Err(ScanError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(h.finalize().into())
}

/// Builds (or finds) one `custom_build` image.
pub(crate) async fn build(
    run: &Run<'_>,
    image: &ImageTarget,
    build: &CustomBuild,
    deps: &[Dep<'_>],
) -> Result<BuiltImage, BuildError> {
    let name = image.image_ref.as_str();
    let names = run.names(image)?;
    // The file the command writes its ref to is an output, not an input: were it under a
    // dep, every run would change the hash it is found by.
    let mut ignores = build.ignores.clone();
    if let Some(outputs) = &build.outputs_image_ref_to {
        ignores.push(lilt_model::IgnoreSet {
            base_path: outputs.clone(),
            patterns: Vec::new(),
        });
    }
    let matcher = Matcher::from_ignore_sets(&ignores).map_err(|e| BuildError::Ignore {
        image: name.to_owned(),
        message: e.to_string(),
    })?;
    let paths = build.deps.clone();
    let cache = run.builder.hashes.clone();
    let digest = tokio::task::spawn_blocking(move || deps_digest(&paths, &matcher, &cache))
        .await
        .map_err(|e| BuildError::ContextRead {
            image: name.to_owned(),
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })?
        .map_err(|ScanError::Io { path, source }| BuildError::ContextRead {
            image: name.to_owned(),
            path,
            source,
        })?;
    let hash = inputs_hash(build, &digest, deps);
    let hash_key = crate::host::hex(&hash);
    let content_tag = run.tag_for(&names, &hash);
    let (local, cluster) = names.tagged(name, &content_tag)?;
    let mode = build.output_mode();
    // Where the finished image lives: a registry when the command pushes (or never uses
    // the local daemon) or when lilt pushes; else only the daemon.
    let in_registry = mode != CustomOutputMode::LocalDocker || run.req.push;
    let lilt_pushes = mode == CustomOutputMode::LocalDocker && run.req.push;

    let mut result = BuiltImage {
        image_ref: name.to_owned(),
        built_ref: cluster.familiar_string(),
        local_ref: local.familiar_string(),
        pushed: in_registry,
        ..BuiltImage::default()
    };

    // Up to date?
    if build.outputs_image_ref_to.is_some() {
        let remembered = run
            .builder
            .outputs
            .lock()
            .ok()
            .and_then(|m| m.get(&hash_key).cloned());
        if let Some(previous) = remembered
            && let Ok(parsed) = ImageRef::parse(&previous)
            && exists(run, name, &parsed, in_registry, mode)
                .await?
                .is_some()
        {
            run.log(format!("image up to date: {previous}"));
            return Ok(outputs_result(run, result, &parsed, true));
        }
    } else if (build.tag.is_empty() || mode != CustomOutputMode::Remote)
        && let Some(found) = exists(run, name, &local, in_registry, mode).await?
    {
        run.log(format!("image up to date: {}", result.local_ref));
        result.cached = true;
        match found {
            Found::Registry(digest) => result.digest = Some(digest),
            Found::Daemon(id) => {
                result.image_id = Some(id);
                if lilt_pushes {
                    result.digest = push(run, name, &local).await?;
                }
            }
        }
        return Ok(result);
    }

    // What the command is asked to produce. With `tag=`, the command does not know about
    // the registry: it builds `name:tag`, and lilt re-tags and pushes (Tilt's rule).
    let expected = if build.tag.is_empty() {
        local.clone()
    } else {
        names
            .configured
            .with_tag(&build.tag)
            .map_err(|e| BuildError::Reference {
                image: name.to_owned(),
                message: format!("tag {:?}: {e}", build.tag),
            })?
    };
    let mut env: Vec<(String, String)> = run
        .builder
        .env
        .vars()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.extend(run.req.env.iter().cloned());
    env.extend(build.cmd.env.iter().cloned());
    let mut injected = vec![
        ("EXPECTED_REF".to_owned(), expected.familiar_string()),
        ("EXPECTED_IMAGE".to_owned(), expected.path().to_owned()),
        (
            "EXPECTED_TAG".to_owned(),
            expected.tag().unwrap_or_default().to_owned(),
        ),
    ];
    if !run.registry.host.is_empty() {
        injected.push(("EXPECTED_REGISTRY".to_owned(), run.registry.host.clone()));
        injected.push(("REGISTRY_HOST".to_owned(), run.registry.host.clone()));
    }
    for (i, dep) in deps.iter().enumerate() {
        injected.push((format!("TILT_IMAGE_MAP_{i}"), dep.built.image_ref.clone()));
        injected.push((format!("TILT_IMAGE_{i}"), dep.built.local_ref.clone()));
    }
    run.log(format!("custom_build: running {}", build.cmd.display()));
    for (k, v) in &injected {
        run.log(format!("  {k}={v}"));
    }
    env.extend(injected);
    run_command(run, name, &build.cmd.argv, &build.cmd.dir, &env).await?;

    if let Some(outputs) = &build.outputs_image_ref_to {
        let written = std::fs::read_to_string(outputs).map_err(|e| BuildError::CommandOutput {
            image: name.to_owned(),
            reference: format!("a ref in {}", outputs.display()),
            message: e.to_string(),
        })?;
        let written = written.trim();
        let parsed = ImageRef::parse(written).map_err(|e| BuildError::CommandOutput {
            image: name.to_owned(),
            reference: format!("a ref in {}", outputs.display()),
            message: format!("{written:?} is not an image reference: {e}"),
        })?;
        if let Ok(mut memo) = run.builder.outputs.lock() {
            memo.insert(hash_key, parsed.familiar_string());
        }
        return outputs_result_checked(run, name, result, &parsed, mode, lilt_pushes, outputs)
            .await;
    }

    if mode == CustomOutputMode::Remote {
        // The command's own builder holds (and pushed) the image; lilt cannot see it.
        if !build.tag.is_empty() {
            result.built_ref = expected.familiar_string();
            result.local_ref = expected.familiar_string();
        }
        return Ok(result);
    }
    let expected_text = expected.familiar_string();
    let id = daemon_image_id(run, name, &expected_text).await?.ok_or_else(|| {
        BuildError::CommandOutput {
            image: name.to_owned(),
            reference: expected_text.clone(),
            message: format!(
                "the daemon at {} has no such image; the command must tag its image with $EXPECTED_REF, or set skips_local_docker=True if it does not use this daemon",
                run.builder.resolved.host
            ),
        }
    })?;
    if expected != local {
        tag(run, name, &expected_text, &local).await?;
    }
    result.image_id = Some(id);
    if lilt_pushes {
        result.digest = push(run, name, &local).await?;
    }
    Ok(result)
}

enum Found {
    Registry(String),
    Daemon(String),
}

/// Whether `reference` is already where it must be.
async fn exists(
    run: &Run<'_>,
    name: &str,
    reference: &ImageRef,
    in_registry: bool,
    mode: CustomOutputMode,
) -> Result<Option<Found>, BuildError> {
    if in_registry && let Some(digest) = registry_digest(run, reference).await? {
        return Ok(Some(Found::Registry(digest)));
    }
    // An image the daemon holds but the registry lacks is up to date only when lilt is the
    // one who pushes (it pushes it now); a command that pushes itself must run again.
    if mode == CustomOutputMode::LocalDocker
        && let Some(id) = daemon_image_id(run, name, &reference.familiar_string()).await?
    {
        return Ok(Some(Found::Daemon(id)));
    }
    Ok(None)
}

/// A result whose refs are the one an `outputs_image_ref_to` command wrote.
fn outputs_result(
    run: &Run<'_>,
    mut result: BuiltImage,
    written: &ImageRef,
    cached: bool,
) -> BuiltImage {
    result.local_ref = written.familiar_string();
    result.built_ref = cluster_view(run, written);
    result.cached = cached;
    result
}

/// After an `outputs_image_ref_to` command: the written ref must exist in the daemon
/// (unless the command skips it), and is pushed when lilt is the one who pushes.
async fn outputs_result_checked(
    run: &Run<'_>,
    name: &str,
    result: BuiltImage,
    written: &ImageRef,
    mode: CustomOutputMode,
    lilt_pushes: bool,
    outputs: &Path,
) -> Result<BuiltImage, BuildError> {
    let mut result = outputs_result(run, result, written, false);
    if mode == CustomOutputMode::Remote {
        return Ok(result);
    }
    let text = written.familiar_string();
    result.image_id = Some(daemon_image_id(run, name, &text).await?.ok_or_else(|| {
        BuildError::CommandOutput {
            image: name.to_owned(),
            reference: text.clone(),
            message: format!(
                "written to {} but the daemon at {} has no such image",
                outputs.display(),
                run.builder.resolved.host
            ),
        }
    })?);
    if lilt_pushes {
        result.digest = push(run, name, written).await?;
    }
    Ok(result)
}

/// A ref written by the command, with the push host replaced by the cluster's view of the
/// registry (`host_from_cluster`), as Tilt does.
fn cluster_view(run: &Run<'_>, written: &ImageRef) -> String {
    let text = written.familiar_string();
    let reg = &run.registry;
    if reg.host.is_empty() || reg.host_from_cluster.is_empty() {
        return text;
    }
    match text.strip_prefix(&format!("{}/", reg.host)) {
        Some(rest) => format!("{}/{rest}", reg.host_from_cluster),
        None => text,
    }
}

/// Kills a command's process group if the build is dropped before the command ends.
struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let Some(pgid) = self.pgid else { return };
        let group = Pid::from_raw(pgid);
        if killpg(group, Signal::SIGTERM).is_err() {
            return;
        }
        // Whatever ignores SIGTERM gets SIGKILL after a grace period, off the async runtime
        // (which may be shutting down).
        std::thread::spawn(move || {
            std::thread::sleep(KILL_GRACE);
            let _ = killpg(group, Signal::SIGKILL);
        });
    }
}

/// Runs the command in its own process group, streaming stdout and stderr lines to the log.
async fn run_command(
    run: &Run<'_>,
    name: &str,
    argv: &[String],
    dir: &Path,
    env: &[(String, String)],
) -> Result<(), BuildError> {
    let display = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return Err(BuildError::CommandSpawn {
            image: name.to_owned(),
            command: display,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if !dir.as_os_str().is_empty() {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|source| BuildError::CommandSpawn {
        image: name.to_owned(),
        command: display.clone(),
        source,
    })?;
    let mut guard = GroupGuard {
        pgid: child.id().and_then(|id| i32::try_from(id).ok()),
    };
    let mut stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
    let mut stderr = child.stderr.take().map(|s| BufReader::new(s).lines());
    let mut status: Option<ExitStatus> = None;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        if stdout.is_none() && stderr.is_none() && status.is_some() {
            break;
        }
        let deadline = drain_deadline;
        tokio::select! {
            line = async { stdout.as_mut()?.next_line().await.ok().flatten() }, if stdout.is_some() => {
                match line {
                    Some(line) => run.log(line),
                    None => stdout = None,
                }
            }
            line = async { stderr.as_mut()?.next_line().await.ok().flatten() }, if stderr.is_some() => {
                match line {
                    Some(line) => run.log(line),
                    None => stderr = None,
                }
            }
            exited = child.wait(), if status.is_none() => {
                let exited = exited.map_err(|source| BuildError::CommandSpawn {
                    image: name.to_owned(),
                    command: display.clone(),
                    source,
                })?;
                status = Some(exited);
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                break;
            }
        }
    }
    guard.disarm();
    let Some(status) = status else {
        return Err(BuildError::CommandFailed {
            image: name.to_owned(),
            command: display,
            status: "did not exit".to_owned(),
        });
    };
    if status.success() {
        return Ok(());
    }
    let described = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    };
    Err(BuildError::CommandFailed {
        image: name.to_owned(),
        command: display,
        status: described,
    })
}
