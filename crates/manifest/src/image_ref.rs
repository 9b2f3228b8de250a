//! Docker image references (`foo`, `gcr.io/a/b:tag`, `x@sha256:...`), normalized the way
//! Docker's reference library does it, and Tilt's rules for matching them.

use std::fmt;

use crate::error::{ImageRefError, ManifestError};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

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
        if text.len() == 64 && text.bytes().all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9')) {
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
    let Some(parts) = match_reference(text) else {
        if text.is_empty() {
            return Err(ImageRefError::new(
                input,
                "repository name must have at least one component",
            ));
        }
        if match_reference(&text.to_lowercase()).is_some() {
            return Err(ImageRefError::new(
                input,
                "repository name must be lowercase",
            ));
        }
        return Err(ImageRefError::new(input, "invalid reference format"));
    };
    // Docker's library limits the repository path, not the domain.
    if parts.path.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(ImageRefError::new(
            input,
            format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"),
        ));
    }
    if let Some(d) = parts.digest {
        validate_digest(input, d)?;
    }
    Ok(ImageRef {
        domain: parts.domain.to_owned(),
        path: parts.path.to_owned(),
        tag: parts.tag.map(str::to_owned),
        digest: parts.digest.map(str::to_owned),
    })
}

/// The pieces of a reference that matches the grammar of `github.com/distribution/reference`.
#[derive(Debug, PartialEq)]
struct RefParts<'a> {
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Matches the whole reference grammar (`[domain/]path[:tag][@digest]`) by hand, on
/// bytes: it runs once per image per load, and compiling the equivalent regular expression
/// cost far more than a small Tiltfile's whole evaluation. As with the grammar's regular
/// expression, the first component is the domain when that reading matches, and the
/// whole text is the path otherwise. Classes are ASCII, as in Go's `\w`.
fn match_reference(text: &str) -> Option<RefParts<'_>> {
    if let Some((domain, rest)) = text.split_once('/')
        && is_domain(domain)
        && let Some(parts) = match_remote(rest)
    {
        return Some(RefParts { domain, ..parts });
    }
    match_remote(text)
}

/// `path[:tag][@digest]`, with no domain.
fn match_remote(text: &str) -> Option<RefParts<'_>> {
    let (name, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    let (path, tag) = match name.split_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (name, None),
    };
    let ok = path.split('/').all(is_path_component)
        && tag.is_none_or(is_tag)
        && digest.is_none_or(is_digest);
    ok.then_some(RefParts {
        domain: "",
        path,
        tag,
        digest,
    })
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(text: &str) -> bool {
    let b = text.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host(?::[0-9]+)?` where host is dot-separated labels or a bracketed IPv6 address.
fn is_domain(text: &str) -> bool {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => ("", after.strip_prefix(':')),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let label = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    let host_ok = if text.starts_with('[') {
        port.is_some()
    } else {
        host.split('.').all(label)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// `[\w][\w.-]{0,127}` with ASCII `\w`.
fn is_tag(text: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = text.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
fn is_digest(text: &str) -> bool {
    let Some((algorithm, hex)) = text.split_once(':') else {
        return false;
    };
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    };
    hex.len() >= 32
        && hex.bytes().all(|c| c.is_ascii_hexdigit())
        && algorithm.split(['-', '_', '+', '.']).all(component)
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

    /// The grammar's regular expression, as the reference library writes it: the
    /// hand-written matcher must agree with it, capture for capture.
    fn grammar_regex() -> regex::Regex {
        let alnum = "[a-z0-9]+";
        let separator = "(?:[._]|__|[-]+)";
        let path_component = format!("{alnum}(?:{separator}{alnum})*");
        let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
        let domain = format!("{host}(?::[0-9]+)?");
        let tag = r"[\w][\w.-]{0,127}";
        let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
        let pattern = format!(
            "(?-u)^(?:({domain})/)?({path_component}(?:/{path_component})*)(?::({tag}))?(?:@({digest}))?$"
        );
        regex::Regex::new(&pattern).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn hand_matcher_agrees_with_the_grammar_regex() {
        let re = grammar_regex();
        let hex = "2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9";
        let long_tag = "t".repeat(128);
        let too_long_tag = "t".repeat(129);
        let mut inputs: Vec<String> = [
            "",
            "foo",
            "foo/bar",
            "docker.io/library/foo",
            "localhost/foo",
            "localhost:5000/foo",
            "localhost:/foo",
            "localhost:50a0/foo",
            "gcr.io/a/b:tag",
            "Gcr.IO/a/b",
            "a-b.c-d/x",
            "-a.io/x",
            "a-.io/x",
            "a..io/x",
            "[::1]/x",
            "[::1]:5000/x",
            "[]:5000/x",
            "[::1]x/y",
            "[::g]/x",
            "my_reg.io/foo",
            "a_b/c",
            "a__b",
            "a___b",
            "a--b",
            "a-_b",
            "a._b",
            "a.b",
            "a/",
            "/a",
            "a//b",
            "a:",
            "a:tag",
            "a:.tag",
            "a:_tag",
            "a:t@g",
            "a:tag:more",
            "A/b",
            "a/B",
            "a:ta g",
            "a:tæg",
            "aé/b",
            "foo:v1/x",
            "x/y:z/w",
            "a@",
            "a:b@",
            "docker.io/library/foo:v1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        inputs.extend([
            format!("a:{long_tag}"),
            format!("a:{too_long_tag}"),
            format!("gcr.io/foo@sha256:{hex}"),
            format!("foo:v1@sha256:{hex}"),
            format!("foo@sha256:{}", &hex[..31]),
            format!("foo@sha256:{}", &hex[..32]),
            format!("foo@sha256+b.c_d-e:{hex}"),
            format!("foo@sha256+:{hex}"),
            format!("foo@1sha:{hex}"),
            format!("foo@:{hex}"),
            format!("foo@sha256{hex}"),
            format!("foo@sha256:{hex}@x"),
        ]);
        for input in &inputs {
            let want = re.captures(input).map(|c| RefParts {
                domain: c.get(1).map_or("", |m| m.as_str()),
                path: c.get(2).map_or("", |m| m.as_str()),
                tag: c.get(3).map(|m| m.as_str()),
                digest: c.get(4).map(|m| m.as_str()),
            });
            assert_eq!(match_reference(input), want, "{input:?}");
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
