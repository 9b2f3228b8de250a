//! `lilt namespaces`: the per-developer namespaces lilt made on a shared cluster — list them,
//! prune the idle ones, or print a CronJob that prunes them from inside the cluster.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use lilt_k8s::namespaces::{LAST_ACTIVE_ANNOTATION, MANAGED_LABEL};
use lilt_k8s::{Cluster, ConnectOptions};

/// What to do.
pub(crate) enum NamespacesCommand {
    List,
    Prune {
        idle: Duration,
        dry_run: bool,
        keep: Vec<String>,
    },
    Cronjob {
        idle: Duration,
        image: String,
        namespace: String,
        schedule: String,
    },
}

pub(crate) fn run(context: Option<String>, command: NamespacesCommand) -> anyhow::Result<u8> {
    if let NamespacesCommand::Cronjob {
        idle,
        image,
        namespace,
        schedule,
    } = &command
    {
        print!("{}", cronjob_yaml(*idle, image, namespace, schedule));
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cluster = Cluster::connect(&ConnectOptions {
            kubeconfig: None,
            context,
            namespace: None,
        })
        .await?;
        let now = SystemTime::now();
        match command {
            NamespacesCommand::List => {
                let namespaces = cluster.lilt_namespaces().await?;
                println!("{:<32} {:<20} {:<10} STATUS", "NAME", "OWNER", "IDLE");
                for ns in namespaces {
                    println!(
                        "{:<32} {:<20} {:<10} {}",
                        ns.name,
                        ns.owner,
                        short_duration(ns.idle(now)),
                        ns.phase
                    );
                }
            }
            NamespacesCommand::Prune {
                idle,
                dry_run,
                mut keep,
            } => {
                // The namespace this kube context works in is never pruned from under it.
                keep.push(cluster.namespace().to_owned());
                let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
                let pruned = cluster.prune_namespaces(idle, &keep, dry_run, now).await?;
                let verb = if dry_run { "would delete" } else { "deleted" };
                for p in &pruned {
                    println!(
                        "{verb} namespace {} (owner {}, idle {})",
                        p.name,
                        p.owner,
                        short_duration(p.idle)
                    );
                }
                if pruned.is_empty() {
                    println!("no namespace idle for longer than {}", short_duration(idle));
                }
            }
            NamespacesCommand::Cronjob { .. } => {}
        }
        Ok(0)
    })
}

/// `3d4h`, `5h12m`, `42m`, `30s`: the two largest units, as `kubectl get` shows ages.
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{mins}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{s}s")
    }
}

/// The objects that run `lilt namespaces prune` inside the cluster on a schedule: a
/// ServiceAccount, the ClusterRole to list and delete namespaces and its binding, and the
/// CronJob.
pub(crate) fn cronjob_yaml(idle: Duration, image: &str, namespace: &str, schedule: &str) -> String {
    let idle = lilt_model::format_go_duration(idle);
    let mut out = String::new();
    let _ = write!(
        out,
        "# Prunes lilt's namespaces idle for longer than {idle} (label {MANAGED_LABEL}=true,
# annotation {LAST_ACTIVE_ANNOTATION}). Apply with: kubectl apply -f -
apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: lilt-namespace-pruner
  namespace: {namespace}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: lilt-namespace-pruner
rules:
- apiGroups: [\"\"]
  resources: [namespaces]
  verbs: [get, list, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: lilt-namespace-pruner
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: lilt-namespace-pruner
subjects:
- kind: ServiceAccount
  name: lilt-namespace-pruner
  namespace: {namespace}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: lilt-namespace-pruner
  namespace: {namespace}
spec:
  schedule: \"{schedule}\"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      backoffLimit: 1
      template:
        spec:
          serviceAccountName: lilt-namespace-pruner
          restartPolicy: Never
          containers:
          - name: prune
            image: {image}
            args: [namespaces, prune, --idle, \"{idle}\", --keep, {namespace}]
"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_kubectl_ages() {
        assert_eq!(short_duration(Duration::from_secs(30)), "30s");
        assert_eq!(short_duration(Duration::from_secs(42 * 60)), "42m");
        assert_eq!(
            short_duration(Duration::from_secs(5 * 3600 + 12 * 60)),
            "5h12m"
        );
        assert_eq!(short_duration(Duration::from_secs(76 * 3600)), "3d4h");
    }

    #[test]
    fn the_cronjob_is_valid_yaml_with_rbac_and_the_prune_command() {
        let text = cronjob_yaml(
            Duration::from_secs(72 * 3600),
            "registry.example/lilt:1",
            "lilt-system",
            "0 * * * *",
        );
        let objects = lilt_manifest::parse_yaml_stream(&text).expect("valid YAML");
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ServiceAccount",
                "ClusterRole",
                "ClusterRoleBinding",
                "CronJob"
            ]
        );
        let cron = objects[4].as_value();
        let container = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "registry.example/lilt:1");
        assert_eq!(
            container["args"],
            serde_json::json!([
                "namespaces",
                "prune",
                "--idle",
                "72h0m0s",
                "--keep",
                "lilt-system"
            ])
        );
        assert_eq!(cron["spec"]["schedule"], "0 * * * *");
    }
}
