//! `local_git_repo(path)`: Tilt's legacy git repo object, whose `.paths(p)` joins `p` to
//! the repo root. The object is also accepted wherever a path is (it stands for the root).

use std::fmt;

use allocative::Allocative;
use anyhow::bail;
use starlark::any::ProvidesStaticType;
use starlark::environment::{GlobalsBuilder, Methods, MethodsBuilder, MethodsStatic};
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::{
    Heap, NoSerialize, StarlarkPagablePanic, StarlarkValue, Value, ValueLike, starlark_value,
};

use crate::builtins::args::Str;
use crate::paths;
use crate::state::TiltState;

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    git_builtins(builder);
}

/// What `local_git_repo` returns.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct GitRepo {
    /// The repo's absolute root directory.
    pub(crate) base: String,
}
starlark_simple_value!(GitRepo);

impl GitRepo {
    /// Go's `filepath.Join(base, path)`: an absolute `path` is appended, not substituted.
    pub(crate) fn join(&self, path: &str) -> String {
        let joined = if path.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{path}", self.base)
        };
        paths::clean(std::path::Path::new(&joined))
            .display()
            .to_string()
    }
}

impl fmt::Display for GitRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[git.Repo] '{}'", self.base)
    }
}

#[starlark_value(type = "git.Repo")]
impl<'v> StarlarkValue<'v> for GitRepo {
    fn to_bool(&self) -> bool {
        !self.base.is_empty()
    }

    fn get_methods() -> Option<&'static Methods>
    where
        Self: Sized,
    {
        static RES: MethodsStatic = MethodsStatic::new("git_repo_methods", git_repo_methods);
        Some(RES.methods())
    }
}

#[starlark_module]
fn git_repo_methods(builder: &mut MethodsBuilder) {
    /// The absolute path of `paths` (one path) inside the repo.
    fn paths<'v>(
        #[starlark(this)] this: Value<'v>,
        paths: Str<'v>,
        heap: Heap<'v>,
    ) -> anyhow::Result<Value<'v>> {
        let Some(repo) = this.downcast_ref::<GitRepo>() else {
            bail!("paths: not a git.Repo");
        };
        Ok(heap.alloc(repo.join(&paths)))
    }
}

#[starlark_module]
fn git_builtins(builder: &mut GlobalsBuilder) {
    /// The git repo at `paths` (a directory that must contain `.git`).
    fn local_git_repo<'v>(
        paths: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let abs = TiltState::get(eval)?.abs(&paths);
        if let Err(e) = std::fs::metadata(&abs) {
            bail!(
                "Reading paths {}: {}",
                abs.display(),
                crate::paths::go_io_error("stat", &abs, &e)
            );
        }
        let git_dir = std::fs::metadata(abs.join(".git"));
        if git_dir.is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            bail!(
                "{} isn't a valid git repo: it doesn't have a .git/ directory",
                abs.display()
            );
        }
        Ok(eval.heap().alloc(GitRepo {
            base: abs.display().to_string(),
        }))
    }
}
