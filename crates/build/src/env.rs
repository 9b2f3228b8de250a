//! The environment variables a build reads (`DOCKER_HOST`, `DOCKER_CONFIG`, `HOME`, `PATH`,
//! …), captured once so tests and the runner can pass their own instead of the process's.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A snapshot of environment variables. An empty value counts as unset, as the docker CLI
/// treats `DOCKER_HOST=` and `DOCKER_TLS_VERIFY=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerEnv {
    vars: BTreeMap<String, String>,
}

impl DockerEnv {
    /// The current process's environment.
    pub fn from_process() -> DockerEnv {
        DockerEnv::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Exactly these variables, nothing from the process.
    pub fn from_vars<I, K, V>(vars: I) -> DockerEnv
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        DockerEnv {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The same environment with `key` set (an empty value unsets it).
    pub fn with(mut self, key: &str, value: &str) -> DockerEnv {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The same environment without `key`.
    pub fn without(mut self, key: &str) -> DockerEnv {
        self.vars.remove(key);
        self
    }

    /// The value of `key`, `None` when unset or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every variable, in name order.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The docker CLI's configuration directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
    pub fn config_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = self.get("DOCKER_CONFIG") {
            return Some(PathBuf::from(dir));
        }
        self.get("HOME")
            .map(|home| PathBuf::from(home).join(".docker"))
    }
}
