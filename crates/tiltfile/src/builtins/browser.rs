//! `browser_button`: a dashboard button that starts a preconfigured browser, typically
//! pointed at an endpoint of the developer's dev cluster. A lilt extension to Tilt's API.
//!
//! ```python
//! browser_button(
//!     'grafana',
//!     url='link:grafana',            # the first link of resource `grafana` (or 'link:grafana/Dashboards')
//!     resource='grafana',            # shown on that resource, disabled until it is ready
//!     browser='chromium',            # a name in PATH or a path; default: Chromium
//!     args=['--window-size=1400,900'],
//!     env={'TZ': 'UTC'},
//!     prefs={'intl.accept_languages': 'en-US'},
//! )
//! ```
//!
//! Each button gets its own persistent profile directory under the project's state
//! directory (`.lilt/browser/<name>/` next to the main Tiltfile), so logins and settings
//! survive restarts and never touch the user's everyday browser profile.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take their keyword parameters one by one"
)]

use anyhow::{Context, bail};
use lilt_model::{
    BrowserLaunch, ButtonAction, ButtonLocation, UiButton, serde_json_free::Json as FreeJson,
};
use serde_json::Value as Json;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::Value;
use starlark::values::dict::DictRef;
use starlark::values::none::NoneType;

use crate::builtins::args;
use crate::builtins::encoding::value_to_json;
use crate::state::TiltState;

/// Where per-project state lives, relative to the main Tiltfile's directory.
pub(crate) const STATE_DIR: &str = ".lilt";

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    browser_builtins(builder);
}

/// `link:RESOURCE` or `link:RESOURCE/LINK NAME`.
fn parse_link_ref(url: &str) -> anyhow::Result<Option<(String, String)>> {
    let Some(rest) = url.strip_prefix("link:") else {
        return Ok(None);
    };
    let (resource, name) = match rest.split_once('/') {
        Some((r, n)) => (r, n),
        None => (rest, ""),
    };
    if resource.is_empty() {
        bail!(
            "browser_button: url {url:?} names no resource; write link:RESOURCE or link:RESOURCE/LINK_NAME"
        );
    }
    Ok(Some((resource.to_owned(), name.to_owned())))
}

fn to_free(json: &Json) -> FreeJson {
    match json {
        Json::Null => FreeJson::Null,
        Json::Bool(b) => FreeJson::Bool(*b),
        Json::Number(n) => FreeJson::Number(n.to_string()),
        Json::String(s) => FreeJson::String(s.clone()),
        Json::Array(items) => FreeJson::Array(items.iter().map(to_free).collect()),
        Json::Object(map) => {
            FreeJson::Object(map.iter().map(|(k, v)| (k.clone(), to_free(v))).collect())
        }
    }
}

#[starlark_module]
fn browser_builtins(builder: &mut GlobalsBuilder) {
    fn browser_button<'v>(
        name: &str,
        url: &str,
        #[starlark(default = "")] resource: &str,
        #[starlark(default = "")] text: &str,
        #[starlark(default = "")] browser: &str,
        #[starlark(default = NoneType)] args: Value<'v>,
        #[starlark(default = NoneType)] env: Value<'v>,
        #[starlark(default = NoneType)] prefs: Value<'v>,
        #[starlark(default = "")] profile: &str,
        #[starlark(default = "")] icon_name: &str,
        #[starlark(default = false)] requires_confirmation: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        args::resource_name(name, "browser_button")?;
        if url.is_empty() {
            bail!("browser_button: url must not be empty");
        }
        let url_from_link = parse_link_ref(url)?;
        let flags = args::strict_string_list(Some(args), "browser_button: args")?;
        let env = args::string_dict(Some(env), "browser_button: env")?;
        let mut pref_map = std::collections::BTreeMap::new();
        if !prefs.is_none() {
            let Some(dict) = DictRef::from_value(prefs) else {
                bail!(
                    "browser_button: prefs must be a dict, got {}",
                    prefs.get_type()
                );
            };
            for (k, v) in dict.iter() {
                let Some(key) = k.unpack_str() else {
                    bail!(
                        "browser_button: prefs keys must be strings, got {}",
                        k.get_type()
                    );
                };
                let json =
                    value_to_json(v, "browser_button: prefs").context("browser_button: prefs")?;
                pref_map.insert(key.to_owned(), to_free(&json));
            }
        }
        let profile_name = if profile.is_empty() { name } else { profile };
        args::resource_name(profile_name, "browser_button: profile")?;
        let profile_dir = state
            .main_dir
            .join(STATE_DIR)
            .join("browser")
            .join(profile_name);
        let location = if resource.is_empty() {
            ButtonLocation::Global
        } else {
            ButtonLocation::Resource(resource.to_owned())
        };
        let button = UiButton {
            name: name.to_owned(),
            location,
            text: if text.is_empty() {
                format!("Open {name}")
            } else {
                text.to_owned()
            },
            icon_name: if icon_name.is_empty() {
                "open_in_browser".to_owned()
            } else {
                icon_name.to_owned()
            },
            icon_svg: String::new(),
            disabled: false,
            requires_confirmation,
            inputs: Vec::new(),
            action: ButtonAction::Browser(BrowserLaunch {
                url: url.to_owned(),
                url_from_link,
                browser: browser.to_owned(),
                args: flags,
                env,
                prefs: pref_map,
                profile_dir,
            }),
            requires_ready: if resource.is_empty() {
                None
            } else {
                Some(resource.to_owned())
            },
        };
        let mut decl = state.decl.borrow_mut();
        if decl.buttons.iter().any(|b| b.name == button.name) {
            bail!("browser_button named {name:?} already exists");
        }
        decl.buttons.push(button);
        Ok(NoneType)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_link_ref;

    #[test]
    fn link_references() {
        assert_eq!(parse_link_ref("http://x").unwrap(), None);
        assert_eq!(
            parse_link_ref("link:api").unwrap(),
            Some(("api".into(), String::new()))
        );
        assert_eq!(
            parse_link_ref("link:api/Grafana UI").unwrap(),
            Some(("api".into(), "Grafana UI".into()))
        );
        assert!(parse_link_ref("link:").is_err());
    }
}
