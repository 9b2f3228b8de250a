//! The explicit environment every local command starts with.
//!
//! Order follows Tilt (`internal/localexec/localexec.go`): lilt's own environment (with the
//! Tiltfile's `os.putenv` changes), then what lilt injects, then the command's own `env`,
//! where a later value for the same name wins.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// An ordered set of environment variables; setting a name again replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecEnv {
    vars: Vec<(OsString, OsString)>,
}

impl ExecEnv {
    /// Starts from the given base environment (later duplicates win).
    pub fn new<K, V>(base: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut env = Self::default();
        for (k, v) in base {
            env.set(k, v);
        }
        env
    }

    /// Starts from lilt's own environment.
    pub fn from_current_process() -> Self {
        Self::new(std::env::vars_os())
    }

    /// Adds what Tilt injects into every local command.
    ///
    /// `KUBECONFIG` (a frozen copy of the cluster config) overrides the base; `TILT_PORT`,
    /// `TILT_HOST`, `TILT_DISABLE_ANALYTICS=1`, and the log-friendly `LINES=24`, `COLUMNS=80`
    /// and `PYTHONUNBUFFERED=1` only fill in names the base does not set, as Tilt does.
    pub fn with_tilt_vars(mut self, port: u16, host: &str, kubeconfig: Option<&Path>) -> Self {
        if let Some(path) = kubeconfig {
            self.set("KUBECONFIG", path.as_os_str());
        }
        self.set_if_absent("LINES", "24");
        self.set_if_absent("COLUMNS", "80");
        self.set_if_absent("PYTHONUNBUFFERED", "1");
        self.set_if_absent("TILT_PORT", port.to_string());
        self.set_if_absent("TILT_HOST", host);
        self.set_if_absent("TILT_DISABLE_ANALYTICS", "1");
        self
    }

    /// Sets `name`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        let name = name.into();
        let value = value.into();
        match self.vars.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name, value)),
        }
    }

    /// Sets `name` only if it is not set yet.
    pub fn set_if_absent(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        let name = name.into();
        if self.get(&name).is_none() {
            self.vars.push((name, value.into()));
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<&OsStr> {
        let name = name.as_ref();
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The variables in order.
    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }

    /// The full environment for one command: this set overlaid with the command's own `env`.
    pub fn for_command(&self, cmd_env: &[(String, String)]) -> ExecEnv {
        let mut env = self.clone();
        for (k, v) in cmd_env {
            env.set(k, v);
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::Path;

    use super::ExecEnv;

    #[test]
    fn injected_variables_fill_in_but_do_not_override_the_base() {
        let env = ExecEnv::new([("TILT_PORT", "9999"), ("LINES", "50")]).with_tilt_vars(
            10350,
            "localhost",
            None,
        );
        assert_eq!(env.get("TILT_PORT"), Some(OsStr::new("9999")));
        assert_eq!(env.get("LINES"), Some(OsStr::new("50")));
        assert_eq!(env.get("TILT_HOST"), Some(OsStr::new("localhost")));
        assert_eq!(env.get("TILT_DISABLE_ANALYTICS"), Some(OsStr::new("1")));
        assert_eq!(env.get("KUBECONFIG"), None);
    }

    #[test]
    fn kubeconfig_overrides_and_the_command_env_wins_last() {
        let env = ExecEnv::new([("KUBECONFIG", "/home/me/.kube/config"), ("A", "1")])
            .with_tilt_vars(10350, "localhost", Some(Path::new("/tmp/frozen")));
        assert_eq!(env.get("KUBECONFIG"), Some(OsStr::new("/tmp/frozen")));
        let cmd_env = env.for_command(&[
            ("A".into(), "2".into()),
            ("TILT_PORT".into(), "1".into()),
            ("A".into(), "3".into()),
        ]);
        assert_eq!(cmd_env.get("A"), Some(OsStr::new("3")));
        assert_eq!(cmd_env.get("TILT_PORT"), Some(OsStr::new("1")));
        // Replacing keeps the original position, so the order stays stable.
        assert_eq!(cmd_env.vars()[1].0, "A");
        // The shared environment is untouched.
        assert_eq!(env.get("A"), Some(OsStr::new("1")));
    }
}
