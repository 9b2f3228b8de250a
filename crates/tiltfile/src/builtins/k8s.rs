//! Kubernetes builtins: `k8s_yaml`, `filter_yaml`, `k8s_resource`, `k8s_kind`,
//! `k8s_image_json_path`, `k8s_custom_deploy`, `workload_to_resource_function`,
//! `k8s_context`, `k8s_namespace`, `allow_k8s_contexts` and `default_registry`.
//!
//! Calls are recorded as plain data in [`K8sDecls`]. The objects are grouped into
//! resources by `lilt_manifest::assemble` when the main Tiltfile finishes ([`finish_main`]),
//! while its heap is still alive, because `workload_to_resource_function` is a Starlark
//! function that naming must call.

#![expect(
    clippy::too_many_arguments,
    reason = "builtins take Tilt's keyword parameters one by one"
)]

use std::collections::BTreeMap;
use std::fmt;

use allocative::Allocative;
use anyhow::{Context, bail};
use lilt_manifest::{
    Assembly, DiscoveryStrategy, ImageLocator, JsonPath, K8sObject, K8sResourceCall, KindRule,
    ObjectId, ObjectIndex, ObjectSelector, PodReadiness, TriggerChoice, YamlFilter,
};
use lilt_model::{DefaultRegistry, ImageLocatorSpec, K8sCustomDeploy, PortForward};
use starlark::any::ProvidesStaticType;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::dict::DictRef;
use starlark::values::none::NoneType;
use starlark::values::tuple::AllocTuple;
use starlark::values::{
    Heap, NoSerialize, StarlarkPagablePanic, StarlarkValue, Value, ValueLike, starlark_value,
};

use crate::builtins::args::Str;
use crate::builtins::{args, live_update};
use crate::state::TiltState;
use crate::values::{Blob, PortForwardValue};

/// The module global that holds the `workload_to_resource_function` callable, so that it
/// can be found again when the main Tiltfile finishes. Not underscore-prefixed, because
/// `load()` only sees public names.
pub(crate) const NAMING_GLOBAL: &str = "lilt_internal_workload_to_resource_function";

/// A `k8s_custom_deploy` as declared.
#[derive(Debug, Clone)]
pub(crate) struct CustomDeployDecl {
    pub(crate) name: String,
    pub(crate) deploy: K8sCustomDeploy,
    /// `image_deps=`: images that must be built for this resource.
    pub(crate) image_deps: Vec<String>,
}

/// Where the naming function was registered.
#[derive(Debug, Clone)]
pub(crate) struct NamingDecl {
    /// The file whose module holds [`NAMING_GLOBAL`].
    pub(crate) file: std::path::PathBuf,
    pub(crate) position: String,
}

/// Everything the Kubernetes builtins record.
#[derive(Default)]
pub(crate) struct K8sDecls {
    pub(crate) objects: Vec<K8sObject>,
    pub(crate) index: ObjectIndex,
    /// `k8s_kind`/`k8s_image_json_path` rules, with their locators as plain data.
    pub(crate) kinds: Vec<(KindRule, Vec<(ImageLocator, ImageLocatorSpec)>)>,
    pub(crate) calls: Vec<K8sResourceCall>,
    pub(crate) custom_deploys: Vec<CustomDeployDecl>,
    pub(crate) naming: Option<NamingDecl>,
    pub(crate) allowed_contexts: Vec<String>,
    pub(crate) default_registry: Option<DefaultRegistry>,
    /// The result of grouping objects into resources, set when the main Tiltfile ends.
    pub(crate) assembly: Option<Result<Assembly, String>>,
    /// Values of the Secrets among the objects, for log scrubbing.
    pub(crate) secrets: Vec<lilt_model::SecretValue>,
}

impl K8sDecls {
    /// The plain-data form of a locator found on an assembled resource.
    pub(crate) fn locator_spec(&self, locator: &ImageLocator) -> Option<ImageLocatorSpec> {
        self.kinds
            .iter()
            .flat_map(|(_, locs)| locs.iter())
            .find(|(l, _)| l == locator)
            .map(|(_, spec)| spec.clone())
    }
}

/// A workload's identity as `workload_to_resource_function` receives it.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative, StarlarkPagablePanic)]
pub(crate) struct K8sObjectIdValue {
    name: String,
    kind: String,
    namespace: String,
    group: String,
    full: String,
}
starlark_simple_value!(K8sObjectIdValue);

impl fmt::Display for K8sObjectIdValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

#[starlark_value(type = "K8sObjectID")]
impl<'v> StarlarkValue<'v> for K8sObjectIdValue {
    fn get_attr(&self, attribute: &str, heap: Heap<'v>) -> Option<Value<'v>> {
        let v = match attribute {
            "name" => &self.name,
            "kind" => &self.kind,
            "namespace" => &self.namespace,
            "group" => &self.group,
            _ => return None,
        };
        Some(heap.alloc(v.as_str()))
    }

    fn dir_attr(&self) -> Vec<String> {
        ["group", "kind", "name", "namespace"]
            .map(str::to_owned)
            .to_vec()
    }
}

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    k8s_builtins(builder);
}

/// Parses YAML text, with the file (when there is one) named in errors.
fn parse(text: &str, source: Option<&std::path::Path>) -> anyhow::Result<Vec<K8sObject>> {
    lilt_manifest::parse_yaml_stream(text).map_err(|e| match source {
        Some(path) => anyhow::anyhow!("{} is not a valid YAML file: {e}", path.display()),
        None => anyhow::anyhow!("{e}"),
    })
}

/// The objects of a `k8s_yaml`/`filter_yaml` argument: a path, a blob, or a list of those.
/// Files read are recorded as config files. Returns the objects and whether the value was
/// an empty blob or None (Tilt's "Empty YAML" case).
fn objects_of(state: &TiltState, value: Value<'_>) -> anyhow::Result<(Vec<K8sObject>, bool)> {
    if value.is_none() {
        return Ok((Vec::new(), true));
    }
    let items = args::sequence(value).unwrap_or_else(|| vec![value]);
    let mut out = Vec::new();
    let mut first_empty = false;
    for (idx, item) in items.iter().enumerate() {
        if let Some(blob) = item.downcast_ref::<Blob>() {
            if idx == 0 && blob.text.is_empty() {
                first_empty = true;
            }
            out.extend(parse(&blob.text, None)?);
        } else if let Some(path) = item.unpack_str() {
            let abs = state.abs(path);
            state.record_config_file(abs.clone());
            let text = state.read_text_capped(&abs).map_err(|e| {
                anyhow::anyhow!(
                    "error reading yaml file: {}",
                    crate::paths::go_io_error("open", &abs, &e)
                )
            })?;
            out.extend(parse(&text, Some(&abs))?);
        } else if item.is_none() {
            continue;
        } else {
            bail!("expected a path or a blob of YAML, got {}", item.get_type());
        }
    }
    Ok((out, items.is_empty() || first_empty))
}

/// Records Secrets' values so logs can be scrubbed.
fn secrets_of(objects: &[K8sObject]) -> Vec<lilt_model::SecretValue> {
    let mut out = Vec::new();
    for obj in objects.iter().filter(|o| o.kind() == "Secret") {
        let doc = obj.as_value();
        for (field, encoded) in [("data", true), ("stringData", false)] {
            let Some(map) = doc.get(field).and_then(serde_json::Value::as_object) else {
                continue;
            };
            for (key, v) in map {
                let Some(text) = v.as_str() else { continue };
                let value = if encoded {
                    match lilt_model::base64::decode_text(text) {
                        Some(v) => v,
                        None => continue,
                    }
                } else {
                    text.to_owned()
                };
                out.push(lilt_model::SecretValue {
                    name: obj.name().to_owned(),
                    key: key.clone(),
                    value_encoded: lilt_model::base64::encode(value.as_bytes()),
                    value,
                });
            }
        }
    }
    out
}

/// `port_forwards=`: an int, a `'[host:]local[:container]'` string, a `port_forward()`, or
/// a list of those.
fn parse_port_forwards(value: Value<'_>) -> anyhow::Result<Vec<PortForward>> {
    if value.is_none() {
        return Ok(Vec::new());
    }
    let single = |item: Value<'_>| -> Option<anyhow::Result<PortForward>> {
        if let Some(pf) = item.downcast_ref::<PortForwardValue>() {
            return Some(Ok(pf.0.clone()));
        }
        if let Some(n) = item.unpack_i32() {
            return Some(port_number(i64::from(n)).map(|p| PortForward {
                local_port: p,
                container_port: 0,
                host: String::new(),
                name: String::new(),
                link_path: String::new(),
            }));
        }
        item.unpack_str().map(port_forward_string)
    };
    if let Some(one) = single(value) {
        return one.map(|p| vec![p]);
    }
    let Some(items) = args::sequence(value) else {
        bail!(
            "port_forwards must be an int, a port_forward, or a sequence of those; is a {}",
            value.get_type()
        );
    };
    items
        .into_iter()
        .map(|item| {
            single(item).unwrap_or_else(|| {
                bail!(
                    "port_forwards arg {value} includes element {item} which must be an int or a port_forward; is a {}",
                    item.get_type()
                )
            })
        })
        .collect()
}

fn port_number(n: i64) -> anyhow::Result<u16> {
    u16::try_from(n).map_err(|_| {
        anyhow::anyhow!("portForward port value {n} is not in the valid range [0-65535]")
    })
}

fn port_forward_string(text: &str) -> anyhow::Result<PortForward> {
    let parts: Vec<&str> = text.splitn(3, ':').collect();
    let (host, local) = if parts.len() == 3 {
        if !valid_host(parts[0]) {
            bail!(
                "portForward host value {:?} is not a valid hostname or IP address",
                parts[1]
            );
        }
        (parts[0], parts[1])
    } else {
        ("", parts[0])
    };
    let parse = |s: &str| -> anyhow::Result<u16> {
        s.parse::<u16>().map_err(|_| {
            anyhow::anyhow!("portForward port value {s:?} is not in the valid range [0-65535]")
        })
    };
    let local_port = parse(local)?;
    let container_port = if parts.len() > 1 {
        parse(parts[parts.len() - 1])?
    } else {
        0
    };
    Ok(PortForward {
        local_port,
        container_port,
        host: host.to_owned(),
        name: String::new(),
        link_path: String::new(),
    })
}

fn valid_host(host: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !host.is_empty() && host.split('.').all(label_ok)
}

/// `extra_pod_selectors=`: a dict or a list of dicts of string to string.
fn pod_selectors(value: Value<'_>) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
    if value.is_none() {
        return Ok(Vec::new());
    }
    let one = |v: Value<'_>| -> anyhow::Result<BTreeMap<String, String>> {
        let Some(dict) = DictRef::from_value(v) else {
            bail!("pod labels elements must be dicts; got {}", v.get_type());
        };
        dict.iter()
            .map(|(k, v)| {
                let key = k.unpack_str().with_context(|| {
                    format!(
                        "pod label keys must be strings; got '{k}' of type {}",
                        k.get_type()
                    )
                })?;
                let val = v.unpack_str().with_context(|| {
                    format!(
                        "pod label values must be strings; got '{v}' of type {}",
                        v.get_type()
                    )
                })?;
                Ok((key.to_owned(), val.to_owned()))
            })
            .collect()
    };
    if DictRef::from_value(value).is_some() {
        return Ok(vec![one(value)?]);
    }
    match args::sequence(value) {
        Some(items) => items.into_iter().map(one).collect(),
        None => bail!(
            "pod labels must be a dict or a list; got {}",
            value.get_type()
        ),
    }
}

fn manifest_err(e: lilt_manifest::ManifestError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Builds an image locator and its plain-data twin.
fn locator(
    selector: &ObjectSelector,
    sel: [&str; 4],
    path: &str,
    fields: Option<(String, String)>,
) -> anyhow::Result<(ImageLocator, ImageLocatorSpec)> {
    let json_path = JsonPath::parse(path).map_err(manifest_err)?;
    let mut spec = ImageLocatorSpec {
        api_version: sel[0].to_owned(),
        kind: sel[1].to_owned(),
        name: sel[2].to_owned(),
        namespace: sel[3].to_owned(),
        path: path.to_owned(),
        ..ImageLocatorSpec::default()
    };
    let loc = match fields {
        None => ImageLocator::JsonPath {
            selector: selector.clone(),
            path: json_path,
        },
        Some((repo_field, tag_field)) => {
            spec.repo_field = repo_field.clone();
            spec.tag_field = tag_field.clone();
            ImageLocator::ImageObject {
                selector: selector.clone(),
                path: json_path,
                repo_field,
                tag_field,
            }
        }
    };
    Ok((loc, spec))
}

#[starlark_module]
fn k8s_builtins(builder: &mut GlobalsBuilder) {
    fn k8s_yaml<'v>(
        yaml: Value<'v>,
        #[starlark(default = false)] allow_duplicates: bool,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let (objects, empty) = objects_of(state, yaml)?;
        if objects.is_empty() && empty {
            bail!("Empty YAML passed to k8s_yaml");
        }
        let position = state.call_position(eval);
        let mut decl = state.decl.borrow_mut();
        decl.k8s
            .index
            .register(&objects, &position, allow_duplicates)
            .map_err(manifest_err)?;
        decl.k8s.objects.extend(objects);
        Ok(NoneType)
    }

    fn filter_yaml<'v>(
        yaml: Value<'v>,
        #[starlark(default = NoneType)] labels: Value<'v>,
        #[starlark(default = Str(""))] name: Str<'v>,
        #[starlark(default = Str(""))] namespace: Str<'v>,
        #[starlark(default = Str(""))] kind: Str<'v>,
        #[starlark(default = Str(""))] api_version: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let state = TiltState::get(eval)?;
        let (objects, _) = objects_of(state, yaml)?;
        let filter = YamlFilter {
            labels: args::string_dict(Some(labels), "filter_yaml: labels")?
                .into_iter()
                .collect(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
        };
        let (matching, rest) =
            lilt_manifest::filter_yaml(objects, &filter).map_err(manifest_err)?;
        let heap = eval.heap();
        let blob = |objs: &[K8sObject]| Blob {
            text: lilt_manifest::to_yaml(objs),
        };
        Ok(heap.alloc(AllocTuple([
            heap.alloc(blob(&matching)),
            heap.alloc(blob(&rest)),
        ])))
    }

    fn k8s_resource<'v>(
        #[starlark(default = Str(""))] workload: Str<'v>,
        #[starlark(default = Str(""))] new_name: Str<'v>,
        #[starlark(default = NoneType)] port_forwards: Value<'v>,
        #[starlark(default = NoneType)] extra_pod_selectors: Value<'v>,
        #[starlark(default = NoneType)] trigger_mode: Value<'v>,
        #[starlark(default = NoneType)] resource_deps: Value<'v>,
        #[starlark(default = NoneType)] objects: Value<'v>,
        #[starlark(default = NoneType)] auto_init: Value<'v>,
        #[starlark(default = Str(""))] pod_readiness: Str<'v>,
        #[starlark(default = NoneType)] links: Value<'v>,
        #[starlark(default = NoneType)] labels: Value<'v>,
        #[starlark(default = Str(""))] discovery_strategy: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        if !workload.is_empty() {
            args::resource_name(&workload, "k8s_resource: workload")?;
        }
        if !new_name.is_empty() {
            args::resource_name(&new_name, "k8s_resource: new_name")?;
        }
        let auto_init = match auto_init.is_none() {
            true => None,
            false => Some(auto_init.unpack_bool().with_context(|| {
                format!(
                    "k8s_resource: for parameter \"auto_init\": got {}, want bool",
                    auto_init.get_type()
                )
            })?),
        };
        let pod_readiness = PodReadiness::parse(&pod_readiness)
            .map_err(|e| anyhow::anyhow!("k8s_resource: for parameter \"pod_readiness\": {e}"))?;
        let discovery_strategy = DiscoveryStrategy::parse(&discovery_strategy).map_err(|e| {
            anyhow::anyhow!("k8s_resource: for parameter \"discovery_strategy\": {e}")
        })?;
        let call = K8sResourceCall {
            workload: workload.to_owned(),
            new_name: new_name.to_owned(),
            port_forwards: parse_port_forwards(port_forwards)?,
            extra_pod_selectors: pod_selectors(extra_pod_selectors)?,
            trigger_mode: args::trigger_mode(Some(trigger_mode))?.map(|auto| {
                if auto {
                    TriggerChoice::Auto
                } else {
                    TriggerChoice::Manual
                }
            }),
            resource_deps: args::strict_string_list(
                Some(resource_deps),
                "k8s_resource: resource_deps",
            )?,
            objects: args::string_list(Some(objects), "k8s_resource: objects")?,
            auto_init,
            pod_readiness,
            links: args::links(Some(links))?,
            labels: args::labels(Some(labels))?
                .into_iter()
                .map(|l| (l.clone(), l))
                .collect(),
            discovery_strategy,
            position: state.call_position(eval),
        };
        call.validate().map_err(manifest_err)?;
        state.decl.borrow_mut().k8s.calls.push(call);
        Ok(NoneType)
    }

    fn k8s_kind<'v>(
        #[starlark(require = pos)] kind: Str<'v>,
        #[starlark(require = named, default = NoneType)] image_json_path: Value<'v>,
        #[starlark(require = named, default = Str(""))] api_version: Str<'v>,
        #[starlark(require = named, default = NoneType)] image_object: Value<'v>,
        #[starlark(require = named, default = Str(""))] pod_readiness: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let paths = args::string_list(Some(image_json_path), "k8s_kind: image_json_path")?;
        if !paths.is_empty() && !image_object.is_none() {
            bail!("Cannot specify both image_json_path and image_object");
        }
        let selector =
            ObjectSelector::partial(&api_version, &kind, "", "").map_err(manifest_err)?;
        let sel = [&*api_version, &*kind, "", ""];
        let mut locators = Vec::new();
        for path in &paths {
            locators.push(locator(&selector, sel, path, None)?);
        }
        if !image_object.is_none() {
            let fields = args::string_dict(Some(image_object), "k8s_kind: image_object")?;
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .with_context(|| format!("k8s_kind: image_object is missing {k:?}"))
            };
            locators.push(locator(
                &selector,
                sel,
                &get("json_path")?,
                Some((get("repo_field")?, get("tag_field")?)),
            )?);
        }
        let rule = KindRule {
            selector,
            locators: locators.iter().map(|(l, _)| l.clone()).collect(),
            pod_readiness: PodReadiness::parse(&pod_readiness)
                .map_err(|e| anyhow::anyhow!("k8s_kind: for parameter \"pod_readiness\": {e}"))?,
        };
        state.decl.borrow_mut().k8s.kinds.push((rule, locators));
        Ok(NoneType)
    }

    fn k8s_image_json_path<'v>(
        paths: Value<'v>,
        #[starlark(default = Str(""))] api_version: Str<'v>,
        #[starlark(default = Str(""))] kind: Str<'v>,
        #[starlark(default = Str(""))] name: Str<'v>,
        #[starlark(default = Str(""))] namespace: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        if kind.is_empty() && name.is_empty() && namespace.is_empty() {
            bail!("at least one of kind, name, or namespace must be specified");
        }
        let selector = ObjectSelector::partial(&api_version, &kind, &name, &namespace)
            .map_err(manifest_err)?;
        let sel = [&*api_version, &*kind, &*name, &*namespace];
        let mut locators = Vec::new();
        for path in args::string_list(Some(paths), "k8s_image_json_path: paths")? {
            locators.push(locator(&selector, sel, &path, None)?);
        }
        let rule = KindRule {
            selector,
            locators: locators.iter().map(|(l, _)| l.clone()).collect(),
            pod_readiness: None,
        };
        state.decl.borrow_mut().k8s.kinds.push((rule, locators));
        Ok(NoneType)
    }

    fn k8s_custom_deploy<'v>(
        name: Str<'v>,
        apply_cmd: Value<'v>,
        delete_cmd: Value<'v>,
        deps: Value<'v>,
        #[starlark(default = Str(""))] image_selector: Str<'v>,
        #[starlark(default = NoneType)] live_update: Value<'v>,
        #[starlark(default = NoneType)] apply_dir: Value<'v>,
        #[starlark(default = NoneType)] apply_env: Value<'v>,
        #[starlark(default = NoneType)] apply_cmd_bat: Value<'v>,
        #[starlark(default = NoneType)] delete_dir: Value<'v>,
        #[starlark(default = NoneType)] delete_env: Value<'v>,
        #[starlark(default = NoneType)] delete_cmd_bat: Value<'v>,
        #[starlark(default = Str(""))] container_selector: Str<'v>,
        #[starlark(default = NoneType)] image_deps: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let _ = (apply_cmd_bat, delete_cmd_bat); // Windows only.
        let state = TiltState::get(eval)?;
        args::resource_name(&name, "k8s_custom_deploy")?;
        let dir_of = |v: Value<'_>, what: &str| -> anyhow::Result<std::path::PathBuf> {
            Ok(match args::opt_string(Some(v), what)? {
                Some(d) => state.abs(&d),
                None => state.cwd(),
            })
        };
        let apply = args::command(
            Some(apply_cmd),
            dir_of(apply_dir, "apply_dir")?,
            args::string_dict(Some(apply_env), "apply_env")?,
            "apply_cmd",
        )?;
        if apply.is_empty() {
            bail!("k8s_custom_deploy: apply_cmd cannot be empty");
        }
        let delete = args::command(
            Some(delete_cmd),
            dir_of(delete_dir, "delete_dir")?,
            args::string_dict(Some(delete_env), "delete_env")?,
            "delete_cmd",
        )?;
        if delete.is_empty() {
            bail!("k8s_custom_deploy: delete_cmd cannot be empty");
        }
        let live_update = live_update::from_steps(state, Some(live_update))
            .map_err(|e| anyhow::anyhow!("live_update: {e}"))?;
        if !live_update.is_empty() {
            match (image_selector.is_empty(), container_selector.is_empty()) {
                (true, true) => bail!("k8s_custom_deploy: no Live Update selector specified"),
                (false, false) => {
                    bail!("k8s_custom_deploy: cannot specify more than one Live Update selector")
                }
                _ => {}
            }
            if !image_selector.is_empty() {
                crate::builtins::docker::validate_ref(&image_selector)
                    .map_err(|e| anyhow::anyhow!("can't parse {image_selector:?}: {e}"))?;
            }
        }
        let image_deps = args::string_list(Some(image_deps), "image_deps")?;
        for dep in &image_deps {
            crate::builtins::docker::validate_ref(dep).map_err(|e| {
                anyhow::anyhow!("for parameter image_deps: must be a valid image reference: {e}")
            })?;
        }
        let decl = CustomDeployDecl {
            name: name.to_owned(),
            deploy: K8sCustomDeploy {
                apply_cmd: apply,
                delete_cmd: delete,
                deps: args::path_list(state, Some(deps), "k8s_custom_deploy: deps")?,
                image_selector: image_selector.to_owned(),
                container_selector: container_selector.to_owned(),
                live_update,
            },
            image_deps,
        };
        let mut decls = state.decl.borrow_mut();
        if decls.k8s.custom_deploys.iter().any(|d| d.name == *name) {
            bail!("error making resource for {name}: k8s_resource named {name:?} already exists");
        }
        decls.k8s.custom_deploys.push(decl);
        Ok(NoneType)
    }

    fn workload_to_resource_function<'v>(
        func: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let params = func
            .parameters_spec()
            .map(|spec| spec.len())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "workload_to_resource_function: func must be a function, got {}",
                    func.get_type()
                )
            })?;
        if params != 1 {
            bail!(
                "workload_to_resource_function arg must take 1 argument. {} takes {params}",
                func
            );
        }
        eval.module().set(NAMING_GLOBAL, func);
        let position = state.call_position(eval);
        state.decl.borrow_mut().k8s.naming = Some(NamingDecl {
            file: state.current_file(),
            position,
        });
        Ok(NoneType)
    }

    fn k8s_context<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        Ok(TiltState::get(eval)?.kube.context.clone())
    }

    fn k8s_namespace<'v>(eval: &mut Evaluator<'v, '_, '_>) -> anyhow::Result<String> {
        let state = TiltState::get(eval)?;
        let decl = state.decl.borrow();
        Ok(namespace(state, &decl.settings.update))
    }

    fn allow_k8s_contexts<'v>(
        contexts: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        // Tilt treats None as an empty list: a setting that may be unset is a no-op.
        let items = if contexts.is_none() {
            Vec::new()
        } else {
            args::sequence(contexts).unwrap_or_else(|| vec![contexts])
        };
        let mut names = Vec::new();
        for item in items {
            match crate::values::string_like(item) {
                Some(s) => names.push(s),
                None => bail!(
                    "allow_k8s_contexts contexts must be a string or a sequence of strings; found a {}",
                    item.get_type()
                ),
            }
        }
        state.decl.borrow_mut().k8s.allowed_contexts.extend(names);
        Ok(NoneType)
    }

    fn default_registry<'v>(
        host: Str<'v>,
        #[starlark(default = Str(""))] host_from_cluster: Str<'v>,
        #[starlark(default = Str(""))] single_name: Str<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let state = TiltState::get(eval)?;
        let mut decl = state.decl.borrow_mut();
        if decl.k8s.default_registry.is_some() {
            bail!("default registry already defined");
        }
        let registry = lilt_manifest::Registry {
            host: host.to_owned(),
            host_from_cluster: host_from_cluster.to_owned(),
            single_name: single_name.to_owned(),
        };
        registry.validate().map_err(manifest_err)?;
        decl.k8s.default_registry = Some(DefaultRegistry {
            host: host.to_owned(),
            host_from_cluster: host_from_cluster.to_owned(),
            single_name: single_name.to_owned(),
        });
        Ok(NoneType)
    }
}

/// Whether the kube context may be deployed to: a dev cluster, no context, or allowed.
pub(crate) fn context_allowed(state: &TiltState) -> bool {
    state.kube.is_dev_or_none()
        || state
            .decl
            .borrow()
            .k8s
            .allowed_contexts
            .contains(&state.kube.context)
}

/// Groups the registered objects into resources. Called when the main Tiltfile has run
/// (or exited), while its module is still alive, so the naming function can be called.
pub(crate) fn finish_main<'v>(
    state: &TiltState,
    eval: &mut Evaluator<'v, '_, '_>,
) -> Result<(), starlark::Error> {
    let (objects, kinds, calls, custom_deploys, naming) = {
        let mut decl = state.decl.borrow_mut();
        let k = &mut decl.k8s;
        // Assembly consumes the objects; the Secrets' values are all that is kept.
        k.secrets = secrets_of(&k.objects);
        (
            std::mem::take(&mut k.objects),
            k.kinds.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
            k.calls.clone(),
            k.custom_deploys
                .iter()
                .map(|d| d.name.clone())
                .collect::<Vec<_>>(),
            k.naming.clone(),
        )
    };
    let images = build_images(state).map_err(|e| starlark::Error::new_other(anyhow::anyhow!(e)));
    let images = match images {
        Ok(i) => i,
        Err(e) => {
            state.decl.borrow_mut().k8s.assembly = Some(Err(e.to_string()));
            return Ok(());
        }
    };
    let local_resources: Vec<String> = state
        .decl
        .borrow()
        .local_resources
        .iter()
        .map(|r| r.name.clone())
        .collect();

    // A function registered by a loaded file lives in that file's frozen module: bring
    // it into the main module with a load statement (the load cache makes this free).
    if let Some(n) = naming.as_ref().filter(|n| n.file != state.main_path) {
        let source = format!(
            "load({:?}, {NAMING_GLOBAL:?})\n",
            n.file.display().to_string()
        );
        let ast = starlark::syntax::AstModule::parse(
            "<workload_to_resource_function>",
            source,
            &starlark::syntax::Dialect::Standard,
        )?;
        eval.eval_module(ast, crate::eval::globals())?;
    }
    let func: Option<Value<'v>> = naming
        .as_ref()
        .and_then(|_| eval.module().get(NAMING_GLOBAL));
    let heap = eval.heap();
    let mut call = |id: &ObjectId| -> Result<String, String> {
        let Some(f) = func else {
            return Err("naming function not found".to_owned());
        };
        let arg = heap.alloc(K8sObjectIdValue {
            name: id.name.clone(),
            kind: id.kind.clone(),
            namespace: id.namespace.clone(),
            group: id.group.clone(),
            full: id.to_string(),
        });
        let ret = eval
            .eval_function(f, &[arg], &[])
            .map_err(|e| crate::state::error_message(&e))?;
        match ret.unpack_str() {
            Some(s) => Ok(s.to_owned()),
            None => Err(format!(
                "{}: invalid return value. wanted: string. got: {}",
                f,
                ret.get_type()
            )),
        }
    };
    let naming_fn = naming.as_ref().map(|n| lilt_manifest::NamingFunction {
        position: n.position.clone(),
        func: &mut call,
    });
    let input = lilt_manifest::AssembleInput {
        objects,
        kinds,
        images,
        calls,
        naming: naming_fn,
        custom_deploys,
        local_resources,
        dc_services: state
            .compose
            .borrow()
            .projects
            .iter()
            .flat_map(|p| p.services.iter().map(|s| s.name.clone()))
            .collect(),
    };
    let result = lilt_manifest::assemble(input).map_err(|e| e.to_string());
    state.decl.borrow_mut().k8s.assembly = Some(result);
    Ok(())
}

/// The declared builds as assembly sees them, with Tilt's same-name rule applied.
pub(crate) fn build_images(state: &TiltState) -> Result<Vec<lilt_manifest::BuildImage>, String> {
    let decl = state.decl.borrow();
    let refs = decl
        .images
        .iter()
        .map(|i| lilt_manifest::ImageRef::parse(&i.image_ref).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let selectors = lilt_manifest::RefSelector::for_builds(&refs).map_err(|e| e.to_string())?;
    Ok(selectors
        .into_iter()
        .zip(&decl.images)
        .map(|(selector, image)| lilt_manifest::BuildImage {
            selector,
            match_in_env_vars: image.match_in_env_vars,
        })
        .collect())
}

/// Secrets found in every registered object.
pub(crate) fn secrets(state: &TiltState) -> Vec<lilt_model::SecretValue> {
    state.decl.borrow().k8s.secrets.clone()
}

/// The default namespace: `--namespace` (or `LILT_NAMESPACE`), else
/// `update_settings(k8s_namespace=)`, else the kube context's.
pub(crate) fn namespace(state: &TiltState, settings: &lilt_model::UpdateSettings) -> String {
    match (&state.opts.kube_namespace, &settings.k8s_namespace) {
        (None, Some(ns)) => ns.clone(),
        _ => state.kube.namespace.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forward_strings() {
        let pf = port_forward_string("9000:8000").expect("ok");
        assert_eq!((pf.local_port, pf.container_port), (9000, 8000));
        let pf = port_forward_string("0.0.0.0:9000:8000").expect("ok");
        assert_eq!(pf.host, "0.0.0.0");
        let err = port_forward_string("9000:99999").expect_err("range");
        assert_eq!(
            err.to_string(),
            "portForward port value \"99999\" is not in the valid range [0-65535]"
        );
        let err = port_forward_string("bad host:1:2").expect_err("host");
        assert!(err.to_string().contains("is not a valid hostname"));
    }
}
