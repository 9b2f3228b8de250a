//! The environment local commands start with: lilt's own, with the Tiltfile's changes and
//! the variables Tilt injects.

use lilt_local::ExecEnv;

/// lilt's environment, with `changes` applied (`None` removes a variable), then
/// `TILT_PORT`, `TILT_HOST` and friends.
pub fn exec_env(changes: &[(String, Option<String>)], port: u16, host: &str) -> ExecEnv {
    let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
    for (key, value) in changes {
        vars.retain(|(k, _)| k.as_os_str() != key.as_str());
        if let Some(value) = value {
            vars.push((key.into(), value.into()));
        }
    }
    ExecEnv::new(vars).with_tilt_vars(port, host, None)
}
