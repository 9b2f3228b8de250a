//! Assembly (tilt-compat.md §2.1): turns every registered object, the `k8s_kind` rules, the
//! declared image builds and the recorded `k8s_resource` calls into named resources.

use std::collections::{BTreeMap, HashMap};

use lilt_model::{Link, PortForward, UNCATEGORIZED_RESOURCE};

use crate::error::ManifestError;
use crate::image_ref::{ImageRef, RefSelector};
use crate::images::find_images;
use crate::object::{K8sObject, ObjectId, sort_for_apply};
use crate::selector::{ImageLocator, KindRule, ObjectSelector, PodReadiness};

/// An image the Tiltfile declared a build for (`docker_build`, `custom_build`).
#[derive(Debug, Clone, PartialEq)]
pub struct BuildImage {
    /// Usually from [`RefSelector::for_builds`], which applies Tilt's same-name rule.
    pub selector: RefSelector,
    pub match_in_env_vars: bool,
}

/// `trigger_mode=` of `k8s_resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerChoice {
    Auto,
    Manual,
}

/// `discovery_strategy=` of `k8s_resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryStrategy {
    /// Owner references plus extra selectors (`'default'`).
    Default,
    /// Only `extra_pod_selectors` (`'selectors-only'`).
    SelectorsOnly,
}

impl DiscoveryStrategy {
    /// Parses Tilt's values; `""` is `None` (unset).
    pub fn parse(text: &str) -> Result<Option<DiscoveryStrategy>, String> {
        match text {
            "" => Ok(None),
            "default" => Ok(Some(DiscoveryStrategy::Default)),
            "selectors-only" => Ok(Some(DiscoveryStrategy::SelectorsOnly)),
            _ => Err("Invalid. Must be one of: \"default\", \"selectors-only\"".to_owned()),
        }
    }
}

/// One `k8s_resource(...)` call, recorded as plain data. Unset options are `None`/empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct K8sResourceCall {
    /// The resource to configure; empty to create a new one from `objects` + `new_name`.
    pub workload: String,
    pub new_name: String,
    pub port_forwards: Vec<PortForward>,
    /// Each map is an AND of labels; the list is an OR.
    pub extra_pod_selectors: Vec<BTreeMap<String, String>>,
    pub trigger_mode: Option<TriggerChoice>,
    pub resource_deps: Vec<String>,
    /// Object fragments `name[:kind[:namespace]]`.
    pub objects: Vec<String>,
    pub auto_init: Option<bool>,
    pub pod_readiness: Option<PodReadiness>,
    pub links: Vec<Link>,
    /// Tilt's label map `{label: label}`.
    pub labels: BTreeMap<String, String>,
    pub discovery_strategy: Option<DiscoveryStrategy>,
    /// Where the call was made (`Tiltfile:12:1`), put in front of some errors; may be empty.
    pub position: String,
}

impl K8sResourceCall {
    /// The checks Tilt makes when `k8s_resource` is called, before assembly.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.workload.is_empty() && self.new_name.is_empty() {
            return Err(ManifestError::MissingResourceName);
        }
        if self.workload.is_empty() && self.objects.is_empty() {
            return Err(ManifestError::NoObjects);
        }
        Ok(())
    }
}

/// `workload_to_resource_function`: maps a workload's id to its resource name.
pub struct NamingFunction<'a> {
    /// Where the function was defined, put in front of its errors; may be empty.
    pub position: String,
    pub func: &'a mut dyn FnMut(&ObjectId) -> Result<String, String>,
}

/// Everything assembly needs. `kinds` are the `k8s_kind`/`k8s_image_json_path` rules; the
/// built-in Job and CronJob rules are always added in front.
#[derive(Default)]
pub struct AssembleInput<'a> {
    /// All objects from all `k8s_yaml` calls, in registration order.
    pub objects: Vec<K8sObject>,
    pub kinds: Vec<KindRule>,
    pub images: Vec<BuildImage>,
    pub calls: Vec<K8sResourceCall>,
    pub naming: Option<NamingFunction<'a>>,
    /// Names of `k8s_custom_deploy` resources, which exist before assembly.
    pub custom_deploys: Vec<String>,
    /// Names taken by `local_resource`s and Docker Compose services (for conflict errors).
    pub local_resources: Vec<String>,
    pub dc_services: Vec<String>,
}

/// One assembled Kubernetes resource.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sResource {
    pub name: String,
    /// Sorted into apply order.
    pub objects: Vec<K8sObject>,
    /// Every distinct image reference found in the objects, in the order found.
    pub image_refs: Vec<ImageRef>,
    /// Indices into [`AssembleInput::images`] of the builds this resource deploys.
    pub image_deps: Vec<usize>,
    /// The custom locators that apply to at least one of the objects (needed to inject).
    pub image_locators: Vec<ImageLocator>,
    pub port_forwards: Vec<PortForward>,
    pub extra_pod_selectors: Vec<BTreeMap<String, String>>,
    /// Inferred when not set explicitly.
    pub pod_readiness: PodReadiness,
    pub discovery_strategy: Option<DiscoveryStrategy>,
    /// `None` means "the Tiltfile's default trigger mode".
    pub trigger_mode: Option<TriggerChoice>,
    pub auto_init: bool,
    pub resource_deps: Vec<String>,
    pub links: Vec<Link>,
    pub labels: BTreeMap<String, String>,
    /// Created by `k8s_resource(new_name=, objects=)` rather than found.
    pub manually_grouped: bool,
    /// Created by `k8s_custom_deploy`; may have no objects.
    pub custom_deploy: bool,
}

/// The result of assembly.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembly {
    /// In creation order: custom deploys, workloads, leftover pod templates, new resources.
    pub resources: Vec<K8sResource>,
    /// The objects no resource took, as the `uncategorized` resource; `None` when empty.
    pub uncategorized: Option<K8sResource>,
}

/// Tilt's default workload names: for each id the first of `name`, `name:kind`,
/// `name:kind:namespace`, `name:kind:namespace:group` that no other id also wants, else
/// the full form with `:<index>`.
pub fn unique_names(ids: &[ObjectId]) -> Vec<String> {
    let candidates: Vec<[String; 4]> = ids.iter().map(ObjectId::candidate_names).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for names in &candidates {
        for name in names {
            *counts.entry(name.as_str()).or_default() += 1;
        }
    }
    candidates
        .iter()
        .enumerate()
        .map(|(idx, names)| {
            names
                .iter()
                .find(|n| counts.get(n.as_str()) == Some(&1))
                .cloned()
                .unwrap_or_else(|| format!("{}:{idx}", names[3]))
        })
        .collect()
}

/// Whether a Service belongs with a workload: its non-empty selector is a subset of one of
/// the workload's pod-template labels, and it has no namespace of its own or the
/// workload's (tilt issue #6311).
pub fn service_matches_workload(service: &K8sObject, workload: &K8sObject) -> bool {
    workload
        .pod_template_labels()
        .iter()
        .any(|labels| service_matches_labels(service, labels, workload.namespace_or_default()))
}

fn service_matches_labels(
    service: &K8sObject,
    labels: &BTreeMap<&str, &str>,
    workload_namespace: &str,
) -> bool {
    let Some(selector) = service.service_selector() else {
        return false;
    };
    selector_in_namespace_matches(
        &selector,
        service.namespace_or_default(),
        labels,
        workload_namespace,
    )
}

fn selector_in_namespace_matches(
    selector: &BTreeMap<&str, &str>,
    service_namespace: &str,
    labels: &BTreeMap<&str, &str>,
    workload_namespace: &str,
) -> bool {
    if selector.is_empty() || !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    service_namespace == crate::object::DEFAULT_NAMESPACE || service_namespace == workload_namespace
}

/// A resource under construction; objects are indices into the input.
struct Draft {
    name: String,
    objects: Vec<usize>,
    image_refs: Vec<ImageRef>,
    port_forwards: Vec<PortForward>,
    extra_pod_selectors: Vec<BTreeMap<String, String>>,
    pod_readiness: Option<PodReadiness>,
    discovery_strategy: Option<DiscoveryStrategy>,
    trigger_mode: Option<TriggerChoice>,
    auto_init: bool,
    resource_deps: Vec<String>,
    links: Vec<Link>,
    labels: BTreeMap<String, String>,
    manually_grouped: bool,
    custom_deploy: bool,
}

impl Draft {
    fn new(name: &str) -> Draft {
        Draft {
            name: name.to_owned(),
            objects: Vec::new(),
            image_refs: Vec::new(),
            port_forwards: Vec::new(),
            extra_pod_selectors: Vec::new(),
            pod_readiness: None,
            discovery_strategy: None,
            trigger_mode: None,
            auto_init: true,
            resource_deps: Vec::new(),
            links: Vec::new(),
            labels: BTreeMap::new(),
            manually_grouped: false,
            custom_deploy: false,
        }
    }
}

struct State<'i> {
    objects: &'i [K8sObject],
    /// Each object's non-empty Service selector, computed once: grouping compares every
    /// workload with every remaining object.
    service_selectors: Vec<Option<BTreeMap<&'i str, &'i str>>>,
    hits: Vec<Vec<ImageRef>>,
    drafts: Vec<Draft>,
    by_name: HashMap<String, usize>,
    unresourced: Vec<usize>,
    local_resources: &'i [String],
    dc_services: &'i [String],
}

impl State<'_> {
    /// The kind of resource already using `name`, if any.
    fn conflict(&self, name: &str) -> Option<&'static str> {
        if self.by_name.contains_key(name) {
            Some("k8s_resource")
        } else if self.local_resources.iter().any(|n| n == name) {
            Some("local_resource")
        } else if self.dc_services.iter().any(|n| n == name) {
            Some("dc_resource")
        } else {
            None
        }
    }

    fn make(&mut self, name: &str) -> Result<usize, ManifestError> {
        if let Some(existing_kind) = self.conflict(name) {
            return Err(ManifestError::ResourceExists {
                name: name.to_owned(),
                existing_kind: existing_kind.to_owned(),
            });
        }
        let idx = self.drafts.len();
        self.drafts.push(Draft::new(name));
        self.by_name.insert(name.to_owned(), idx);
        Ok(idx)
    }

    /// Adds objects to a resource along with the images found in them.
    fn add_with_images(&mut self, draft: usize, objs: &[usize]) {
        for &obj in objs {
            self.drafts[draft].objects.push(obj);
            for image_ref in &self.hits[obj] {
                if !self.drafts[draft].image_refs.contains(image_ref) {
                    self.drafts[draft].image_refs.push(image_ref.clone());
                }
            }
        }
    }

    /// Takes the Services in `candidates` that belong with `workload`, trying its pod
    /// templates in order. Returns (taken, rest).
    fn split_services(&self, workload: usize, candidates: Vec<usize>) -> (Vec<usize>, Vec<usize>) {
        let workload = &self.objects[workload];
        let namespace = workload.namespace_or_default();
        let mut taken = Vec::new();
        let mut rest = candidates;
        for labels in workload.pod_template_labels() {
            let (matched, remaining): (Vec<usize>, Vec<usize>) = rest.into_iter().partition(|&i| {
                self.service_selectors[i].as_ref().is_some_and(|selector| {
                    selector_in_namespace_matches(
                        selector,
                        self.objects[i].namespace_or_default(),
                        &labels,
                        namespace,
                    )
                })
            });
            taken.extend(matched);
            rest = remaining;
        }
        (taken, rest)
    }
}

/// Groups objects into resources (tilt-compat.md §2.1, steps 1 to 9).
pub fn assemble(input: AssembleInput<'_>) -> Result<Assembly, ManifestError> {
    let AssembleInput {
        objects,
        kinds: user_kinds,
        images,
        calls,
        naming,
        custom_deploys,
        local_resources,
        dc_services,
    } = input;
    let mut kinds = KindRule::builtin();
    kinds.extend(user_kinds);
    let locators: Vec<ImageLocator> = kinds.iter().flat_map(|k| k.locators.clone()).collect();
    let env_selectors: Vec<&RefSelector> = images
        .iter()
        .filter(|i| i.match_in_env_vars)
        .map(|i| &i.selector)
        .collect();

    let mut hits = Vec::with_capacity(objects.len());
    for obj in &objects {
        let found = find_images(obj, &locators, &env_selectors)?;
        hits.push(found.into_iter().map(|h| h.image_ref).collect::<Vec<_>>());
    }

    let mut state = State {
        objects: &objects,
        service_selectors: objects
            .iter()
            .map(|o| o.service_selector().filter(|s| !s.is_empty()))
            .collect(),
        hits,
        drafts: Vec::new(),
        by_name: HashMap::new(),
        unresourced: Vec::new(),
        local_resources: &local_resources,
        dc_services: &dc_services,
    };
    for name in &custom_deploys {
        let idx = state.make(name)?;
        state.drafts[idx].custom_deploy = true;
    }

    // Workloads: a kind rule matches, or there is at least one image.
    let mut workloads = Vec::new();
    for (idx, obj) in objects.iter().enumerate() {
        let by_kind = kinds.iter().any(|k| k.selector.matches(obj));
        if by_kind || !state.hits[idx].is_empty() {
            workloads.push(idx);
        } else {
            state.unresourced.push(idx);
        }
    }

    let names = workload_names(&objects, &workloads, naming)?;
    for (&workload, name) in workloads.iter().zip(&names) {
        let draft = state.make(name)?;
        state.add_with_images(draft, &[workload]);
        let candidates = std::mem::take(&mut state.unresourced);
        let (taken, rest) = state.split_services(workload, candidates);
        state.add_with_images(draft, &taken);
        state.unresourced = rest;
    }

    // Leftover objects with pod templates become resources named after themselves.
    let (with_template, mut rest): (Vec<usize>, Vec<usize>) =
        std::mem::take(&mut state.unresourced)
            .into_iter()
            .partition(|&i| objects[i].has_pod_template());
    for obj in with_template {
        let draft = match state.by_name.get(objects[obj].name()) {
            Some(&d) => d,
            None => state.make(objects[obj].name())?,
        };
        state.drafts[draft].objects.push(obj);
        let (taken, remaining) = state.split_services(obj, rest);
        state.drafts[draft].objects.extend(taken);
        rest = remaining;
    }
    state.unresourced = rest;

    apply_calls(&mut state, &calls)?;
    let State {
        drafts,
        unresourced,
        ..
    } = state;

    // Every object is in at most one draft, so each slot is taken once.
    let mut slots: Vec<Option<K8sObject>> = objects.into_iter().map(Some).collect();
    let mut resources = Vec::with_capacity(drafts.len());
    for draft in drafts {
        if draft.objects.is_empty() && !draft.custom_deploy {
            return Err(ManifestError::EmptyResource { name: draft.name });
        }
        resources.push(finish(draft, &mut slots, &kinds, &locators, &images));
    }
    let uncategorized = if unresourced.is_empty() {
        None
    } else {
        let mut draft = Draft::new(UNCATEGORIZED_RESOURCE);
        draft.objects = unresourced;
        draft.pod_readiness = Some(PodReadiness::Ignore);
        Some(finish(draft, &mut slots, &kinds, &locators, &images))
    };
    Ok(Assembly {
        resources,
        uncategorized,
    })
}

fn workload_names(
    objects: &[K8sObject],
    workloads: &[usize],
    naming: Option<NamingFunction<'_>>,
) -> Result<Vec<String>, ManifestError> {
    let ids: Vec<ObjectId> = workloads.iter().map(|&i| objects[i].id()).collect();
    let Some(naming) = naming else {
        return Ok(unique_names(&ids));
    };
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut names = Vec::with_capacity(ids.len());
    for (idx, id) in ids.iter().enumerate() {
        let name = (naming.func)(id).map_err(|message| ManifestError::NamingFunction {
            position: naming.position.clone(),
            object: id.to_string(),
            message,
        })?;
        if let Some(&other) = taken.get(&name) {
            return Err(ManifestError::NameCollision {
                position: naming.position.clone(),
                first: id.to_string(),
                second: ids[other].to_string(),
                name,
            });
        }
        taken.insert(name.clone(), idx);
        names.push(name);
    }
    Ok(names)
}

fn apply_calls(state: &mut State<'_>, calls: &[K8sResourceCall]) -> Result<(), ManifestError> {
    if calls.is_empty() {
        return Ok(());
    }
    // The fragment index covers every object, placed or not, as it stood before the calls.
    let mut order: Vec<usize> = state
        .drafts
        .iter()
        .flat_map(|d| d.objects.iter().copied())
        .collect();
    order.extend(state.unresourced.iter().copied());
    let mut fragments: HashMap<String, Vec<usize>> = HashMap::new();
    for &obj in &order {
        for name in state.objects[obj].id().candidate_names() {
            fragments.entry(name).or_default().push(obj);
        }
    }
    let full_names: Vec<String> = order
        .iter()
        .map(|&i| state.objects[i].selector_name())
        .collect();

    for call in calls {
        call.validate()?;
        let manually_grouped = call.workload.is_empty();
        let target_name = if manually_grouped {
            &call.new_name
        } else {
            &call.workload
        };
        if manually_grouped {
            let idx = state.make(&call.new_name)?;
            state.drafts[idx].manually_grouped = true;
        }
        let Some(&draft_idx) = state.by_name.get(target_name) else {
            return Err(ManifestError::UnknownResource {
                position: call.position.clone(),
                name: target_name.clone(),
                known: state.drafts.iter().map(|d| d.name.clone()).collect(),
            });
        };

        let draft = &mut state.drafts[draft_idx];
        draft
            .extra_pod_selectors
            .extend(call.extra_pod_selectors.iter().cloned());
        if call.pod_readiness.is_some() {
            draft.pod_readiness = call.pod_readiness;
        }
        if call.discovery_strategy.is_some() {
            draft.discovery_strategy = call.discovery_strategy;
        }
        draft
            .port_forwards
            .extend(call.port_forwards.iter().cloned());
        if call.trigger_mode.is_some() {
            draft.trigger_mode = call.trigger_mode;
        }
        if let Some(auto_init) = call.auto_init {
            draft.auto_init = auto_init;
        }
        draft
            .resource_deps
            .extend(call.resource_deps.iter().cloned());
        draft.links.extend(call.links.iter().cloned());
        draft
            .labels
            .extend(call.labels.iter().map(|(k, v)| (k.clone(), v.clone())));

        let current = state.drafts[draft_idx].name.clone();
        if !call.new_name.is_empty() && call.new_name != current {
            if let Some(existing_kind) = state.conflict(&call.new_name) {
                return Err(ManifestError::RenameConflict {
                    position: call.position.clone(),
                    from: current,
                    to: call.new_name.clone(),
                    existing_kind: existing_kind.to_owned(),
                });
            }
            state.by_name.remove(&current);
            state.by_name.insert(call.new_name.clone(), draft_idx);
            state.drafts[draft_idx].name = call.new_name.clone();
        }

        let selectors = call
            .objects
            .iter()
            .map(|o| ObjectSelector::from_fragment(o))
            .collect::<Result<Vec<_>, _>>()?;
        for (fragment, selector) in call.objects.iter().zip(&selectors) {
            let matches = fragments
                .get(&fragment.to_lowercase())
                .map_or(&[][..], Vec::as_slice);
            match matches {
                [] => {
                    return Err(ManifestError::FragmentNotFound {
                        fragment: fragment.clone(),
                        candidates: full_names.clone(),
                    });
                }
                [_] => {}
                many => {
                    return Err(ManifestError::FragmentNotUnique {
                        fragment: fragment.clone(),
                        matches: many
                            .iter()
                            .map(|&i| state.objects[i].selector_name())
                            .collect(),
                    });
                }
            }
            let Some(pos) = state
                .unresourced
                .iter()
                .position(|&i| selector.matches(&state.objects[i]))
            else {
                return Err(ManifestError::FragmentAlreadyTaken {
                    fragment: fragment.clone(),
                    remaining: state
                        .unresourced
                        .iter()
                        .map(|&i| state.objects[i].selector_name())
                        .collect(),
                });
            };
            let obj = state.unresourced.remove(pos);
            state.drafts[draft_idx].objects.push(obj);
        }
    }
    Ok(())
}

fn finish(
    draft: Draft,
    slots: &mut [Option<K8sObject>],
    kinds: &[KindRule],
    locators: &[ImageLocator],
    images: &[BuildImage],
) -> K8sResource {
    let mut image_deps = Vec::new();
    for image_ref in &draft.image_refs {
        if let Some(idx) = images.iter().position(|b| b.selector.matches(image_ref))
            && !image_deps.contains(&idx)
        {
            image_deps.push(idx);
        }
    }
    let mut objs: Vec<K8sObject> = draft
        .objects
        .iter()
        .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
        .collect();

    let pod_readiness = draft.pod_readiness.unwrap_or_else(|| {
        let modes: Vec<PodReadiness> = kinds
            .iter()
            .filter(|k| objs.iter().any(|o| k.selector.matches(o)))
            .filter_map(|k| k.pod_readiness)
            .collect();
        [
            PodReadiness::Wait,
            PodReadiness::Ignore,
            PodReadiness::Succeeded,
        ]
        .into_iter()
        .find(|m| modes.contains(m))
        .unwrap_or(
            if draft.manually_grouped
                && draft.extra_pod_selectors.is_empty()
                && image_deps.is_empty()
            {
                PodReadiness::Ignore
            } else {
                PodReadiness::Wait
            },
        )
    });

    let mut image_locators: Vec<ImageLocator> = Vec::new();
    for locator in locators {
        if objs.iter().any(|o| locator.selector().matches(o)) && !image_locators.contains(locator) {
            image_locators.push(locator.clone());
        }
    }
    sort_for_apply(&mut objs);

    K8sResource {
        name: draft.name,
        objects: objs,
        image_refs: draft.image_refs,
        image_deps,
        image_locators,
        port_forwards: draft.port_forwards,
        extra_pod_selectors: draft.extra_pod_selectors,
        pod_readiness,
        discovery_strategy: draft.discovery_strategy,
        trigger_mode: draft.trigger_mode,
        auto_init: draft.auto_init,
        resource_deps: draft.resource_deps,
        links: draft.links,
        labels: draft.labels,
        manually_grouped: draft.manually_grouped,
        custom_deploy: draft.custom_deploy,
    }
}
