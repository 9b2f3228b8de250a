//! Registry rewriting (`default_registry`, KEP-1755 local registries): which name an image
//! is pushed under and which name the cluster pulls, plus Tilt's content tags.

use crate::error::{ImageRefError, ManifestError};
use crate::image_ref::ImageRef;

/// Tilt's prefix for content-addressed tags (`ImageTagPrefix`).
pub const CONTENT_TAG_PREFIX: &str = "tilt-";

/// Where built images go. An empty `host` means "no rewriting".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registry {
    /// The host (and optional path) images are pushed to, e.g. `localhost:5000`.
    pub host: String,
    /// The same registry as the cluster's container runtime sees it; empty means `host`.
    pub host_from_cluster: String,
    /// Push every image to `host/single_name`, with the image name moved into the tag.
    pub single_name: String,
}

impl Registry {
    pub fn new(host: &str) -> Registry {
        Registry {
            host: host.to_owned(),
            ..Registry::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.host.is_empty()
    }

    /// Checks that the registry can rewrite refs at all (Tilt rejects e.g. a bare `invalid`
    /// host at `default_registry` time).
    pub fn validate(&self) -> Result<(), ManifestError> {
        let probe = ImageRef::parse("gcr.io/foo").map_err(ManifestError::from)?;
        self.local_ref(&probe)?;
        self.cluster_ref(&probe)?;
        Ok(())
    }

    /// The name the image is built and pushed under, without tag.
    pub fn local_ref(&self, configured: &ImageRef) -> Result<ImageRef, ManifestError> {
        replace_registry(&self.host, configured, &self.single_name)
    }

    /// The name the cluster pulls the image by, without tag.
    pub fn cluster_ref(&self, configured: &ImageRef) -> Result<ImageRef, ManifestError> {
        let host = if self.host_from_cluster.is_empty() || self.host.is_empty() {
            &self.host
        } else {
            &self.host_from_cluster
        };
        replace_registry(host, configured, &self.single_name)
    }

    /// The tag to use for a build whose content tag is `suffix`. With `single_name`, the
    /// image's escaped base name is put in front, since all images share one repository.
    pub fn tag_for(&self, configured: &ImageRef, suffix: &str) -> String {
        if self.host.is_empty() || self.single_name.is_empty() {
            return suffix.to_owned();
        }
        let familiar = configured.familiar_name();
        let base = familiar.rsplit('/').next().unwrap_or(&familiar);
        format!("{}-{suffix}", escape_name(base))
    }

    /// Local and cluster refs of a build, tagged with `suffix` (usually a content tag).
    pub fn tagged_refs(
        &self,
        configured: &ImageRef,
        suffix: &str,
    ) -> Result<TaggedRefs, ManifestError> {
        let tag = self.tag_for(configured, suffix);
        let tag_err = |source: ImageRefError| ManifestError::ImageRef { source };
        Ok(TaggedRefs {
            local: self
                .local_ref(configured)?
                .with_tag(&tag)
                .map_err(tag_err)?,
            cluster: self
                .cluster_ref(configured)?
                .with_tag(&tag)
                .map_err(tag_err)?,
        })
    }
}

/// The refs a build is known by after tagging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedRefs {
    /// As seen from the host (for `docker push`).
    pub local: ImageRef,
    /// As seen from the cluster's container runtime (injected into the YAML).
    pub cluster: ImageRef,
}

/// Replaces `/`, `:` and `@` with `_`, so any ref can become one path component.
pub fn escape_name(name: &str) -> String {
    name.chars()
        .map(|c| if matches!(c, '/' | ':' | '@') { '_' } else { c })
        .collect()
}

/// `tilt-<first 16 hex chars>` from an image id such as `sha256:abcdef...`.
pub fn content_tag(image_id: &str) -> String {
    let hex = image_id.split_once(':').map_or(image_id, |(_, h)| h);
    let short: String = hex.chars().take(16).collect();
    format!("{CONTENT_TAG_PREFIX}{short}")
}

fn replace_registry(
    host: &str,
    configured: &ImageRef,
    single_name: &str,
) -> Result<ImageRef, ManifestError> {
    if host.is_empty() {
        return Ok(configured.without_tag());
    }
    let familiar = configured.familiar_name();
    // Users sometimes already write the registry into the YAML (tilt issue #4911).
    if familiar.starts_with(&format!("{host}/")) {
        return Ok(configured.without_tag());
    }
    let rewritten = if single_name.is_empty() {
        format!("{host}/{}", escape_name(&familiar))
    } else {
        format!("{host}/{single_name}")
    };
    ImageRef::parse_canonical(&rewritten).map_err(|source| ManifestError::Registry {
        rewritten: rewritten.clone(),
        host: host.to_owned(),
        source,
    })
}
