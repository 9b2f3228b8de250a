//! The up-to-date check against a registry on the loopback the daemon shares: a 200 or a
//! 404 from the registry itself is the answer, and the daemon's distribution endpoint is
//! asked only when lilt could not get one (here: a 401). A proxy in front of the test
//! dockerd shows which endpoints were used.

mod common;

use common::*;
use lilt_build::{BuildError, BuildRequest, Builder};
use lilt_model::DefaultRegistry;

fn registry(host: &str) -> DefaultRegistry {
    DefaultRegistry {
        host: host.to_owned(),
        host_from_cluster: String::new(),
        single_name: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_answered_is_not_asked_again_through_the_daemon() {
    let s = svc();
    let proxy = DaemonProxy::start(&s.docker_host);
    let cfg = tempfile::tempdir().unwrap();
    let env = local_env(&s, cfg.path()).with("DOCKER_HOST", &proxy.host);
    let ctx = tempfile::tempdir().unwrap();
    let name = unique("direct");
    write(ctx.path(), "marker.txt", &name);
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {}\nCOPY marker.txt /marker.txt\n", s.base_image),
    );
    let images = [docker_image(&name, ctx.path(), &[])];
    let builder = Builder::from_env(&env).unwrap();
    assert_eq!(builder.host(), proxy.host);

    // A miss (404): built and pushed, and the daemon was never asked about the registry.
    let reg = registry(&s.registry);
    let req = BuildRequest::new(&images).with_registry(Some(&reg));
    let (built, log) = build_ok(&builder, &req).await;
    assert!(!built[0].cached && built[0].pushed, "{}", log.text());
    assert!(proxy.requests_to("/build") >= 1, "the proxy sees the build");
    assert_eq!(proxy.requests_to("/distribution/"), 0);

    // A hit (200): nothing built, nothing asked through the daemon either.
    let (again, log) = build_ok(&builder, &req).await;
    assert!(again[0].cached, "{}", log.text());
    assert_eq!(again[0].digest, built[0].digest);
    assert_eq!(proxy.requests_to("/distribution/"), 0);

    // With the direct request turned off, the daemon is asked.
    let through_daemon = Builder::from_env(&env)
        .unwrap()
        .with_direct_registry_check(false);
    let (again, _) = build_ok(&through_daemon, &req).await;
    assert!(again[0].cached);
    assert_eq!(proxy.requests_to("/distribution/"), 1);

    // A registry that refuses lilt (401, no credentials) is no answer: the daemon is
    // asked, then the push says what is wrong.
    let auth = registry(&s.auth_registry);
    let req = BuildRequest::new(&images).with_registry(Some(&auth));
    let (result, log) = build(&builder, &req).await;
    assert!(
        matches!(&result, Err(BuildError::Push { .. })),
        "{result:?}\n{}",
        log.text()
    );
    assert_eq!(proxy.requests_to("/distribution/"), 2);
}
