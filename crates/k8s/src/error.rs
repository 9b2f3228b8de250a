//! What can go wrong talking to the cluster; each error names the object it concerns.

/// A cluster call that failed.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// The kubeconfig could not be read or used.
    #[error("cannot use the kubeconfig: {message}")]
    Config { message: String },
    /// The API server does not serve this kind (a CRD not installed, a typo).
    #[error("{object}: the cluster has no kind {kind} in {api_version}: {message}")]
    UnknownKind {
        object: String,
        api_version: String,
        kind: String,
        message: String,
    },
    /// The server refused the apply (invalid object, forbidden, admission denial).
    #[error("applying {object}: {message}")]
    Apply { object: String, message: String },
    /// The server refused a delete.
    #[error("deleting {object}: {message}")]
    Delete { object: String, message: String },
    /// A CustomResourceDefinition did not become established in time.
    #[error("CustomResourceDefinition {name} is not established after {secs}s")]
    NotEstablished { name: String, secs: u64 },
    /// The object is not one lilt can send (no name, no kind).
    #[error("{object}: {message}")]
    Invalid { object: String, message: String },
}

/// The server's own message of a kube error: `Status.message` when it answered, else the
/// transport error.
pub(crate) fn server_message(e: &kube::Error) -> String {
    match e {
        // Some servers (and proxies in front of them) send no reason.
        kube::Error::Api(status) if status.reason.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(message: &str, reason: &str) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure(message, reason).boxed())
    }

    #[test]
    fn the_servers_message_carries_its_reason_when_it_gave_one() {
        assert_eq!(
            server_message(&api("pods is forbidden", "Forbidden")),
            "pods is forbidden (Forbidden)"
        );
        // Seen against a real cluster: no reason, and the message used to end in " ()".
        assert_eq!(
            server_message(&api("the server is busy", "")),
            "the server is busy"
        );
    }
}
