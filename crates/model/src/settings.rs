//! Global settings recorded by `update_settings`, `ci_settings`, `version_settings` and friends.

use std::collections::BTreeMap;
use std::time::Duration;

/// Every global switch a Tiltfile can set. Defaults are Tilt's.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub update: UpdateSettings,
    pub ci: CiSettings,
    pub docker_prune: DockerPruneSettings,
    pub version: VersionSettings,
    /// `analytics_settings(enable=)`: `None` when the Tiltfile did not say.
    pub analytics: Option<bool>,
    pub analytics_tags: BTreeMap<String, String>,
    pub secret_scrub: bool,
    pub team_id: String,
    pub features: FeatureFlags,
    /// `watch_settings(ignore=)` patterns, each with the directory it is relative to.
    pub watch_ignores: Vec<crate::IgnoreSet>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            update: UpdateSettings::default(),
            ci: CiSettings::default(),
            docker_prune: DockerPruneSettings::default(),
            version: VersionSettings {
                check_updates: true,
                constraint: String::new(),
            },
            analytics: None,
            analytics_tags: BTreeMap::new(),
            secret_scrub: true,
            team_id: String::new(),
            features: FeatureFlags::default(),
            watch_ignores: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateSettings {
    pub max_parallel_updates: u32,
    pub k8s_upsert_timeout: Duration,
    /// Image refs whose "not used" warning is silenced; `*` silences all.
    pub suppress_unused_image_warnings: Vec<String>,
    /// `'true'`, `'false'` or `'auto'`.
    pub k8s_server_side_apply: String,
    /// `update_settings(k8s_namespace=)` (lilt's own; Tilt has no such setting): the
    /// developer's namespace, as `--namespace` gives it. The flag and `LILT_NAMESPACE` win.
    pub k8s_namespace: Option<String>,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            max_parallel_updates: 3,
            k8s_upsert_timeout: Duration::from_secs(30),
            suppress_unused_image_warnings: Vec::new(),
            k8s_server_side_apply: "auto".to_owned(),
            k8s_namespace: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiSettings {
    pub k8s_grace_period: Option<Duration>,
    /// `None` means "use the `--timeout` flag".
    pub timeout: Option<Duration>,
    pub readiness_timeout: Duration,
}

impl Default for CiSettings {
    fn default() -> Self {
        CiSettings {
            k8s_grace_period: None,
            timeout: None,
            readiness_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPruneSettings {
    pub enabled: bool,
    pub max_age: Duration,
    pub num_builds: i64,
    pub interval: Duration,
    pub keep_recent: i64,
}

impl Default for DockerPruneSettings {
    fn default() -> Self {
        DockerPruneSettings {
            enabled: true,
            max_age: Duration::from_secs(6 * 3600),
            num_builds: 0,
            interval: Duration::from_secs(3600),
            keep_recent: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSettings {
    pub check_updates: bool,
    pub constraint: String,
}

/// Tilt's feature flags with their defaults (`internal/feature/flags.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureFlags(pub BTreeMap<String, bool>);

impl FeatureFlags {
    /// Flags that still do something. Others are obsolete: setting them only warns.
    pub const ACTIVE: [&'static str; 2] = ["snapshots", "cluster_refresh"];

    pub fn get(&self, name: &str) -> Option<bool> {
        self.0.get(name).copied()
    }
}

impl Default for FeatureFlags {
    fn default() -> Self {
        let flags = [
            ("bulk_disable_resources", false),
            ("cluster_refresh", false),
            ("disable_resources", true),
            ("events", true),
            ("facets", true),
            ("labels", true),
            ("live_update_v2", true),
            ("multiple_containers_per_pod", true),
            ("offline_snapshot_creation", true),
            ("snapshots", true),
            ("update_history", false),
        ];
        FeatureFlags(flags.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}
