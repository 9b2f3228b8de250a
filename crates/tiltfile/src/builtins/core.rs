//! Core builtins: `exit`, `warn`, `include`, `load_dynamic`, `blob`, `module`, trigger
//! modes, feature flags, `set_team`, `link`, `port_forward`.

use std::num::NonZeroI32;

use anyhow::bail;
use lilt_model::{FeatureFlags, PortForward};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::dict::AllocDict;
use starlark::values::none::NoneType;
use starlark::values::range::Range;
use starlark::values::structs::AllocStruct;
use starlark::values::tuple::UnpackTuple;
use starlark::values::{Heap, Value, ValueLike};

use crate::builtins::args::{self, Str};
use crate::error::ExitRequested;
use crate::eval::load_module;
use crate::state::TiltState;
use crate::values::{Blob, LinkValue, PortForwardValue, TriggerModeValue, string_like};

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    core_builtins(builder);
    builder.set("TRIGGER_MODE_AUTO", TriggerModeValue { auto: true });
    builder.set("TRIGGER_MODE_MANUAL", TriggerModeValue { auto: false });
}

#[starlark_module]
fn core_builtins(builder: &mut GlobalsBuilder) {
    /// Stops the Tiltfile without error; what was registered so far is kept.
    fn exit<'v>(
        #[starlark(default = NoneType)] code: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        if !code.is_none() {
            state.print(code.to_str());
        }
        state.exited.set(true);
        Err(ExitRequested.into())
    }

    /// go.starlark.net's `print(*args, sep=" ")`: strings as they are, other values as
    /// `str()` would show them, to the `(Tiltfile)` log.
    fn print<'v>(
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(require = named, default = Str(" "))] sep: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let parts: Vec<String> = args.items.iter().map(|v| v.to_str()).collect();
        TiltState::get(eval)?.print(parts.join(&sep));
        Ok(NoneType)
    }

    /// Logs a warning to the `(Tiltfile)` log.
    fn warn<'v>(msg: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<NoneType> {
        TiltState::get(eval)?.warn(msg);
        Ok(NoneType)
    }

    /// Executes another Tiltfile for its side effects.
    fn include<'v>(path: Str<'v>, eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let abs = module_path(state, &path)?;
        load_module(state, &abs).map_err(starlark::Error::into_anyhow)?;
        Ok(NoneType)
    }

    /// Loads a file at run time and returns its globals as a dict.
    fn load_dynamic<'v>(
        path: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let abs = module_path(state, &path)?;
        let module = load_module(state, &abs).map_err(starlark::Error::into_anyhow)?;
        // Keep the loaded module's heap alive as long as this evaluation's values.
        eval.frozen_heap().add_reference(module.frozen_heap());
        let bindings = state
            .load_bindings
            .borrow()
            .get(&abs)
            .cloned()
            .unwrap_or_default();
        let mut entries: Vec<(String, Value<'v>)> = Vec::new();
        for name in module.names().filter(|n| !bindings.contains(n.as_str())) {
            if let Ok(owned) = module.get(name.as_str()) {
                // SAFETY: the heap that owns this value was added as a reference of the
                // current frozen heap just above, so the value outlives `'v`.
                let frozen = unsafe { owned.unchecked_frozen_value() };
                let value = frozen.to_value();
                if !is_predeclared(name.as_str(), value) {
                    entries.push((name.as_str().to_owned(), value));
                }
            }
        }
        Ok(eval.heap().alloc(AllocDict(entries)))
    }

    /// Wraps a string as file content.
    fn blob<'v>(input: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        match string_like(input) {
            Some(text) => Ok(heap.alloc(Blob { text })),
            None => bail!("blob: expected a string, got {}", input.get_type()),
        }
    }

    /// A named struct (go.starlark.net's `module`); the name is not kept.
    fn module<'v>(
        #[starlark(require = pos)] name: Str<'v>,
        #[starlark(kwargs)] kwargs: starlark::values::dict::UnpackDictEntries<&'v str, Value<'v>>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let _ = name;
        Ok(heap.alloc(AllocStruct(kwargs.entries)))
    }

    /// The endless iterable behind rewritten `while` loops (see `rewrite.rs`).
    fn __lilt_while__<'v>(heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let step = NonZeroI32::new(1).expect("1 is not zero");
        Ok(heap.alloc(Range::new(0, i32::MAX, step)))
    }

    /// What every `*` of a Tiltfile becomes: starlark's `*` after a size check (see
    /// `growth.rs`).
    fn __lilt_mul__<'v>(
        #[starlark(require = pos)] lhs: Value<'v>,
        #[starlark(require = pos)] rhs: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        crate::growth::multiply(lhs, rhs, eval)
    }

    /// What `OBJ.replace(...)` and `OBJ.join(...)` become: the method after a size check
    /// (see `growth.rs` and `guards.rs`).
    fn __lilt_method__<'v>(
        #[starlark(require = pos)] obj: Value<'v>,
        #[starlark(require = pos)] method: &str,
        #[starlark(args)] args: UnpackTuple<Value<'v>>,
        #[starlark(kwargs)] kwargs: starlark::values::dict::UnpackDictEntries<&'v str, Value<'v>>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        crate::growth::call_method(obj, method, &args.items, &kwargs.entries, eval)
    }

    /// Sets the default trigger mode of every resource; only once per Tiltfile.
    fn trigger_mode<'v>(
        trigger_mode: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let auto = args::trigger_mode(Some(trigger_mode))?.unwrap_or(true);
        let position = state.call_position(eval);
        let mut decl = state.decl.borrow_mut();
        if let Some((_, at)) = &decl.trigger_mode {
            bail!("trigger_mode can only be called once. It was already called at {at}");
        }
        decl.trigger_mode = Some((auto, position));
        Ok(NoneType)
    }

    fn enable_feature<'v>(
        msg: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        set_feature(TiltState::get(eval)?, &msg, true)
    }

    fn disable_feature<'v>(
        msg: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        set_feature(TiltState::get(eval)?, &msg, false)
    }

    fn disable_snapshots<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<NoneType> {
        set_feature(TiltState::get(eval)?, "snapshots", false)
    }

    fn set_team<'v>(
        team_id: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        if team_id.is_empty() {
            bail!("team_id cannot be empty");
        }
        let mut decl = state.decl.borrow_mut();
        if !decl.settings.team_id.is_empty() {
            bail!(
                "team_id set multiple times (to '{}' and '{team_id}')",
                decl.settings.team_id
            );
        }
        decl.settings.team_id = team_id.to_owned();
        Ok(NoneType)
    }

    /// A named link for `links=`.
    fn link<'v>(
        url: Str<'v>,
        #[starlark(default = Str(""))] name: Str<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        Ok(heap.alloc(LinkValue(args::make_link(&url, &name)?)))
    }

    /// A port forward for `k8s_resource(port_forwards=)`.
    fn port_forward<'v>(
        local_port: i32,
        #[starlark(default = 0)] container_port: i32,
        #[starlark(default = Str(""))] name: Str<'v>,
        #[starlark(default = Str(""))] link_path: Str<'v>,
        #[starlark(default = Str(""))] host: Str<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let port = |p: i32, what: &str| -> anyhow::Result<u16> {
            u16::try_from(p)
                .map_err(|_| anyhow::anyhow!("{what} must be in the range 0-65535, got {p}"))
        };
        Ok(heap.alloc(PortForwardValue(PortForward {
            local_port: port(local_port, "local_port")?,
            container_port: port(container_port, "container_port")?,
            host: host.to_owned(),
            name: name.to_owned(),
            link_path: link_path.to_owned(),
        })))
    }
}

/// Tilt's feature flags: only active flags change anything; obsolete ones warn; unknown
/// ones are errors.
/// The file `include`/`load_dynamic` run: like `load()`, an `ext://` name is an extension.
fn module_path(state: &TiltState, path: &str) -> anyhow::Result<std::path::PathBuf> {
    match path.strip_prefix("ext://") {
        Some(name) => crate::extensions::resolve(state, name)
            .map_err(|e| anyhow::anyhow!("cannot load {path}: {e}")),
        None => Ok(state.abs(path)),
    }
}

/// Whether `name` still holds what `eval.rs` predeclares in every file (`__file__`,
/// `__name__`, `config`). In Tilt these are predeclared, not globals of the file, so
/// `load_dynamic` does not return them; a file that assigns its own keeps it.
fn is_predeclared(name: &str, value: Value<'_>) -> bool {
    match name {
        "__file__" | "__name__" => value.unpack_str().is_some(),
        "config" => value
            .downcast_ref::<crate::builtins::config::ConfigNamespace>()
            .is_some(),
        _ => false,
    }
}

fn set_feature(state: &TiltState, name: &str, on: bool) -> anyhow::Result<NoneType> {
    let mut decl = state.decl.borrow_mut();
    let flags = &mut decl.settings.features;
    if flags.get(name).is_none() {
        bail!("Unknown feature flag: {name}");
    }
    if !FeatureFlags::ACTIVE.contains(&name) {
        drop(decl);
        state.warn(format!(
            "{name} is obsolete and will be removed in a future release"
        ));
        return Ok(NoneType);
    }
    flags.0.insert(name.to_owned(), on);
    Ok(NoneType)
}
