//! Argument conversion shared by builtins: Tilt accepts "a string or a list of strings",
//! blobs where strings are expected, and commands as strings or argv lists.

use std::convert::Infallible;
use std::path::PathBuf;

use anyhow::{Context, bail};
use lilt_model::{Cmd, Link, Probe};
use starlark::typing::Ty;
use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::tuple::TupleRef;
use starlark::values::type_repr::StarlarkTypeRepr;
use starlark::values::{UnpackValue, Value, ValueLike};

use crate::builtins::git::GitRepo;
use crate::state::TiltState;
use crate::values::{Blob, LinkValue, ProbeValue, TriggerModeValue, string_like};

/// A string parameter that also takes a blob (its text), as Tilt's `value.Stringable`
/// does. lilt uses it for every string parameter, so a blob is never refused where a
/// string is expected (docs/compatibility.md).
// Not `Clone`, so `.to_owned()` reaches `str::to_owned` and gives a `String`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Str<'v>(pub(crate) &'v str);

impl std::ops::Deref for Str<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for Str<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl From<Str<'_>> for String {
    fn from(s: Str<'_>) -> String {
        s.0.to_owned()
    }
}

impl StarlarkTypeRepr for Str<'_> {
    type Canonical = <String as StarlarkTypeRepr>::Canonical;

    fn starlark_type_repr() -> Ty {
        String::starlark_type_repr()
    }
}

impl<'v> UnpackValue<'v> for Str<'v> {
    type Error = Infallible;

    fn unpack_value_impl(value: Value<'v>) -> Result<Option<Self>, Infallible> {
        if let Some(s) = value.unpack_str() {
            return Ok(Some(Str(s)));
        }
        Ok(value.downcast_ref::<Blob>().map(|b| Str(b.text.as_str())))
    }
}

/// A path parameter: a string, a blob, or a `local_git_repo()` (its root), as Tilt's
/// `value.LocalPath` takes a repo. Not yet absolute: resolve it with `TiltState::abs`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PathArg<'v>(pub(crate) &'v str);

impl std::ops::Deref for PathArg<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.0
    }
}

impl StarlarkTypeRepr for PathArg<'_> {
    type Canonical = <String as StarlarkTypeRepr>::Canonical;

    fn starlark_type_repr() -> Ty {
        String::starlark_type_repr()
    }
}

impl<'v> UnpackValue<'v> for PathArg<'v> {
    type Error = Infallible;

    fn unpack_value_impl(value: Value<'v>) -> Result<Option<Self>, Infallible> {
        Ok(path_str(value).map(PathArg))
    }
}

/// The text of a path value: a string, a blob, or a git repo's root.
pub(crate) fn path_str<'v>(value: Value<'v>) -> Option<&'v str> {
    if let Some(s) = value.unpack_str() {
        return Some(s);
    }
    if let Some(b) = value.downcast_ref::<Blob>() {
        return Some(b.text.as_str());
    }
    value.downcast_ref::<GitRepo>().map(|r| r.base.as_str())
}

/// The items of a list or tuple, or `None` for any other value.
pub(crate) fn sequence<'v>(value: Value<'v>) -> Option<Vec<Value<'v>>> {
    if let Some(list) = ListRef::from_value(value) {
        return Some(list.content().to_vec());
    }
    TupleRef::from_value(value).map(|t| t.content().to_vec())
}

/// `None`, a string, a blob, or a list/tuple of those, as a list of strings.
pub(crate) fn string_list(value: Option<Value<'_>>, what: &str) -> anyhow::Result<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if let Some(s) = string_like(value) {
        return Ok(vec![s]);
    }
    let Some(items) = sequence(value) else {
        bail!(
            "{what}: expected a string or a list of strings, got {}",
            value.get_type()
        );
    };
    items
        .into_iter()
        .map(|item| {
            string_like(item).with_context(|| {
                format!(
                    "{what}: expected a list of strings, but it contains a {}",
                    item.get_type()
                )
            })
        })
        .collect()
}

/// Like [`string_list`], but only lists are accepted (no bare string).
pub(crate) fn strict_string_list(
    value: Option<Value<'_>>,
    what: &str,
) -> anyhow::Result<Vec<String>> {
    match value.filter(|v| !v.is_none()) {
        Some(v) if v.unpack_str().is_some() => {
            bail!(
                "{what}: expected a list of strings, got string {:?}",
                v.unpack_str().unwrap_or("")
            )
        }
        other => string_list(other, what),
    }
}

/// A string argument that may also be a blob; `None` and missing give `None`.
pub(crate) fn opt_string(value: Option<Value<'_>>, what: &str) -> anyhow::Result<Option<String>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => string_like(v)
            .map(Some)
            .with_context(|| format!("{what}: expected a string, got {}", v.get_type())),
    }
}

/// A path argument that may be unset: a string, a blob or a `local_git_repo()`; `None`
/// and missing give `None`. Not yet absolute.
pub(crate) fn opt_path(value: Option<Value<'_>>, what: &str) -> anyhow::Result<Option<String>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => path_str(v)
            .map(|p| Some(p.to_owned()))
            .with_context(|| format!("{what}: expected a path string, got {}", v.get_type())),
    }
}

/// Paths, each resolved against the executing Tiltfile's directory.
pub(crate) fn path_list(
    state: &TiltState,
    value: Option<Value<'_>>,
    what: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let value = value.filter(|v| !v.is_none());
    if let Some(v) = value {
        // A git repo stands for its root, alone or in a list (Tilt's LocalPathList).
        let items = sequence(v).unwrap_or_else(|| vec![v]);
        if items.iter().any(|i| i.downcast_ref::<GitRepo>().is_some()) {
            return items
                .into_iter()
                .map(|item| match path_str(item) {
                    Some(p) => Ok(state.abs(p)),
                    None => bail!(
                        "{what}: expected a string or a list of strings, but it contains a {}",
                        item.get_type()
                    ),
                })
                .collect();
        }
    }
    Ok(string_list(value, what)?
        .iter()
        .map(|p| state.abs(p))
        .collect())
}

/// A `dict` of string to string, in insertion order.
pub(crate) fn string_dict(
    value: Option<Value<'_>>,
    what: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let Some(dict) = DictRef::from_value(value) else {
        bail!(
            "{what}: expected a dict of string to string, got {}",
            value.get_type()
        );
    };
    dict.iter()
        .map(|(k, v)| {
            let key = string_like(k)
                .with_context(|| format!("{what}: keys must be strings, got {}", k.get_type()))?;
            let val = string_like(v).with_context(|| {
                format!(
                    "{what}: value for {key:?} must be a string, got {}",
                    v.get_type()
                )
            })?;
            Ok((key, val))
        })
        .collect()
}

/// A command: a string runs under `sh -c` (trimmed), a list is argv. `None`/empty give
/// an empty Cmd.
pub(crate) fn command(
    value: Option<Value<'_>>,
    dir: PathBuf,
    env: Vec<(String, String)>,
    what: &str,
) -> anyhow::Result<Cmd> {
    let argv = match value.filter(|v| !v.is_none()) {
        None => Vec::new(),
        Some(v) => match string_like(v) {
            Some(s) if s.is_empty() => Vec::new(),
            // Tilt trims the script (`model.ToUnixCmd`), after the emptiness check.
            Some(s) => vec!["sh".to_owned(), "-c".to_owned(), s.trim().to_owned()],
            None => match sequence(v) {
                Some(_) => string_list(Some(v), what)?,
                None => bail!(
                    "{what}: expected a string or a list of strings, got {}",
                    v.get_type()
                ),
            },
        },
    };
    Ok(Cmd {
        argv,
        dir,
        env,
        echo_off: false,
    })
}

/// Tilt's label rules: a Kubernetes qualified name without a prefix.
pub(crate) fn labels(value: Option<Value<'_>>) -> anyhow::Result<Vec<String>> {
    let labels = string_list(value, "labels")?;
    for label in &labels {
        validate_label(label)?;
    }
    Ok(labels)
}

fn validate_label(label: &str) -> anyhow::Result<()> {
    if label.contains('/') {
        bail!("labels: invalid label {label:?}: labels may not contain '/'");
    }
    let ok_edges = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let valid = !label.is_empty()
        && label.len() <= 63
        && ok_edges(label.chars().next())
        && ok_edges(label.chars().last())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        bail!(
            "labels: invalid label {label:?}: must be 63 characters or less, begin and end with \
             an alphanumeric character, and contain only alphanumerics, '-', '_' and '.'"
        );
    }
    Ok(())
}

/// `links=`: a URL string, a `link()`, or a list of them. URLs without a scheme get http://.
pub(crate) fn links(value: Option<Value<'_>>) -> anyhow::Result<Vec<Link>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let items = sequence(value).unwrap_or_else(|| vec![value]);
    items
        .into_iter()
        .map(|item| {
            if let Some(link) = item.downcast_ref::<LinkValue>() {
                return Ok(link.0.clone());
            }
            match item.unpack_str() {
                Some(url) => make_link(url, ""),
                None => bail!(
                    "links: expected a string or a link, got {}",
                    item.get_type()
                ),
            }
        })
        .collect()
}

/// Validates a link URL and adds `http://` when it has no scheme.
pub(crate) fn make_link(url: &str, name: &str) -> anyhow::Result<Link> {
    if url.is_empty() {
        bail!("url cannot be empty");
    }
    let has_scheme = url.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let url = if has_scheme {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    Ok(Link {
        url,
        name: name.to_owned(),
    })
}

/// `trigger_mode=`: `None` when unset.
pub(crate) fn trigger_mode(value: Option<Value<'_>>) -> anyhow::Result<Option<bool>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => match v.downcast_ref::<TriggerModeValue>() {
            Some(t) => Ok(Some(t.auto)),
            None => bail!(
                "trigger_mode: expected TRIGGER_MODE_AUTO or TRIGGER_MODE_MANUAL, got {}",
                v.get_type()
            ),
        },
    }
}

/// `readiness_probe=`.
pub(crate) fn probe(value: Option<Value<'_>>) -> anyhow::Result<Option<Probe>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => match v.downcast_ref::<ProbeValue>() {
            Some(p) => Ok(Some(p.0.clone())),
            None => bail!("readiness_probe: expected a probe(), got {}", v.get_type()),
        },
    }
}

/// A resource name as Tilt accepts it: a valid path segment.
pub(crate) fn resource_name(name: &str, what: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        bail!("{what}: name must not be empty");
    }
    if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        bail!("{what}: invalid name {name:?}: a name may not be '.', '..', or contain '/' or '%'");
    }
    Ok(())
}
