//! The evaluation state shared by every file of one Tiltfile run.
//!
//! Builtins only record intent here; `assemble` turns it into a Plan after execution.
//! It lives in `Evaluator::extra`, so every nested evaluator (loaded files) sees the same
//! state. Fields use `RefCell` because Starlark hands builtins a shared reference.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use lilt_model::{Cmd, ImageTarget, Link, Probe, Settings};
use starlark::any::ProvidesStaticType;
use starlark::codemap::FileSpan;
use starlark::environment::FrozenModule;
use starlark::eval::Evaluator;

use crate::LoadOptions;
use crate::error::{Frame, LoadError, Location};
use crate::guards::Insertions;
use crate::paths;
use crate::rewrite::LineMap;

/// Severity of a line in the `(Tiltfile)` log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// One line of the `(Tiltfile)` resource log produced during evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub text: String,
}

/// The source of an executed file, kept to render diagnostics.
pub(crate) struct SourceFile {
    pub(crate) text: String,
    pub(crate) line_map: Option<LineMap>,
    /// Columns shifted by the size-check rewrite (`guards.rs`), applied before `line_map`.
    pub(crate) columns: Option<Insertions>,
}

/// A `local_resource` as declared, before assembly resolves defaults.
#[derive(Debug, Clone)]
pub(crate) struct LocalResourceDecl {
    pub(crate) name: String,
    pub(crate) update_cmd: Option<Cmd>,
    pub(crate) serve_cmd: Option<Cmd>,
    pub(crate) deps: Vec<PathBuf>,
    /// `Some(true)` for auto, `Some(false)` for manual, `None` for "use the default".
    pub(crate) trigger_auto: Option<bool>,
    pub(crate) auto_init: bool,
    pub(crate) resource_deps: Vec<String>,
    pub(crate) ignores: Vec<String>,
    /// The directory of the file whose top level declared it.
    pub(crate) dir: PathBuf,
    pub(crate) allow_parallel: bool,
    pub(crate) links: Vec<Link>,
    pub(crate) labels: Vec<String>,
    pub(crate) readiness_probe: Option<Probe>,
    pub(crate) source_tiltfile: String,
}

/// A config setting declared with `config.define_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigKind {
    String,
    StringList,
    Bool,
    Object,
}

#[derive(Debug, Clone)]
pub(crate) struct ConfigSetting {
    pub(crate) kind: ConfigKind,
    pub(crate) usage: String,
}

/// Which resources the Tiltfile enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum EnabledResources {
    /// Positional Tiltfile args name them (Tilt's default until `config.parse()`).
    #[default]
    FromArgs,
    /// `config.set_enabled_resources(...)`; empty means all.
    Explicit(Vec<String>),
    /// `config.clear_enabled_resources()`.
    None,
}

/// Everything `config.*` records.
#[derive(Debug, Default)]
pub(crate) struct ConfigState {
    pub(crate) settings: BTreeMap<String, ConfigSetting>,
    pub(crate) positional: Option<String>,
    pub(crate) parse_dir: Option<PathBuf>,
    pub(crate) enabled: EnabledResources,
}

/// All declarations made by builtins.
#[derive(Default)]
pub(crate) struct Declarations {
    pub(crate) local_resources: Vec<LocalResourceDecl>,
    pub(crate) images: Vec<ImageTarget>,
    pub(crate) settings: Settings,
    /// `trigger_mode()`: auto or not, and where it was called.
    pub(crate) trigger_mode: Option<(bool, String)>,
    pub(crate) config: ConfigState,
    /// Live-update steps created and those consumed, keyed by where they were created
    /// (as Tilt does: a helper that makes a step in a loop counts once).
    pub(crate) steps_created: BTreeMap<String, String>,
    pub(crate) steps_used: HashSet<String>,
    /// `browser_button` declarations (v1alpha1 `ui_button`s are in the API objects).
    pub(crate) buttons: Vec<lilt_model::UiButton>,
    /// `k8s_yaml`, `k8s_resource`, `k8s_kind`, `default_registry`, ...
    pub(crate) k8s: crate::builtins::k8s::K8sDecls,
}

/// The process environment as the Tiltfile sees and changes it (`os.putenv`,
/// `os.environ[k] = v`). Kept as an overlay instead of mutating the real environment, so
/// evaluation stays free of global side effects; commands lilt runs get it applied.
pub(crate) type EnvOverlay = Rc<RefCell<BTreeMap<String, String>>>;

#[derive(ProvidesStaticType)]
pub(crate) struct TiltState {
    pub(crate) opts: LoadOptions,
    pub(crate) main_path: PathBuf,
    pub(crate) main_dir: PathBuf,
    /// Files whose top level is executing, innermost last.
    files: RefCell<Vec<PathBuf>>,
    pub(crate) sources: RefCell<HashMap<PathBuf, SourceFile>>,
    pub(crate) cache: RefCell<HashMap<PathBuf, FrozenModule>>,
    /// Per file, the names its `load()` statements bind. They are file-local in Tilt, so
    /// `load_dynamic` leaves them out of what it returns.
    pub(crate) load_bindings: RefCell<HashMap<PathBuf, HashSet<String>>>,
    pub(crate) config_files: RefCell<BTreeSet<PathBuf>>,
    pub(crate) log: RefCell<Vec<LogLine>>,
    pub(crate) warnings: RefCell<Vec<String>>,
    pub(crate) error: RefCell<Option<LoadError>>,
    pub(crate) exited: Cell<bool>,
    pub(crate) decl: RefCell<Declarations>,
    pub(crate) env: EnvOverlay,
    /// The kube context and namespace, read once from the kubeconfig.
    pub(crate) kube: crate::k8s_context::KubeEnv,
    next_id: Cell<u64>,
    /// `docker_compose` projects and `dc_resource` options.
    pub(crate) compose: RefCell<crate::builtins::compose::ComposeState>,
    /// Objects registered with `v1alpha1.*`.
    pub(crate) api: RefCell<crate::builtins::v1alpha1::ApiState>,
    /// Where `local()` registers its process groups; started on first use when the caller
    /// gave none.
    processes: std::cell::OnceCell<lilt_local::ProcessRegistry>,
}

impl TiltState {
    pub(crate) fn new(opts: LoadOptions, main_path: PathBuf, env: EnvOverlay) -> TiltState {
        let main_dir = main_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let kube = crate::k8s_context::KubeEnv::detect(
            &env.borrow(),
            opts.kube_context.as_deref(),
            opts.kube_namespace.as_deref(),
        );
        TiltState {
            opts,
            main_path,
            main_dir,
            files: RefCell::new(Vec::new()),
            sources: RefCell::new(HashMap::new()),
            cache: RefCell::new(HashMap::new()),
            load_bindings: RefCell::new(HashMap::new()),
            config_files: RefCell::new(BTreeSet::new()),
            log: RefCell::new(Vec::new()),
            warnings: RefCell::new(Vec::new()),
            error: RefCell::new(None),
            exited: Cell::new(false),
            decl: RefCell::new(Declarations::default()),
            kube,
            env,
            next_id: Cell::new(1),
            compose: RefCell::new(Default::default()),
            api: RefCell::new(Default::default()),
            processes: std::cell::OnceCell::new(),
        }
    }

    /// The registry `local()` commands belong to, so they end when lilt does.
    pub(crate) fn processes(&self) -> &lilt_local::ProcessRegistry {
        self.processes.get_or_init(|| match &self.opts.processes {
            Some(registry) => registry.clone(),
            // Without a watchdog, commands still end when their handle drops, only not
            // when lilt is SIGKILLed.
            None => lilt_local::ProcessRegistry::new()
                .unwrap_or_else(|_| lilt_local::ProcessRegistry::without_watchdog()),
        })
    }

    /// starlark's words for lilt's limits, in terms of the setting that changes them.
    fn explain_limits(&self, message: String) -> String {
        if message.starts_with("Heap memory limit of") {
            let limit = u64::try_from(self.opts.max_heap_bytes).unwrap_or(u64::MAX);
            return format!(
                "the Tiltfile's values take more than lilt's memory limit of {} for one file \
                 (set LILT_MAX_HEAP_BYTES to change it); does a string or list grow without end?",
                paths::human_bytes(limit)
            );
        }
        if message == "Evaluation cancelled" {
            return if self.cancelled() {
                "Tiltfile evaluation cancelled: lilt is stopping".to_owned()
            } else {
                format!(
                    "Tiltfile evaluation took longer than {}s and was stopped",
                    self.opts.timeout.as_secs()
                )
            };
        }
        message
    }

    /// Whether the caller asked evaluation to stop.
    pub(crate) fn cancelled(&self) -> bool {
        self.opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Hands `text` to the caller's [`LoadOptions::progress`] now, so it is seen while
    /// evaluation runs; without one, it goes to the result's log.
    pub(crate) fn progress(&self, text: String) {
        match &self.opts.progress {
            Some(progress) => (progress.0)(&text),
            None => self.print(text),
        }
    }

    /// Reads at most [`LoadOptions::max_read_bytes`] of `path`; more is an error that
    /// names the limit (`/dev/zero`, a huge generated file).
    pub(crate) fn read_capped(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        paths::read_capped(path, self.opts.max_read_bytes)
    }

    /// [`TiltState::read_capped`] as UTF-8 text.
    pub(crate) fn read_text_capped(&self, path: &Path) -> std::io::Result<String> {
        String::from_utf8(self.read_capped(path)?).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })
    }

    /// The state of the running evaluation.
    pub(crate) fn get<'a>(eval: &Evaluator<'_, 'a, '_>) -> anyhow::Result<&'a TiltState> {
        eval.extra
            .and_then(|extra| extra.downcast_ref::<TiltState>())
            .ok_or_else(|| anyhow::anyhow!("internal error: no Tiltfile state in evaluator"))
    }

    pub(crate) fn push_file(&self, path: &Path) {
        self.files.borrow_mut().push(path.to_path_buf());
    }

    pub(crate) fn pop_file(&self) {
        self.files.borrow_mut().pop();
    }

    /// How many files are executing, one loading the next.
    pub(crate) fn load_depth(&self) -> usize {
        self.files.borrow().len()
    }

    pub(crate) fn is_executing(&self, path: &Path) -> bool {
        self.files.borrow().iter().any(|p| p == path)
    }

    /// The file whose top level is executing (Tilt resolves relative paths against it).
    pub(crate) fn current_file(&self) -> PathBuf {
        self.files
            .borrow()
            .last()
            .cloned()
            .unwrap_or_else(|| self.main_path.clone())
    }

    /// The directory relative paths resolve against.
    pub(crate) fn cwd(&self) -> PathBuf {
        let file = self.current_file();
        file.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.main_dir.clone())
    }

    /// `path` made absolute against the executing file's directory, lexically cleaned.
    pub(crate) fn abs(&self, path: &str) -> PathBuf {
        paths::absolute(&self.cwd(), path)
    }

    /// The executing Tiltfile as Tilt records it on resources: empty for the main one.
    pub(crate) fn source_tiltfile(&self) -> String {
        let file = self.current_file();
        if file == self.main_path {
            String::new()
        } else {
            file.display().to_string()
        }
    }

    pub(crate) fn record_config_file(&self, path: PathBuf) {
        self.config_files.borrow_mut().insert(path);
    }

    pub(crate) fn print(&self, text: impl Into<String>) {
        self.log.borrow_mut().push(LogLine {
            level: LogLevel::Info,
            text: text.into(),
        });
    }

    pub(crate) fn warn(&self, text: impl Into<String>) {
        let text = text.into();
        self.log.borrow_mut().push(LogLine {
            level: LogLevel::Warn,
            text: text.clone(),
        });
        self.warnings.borrow_mut().push(text);
    }

    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    /// The environment variables the Tiltfile sees now.
    pub(crate) fn env_var(&self, key: &str) -> Option<String> {
        self.env.borrow().get(key).cloned()
    }

    /// Resolves a starlark span to a user-facing location, undoing the `while` rewrite.
    pub(crate) fn location(&self, span: &FileSpan) -> Location {
        let resolved = span.resolve_span();
        let width = if resolved.end.line == resolved.begin.line {
            resolved.end.column.saturating_sub(resolved.begin.column)
        } else {
            usize::MAX
        };
        self.location_at(span, resolved.begin.line, resolved.begin.column, width)
    }

    /// Like [`TiltState::location`], but for a call expression the position is its opening
    /// parenthesis, as go.starlark.net reports call sites (`Tiltfile:2:8: in <toplevel>`).
    pub(crate) fn call_location(&self, span: &FileSpan) -> Location {
        let text = span.source_span();
        match call_paren_offset(text) {
            Some((dl, col_in_line)) => {
                let resolved = span.resolve_span();
                let col = if dl == 0 {
                    resolved.begin.column + col_in_line
                } else {
                    col_in_line
                };
                self.location_at(span, resolved.begin.line + dl, col, 1)
            }
            None => self.location(span),
        }
    }

    fn location_at(&self, span: &FileSpan, line: usize, col: usize, width: usize) -> Location {
        let file = PathBuf::from(span.filename());
        let sources = self.sources.borrow();
        let source = sources.get(&file);
        let col = match source.and_then(|s| s.columns.as_ref()) {
            Some(columns) => columns.map(line, col),
            None => col,
        };
        let (line, col) = match source.and_then(|s| s.line_map.as_ref()) {
            Some(map) => map.map(line, col),
            None => (line, col),
        };
        let source_line = match source {
            Some(s) => s
                .text
                .split('\n')
                .nth(line)
                .unwrap_or("")
                .trim_end_matches('\r')
                .to_owned(),
            None => span.source_line_at_begin(),
        };
        let width = if width == usize::MAX {
            source_line.chars().count().saturating_sub(col)
        } else {
            width
        };
        Location {
            file,
            line: line + 1,
            col: col + 1,
            source_line,
            width: width.max(1),
        }
    }

    /// `file:line:col` of the innermost Starlark call, for messages such as "already called at".
    pub(crate) fn call_position(&self, eval: &Evaluator<'_, '_, '_>) -> String {
        match eval.call_stack_top_location() {
            Some(span) => self.call_location(&span).to_string(),
            None => self.current_file().display().to_string(),
        }
    }

    /// Records a failure of the file at `file`. The innermost failure becomes the error; the
    /// outer ones (the `load` statements that led to it) become traceback frames.
    pub(crate) fn record_failure(&self, err: &starlark::Error) {
        if self.exited.get() {
            return;
        }
        let mut slot = self.error.borrow_mut();
        // Each starlark frame records where a call happened; the code at that spot belongs
        // to the previous frame's function (the first one is module code).
        let stack = &checked_methods_as_written(&err.call_stack().frames);
        let mut frames: Vec<Frame> = stack
            .iter()
            .enumerate()
            .filter_map(|(i, frame)| {
                let function = match i {
                    0 => "<toplevel>".to_owned(),
                    _ => stack[i - 1].name.clone(),
                };
                frame.location.as_ref().map(|span| Frame {
                    function,
                    location: self.call_location(span),
                })
            })
            .collect();
        let innermost = stack.last();
        // An error whose span is the innermost call site was raised by the called function
        // itself (a builtin, or argument binding): Go prints it as `Error in <name>: ...`.
        let mut raised_by = None;
        let is_parse_error = matches!(err.kind(), starlark::ErrorKind::Parser(_));
        let location = match err.span() {
            // Go reports syntax errors as `file:line:col: message`, without a traceback.
            Some(span) if is_parse_error => Some(self.location(span)),
            Some(span) => {
                let at_call = self.call_location(span);
                // `OBJ.method` on a value without that method fails at the attribute, as
                // written, not in the method (lilt's wrapper sees it first).
                let missing_method = innermost
                    .is_some_and(|f| f.name == crate::growth::METHOD_BUILTIN)
                    && error_message(err).ends_with("field or method");
                let is_call_site = frames.last().map(|f| &f.location) == Some(&at_call)
                    && innermost.is_some_and(|f| f.location.as_ref() == Some(span));
                if missing_method {
                    let loc = self.location(span);
                    if let Some(last) = frames.last_mut() {
                        last.location = loc.clone();
                    }
                    Some(loc)
                } else if is_call_site {
                    // `*` is a call only after lilt's rewrite (`growth.rs`): its errors are
                    // the operator's, `Error: ...`, as in Go. A checked method's own
                    // refusal is the method's, as if lilt's wrapper were not there.
                    raised_by = innermost
                        .map(|f| f.name.clone())
                        .filter(|name| name != crate::growth::MUL_BUILTIN)
                        .map(|name| match method_call_parts(span.source_span()) {
                            Some(parts) if name == crate::growth::METHOD_BUILTIN => parts.name,
                            _ => name,
                        });
                    Some(at_call)
                } else {
                    let loc = self.location(span);
                    frames.push(Frame {
                        function: innermost
                            .map_or_else(|| "<toplevel>".to_owned(), |f| f.name.clone()),
                        location: loc.clone(),
                    });
                    Some(loc)
                }
            }
            None => None,
        };
        match slot.as_mut() {
            None => {
                *slot = Some(LoadError {
                    message: self.explain_limits(error_message(err)),
                    location,
                    frames,
                    function: raised_by,
                });
            }
            Some(existing) => {
                // An outer file: the load statement that failed goes before the inner frames.
                frames.append(&mut existing.frames);
                existing.frames = frames;
            }
        }
    }
}

/// The error text without starlark's own diagnostic rendering, with the commonest
/// starlark-rust runtime messages reworded as go.starlark.net words them, since users and
/// extensions match on Tilt's texts.
pub(crate) fn error_message(err: &starlark::Error) -> String {
    let text = format!("{}", err.without_diagnostic());
    let text = text
        .strip_prefix("fail: ")
        .map(str::to_owned)
        .unwrap_or(text);
    go_wording(&text).unwrap_or(text)
}

fn go_wording(text: &str) -> Option<String> {
    static RULES: std::sync::OnceLock<Vec<(regex::Regex, &'static str)>> =
        std::sync::OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r"^Key `(.*)` was not found$", "key $1 not in dict"),
            (
                r"^Operation `(\S+)` not supported for types `(\w+)` and `(\w+)`$",
                "unknown binary op: $2 $1 $3",
            ),
            (r"^Variable `(\w+)` not found$", "undefined: $1"),
            (
                r"^Object of type `(\w+)` has no attribute `(\w+)`$",
                "$1 has no .$2 field or method",
            ),
        ]
        .into_iter()
        .filter_map(|(re, rep)| regex::Regex::new(re).ok().map(|re| (re, rep)))
        .collect()
    });
    rules.iter().find_map(|(re, rep)| {
        re.is_match(text)
            .then(|| re.replace(text, *rep).into_owned())
    })
}

trait SourceLineAtBegin {
    fn source_line_at_begin(&self) -> String;
}

impl SourceLineAtBegin for FileSpan {
    fn source_line_at_begin(&self) -> String {
        self.file.source_line_at_pos(self.span.begin()).to_owned()
    }
}

/// The call stack with lilt's method wrapper (`guards.rs`) taken out: the checked method's
/// frame gets the wrapper's call site, so a traceback reads as the user wrote the call.
fn checked_methods_as_written(stack: &[starlark::errors::Frame]) -> Vec<starlark::errors::Frame> {
    let mut out: Vec<starlark::errors::Frame> = Vec::with_capacity(stack.len());
    let mut frames = stack.iter();
    while let Some(frame) = frames.next() {
        if frame.name == crate::growth::METHOD_BUILTIN {
            // The wrapper calls the method through starlark, which records frames without a
            // location in between.
            let inner: Vec<&starlark::errors::Frame> = frames
                .clone()
                .take_while(|f| f.location.is_none())
                .collect();
            if let Some(at) = inner
                .iter()
                .position(|f| crate::growth::CHECKED_METHODS.contains(&f.name.as_str()))
            {
                out.push(starlark::errors::Frame {
                    name: inner[at].name.clone(),
                    location: frame.location.clone(),
                });
                frames.nth(at);
                continue;
            }
        }
        out.push(frame.clone());
    }
    out
}

/// The parts of `__lilt_method__(OBJ, "name", ARGS)` that stand for the call as written: the
/// method's name, and the position (line and column within `text`) of the character that
/// maps back to the call's opening parenthesis (the last one of the `, "name", ` that
/// replaced `.name(`).
struct MethodCallParts {
    name: String,
    paren: (usize, usize),
}

fn method_call_parts(text: &str) -> Option<MethodCallParts> {
    let rest = text.strip_prefix(crate::growth::METHOD_BUILTIN)?;
    if !rest.starts_with('(') {
        return None;
    }
    let mut commas = 0;
    let mut name = String::new();
    for ch in SourceChars::new(text) {
        match ch.lex {
            Lex::InString if ch.depth == 1 && commas == 1 => name.push(ch.c),
            Lex::Code if ch.c == ',' && ch.depth == 1 => {
                commas += 1;
                if commas == 2 {
                    // `, "name", `: the space after this comma.
                    return Some(MethodCallParts {
                        name,
                        paren: (ch.line, ch.col + 1),
                    });
                }
            }
            _ => {}
        }
    }
    None
}

/// Where the `(` of a call expression is, as (line offset, char column within that line),
/// when `text` is a call: it ends with `)` closing a parenthesis opened at depth 0 that is
/// not the first character. `load(...)` statements are reported at the keyword, as Go does;
/// a checked method call (`guards.rs`) at the character that maps back to its own `(`.
fn call_paren_offset(text: &str) -> Option<(usize, usize)> {
    if let Some(parts) = method_call_parts(text) {
        return Some(parts.paren);
    }
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix("load")
        && rest.trim_start().starts_with('(')
    {
        return None;
    }
    if !text.ends_with(')') {
        return None;
    }
    let mut last_open: Option<(usize, usize)> = None;
    let mut depth = 0;
    for (idx, ch) in SourceChars::new(text).enumerate() {
        if ch.lex == Lex::Code && ch.c == '(' && ch.depth == 0 && idx > 0 {
            last_open = Some((ch.line, ch.col));
        }
        depth = ch.depth_after();
    }
    if depth == 0 { last_open } else { None }
}

/// What a character of Starlark source is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Code,
    /// A quote that opens or closes a string.
    Delimiter,
    InString,
    Comment,
}

/// One character of Starlark source with its place and the bracket depth before it.
struct SourceChar {
    c: char,
    line: usize,
    col: usize,
    depth: i32,
    lex: Lex,
}

impl SourceChar {
    fn depth_after(&self) -> i32 {
        match (self.lex, self.c) {
            (Lex::Code, '(' | '[' | '{') => self.depth + 1,
            (Lex::Code, ')' | ']' | '}') => self.depth - 1,
            _ => self.depth,
        }
    }
}

/// The characters of a piece of Starlark source, told apart as code, strings and comments
/// (single-character quotes with backslash escapes: what call sites hold).
struct SourceChars<'t> {
    chars: std::str::Chars<'t>,
    line: usize,
    col: usize,
    depth: i32,
    quote: Option<char>,
    escaped: bool,
    in_comment: bool,
}

impl<'t> SourceChars<'t> {
    fn new(text: &'t str) -> SourceChars<'t> {
        SourceChars {
            chars: text.chars(),
            line: 0,
            col: 0,
            depth: 0,
            quote: None,
            escaped: false,
            in_comment: false,
        }
    }
}

impl Iterator for SourceChars<'_> {
    type Item = SourceChar;

    fn next(&mut self) -> Option<SourceChar> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.in_comment = false;
        }
        let lex = match self.quote {
            Some(q) => {
                if self.escaped {
                    self.escaped = false;
                    Lex::InString
                } else if c == '\\' {
                    self.escaped = true;
                    Lex::InString
                } else if c == q {
                    self.quote = None;
                    Lex::Delimiter
                } else {
                    Lex::InString
                }
            }
            None if self.in_comment => Lex::Comment,
            None => match c {
                '#' => {
                    self.in_comment = true;
                    Lex::Comment
                }
                '\'' | '"' => {
                    self.quote = Some(c);
                    Lex::Delimiter
                }
                _ => Lex::Code,
            },
        };
        let ch = SourceChar {
            c,
            line: self.line,
            col: self.col,
            depth: self.depth,
            lex,
        };
        self.depth = ch.depth_after();
        if c == '\n' {
            self.line += 1;
            self.col = 0;
        } else {
            self.col += 1;
        }
        Some(ch)
    }
}
