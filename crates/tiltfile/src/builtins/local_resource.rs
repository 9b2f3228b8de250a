//! `local_resource` (and its deprecated alias `test`), readiness probes and their actions.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]

use anyhow::bail;
use lilt_model::{Probe, ProbeAction};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::none::NoneType;
use starlark::values::{Heap, Value, ValueLike};

use crate::builtins::args::{self, Str};
use crate::state::{LocalResourceDecl, TiltState};
use crate::values::{ActionValue, ProbeValue};

const TEST_DEPRECATION: &str = "test() is deprecated and will be removed in a future release.\n\
     Change this call to use `local_resource(..., allow_parallel=True)`";

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    local_resource_builtins(builder);
}

/// Every parameter of `local_resource`, in Tilt's positional order.
struct LocalResourceArgs<'v> {
    name: &'v str,
    cmd: Value<'v>,
    deps: Value<'v>,
    trigger_mode: Value<'v>,
    resource_deps: Value<'v>,
    ignore: Value<'v>,
    auto_init: bool,
    serve_cmd: Value<'v>,
    allow_parallel: Option<bool>,
    links: Value<'v>,
    labels: Value<'v>,
    env: Value<'v>,
    serve_env: Value<'v>,
    readiness_probe: Value<'v>,
    dir: Value<'v>,
    serve_dir: Value<'v>,
}

fn declare(
    state: &TiltState,
    a: LocalResourceArgs<'_>,
    default_parallel: bool,
) -> anyhow::Result<NoneType> {
    let what = "local_resource";
    args::resource_name(a.name, what)?;
    let resource_deps =
        args::strict_string_list(Some(a.resource_deps), "local_resource: resource_deps")?;
    let ignores = args::string_list(Some(a.ignore), "ignore")?;
    let env = args::string_dict(Some(a.env), "local_resource: env")?;
    let serve_env = args::string_dict(Some(a.serve_env), "local_resource: serve_env")?;
    let dir = args::opt_path(Some(a.dir), "local_resource: dir")?;
    let serve_dir = args::opt_path(Some(a.serve_dir), "local_resource: serve_dir")?;
    let cwd = state.cwd();
    let update_cmd = args::command(
        Some(a.cmd),
        dir.as_deref()
            .map(|d| state.abs(d))
            .unwrap_or_else(|| cwd.clone()),
        env,
        "local_resource: cmd",
    )?;
    let serve_cmd = args::command(
        Some(a.serve_cmd),
        serve_dir
            .as_deref()
            .map(|d| state.abs(d))
            .unwrap_or_else(|| cwd.clone()),
        serve_env,
        "local_resource: serve_cmd",
    )?;
    if dir.is_some() && update_cmd.is_empty() {
        if !serve_cmd.is_empty() {
            bail!(
                "local_resource: 'dir' only affects 'cmd', not 'serve_cmd'. Did you mean to use 'serve_dir' instead?"
            );
        }
        bail!("local_resource: 'dir' specified but 'cmd' is empty");
    }
    if serve_dir.is_some() && serve_cmd.is_empty() {
        bail!("local_resource: 'serve_dir' specified but 'serve_cmd' is empty");
    }
    if update_cmd.is_empty() && serve_cmd.is_empty() {
        bail!("local_resource must have a cmd and/or a serve_cmd, but both were empty");
    }
    let mut readiness_probe = args::probe(Some(a.readiness_probe))?;
    if readiness_probe.is_some() && serve_cmd.is_empty() {
        state.warn(format!(
            "Ignoring readiness probe for local resource {:?} (no serve_cmd was defined)",
            a.name
        ));
        readiness_probe = None;
    }
    let decl = LocalResourceDecl {
        name: a.name.to_owned(),
        deps: args::path_list(state, Some(a.deps), "local_resource: deps")?,
        trigger_auto: args::trigger_mode(Some(a.trigger_mode))?,
        auto_init: a.auto_init,
        resource_deps,
        ignores,
        dir: cwd,
        // A resource with only a serve_cmd never blocks others, so it is always parallel.
        allow_parallel: a.allow_parallel.unwrap_or(default_parallel) || update_cmd.is_empty(),
        links: args::links(Some(a.links))?,
        labels: args::labels(Some(a.labels))?,
        readiness_probe,
        source_tiltfile: state.source_tiltfile(),
        // An empty command is no command: the types say so from here on.
        update_cmd: (!update_cmd.is_empty()).then_some(update_cmd),
        serve_cmd: (!serve_cmd.is_empty()).then_some(serve_cmd),
    };
    if state.compose.borrow().has_service(&decl.name) {
        bail!("dc_resource named {:?} already exists", decl.name);
    }
    let mut decls = state.decl.borrow_mut();
    if decls.local_resources.iter().any(|r| r.name == decl.name) {
        bail!("local_resource named {:?} already exists", decl.name);
    }
    decls.local_resources.push(decl);
    Ok(NoneType)
}

#[starlark_module]
fn local_resource_builtins(builder: &mut GlobalsBuilder) {
    fn local_resource<'v>(
        name: Str<'v>,
        #[starlark(default = NoneType)] cmd: Value<'v>,
        #[starlark(default = NoneType)] deps: Value<'v>,
        #[starlark(default = NoneType)] trigger_mode: Value<'v>,
        #[starlark(default = NoneType)] resource_deps: Value<'v>,
        #[starlark(default = NoneType)] ignore: Value<'v>,
        #[starlark(default = true)] auto_init: bool,
        #[starlark(default = NoneType)] serve_cmd: Value<'v>,
        #[starlark(default = NoneType)] cmd_bat: Value<'v>,
        #[starlark(default = NoneType)] serve_cmd_bat: Value<'v>,
        #[starlark(default = false)] allow_parallel: bool,
        #[starlark(default = NoneType)] links: Value<'v>,
        #[starlark(default = NoneType)] labels: Value<'v>,
        #[starlark(default = NoneType)] env: Value<'v>,
        #[starlark(default = NoneType)] serve_env: Value<'v>,
        #[starlark(default = NoneType)] readiness_probe: Value<'v>,
        #[starlark(default = NoneType)] dir: Value<'v>,
        #[starlark(default = NoneType)] serve_dir: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let _ = (cmd_bat, serve_cmd_bat); // Windows only.
        let a = LocalResourceArgs {
            name: name.0,
            cmd,
            deps,
            trigger_mode,
            resource_deps,
            ignore,
            auto_init,
            serve_cmd,
            allow_parallel: Some(allow_parallel),
            links,
            labels,
            env,
            serve_env,
            readiness_probe,
            dir,
            serve_dir,
        };
        declare(TiltState::get(eval)?, a, false)
    }

    /// Deprecated alias of `local_resource` with `allow_parallel=True` by default.
    fn test<'v>(
        name: Str<'v>,
        #[starlark(default = NoneType)] cmd: Value<'v>,
        #[starlark(default = NoneType)] deps: Value<'v>,
        #[starlark(default = NoneType)] trigger_mode: Value<'v>,
        #[starlark(default = NoneType)] resource_deps: Value<'v>,
        #[starlark(default = NoneType)] ignore: Value<'v>,
        #[starlark(default = true)] auto_init: bool,
        #[starlark(default = NoneType)] serve_cmd: Value<'v>,
        #[starlark(default = NoneType)] cmd_bat: Value<'v>,
        #[starlark(default = NoneType)] serve_cmd_bat: Value<'v>,
        #[starlark(default = NoneType)] allow_parallel: Value<'v>,
        #[starlark(default = NoneType)] links: Value<'v>,
        #[starlark(default = NoneType)] labels: Value<'v>,
        #[starlark(default = NoneType)] env: Value<'v>,
        #[starlark(default = NoneType)] serve_env: Value<'v>,
        #[starlark(default = NoneType)] readiness_probe: Value<'v>,
        #[starlark(default = NoneType)] dir: Value<'v>,
        #[starlark(default = NoneType)] serve_dir: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let _ = (cmd_bat, serve_cmd_bat);
        let state = TiltState::get(eval)?;
        state.warn(TEST_DEPRECATION);
        let a = LocalResourceArgs {
            name: name.0,
            cmd,
            deps,
            trigger_mode,
            resource_deps,
            ignore,
            auto_init,
            serve_cmd,
            allow_parallel: allow_parallel.unpack_bool(),
            links,
            labels,
            env,
            serve_env,
            readiness_probe,
            dir,
            serve_dir,
        };
        declare(state, a, true)
    }

    // Unset values stay 0 (and host/scheme empty), as in Tilt's spec: the prober applies
    // the defaults (timeout 1s, period 10s, thresholds 1 and 3, localhost, http).
    fn probe<'v>(
        #[starlark(default = 0)] initial_delay_secs: i32,
        #[starlark(default = 0)] timeout_secs: i32,
        #[starlark(default = 0)] period_secs: i32,
        #[starlark(default = 0)] success_threshold: i32,
        #[starlark(default = 0)] failure_threshold: i32,
        #[starlark(default = NoneType)] exec: Value<'v>,
        #[starlark(default = NoneType)] http_get: Value<'v>,
        #[starlark(default = NoneType)] tcp_socket: Value<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let mut actions = Vec::new();
        for (what, v) in [
            ("exec", exec),
            ("http_get", http_get),
            ("tcp_socket", tcp_socket),
        ] {
            if v.is_none() {
                continue;
            }
            match v.downcast_ref::<ActionValue>() {
                Some(a) => actions.push(a.0.clone()),
                None => bail!("probe: {what} must be an action, got {}", v.get_type()),
            }
        }
        let action = match actions.len() {
            1 => actions.remove(0),
            0 => bail!("exactly one of exec, http_get, or tcp_socket must be specified"),
            _ => bail!("exactly one of exec, http_get, or tcp_socket must be specified"),
        };
        for (what, v) in [
            ("initial_delay_secs", initial_delay_secs),
            ("timeout_secs", timeout_secs),
            ("period_secs", period_secs),
            ("success_threshold", success_threshold),
            ("failure_threshold", failure_threshold),
        ] {
            if v < 0 {
                bail!("probe: {what} must be >= 0, got {v}");
            }
        }
        Ok(heap.alloc(ProbeValue(Probe {
            initial_delay_secs,
            timeout_secs,
            period_secs,
            success_threshold,
            failure_threshold,
            action,
        })))
    }

    fn exec_action<'v>(command: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let command = args::strict_string_list(Some(command), "exec_action: command")?;
        if command.is_empty() {
            bail!("exec_action: command must not be empty");
        }
        Ok(heap.alloc(ActionValue(ProbeAction::Exec { command })))
    }

    fn http_get_action<'v>(
        port: i32,
        #[starlark(default = Str(""))] host: Str<'v>,
        #[starlark(default = Str(""))] scheme: Str<'v>,
        #[starlark(default = Str(""))] path: Str<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        check_port(port, "http_get_action")?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "" | "http" | "https") {
            bail!("http_get_action: scheme must be http or https, got {scheme:?}");
        }
        Ok(heap.alloc(ActionValue(ProbeAction::HttpGet {
            host: host.to_owned(),
            port,
            scheme,
            path: path.to_owned(),
        })))
    }

    fn tcp_socket_action<'v>(
        port: i32,
        #[starlark(default = Str(""))] host: Str<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        check_port(port, "tcp_socket_action")?;
        Ok(heap.alloc(ActionValue(ProbeAction::TcpSocket {
            host: host.to_owned(),
            port,
        })))
    }
}

fn check_port(port: i32, what: &str) -> anyhow::Result<()> {
    if !(1..=65535).contains(&port) {
        bail!("{what}: port must be in the range 1-65535, got {port}");
    }
    Ok(())
}
