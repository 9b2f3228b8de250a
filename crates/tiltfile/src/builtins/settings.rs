//! Global settings: `update_settings`, `ci_settings`, `version_settings`, `secret_settings`,
//! `watch_settings`, `docker_prune_settings`, `analytics_settings` and the experimental ones.

use std::time::Duration;

use anyhow::{Context, bail};
use lilt_model::IgnoreSet;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::none::NoneType;

use crate::builtins::args::{self, Str};
use crate::state::TiltState;

/// The Tilt version whose Tiltfile API lilt implements; `version_settings(constraint=)` is
/// checked against it, so Tiltfiles written for current Tilt keep loading.
pub(crate) const TILT_API_VERSION: &str = "0.37.6";

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    settings_builtins(builder);
}

fn opt_int(value: Value<'_>, what: &str) -> anyhow::Result<Option<i32>> {
    if value.is_none() {
        return Ok(None);
    }
    match value.unpack_i32() {
        Some(i) => Ok(Some(i)),
        None => bail!("{what}: got {}, want int", value.get_type()),
    }
}

/// A Kubernetes namespace name (an RFC 1123 label).
fn is_dns_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&s.len())
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

#[starlark_module]
fn settings_builtins(builder: &mut GlobalsBuilder) {
    fn update_settings<'v>(
        #[starlark(default = NoneType)] max_parallel_updates: Value<'v>,
        #[starlark(default = NoneType)] k8s_upsert_timeout_secs: Value<'v>,
        #[starlark(default = NoneType)] suppress_unused_image_warnings: Value<'v>,
        #[starlark(default = "")] k8s_server_side_apply: &str,
        #[starlark(default = NoneType)] k8s_namespace: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let mpu = opt_int(
            max_parallel_updates,
            "update_settings: for parameter \"max_parallel_updates\"",
        )?;
        if let Some(n) = mpu.filter(|n| *n < 1) {
            bail!("max number of parallel updates must be >= 1(got: {n})");
        }
        let timeout = opt_int(
            k8s_upsert_timeout_secs,
            "update_settings: for parameter \"k8s_upsert_timeout_secs\"",
        )?;
        if let Some(n) = timeout.filter(|n| *n < 1) {
            bail!("minimum k8s upsert timeout is 1s; got {n}s");
        }
        if !matches!(k8s_server_side_apply, "" | "true" | "false" | "auto") {
            bail!(
                "update_settings: k8s_server_side_apply must be \"true\", \"false\", or \"auto\"; got {k8s_server_side_apply:?}"
            );
        }
        let suppress = args::string_list(
            Some(suppress_unused_image_warnings),
            "suppress_unused_image_warnings",
        )?;
        let namespace = match k8s_namespace.unpack_str() {
            None if k8s_namespace.is_none() => None,
            None => bail!(
                "update_settings: for parameter \"k8s_namespace\": got {}, want string",
                k8s_namespace.get_type()
            ),
            Some(ns) if is_dns_label(ns) => Some(ns.to_owned()),
            Some(ns) => bail!(
                "update_settings: k8s_namespace {ns:?} is not a valid namespace name\n\
                 Hint: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit (e.g. \"dev-alice\")"
            ),
        };
        let mut decl = state.decl.borrow_mut();
        let update = &mut decl.settings.update;
        if namespace.is_some() {
            update.k8s_namespace = namespace;
        }
        if let Some(n) = mpu {
            update.max_parallel_updates = n.unsigned_abs();
        }
        if let Some(n) = timeout {
            update.k8s_upsert_timeout = Duration::from_secs(u64::from(n.unsigned_abs()));
        }
        update.suppress_unused_image_warnings.extend(suppress);
        if !k8s_server_side_apply.is_empty() {
            update.k8s_server_side_apply = k8s_server_side_apply.to_owned();
        }
        Ok(NoneType)
    }

    fn ci_settings<'v>(
        #[starlark(default = NoneType)] k8s_grace_period: Value<'v>,
        #[starlark(default = NoneType)] timeout: Value<'v>,
        #[starlark(default = NoneType)] readiness_timeout: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let grace = opt_duration(k8s_grace_period, "k8s_grace_period")?;
        let timeout = opt_duration(timeout, "timeout")?;
        let readiness = opt_duration(readiness_timeout, "readiness_timeout")?;
        let mut decl = state.decl.borrow_mut();
        let ci = &mut decl.settings.ci;
        if grace.is_some() {
            ci.k8s_grace_period = grace;
        }
        if timeout.is_some() {
            ci.timeout = timeout;
        }
        if let Some(r) = readiness {
            ci.readiness_timeout = r;
        }
        Ok(NoneType)
    }

    fn version_settings<'v>(
        #[starlark(default = true)] check_updates: bool,
        #[starlark(default = Str(""))] constraint: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        if !constraint.is_empty() {
            let range =
                semver::Range::parse(&constraint).context("error parsing version constraint")?;
            let current = semver::Version::parse(TILT_API_VERSION).context("internal error")?;
            if !range.matches(&current) {
                bail!(
                    "you are running Tilt version {TILT_API_VERSION}, which doesn't match the version constraint specified in your Tiltfile: '{constraint}'"
                );
            }
        }
        let mut decl = state.decl.borrow_mut();
        decl.settings.version.check_updates = check_updates;
        decl.settings.version.constraint = constraint.to_owned();
        Ok(NoneType)
    }

    fn secret_settings<'v>(
        disable_scrub: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?
            .decl
            .borrow_mut()
            .settings
            .secret_scrub = !disable_scrub;
        Ok(NoneType)
    }

    /// Global ignore patterns (dockerignore syntax) relative to the current directory.
    fn watch_settings<'v>(
        #[starlark(default = NoneType)] ignore: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let patterns = args::string_list(Some(ignore), "watch_settings: ignore")?;
        for p in &patterns {
            if p.contains('\n') {
                bail!("watch_settings: ignore patterns may not contain newlines: {p:?}");
            }
        }
        if !patterns.is_empty() {
            state
                .decl
                .borrow_mut()
                .settings
                .watch_ignores
                .push(IgnoreSet {
                    base_path: state.cwd(),
                    patterns,
                });
        }
        Ok(NoneType)
    }

    fn docker_prune_settings<'v>(
        #[starlark(default = false)] disable: bool,
        #[starlark(default = 0)] max_age_mins: i32,
        #[starlark(default = 0)] num_builds: i32,
        #[starlark(default = 0)] interval_hrs: i32,
        #[starlark(default = NoneType)] keep_recent: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        if num_builds != 0 && interval_hrs != 0 {
            bail!(
                "can't specify both 'prune every X builds' and 'prune every Y hours'; please pass only one of `num_builds` and `interval_hrs`"
            );
        }
        let keep = opt_int(keep_recent, "docker_prune_settings: keep_recent")?;
        let mut decl = state.decl.borrow_mut();
        let prune = &mut decl.settings.docker_prune;
        prune.enabled = !disable;
        if max_age_mins != 0 {
            prune.max_age = Duration::from_secs(u64::from(max_age_mins.unsigned_abs()) * 60);
        }
        prune.num_builds = i64::from(num_builds);
        if interval_hrs != 0 {
            prune.interval = Duration::from_secs(u64::from(interval_hrs.unsigned_abs()) * 3600);
        }
        if let Some(k) = keep {
            prune.keep_recent = i64::from(k);
        }
        Ok(NoneType)
    }

    fn analytics_settings<'v>(
        enable: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?.decl.borrow_mut().settings.analytics = Some(enable);
        Ok(NoneType)
    }

    fn experimental_analytics_report<'v>(
        tags: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let tags = args::string_dict(Some(tags), "experimental_analytics_report: tags")?;
        TiltState::get(eval)?
            .decl
            .borrow_mut()
            .settings
            .analytics_tags
            .extend(tags);
        Ok(NoneType)
    }

    /// Accepted for compatibility; lilt sends no telemetry, so the command never runs.
    fn experimental_telemetry_cmd<'v>(
        cmd: Value<'v>,
        #[starlark(default = NoneType)] cmd_bat: Value<'v>,
        #[starlark(default = NoneType)] period: Value<'v>,
        #[starlark(default = NoneType)] dir: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let _ = (cmd_bat, dir);
        let state = TiltState::get(eval)?;
        let c = args::command(
            Some(cmd),
            state.cwd(),
            Vec::new(),
            "experimental_telemetry_cmd",
        )?;
        if c.is_empty() {
            bail!("cmd cannot be empty");
        }
        opt_duration(period, "period")?;
        state
            .warn("experimental_telemetry_cmd is accepted but ignored: lilt collects no telemetry");
        Ok(NoneType)
    }

    fn experimental_metrics_settings<'v>(
        #[starlark(kwargs)] _kwargs: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?.warn("experimental_metrics_settings is deprecated and has no effect");
        Ok(NoneType)
    }
}

fn opt_duration(value: Value<'_>, what: &str) -> anyhow::Result<Option<Duration>> {
    if value.is_none() {
        return Ok(None);
    }
    let Some(text) = crate::values::string_like(value) else {
        bail!(
            "{what}: expected a duration string such as \"30m\", got {}",
            value.get_type()
        );
    };
    lilt_model::parse_go_duration(&text)
        .map(Some)
        .with_context(|| format!("{what}: invalid duration {text:?}"))
}

/// Just enough semver for `version_settings(constraint=)`: comparators (`>=`, `>`, `<`,
/// `<=`, `=`, `!=`, none) joined by spaces (and) and `||` (or), as Tilt's blang/semver does.
mod semver {
    use anyhow::{Context, bail};

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub(crate) struct Version(u64, u64, u64);

    impl Version {
        pub(crate) fn parse(text: &str) -> anyhow::Result<Version> {
            let t = text.trim().trim_start_matches('v');
            let core = t.split(['-', '+']).next().unwrap_or(t);
            let parts: Vec<&str> = core.split('.').collect();
            if parts.is_empty() || parts.len() > 3 {
                bail!("invalid version {text:?}");
            }
            let n = |i: usize| -> anyhow::Result<u64> {
                match parts.get(i) {
                    None => Ok(0),
                    Some(p) => p
                        .parse()
                        .with_context(|| format!("invalid version {text:?}")),
                }
            };
            Ok(Version(n(0)?, n(1)?, n(2)?))
        }
    }

    pub(crate) struct Range(Vec<Vec<(String, Version)>>);

    impl Range {
        pub(crate) fn parse(text: &str) -> anyhow::Result<Range> {
            let mut alternatives = Vec::new();
            for alt in text.split("||") {
                let mut all = Vec::new();
                for term in alt.split_whitespace() {
                    let op_len = term
                        .find(|c: char| c.is_ascii_digit() || c == 'v')
                        .unwrap_or(term.len());
                    let (op, ver) = term.split_at(op_len);
                    if !matches!(op, "" | "=" | "==" | "!=" | "!" | ">" | ">=" | "<" | "<=") {
                        bail!("invalid operator {op:?} in {term:?}");
                    }
                    all.push((op.to_owned(), Version::parse(ver)?));
                }
                if all.is_empty() {
                    bail!("empty version range in {text:?}");
                }
                alternatives.push(all);
            }
            Ok(Range(alternatives))
        }

        pub(crate) fn matches(&self, v: &Version) -> bool {
            self.0.iter().any(|all| {
                all.iter().all(|(op, want)| match op.as_str() {
                    "" | "=" | "==" => v == want,
                    "!=" | "!" => v != want,
                    ">" => v > want,
                    ">=" => v >= want,
                    "<" => v < want,
                    _ => v <= want,
                })
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_ranges() {
        let v = semver::Version::parse(TILT_API_VERSION).unwrap();
        assert!(semver::Range::parse(">=0.13.2").unwrap().matches(&v));
        assert!(semver::Range::parse(">=0.30.0 <1.0.0").unwrap().matches(&v));
        assert!(!semver::Range::parse(">=1.0.0").unwrap().matches(&v));
        assert!(
            semver::Range::parse(">=2.0.0 || <0.40")
                .unwrap()
                .matches(&v)
        );
        assert!(semver::Range::parse(">>1").is_err());
    }
}
