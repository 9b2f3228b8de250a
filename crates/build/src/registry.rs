//! Where an image with a given tag already exists (the registry, asked directly when it is
//! on the loopback lilt shares with the daemon, else through the building daemon's
//! distribution endpoint, with the user's credentials; or the daemon itself), and pushing
//! from the building daemon.

use std::time::Duration;

use base64::Engine;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures::StreamExt;
use lilt_manifest::ImageRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Run;
use crate::error::BuildError;
use crate::output::push_digest;

/// The image ID of `reference` in the building daemon, `None` when it has no such image.
pub(crate) async fn daemon_image_id(
    run: &Run<'_>,
    image: &str,
    reference: &str,
) -> Result<Option<String>, BuildError> {
    match run.builder.docker.inspect_image(reference).await {
        Ok(inspect) => Ok(Some(inspect.id.unwrap_or_default())),
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(daemon_error(run, image, e)),
    }
}

/// The manifest digest of `reference` in its registry, `None` when the registry does not
/// have it. A loopback registry the daemon shares is asked directly; otherwise the
/// building daemon asks it, so its view of the registry (insecure registries, DNS,
/// proxies) is the one that also pushes. An answer other than "found" or "not found" is
/// logged and treated as "not found": the build then runs, and a push error, if any, says
/// what is wrong.
pub(crate) async fn registry_digest(
    run: &Run<'_>,
    reference: &ImageRef,
) -> Result<Option<String>, BuildError> {
    let creds = run.credentials(reference.domain()).await?;
    // A registry on this machine's loopback answers a plain HEAD in about a millisecond;
    // the daemon's endpoint takes 5-20. When the daemon shares that loopback (it runs on
    // this machine), the registry lilt reaches is the one the daemon pushes to, so a 200 or
    // a 404 from it is the answer. Only when lilt could not get one (no answer, 401, token
    // auth, another status) is the daemon asked, since its view of the registry (TLS,
    // token auth, insecure-registry settings) is the one that pushes.
    if run.builder.direct_registry_check && shares_loopback(&run.builder.resolved.host) {
        match head_manifest(reference, creds.as_ref()).await {
            Head::Found(digest) => return Ok(Some(digest)),
            Head::Missing => return Ok(None),
            Head::Unknown => {}
        }
    }
    let text = reference.familiar_string();
    match run
        .builder
        .docker
        .inspect_registry_image(&text, creds)
        .await
    {
        Ok(found) => Ok(found.descriptor.digest.filter(|d| !d.is_empty())),
        Err(DockerError::DockerResponseServerError {
            status_code,
            message,
        }) => {
            if status_code != 404
                && !message.contains("manifest unknown")
                && !message.contains("not found")
            {
                run.log(format!(
                    "could not check whether {text} is in the registry ({status_code}: {message}); building it"
                ));
            }
            Ok(None)
        }
        Err(e) => {
            run.log(format!(
                "could not check whether {text} is in the registry ({e}); building it"
            ));
            Ok(None)
        }
    }
}

/// The manifest media types a registry may hold an image as; without the Docker v2 ones,
/// registry 2.x answers with a converted schema-1 manifest and another digest.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// How long the direct registry check may take before the daemon is asked instead.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a registry host is on this machine's loopback (plain HTTP is what Docker uses
/// for those by default, and no TLS client is needed).
fn loopback_port(domain: &str) -> Option<(&str, u16)> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (domain, 80),
    };
    let loopback = host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback.then_some((host, port))
}

/// Whether the daemon at `host` runs on this machine, so that `localhost:5000` or
/// `127.0.0.1:5000` in an image name means the same registry to it and to lilt. A unix
/// socket is local; so is `tcp://` to a loopback address. An `ssh://` daemon, or one at
/// any other address, has a loopback of its own.
fn shares_loopback(host: &str) -> bool {
    if host.starts_with("unix://") {
        return true;
    }
    let Some(rest) = ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| host.strip_prefix(scheme))
    else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let domain = match authority.rsplit_once(':') {
        // `[::1]:2376` and `127.0.0.1:2376` carry a port; `[::1]` alone does not.
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{h}:{port}")
        }
        _ => authority.to_owned(),
    };
    loopback_port(&domain).is_some()
}

/// What a direct manifest HEAD found out.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// 200, with the `Docker-Content-Digest`.
    Found(String),
    /// 404: the registry answered and does not have it.
    Missing,
    /// Not a loopback registry, token auth, no answer, or any other status.
    Unknown,
}

/// `HEAD /v2/NAME/manifests/TAG` on a loopback registry over plain HTTP, with basic auth
/// when there are credentials.
async fn head_manifest(reference: &ImageRef, creds: Option<&DockerCredentials>) -> Head {
    let (Some((host, port)), Some(tag)) = (loopback_port(reference.domain()), reference.tag())
    else {
        return Head::Unknown;
    };
    let mut request = format!(
        "HEAD /v2/{}/manifests/{tag} HTTP/1.1\r\nHost: {}\r\nAccept: {MANIFEST_ACCEPT}\r\nConnection: close\r\n",
        reference.path(),
        reference.domain()
    );
    if let Some(creds) = creds {
        if creds.identitytoken.is_some() || creds.registrytoken.is_some() {
            // Token flows are the daemon's business.
            return Head::Unknown;
        }
        if let (Some(user), Some(password)) = (&creds.username, &creds.password) {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Authorization: Basic {basic}\r\n"));
        }
    }
    request.push_str("\r\n");
    let addr = if host == "localhost" {
        "127.0.0.1"
    } else {
        host.trim_start_matches('[').trim_end_matches(']')
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((addr, port)).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 || head.len() > 64 * 1024 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(head)
    };
    match tokio::time::timeout(HEAD_TIMEOUT, exchange).await {
        Ok(Some(head)) => parse_head_response(&String::from_utf8_lossy(&head)),
        _ => Head::Unknown,
    }
}

/// Reads the status line and digest header of a manifest HEAD response.
fn parse_head_response(text: &str) -> Head {
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    match status {
        "404" => Head::Missing,
        "200" => lines
            .take_while(|l| !l.is_empty())
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("docker-content-digest")
                    .then(|| value.trim().to_owned())
            })
            .filter(|d| d.starts_with("sha256:"))
            .map_or(Head::Unknown, Head::Found),
        _ => Head::Unknown,
    }
}

/// Tags `source` as `target` in the building daemon.
pub(crate) async fn tag(
    run: &Run<'_>,
    image: &str,
    source: &str,
    target: &ImageRef,
) -> Result<(), BuildError> {
    let repo = target.name();
    let tag = target.tag().unwrap_or("latest");
    let options = TagImageOptionsBuilder::default()
        .repo(&repo)
        .tag(tag)
        .build();
    run.builder
        .docker
        .tag_image(source, Some(options))
        .await
        .map_err(|e| daemon_error(run, image, e))
}

/// Pushes `reference` from the building daemon; returns the manifest digest the daemon
/// reported.
pub(crate) async fn push(
    run: &Run<'_>,
    image: &str,
    reference: &ImageRef,
) -> Result<Option<String>, BuildError> {
    let text = reference.familiar_string();
    run.log(format!("pushing {text}"));
    let creds = run.credentials(reference.domain()).await?;
    let tag = reference.tag().unwrap_or("latest");
    let options = PushImageOptionsBuilder::default().tag(tag).build();
    let name = reference.name();
    let mut stream = run.builder.docker.push_image(&name, Some(options), creds);
    let mut digest = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                let Some(status) = info.status else { continue };
                if let Some(found) = push_digest(&status) {
                    digest = Some(found);
                }
                // Byte-level progress is noise in a resource log; keep per-layer results.
                let progress = info
                    .progress_detail
                    .as_ref()
                    .is_some_and(|p| p.current.is_some() || p.total.is_some());
                if progress || matches!(status.as_str(), "Preparing" | "Waiting" | "Pushing") {
                    continue;
                }
                run.log(status);
            }
            Err(e) => {
                let message = match e {
                    DockerError::DockerStreamError { error } => error,
                    other => other.to_string(),
                };
                return Err(BuildError::Push {
                    image: image.to_owned(),
                    reference: text,
                    message,
                });
            }
        }
    }
    Ok(digest)
}

pub(crate) fn daemon_error(run: &Run<'_>, image: &str, e: DockerError) -> BuildError {
    BuildError::Daemon {
        image: image.to_owned(),
        host: run.builder.resolved.host.clone(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_only() {
        assert_eq!(loopback_port("127.0.0.1:5100"), Some(("127.0.0.1", 5100)));
        assert_eq!(loopback_port("localhost:5000"), Some(("localhost", 5000)));
        assert_eq!(loopback_port("localhost"), Some(("localhost", 80)));
        assert_eq!(loopback_port("[::1]:5000"), Some(("[::1]", 5000)));
        assert_eq!(loopback_port("gcr.io"), None);
        assert_eq!(loopback_port("10.0.0.1:5000"), None);
        assert_eq!(loopback_port("registry.local:5000"), None);
    }

    #[test]
    fn daemons_that_share_our_loopback() {
        assert!(shares_loopback("unix:///var/run/docker.sock"));
        assert!(shares_loopback("tcp://127.0.0.2:2376"));
        assert!(shares_loopback("tcp://localhost:2375"));
        assert!(shares_loopback("https://[::1]:2376"));
        assert!(!shares_loopback("tcp://10.0.0.5:2376"));
        assert!(!shares_loopback("tcp://builder.example.com:2376"));
        assert!(!shares_loopback("ssh://dev@127.0.0.1"));
        assert!(!shares_loopback("npipe:////./pipe/docker_engine"));
    }

    #[test]
    fn head_responses() {
        let d = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            parse_head_response(&format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 527\r\ndocker-content-digest: {d}\r\n\r\n"
            )),
            Head::Found(d.clone())
        );
        assert_eq!(
            parse_head_response(&format!(
                "HTTP/1.1 404 Not Found\r\nDocker-Content-Digest: {d}\r\n\r\n"
            )),
            Head::Missing
        );
        assert_eq!(
            parse_head_response("HTTP/1.1 401 Unauthorized\r\n\r\n"),
            Head::Unknown
        );
        assert_eq!(
            parse_head_response("HTTP/1.1 200 OK\r\n\r\n"),
            Head::Unknown
        );
    }
}
