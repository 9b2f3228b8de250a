//! Image reference parsing, normalization and Tilt's matching rules.

use lilt_manifest::{ImageRef, ManifestError, RefSelector};

fn check(input: &str, canonical: &str, familiar: &str) {
    let parsed = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(parsed.to_string(), canonical, "canonical form of {input}");
    assert_eq!(
        parsed.familiar_string(),
        familiar,
        "familiar form of {input}"
    );
}

#[test]
fn normalizes_like_docker() {
    check("foo", "docker.io/library/foo", "foo");
    check("foo:1.0", "docker.io/library/foo:1.0", "foo:1.0");
    check("bitnami/redis", "docker.io/bitnami/redis", "bitnami/redis");
    check("index.docker.io/foo", "docker.io/library/foo", "foo");
    check(
        "docker.io/library/foo:v1",
        "docker.io/library/foo:v1",
        "foo:v1",
    );
    check("gcr.io/a/b:tag", "gcr.io/a/b:tag", "gcr.io/a/b:tag");
    check("localhost/foo", "localhost/foo", "localhost/foo");
    check(
        "localhost:5000/foo/bar:x",
        "localhost:5000/foo/bar:x",
        "localhost:5000/foo/bar:x",
    );
    check("foo:5000", "docker.io/library/foo:5000", "foo:5000");
    let digest = "sha256:2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9";
    check(
        &format!("gcr.io/foo@{digest}"),
        &format!("gcr.io/foo@{digest}"),
        &format!("gcr.io/foo@{digest}"),
    );
    check(
        &format!("foo:v1@{digest}"),
        &format!("docker.io/library/foo:v1@{digest}"),
        &format!("foo:v1@{digest}"),
    );
}

#[test]
fn accessors_split_the_reference() {
    let r = ImageRef::parse("localhost:5000/team/app:dev").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.domain(), "localhost:5000");
    assert_eq!(r.path(), "team/app");
    assert_eq!(r.tag(), Some("dev"));
    assert_eq!(r.digest(), None);
    assert_eq!(r.name(), "localhost:5000/team/app");
    assert_eq!(r.without_tag().to_string(), "localhost:5000/team/app");
    assert_eq!(
        r.with_tag("tilt-0123456789abcdef").map(|r| r.to_string()),
        Ok("localhost:5000/team/app:tilt-0123456789abcdef".to_owned())
    );
}

#[test]
fn rejects_bad_references_with_docker_texts() {
    let cases = [
        ("", "invalid reference format"),
        (
            "Foo",
            "invalid reference format: repository name (library/Foo) must be lowercase",
        ),
        ("foo bar", "invalid reference format"),
        ("foo:", "invalid reference format"),
        ("gcr.io/foo@sha256:abc", "invalid reference format"),
        (
            "2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9",
            "invalid repository name (2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9), cannot specify 64-byte hexadecimal strings",
        ),
    ];
    for (input, want) in cases {
        match ImageRef::parse(input) {
            Ok(r) => panic!("{input:?} parsed as {r}"),
            Err(err) => assert_eq!(err.to_string(), want, "error for {input:?}"),
        }
    }
    assert!(ImageRef::parse(&"o".repeat(240)).is_ok());
    let long = "o".repeat(256);
    assert_eq!(
        ImageRef::parse(&format!("gcr.io/{long}")).map_err(|e| e.reason),
        Err("repository name must not be more than 255 characters".to_owned())
    );
}

#[test]
fn canonical_parsing_requires_the_full_form() {
    assert!(ImageRef::parse_canonical("docker.io/library/foo").is_ok());
    assert_eq!(
        ImageRef::parse_canonical("foo").map_err(|e| e.reason),
        Err("repository name must be canonical".to_owned())
    );
}

fn sel(s: &str) -> RefSelector {
    RefSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn img(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn untagged_selector_matches_any_tag_of_the_repository() {
    let s = sel("gcr.io/foo");
    assert!(!s.is_exact());
    assert!(s.matches(&img("gcr.io/foo")));
    assert!(s.matches(&img("gcr.io/foo:v1")));
    assert!(!s.matches(&img("gcr.io/foobar")));
    assert!(!s.matches(&img("docker.io/foo")));
    assert!(sel("foo").matches(&img("docker.io/library/foo:latest")));
}

#[test]
fn tagged_selector_matches_only_that_tag() {
    let s = sel("gcr.io/foo:v1");
    assert!(s.is_exact());
    assert!(s.matches(&img("gcr.io/foo:v1")));
    assert!(!s.matches(&img("gcr.io/foo:v2")));
    assert!(!s.matches(&img("gcr.io/foo")));
}

#[test]
fn builds_sharing_a_name_switch_to_exact_matching() {
    let refs = [
        img("gcr.io/foo"),
        img("gcr.io/foo:stable"),
        img("gcr.io/bar"),
    ];
    let selectors = RefSelector::for_builds(&refs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        selectors
            .iter()
            .map(RefSelector::is_exact)
            .collect::<Vec<_>>(),
        [true, true, false]
    );
    assert!(!selectors[0].matches(&img("gcr.io/foo:v9")));
    assert!(selectors[0].matches(&img("gcr.io/foo")));
    assert!(selectors[1].matches(&img("gcr.io/foo:stable")));
    assert!(selectors[2].matches(&img("gcr.io/bar:v9")));
}

#[test]
fn declaring_the_same_build_twice_is_an_error() {
    let refs = [img("gcr.io/foo"), img("gcr.io/foo")];
    assert_eq!(
        RefSelector::for_builds(&refs).map_err(|e| e.to_string()),
        Err("Image for ref \"gcr.io/foo\" has already been defined".to_owned())
    );
    assert!(matches!(
        RefSelector::for_builds(&refs),
        Err(ManifestError::DuplicateImage { .. })
    ));
}
