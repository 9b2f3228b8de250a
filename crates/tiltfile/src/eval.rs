//! Running Starlark files: the dialect, the globals, `load()` with its cache, and the
//! per-file setup (`__file__`, `__name__`, `config`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use starlark::PrintHandler;
use starlark::codemap::FileSpanRef;
use starlark::codemap::{CodeMap, Pos, Span};
use starlark::environment::{FrozenModule, Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::{BeforeStmtFunc, BeforeStmtFuncDyn, Evaluator, FileLoader};
use starlark::syntax::{AstModule, Dialect};

use crate::builtins;
use crate::error::NestedFailure;
use crate::growth;
use crate::guards;
use crate::nesting;
use crate::paths;
use crate::rewrite;
use crate::state::{SourceFile, TiltState};

/// Tilt's dialect: go.starlark.net with Set, GlobalReassign, Recursion, TopLevelControl and
/// While. `while` itself is handled by [`rewrite::rewrite_while`].
fn dialect() -> Dialect {
    Dialect {
        enable_top_level_stmt: true,
        enable_f_strings: false,
        enable_keyword_only_arguments: true,
        ..Dialect::Standard
    }
}

/// The globals, built once per process: they hold no per-run data.
pub(crate) fn globals() -> &'static Globals {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    GLOBALS.get_or_init(|| {
        GlobalsBuilder::extended_by(&[
            LibraryExtension::StructType,
            LibraryExtension::Print,
            LibraryExtension::SetType,
        ])
        .with(builtins::register)
        .build()
    })
}

struct Printer<'a>(&'a TiltState);

impl PrintHandler for Printer<'_> {
    fn println(&self, text: &str) -> starlark::Result<()> {
        self.0.print(text);
        Ok(())
    }
}

/// Resolves `load()` statements relative to the file that contains them.
struct Loader<'a> {
    state: &'a TiltState,
    dir: PathBuf,
}

impl FileLoader for Loader<'_> {
    fn load(&self, path: &str) -> starlark::Result<FrozenModule> {
        if let Some(name) = path.strip_prefix("ext://") {
            let file = crate::extensions::resolve(self.state, name).map_err(|e| {
                starlark::Error::new_other(anyhow::anyhow!("cannot load {path}: {e}"))
            })?;
            return load_module(self.state, &file).map_err(|e| match e.kind() {
                starlark::ErrorKind::Other(inner) if inner.is::<NestedFailure>() => e,
                _ => starlark::Error::new_other(anyhow::anyhow!("cannot load {path}: {e}")),
            });
        }
        let abs = paths::absolute(&self.dir, path);
        // go.starlark.net wraps every failed load statement this way.
        load_module(self.state, &abs).map_err(|e| match e.kind() {
            starlark::ErrorKind::Other(inner) if inner.is::<NestedFailure>() => e,
            _ => starlark::Error::new_other(anyhow::anyhow!("cannot load {path}: {e}")),
        })
    }
}

/// The most files that may be executing at once, each loading the next. Far beyond real
/// projects; 3,000 was measured to evaluate fine on the evaluation stack, 10,000 not.
pub const MAX_LOAD_DEPTH: usize = 1_000;

/// Runs a file once per Tiltfile run and returns its frozen globals (the load cache).
pub(crate) fn load_module(state: &TiltState, path: &Path) -> starlark::Result<FrozenModule> {
    if let Some(module) = state.cache.borrow().get(path) {
        return Ok(module.clone());
    }
    if state.is_executing(path) {
        return Err(starlark::Error::new_other(anyhow::anyhow!(
            "Circular load: {}",
            path.display()
        )));
    }
    if state.load_depth() >= MAX_LOAD_DEPTH {
        return Err(starlark::Error::new_other(anyhow::anyhow!(
            "load chain deeper than {MAX_LOAD_DEPTH} files (a lilt limit: each level takes \
             stack): {}",
            path.display()
        )));
    }
    state.record_config_file(path.to_path_buf());
    let module = eval_file(state, path, false)?;
    state
        .cache
        .borrow_mut()
        .insert(path.to_path_buf(), module.clone());
    Ok(module)
}

/// Parses and executes one file. On failure the diagnostic is recorded in the state and
/// the returned error only says which file failed.
pub(crate) fn eval_file(
    state: &TiltState,
    path: &Path,
    is_main: bool,
) -> starlark::Result<FrozenModule> {
    let text = state.read_text_capped(path).map_err(|e| {
        let err = starlark::Error::new_other(anyhow::anyhow!(
            "error reading file {}: {}",
            path.display(),
            paths::go_io_error("open", path, &e)
        ));
        if is_main {
            state.record_failure(&err);
        }
        err
    })?;
    let rewritten = rewrite::rewrite_while(&rewrite::rename_reserved(&text));
    state.sources.borrow_mut().insert(
        path.to_path_buf(),
        SourceFile {
            text,
            line_map: rewritten.map,
            columns: None,
        },
    );
    let filename = path.display().to_string();
    if let Err(deep) = nesting::check(&rewritten.source, nesting::MAX_NESTING) {
        state.record_failure(&too_deep_error(&filename, &rewritten.source, deep));
        return Err(nested(path));
    }
    // Kept only when `guards.rs` may have something to rewrite in a second pass.
    let guardable = guards::may_rewrite(&rewritten.source).then(|| rewritten.source.clone());
    let mut ast = match AstModule::parse(&filename, rewritten.source, &dialect()) {
        Ok(ast) => ast,
        Err(err) => {
            state.record_failure(&err);
            return Err(nested(path));
        }
    };
    if let Some(source) = guardable
        && let Some(guarded) = guards::rewrite(&ast, &source)
    {
        if let Some(file) = state.sources.borrow_mut().get_mut(path) {
            file.columns = Some(guarded.insertions);
        }
        ast = match AstModule::parse(&filename, guarded.source, &dialect()) {
            Ok(ast) => ast,
            Err(err) => {
                state.record_failure(&err);
                return Err(nested(path));
            }
        };
    }
    ast.replace_binary_operators(&growth::operator_map());
    let bindings = ast
        .loads()
        .iter()
        .flat_map(|l| l.symbols.keys().map(|k| (*k).to_owned()))
        .collect();
    state
        .load_bindings
        .borrow_mut()
        .insert(path.to_path_buf(), bindings);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let loader = Loader { state, dir };
    let printer = Printer(state);
    state.push_file(path);
    let result = Module::with_temp_heap(|module| {
        let heap = module.heap();
        module.set("__file__", heap.alloc(filename.as_str()));
        let name = if is_main {
            "__main__".to_owned()
        } else {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        module.set("__name__", heap.alloc(name));
        module.set("config", heap.alloc(builtins::config::namespace(state)));
        let mut eval = Evaluator::new(&module);
        eval.set_loader(&loader);
        eval.set_print_handler(&printer);
        eval.extra = Some(state);
        if let Err(e) = eval.set_max_tick_count(state.opts.max_steps) {
            return Err(starlark::Error::new_other(e));
        }
        let heap_limit = state.opts.max_heap_bytes.max(1);
        if let Err(e) = eval.set_max_heap_size(heap_limit) {
            return Err(starlark::Error::new_other(e));
        }
        eval.before_stmt_for_dap(BeforeStmtFunc::from_dyn(Box::new(HeapGuard {
            limit: heap_limit,
        })));
        let deadline = Instant::now() + state.opts.timeout;
        let cancel = state.opts.cancel.clone();
        eval.set_check_cancelled(Box::new(move || {
            Instant::now() > deadline
                || cancel
                    .as_ref()
                    .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        }));
        let outcome = eval.eval_module(ast, globals());
        // Kubernetes objects are grouped while the main module is alive, because
        // `workload_to_resource_function` may name a function defined in it.
        if is_main && (outcome.is_ok() || state.exited.get()) {
            builtins::k8s::finish_main(state, &mut eval)?;
        }
        outcome?;
        drop(eval);
        module
            .freeze()
            .map_err(|e| starlark::Error::new_other(anyhow::anyhow!("{e:?}")))
    });
    state.pop_file();
    match result {
        Ok(module) => Ok(module),
        Err(err) => {
            state.record_failure(&err);
            Err(nested(path))
        }
    }
}

/// Checks the heap before every statement. starlark checks its heap limit only every 1,000
/// instructions, and a loop such as `s += 'x' * 100000` copies a growing string each time:
/// between two checks it allocates gigabytes. The hook is starlark's (hidden) debugger API,
/// the only per-statement one; its cost is a call and two loads per statement.
struct HeapGuard {
    limit: usize,
}

impl<'e> BeforeStmtFuncDyn<'e> for HeapGuard {
    fn call<'v>(
        &mut self,
        _span: FileSpanRef,
        _continued: bool,
        eval: &mut Evaluator<'v, '_, 'e>,
    ) -> starlark::Result<()> {
        if growth::heap_in_use(eval) > self.limit {
            // starlark's own wording, which TiltState::explain_limits rewrites.
            return Err(starlark::Error::new_other(anyhow::anyhow!(
                "Heap memory limit of {} bytes exceeded.",
                self.limit
            )));
        }
        Ok(())
    }
}

/// A syntax-kind error at the token that nested too deep, so it reads like a parse error.
fn too_deep_error(filename: &str, source: &str, deep: nesting::TooDeep) -> starlark::Error {
    let begin = u32::try_from(deep.offset).unwrap_or(u32::MAX);
    let end = if deep.offset < source.len() {
        begin.saturating_add(1)
    } else {
        begin
    };
    let codemap = CodeMap::new(filename.to_owned(), source.to_owned());
    starlark::Error::new_spanned(
        starlark::ErrorKind::Parser(anyhow::anyhow!(
            "nesting too deep: more than {} levels of brackets, blocks or chained operators \
             (a lilt limit that protects the process from a stack overflow; build the value \
             in steps, with variables)",
            nesting::MAX_NESTING
        )),
        Span::new(Pos::new(begin), Pos::new(end)),
        &codemap,
    )
}

fn nested(path: &Path) -> starlark::Error {
    starlark::Error::new_other(NestedFailure(format!("error in {}", path.display())))
}
