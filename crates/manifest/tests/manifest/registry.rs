//! Registry rewriting, ported in spirit from Tilt's `registry_test.go`.

use lilt_manifest::{ImageRef, Registry, content_tag, escape_name};

fn img(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn local(host: &str, name: &str) -> String {
    Registry::new(host)
        .local_ref(&img(name))
        .map(|r| r.to_string())
        .unwrap_or_else(|e| panic!("{host} {name}: {e}"))
}

#[test]
fn rewrites_names_into_the_registry() {
    let cases = [
        ("myreg.com", "gcr.io/foo/bar", "myreg.com/gcr.io_foo_bar"),
        (
            "myreg.com",
            "gcr.io/foo/bar:deadbeef",
            "myreg.com/gcr.io_foo_bar",
        ),
        (
            "aws_account_id.dkr.ecr.region.amazonaws.com/bar",
            "gcr.io/baz/foo/bar",
            "aws_account_id.dkr.ecr.region.amazonaws.com/bar/gcr.io_baz_foo_bar",
        ),
        (
            "gcr.io/foo",
            "docker.io/library/busybox",
            "gcr.io/foo/busybox",
        ),
        ("gcr.io/foo", "bar", "gcr.io/foo/bar"),
        ("myreg.com", "myreg.com/bar", "myreg.com/bar"),
        ("myreg.com:5000", "myreg.com:5000/bar", "myreg.com:5000/bar"),
        (
            "myreg.com:5000",
            "myreg.com/bar",
            "myreg.com:5000/myreg.com_bar",
        ),
        (
            "myreg.com",
            "myreg.com:5000/bar",
            "myreg.com/myreg.com_5000_bar",
        ),
        ("localhost:5000", "gcr.io/a/b", "localhost:5000/gcr.io_a_b"),
    ];
    for (host, name, want) in cases {
        assert_eq!(local(host, name), want, "{name} under {host}");
    }
}

#[test]
fn empty_registry_keeps_the_name_without_tag() {
    assert_eq!(local("", "gcr.io/foo:v1"), "gcr.io/foo");
}

#[test]
fn cluster_host_differs_from_push_host() {
    let cases = [
        (
            "myreg.com",
            "",
            "myreg.com/gcr.io_foo_bar",
            "myreg.com/gcr.io_foo_bar",
        ),
        (
            "myreg.com",
            "myreg.com",
            "myreg.com/gcr.io_foo_bar",
            "myreg.com/gcr.io_foo_bar",
        ),
        (
            "localhost:1234",
            "registry:1234",
            "localhost:1234/gcr.io_foo_bar",
            "registry:1234/gcr.io_foo_bar",
        ),
    ];
    for (host, cluster_host, want_local, want_cluster) in cases {
        let reg = Registry {
            host: host.to_owned(),
            host_from_cluster: cluster_host.to_owned(),
            single_name: String::new(),
        };
        let configured = img("gcr.io/foo/bar");
        assert_eq!(
            reg.local_ref(&configured).map(|r| r.to_string()),
            Ok(want_local.to_owned())
        );
        assert_eq!(
            reg.cluster_ref(&configured).map(|r| r.to_string()),
            Ok(want_cluster.to_owned())
        );
    }
}

#[test]
fn invalid_hosts_are_rejected() {
    let err = Registry::new("invalid")
        .validate()
        .map_err(|e| e.to_string());
    let text = err.err().unwrap_or_default();
    assert!(text.contains("repository name must be canonical"), "{text}");
    assert!(
        text.contains("after applying default registry invalid"),
        "{text}"
    );

    let long = img(&"o".repeat(240));
    let err = Registry::new("gcr.io/somewhat/long/hostname").local_ref(&long);
    assert!(err.is_err_and(|e| e.to_string().contains("after applying default registry")));
}

#[test]
fn single_name_puts_the_image_name_into_the_tag() {
    let reg = Registry {
        host: "registry.example.com".to_owned(),
        host_from_cluster: String::new(),
        single_name: "fake-repo".to_owned(),
    };
    let refs = reg
        .tagged_refs(&img("gcr.io/team/app"), "tilt-0123456789abcdef")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        refs.local.to_string(),
        "registry.example.com/fake-repo:app-tilt-0123456789abcdef"
    );
    assert_eq!(refs.cluster, refs.local);
}

#[test]
fn tagged_refs_without_single_name_use_the_suffix() {
    let reg = Registry {
        host: "localhost:1234".to_owned(),
        host_from_cluster: "registry:1234".to_owned(),
        single_name: String::new(),
    };
    let refs = reg
        .tagged_refs(&img("gcr.io/foo"), "tilt-abc")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refs.local.to_string(), "localhost:1234/gcr.io_foo:tilt-abc");
    assert_eq!(
        refs.cluster.to_string(),
        "registry:1234/gcr.io_foo:tilt-abc"
    );
}

#[test]
fn escaping_and_content_tags() {
    assert_eq!(escape_name("gcr.io/a:b@c"), "gcr.io_a_b_c");
    assert_eq!(
        content_tag("sha256:2baf1f40105d9501fe319a8ec463fdf4325a2a5df445adf3f572f626253678c9"),
        "tilt-2baf1f40105d9501"
    );
}
