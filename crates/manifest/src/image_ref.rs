//! Docker image references (`foo`, `gcr.io/a/b:tag`, `x@sha256:...`), normalized the way
//! Docker's reference library does it, and Tilt's rules for matching them.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::{ImageRefError, ManifestError};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The reference grammar of `github.com/distribution/reference`, anchored, with captures
/// 1 = domain, 2 = path, 3 = tag, 4 = digest.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]+)";
    let path_component = format!("{alnum}(?:{separator}{alnum})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
    let domain = format!("{host}(?::[0-9]+)?");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    let pattern = format!(
        "^(?:({domain})/)?({path_component}(?:/{path_component})*)(?::({tag}))?(?:@({digest}))?$"
    );
    Regex::new(&pattern).unwrap_or_else(|err| unreachable!("static reference grammar: {err}"))
});

static HEX_64: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[a-f0-9]{64}$").unwrap_or_else(|err| unreachable!("static regex: {err}"))
});

/// A parsed, normalized image reference: `docker.io/library/foo:1.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalizes a reference as Docker does (`foo` → `docker.io/library/foo`).
    pub fn parse(text: &str) -> Result<ImageRef, ImageRefError> {
        if HEX_64.is_match(text) {
            return Err(ImageRefError::new(
                text,
                format!(
                    "invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
                ),
            ));
        }
        let (domain, remainder) = split_docker_domain(text);
        let remote = remainder.split(':').next().unwrap_or("");
        if remote.to_lowercase() != remote {
            return Err(ImageRefError::new(
                text,
                format!("invalid reference format: repository name ({remote}) must be lowercase"),
            ));
        }
        parse_strict(text, &format!("{domain}/{remainder}"))
    }

    /// Parses a reference that must already be in canonical form
    /// (`docker.io/library/foo`, not `foo`).
    pub fn parse_canonical(text: &str) -> Result<ImageRef, ImageRefError> {
        let parsed = ImageRef::parse(text)?;
        if parsed.to_string() != text {
            return Err(ImageRefError::new(
                text,
                "repository name must be canonical",
            ));
        }
        Ok(parsed)
    }

    /// The registry host, `docker.io` for Docker Hub.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, `library/foo` for `foo`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name without tag or digest: `docker.io/library/foo`.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The repository name as people write it: `foo`, `bitnami/redis`, `gcr.io/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The reference as people write it: `foo:1.0`, `gcr.io/a/b@sha256:...`.
    pub fn familiar_string(&self) -> String {
        let mut out = self.familiar_name();
        self.push_suffix(&mut out);
        out
    }

    /// The same repository with no tag and no digest.
    pub fn without_tag(&self) -> ImageRef {
        ImageRef {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// The same repository with this tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ImageRefError> {
        ImageRef::parse(&format!("{}:{tag}", self.name()))
            .map_err(|_| ImageRefError::new(tag, "invalid tag format"))
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

impl fmt::Display for ImageRef {
    /// The canonical form: `docker.io/library/foo:1.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<ImageRef, ImageRefError> {
        ImageRef::parse(s)
    }
}

/// Docker's rule for where the registry host ends: the first path component is a host
/// when it has a `.` or `:`, is `localhost`, or has upper-case letters.
fn split_docker_domain(name: &str) -> (&str, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first, rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN, name.to_owned()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

fn parse_strict(input: &str, text: &str) -> Result<ImageRef, ImageRefError> {
    let Some(caps) = REFERENCE.captures(text) else {
        if text.is_empty() {
            return Err(ImageRefError::new(
                input,
                "repository name must have at least one component",
            ));
        }
        if REFERENCE.is_match(&text.to_lowercase()) {
            return Err(ImageRefError::new(
                input,
                "repository name must be lowercase",
            ));
        }
        return Err(ImageRefError::new(input, "invalid reference format"));
    };
    let domain = caps.get(1).map_or("", |m| m.as_str());
    let path = caps.get(2).map_or("", |m| m.as_str());
    // Docker's library limits the repository path, not the domain.
    if path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ImageRefError::new(
            input,
            format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"),
        ));
    }
    let digest = caps.get(4).map(|m| m.as_str().to_owned());
    if let Some(d) = &digest {
        validate_digest(input, d)?;
    }
    Ok(ImageRef {
        domain: domain.to_owned(),
        path: path.to_owned(),
        tag: caps.get(3).map(|m| m.as_str().to_owned()),
        digest,
    })
}

fn validate_digest(input: &str, digest: &str) -> Result<(), ImageRefError> {
    let (algorithm, hex) = digest.split_once(':').unwrap_or((digest, ""));
    let expected = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ImageRefError::new(input, "unsupported digest algorithm")),
    };
    if hex.len() != expected {
        return Err(ImageRefError::new(input, "invalid checksum digest length"));
    }
    if hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageRefError::new(input, "invalid checksum digest format"));
    }
    Ok(())
}

/// Which references a declared image build stands for (Tilt's `container.RefSelector`).
/// A build ref without a tag matches every tag of its repository; with a tag, only that tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefSelector {
    image_ref: ImageRef,
    exact: bool,
}

impl RefSelector {
    /// Exact when the ref has a tag, by repository name otherwise.
    pub fn new(image_ref: ImageRef) -> RefSelector {
        let exact = image_ref.tag().is_some();
        RefSelector { image_ref, exact }
    }

    pub fn parse(text: &str) -> Result<RefSelector, ImageRefError> {
        ImageRef::parse(text).map(RefSelector::new)
    }

    /// Selectors for a list of declared builds, in order, applying Tilt's build-index rule:
    /// builds that share a repository name but differ in tag all switch to exact matching.
    /// Declaring the same ref twice is an error.
    pub fn for_builds(refs: &[ImageRef]) -> Result<Vec<RefSelector>, ManifestError> {
        let mut out: Vec<RefSelector> = Vec::with_capacity(refs.len());
        for image_ref in refs {
            if out.iter().any(|s| s.image_ref == *image_ref) {
                return Err(ManifestError::DuplicateImage {
                    reference: image_ref.familiar_string(),
                });
            }
            let mut selector = RefSelector::new(image_ref.clone());
            let name = image_ref.name();
            let mut shared = false;
            for other in out.iter_mut().filter(|s| s.image_ref.name() == name) {
                other.exact = true;
                shared = true;
            }
            if shared {
                selector.exact = true;
            }
            out.push(selector);
        }
        Ok(out)
    }

    pub fn image_ref(&self) -> &ImageRef {
        &self.image_ref
    }

    pub fn is_exact(&self) -> bool {
        self.exact
    }

    pub fn with_exact_match(mut self) -> RefSelector {
        self.exact = true;
        self
    }

    pub fn with_name_match(mut self) -> RefSelector {
        self.exact = false;
        self
    }

    pub fn matches(&self, candidate: &ImageRef) -> bool {
        if self.exact {
            *candidate == self.image_ref
        } else {
            candidate.domain == self.image_ref.domain && candidate.path == self.image_ref.path
        }
    }
}

impl fmt::Display for RefSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.image_ref.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_domain_split_rules() {
        let cases = [
            ("foo", ("docker.io", "library/foo")),
            ("foo/bar", ("docker.io", "foo/bar")),
            ("index.docker.io/foo", ("docker.io", "library/foo")),
            ("localhost/foo", ("localhost", "foo")),
            ("my.reg/foo", ("my.reg", "foo")),
            ("reg:5000/foo", ("reg:5000", "foo")),
            ("Upper/foo", ("Upper", "foo")),
        ];
        for (input, (domain, rest)) in cases {
            assert_eq!(
                split_docker_domain(input),
                (domain, rest.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn digests_are_validated() {
        let hex = "2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9";
        assert!(validate_digest("x", &format!("sha256:{hex}")).is_ok());
        assert_eq!(
            validate_digest("x", &format!("sha256:{}", &hex[..40])).map_err(|e| e.reason),
            Err("invalid checksum digest length".to_owned())
        );
        assert_eq!(
            validate_digest("x", &format!("md5:{hex}")).map_err(|e| e.reason),
            Err("unsupported digest algorithm".to_owned())
        );
    }
}
