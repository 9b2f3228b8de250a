//! Live-update steps (`sync`, `run`, `fall_back_on`, `restart_container`, `initial_sync`) and
//! their validation into a [`LiveUpdate`] when an image consumes them.

use anyhow::bail;
use lilt_model::{LiveUpdate, LiveUpdateRun, LiveUpdateSync};
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::none::NoneType;
use starlark::values::{Value, ValueLike};

use crate::builtins::args::{self, Str};
use crate::state::TiltState;
use crate::values::{LiveUpdateStep, StepKind};

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    live_update_builtins(builder);
}

fn record<'v>(eval: &mut Evaluator<'v, '_, '_>, kind: StepKind) -> anyhow::Result<Value<'v>> {
    let state = TiltState::get(eval)?;
    let position = state.call_position(eval);
    let step = LiveUpdateStep {
        id: state.next_id(),
        kind,
        position: position.clone(),
    };
    state.decl.borrow_mut().steps_created.insert(
        position.clone(),
        format!(
            "{position}: value '{step}' of type 'live_update_{}_step'",
            step.kind.name()
        ),
    );
    Ok(eval.heap().alloc(step))
}

#[starlark_module]
fn live_update_builtins(builder: &mut GlobalsBuilder) {
    fn initial_sync<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<Value<'v>> {
        record(eval, StepKind::InitialSync)
    }

    fn fall_back_on<'v>(
        paths: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let paths = args::path_list(state, Some(paths), "fall_back_on")?
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        record(eval, StepKind::FallBackOn { paths })
    }

    fn sync<'v>(
        local_path: Str<'v>,
        remote_path: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let local = TiltState::get(eval)?.abs(&local_path).display().to_string();
        record(
            eval,
            StepKind::Sync {
                local,
                remote: remote_path.to_owned(),
            },
        )
    }

    fn run<'v>(
        cmd: Value<'v>,
        #[starlark(default = NoneType)] trigger: Value<'v>,
        #[starlark(default = false)] echo_off: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let command = args::command(Some(cmd), state.cwd(), Vec::new(), "run: cmd")?;
        if command.is_empty() {
            bail!("run: cmd must not be empty");
        }
        let mut triggers = Vec::new();
        if !trigger.is_none() {
            let items = args::sequence(trigger).unwrap_or_else(|| vec![trigger]);
            for t in items {
                match crate::values::string_like(t) {
                    Some(s) => triggers.push(s),
                    None => bail!(
                        "run cmd '{}' triggers contained value '{t}' of type '{}'. it may only contain strings",
                        command.display(),
                        t.get_type()
                    ),
                }
            }
        }
        record(
            eval,
            StepKind::Run {
                argv: command.argv,
                triggers,
                echo_off,
            },
        )
    }

    fn restart_container<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<Value<'v>> {
        record(eval, StepKind::RestartContainer)
    }
}

/// Validates the order of `steps` and builds the spec; the steps count as used.
pub(crate) fn from_steps(
    state: &TiltState,
    steps: Option<Value<'_>>,
) -> anyhow::Result<LiveUpdate> {
    let base = state.cwd();
    let Some(steps) = steps.filter(|v| !v.is_none()) else {
        return Ok(LiveUpdate::default());
    };
    let items = args::sequence(steps).unwrap_or_else(|| vec![steps]);
    let mut spec = LiveUpdate {
        base_path: base.clone(),
        ..LiveUpdate::default()
    };
    if items.is_empty() {
        return Ok(LiveUpdate::default());
    }
    let mut max_rank = 0u8;
    let mut seen_any = false;
    for v in items {
        let Some(step) = v.downcast_ref::<LiveUpdateStep>() else {
            bail!(
                "'steps' must be a list of live update steps - got value '{v}' of type '{}'",
                v.get_type()
            );
        };
        let rank = step.kind.rank();
        match &step.kind {
            StepKind::InitialSync if seen_any => {
                bail!("initial_sync must appear at most once, at the start of the list")
            }
            StepKind::FallBackOn { .. } if max_rank > 1 => {
                bail!("fall_back_on steps must appear at the start of the list")
            }
            StepKind::Sync { .. } | StepKind::Run { .. } if max_rank == 4 => {
                bail!("restart container is only valid as the last step")
            }
            StepKind::Sync { .. } if max_rank == 3 => {
                bail!("all sync steps must precede all run steps")
            }
            _ => {}
        }
        seen_any = true;
        max_rank = max_rank.max(rank);
        match &step.kind {
            StepKind::InitialSync => spec.initial_sync = true,
            StepKind::FallBackOn { paths } => {
                spec.fall_back_on.extend(paths.iter().map(Into::into))
            }
            StepKind::Sync { local, remote } => {
                if !remote.starts_with('/') {
                    bail!("sync destination '{remote}' must be an absolute path");
                }
                spec.syncs.push(LiveUpdateSync {
                    local_path: local.into(),
                    remote_path: remote.clone(),
                })
            }
            StepKind::Run {
                argv,
                triggers,
                echo_off,
            } => spec.runs.push(LiveUpdateRun {
                argv: argv.clone(),
                triggers: triggers.clone(),
                echo_off: *echo_off,
            }),
            StepKind::RestartContainer => spec.restart_container = true,
        }
        state
            .decl
            .borrow_mut()
            .steps_used
            .insert(step.position.clone());
    }
    Ok(spec)
}
