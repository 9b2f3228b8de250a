//! `lilt get uiresources [NAME...]`: the resources as a kubectl-style table, as Tilt's
//! UIResource objects (`-o json|yaml`), or names; `-w` keeps printing changes as they stream.

use std::io::Write;
use std::time::SystemTime;

use lilt_server::wire::{API_VERSION, UIRESOURCE_KIND, UiResource};
use serde::Serialize;

use super::view::{self, ViewState};
use super::{Client, ConnectFlags};

/// What to get and how to print it.
#[derive(Debug, Clone, Default)]
pub(crate) struct GetOptions {
    /// `TYPE [NAME...]` or `TYPE/NAME...`.
    pub(crate) args: Vec<String>,
    /// The table when unset.
    pub(crate) output: Option<Format>,
    pub(crate) watch: bool,
}

/// `-o`: how to print the resources (the table when unset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    #[value(skip)]
    Table,
    Wide,
    Json,
    Yaml,
    Name,
}

pub(crate) async fn run(flags: ConnectFlags, opts: GetOptions) -> anyhow::Result<u8> {
    let format = opts.output.unwrap_or(Format::Table);
    let names = view::uiresource_names(&opts.args, "get")?;
    let client = Client::connect(&flags).await?;
    if opts.watch {
        return watch(&client, &names, format).await;
    }
    let state = view::state_of(&client.view(false).await?);
    let (found, missing) = select(&state, &names);
    let mut out = std::io::stdout().lock();
    let single = names.len() == 1;
    print_batch(&mut out, &found, format, single, SystemTime::now(), None)?;
    out.flush()?;
    report_missing(&missing)
}

/// The resources named (all when none are), and the names not found.
fn select<'a>(state: &'a ViewState, names: &[String]) -> (Vec<&'a UiResource>, Vec<String>) {
    if names.is_empty() {
        return (state.resources(), Vec::new());
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match state.resource(name) {
            Some(res) => found.push(res),
            None => missing.push(name.clone()),
        }
    }
    (found, missing)
}

fn report_missing(missing: &[String]) -> anyhow::Result<u8> {
    for name in missing {
        eprintln!("Error from server (NotFound): uiresources.tilt.dev {name:?} not found");
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}

/// Column widths of a table, kept across a watch so later rows line up.
type Widths = Vec<usize>;

/// Prints resources in `format`; a table gets its header unless `widths` carries those of
/// an earlier batch. Returns the widths used.
fn print_batch(
    out: &mut impl Write,
    resources: &[&UiResource],
    format: Format,
    single: bool,
    now: SystemTime,
    widths: Option<&Widths>,
) -> anyhow::Result<Widths> {
    match format {
        Format::Table | Format::Wide => {
            let wide = format == Format::Wide;
            let mut rows: Vec<Vec<String>> = Vec::new();
            if widths.is_none() {
                rows.push(header(wide).iter().map(|s| s.to_string()).collect());
            }
            rows.extend(resources.iter().map(|r| row(r, wide, now)));
            let mut used = widths.cloned().unwrap_or_default();
            for row in &rows {
                used.resize(used.len().max(row.len()), 0);
                for (w, cell) in used.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            for row in &rows {
                writeln!(out, "{}", render_row(row, &used))?;
            }
            Ok(used)
        }
        Format::Name => {
            for res in resources {
                writeln!(out, "uiresource.tilt.dev/{}", res.metadata.name)?;
            }
            Ok(Vec::new())
        }
        Format::Json | Format::Yaml => {
            // A `serde_json::Value` only because the YAML writer takes one; it holds the
            // typed document below, fields in the order the server wrote them.
            let doc = serde_json::to_value(document(resources, single))?;
            if format == Format::Json {
                serde_json::to_writer_pretty(&mut *out, &doc)?;
                writeln!(out)?;
            } else {
                let text = lilt_manifest::value_to_yaml(&doc)?;
                write!(out, "{text}")?;
                if !text.ends_with('\n') {
                    writeln!(out)?;
                }
            }
            Ok(Vec::new())
        }
    }
}

/// A UIResource as an API object, with the `apiVersion` and `kind` the View leaves out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiObject<'a> {
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    object: &'a UiResource,
}

impl<'a> ApiObject<'a> {
    fn of(object: &'a UiResource) -> ApiObject<'a> {
        ApiObject {
            api_version: API_VERSION,
            kind: UIRESOURCE_KIND,
            object,
        }
    }
}

/// kubectl's `List` of objects.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a> {
    api_version: &'static str,
    kind: &'static str,
    items: Vec<ApiObject<'a>>,
    metadata: ListMeta,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    resource_version: &'static str,
}

/// What `-o json|yaml` prints: one object, or a list of them.
#[derive(Serialize)]
#[serde(untagged)]
enum Document<'a> {
    One(ApiObject<'a>),
    List(List<'a>),
}

/// One object when exactly one name was asked for and found, else a `List`, as kubectl does.
fn document<'a>(resources: &[&'a UiResource], single: bool) -> Document<'a> {
    if single && resources.len() == 1 {
        return Document::One(ApiObject::of(resources[0]));
    }
    Document::List(List {
        api_version: "v1",
        kind: "List",
        items: resources.iter().map(|r| ApiObject::of(r)).collect(),
        metadata: ListMeta {
            resource_version: "",
        },
    })
}

fn header(wide: bool) -> Vec<&'static str> {
    let mut h = vec![
        "NAME",
        "READY",
        "UPDATE STATUS",
        "RUNTIME STATUS",
        "LAST DEPLOY",
    ];
    if wide {
        h.extend(["TYPE", "TRIGGER MODE", "LABELS", "ENDPOINTS", "WAITING"]);
    }
    h
}

fn row(res: &UiResource, wide: bool, now: SystemTime) -> Vec<String> {
    let ready = if view::is_disabled(res) {
        "Disabled"
    } else if view::is_ready(res) {
        "True"
    } else {
        "False"
    };
    let mut cells = vec![
        res.metadata.name.clone(),
        ready.to_owned(),
        res.status.update_status.as_str().to_owned(),
        res.status.runtime_status.as_str().to_owned(),
        super::time::age_of(res.status.last_deploy_time.as_deref(), now),
    ];
    if wide {
        let labels = view::labels(res);
        let endpoints: Vec<&str> = res
            .status
            .endpoint_links
            .iter()
            .map(|l| l.url.as_str())
            .collect();
        cells.extend([
            view::resource_type(res).to_owned(),
            view::trigger_mode(res).to_owned(),
            none_if_empty(labels.join(",")),
            none_if_empty(endpoints.join(",")),
            view::hold_reason(res).unwrap_or_else(|| "<none>".to_owned()),
        ]);
    }
    cells
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "<none>".to_owned() } else { s }
}

/// Cells padded to the widths and separated by three spaces, as kubectl's tabwriter does.
fn render_row(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        line.push_str(cell);
        if i + 1 < cells.len() {
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            line.push_str(&" ".repeat(pad + 3));
        }
    }
    line
}

/// Prints the current resources, then each changed one as the stream reports it, until lilt
/// stops.
async fn watch(client: &Client, names: &[String], format: Format) -> anyhow::Result<u8> {
    let mut stream = client.watch().await?;
    let mut state = ViewState::default();
    let mut widths: Option<Widths> = None;
    let wanted = |name: &str| names.is_empty() || names.iter().any(|n| n == name);
    while let Some(msg) = stream.next().await? {
        let first = widths.is_none();
        let changed = state.apply(&msg);
        let batch: Vec<&UiResource> = if first {
            let (found, _) = select(&state, names);
            found
        } else {
            changed
                .iter()
                .filter(|name| wanted(name))
                .filter_map(|name| state.resource(name))
                .collect()
        };
        if batch.is_empty() && !first {
            continue;
        }
        let mut out = std::io::stdout().lock();
        // In a watch every object is printed alone, as kubectl does.
        if matches!(format, Format::Json | Format::Yaml) {
            for res in &batch {
                if format == Format::Yaml && !first {
                    writeln!(out, "---")?;
                }
                print_batch(&mut out, &[res], format, true, SystemTime::now(), None)?;
            }
            widths = Some(Vec::new());
        } else {
            let used = print_batch(
                &mut out,
                &batch,
                format,
                false,
                SystemTime::now(),
                widths.as_ref().filter(|_| !first),
            )?;
            widths = Some(used);
        }
        out.flush()?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;

    fn sample() -> ViewState {
        view::state_of(&serde_json::from_value(json!({
            "isComplete": true,
            "uiResources": [
                {"metadata": {"name": "(Tiltfile)"}, "status": {"order": 1, "updateStatus": "ok", "runtimeStatus": "not_applicable", "lastDeployTime": "2026-11-26T07:00:00Z", "disableStatus": {"state": "Enabled"}}},
                {"metadata": {"name": "api", "labels": {"backend": "backend"}}, "status": {"order": 2, "updateStatus": "not_applicable", "runtimeStatus": "ok", "lastDeployTime": "2026-11-26T07:00:30Z", "triggerMode": 0, "specs": [{"type": "local"}], "endpointLinks": [{"url": "http://localhost:8000", "name": ""}], "disableStatus": {"state": "Enabled"}}},
                {"metadata": {"name": "job"}, "status": {"order": 3, "updateStatus": "none", "runtimeStatus": "none", "triggerMode": 2, "disableStatus": {"state": "Disabled"},
                  "waiting": {"reason": "waiting-for-dependencies", "on": [{"kind": "UIResource", "name": "api"}]}}},
            ],
        })).unwrap())
    }

    fn now() -> SystemTime {
        super::super::time::parse_rfc3339("2026-11-26T07:01:00Z").unwrap() + Duration::ZERO
    }

    fn render(format: Format, names: &[&str]) -> String {
        let state = sample();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let (found, _) = select(&state, &names);
        let mut out = Vec::new();
        print_batch(&mut out, &found, format, names.len() == 1, now(), None).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_like_kubectl() {
        assert_eq!(
            render(Format::Table, &[]),
            "NAME         READY      UPDATE STATUS    RUNTIME STATUS   LAST DEPLOY\n\
             (Tiltfile)   True       ok               not_applicable   1m\n\
             api          True       not_applicable   ok               30s\n\
             job          Disabled   none             none             <none>\n"
        );
        let wide = render(Format::Wide, &["api", "job"]);
        assert!(wide.contains("TYPE      TRIGGER MODE"), "{wide}");
        assert!(wide.contains("Local     auto"), "{wide}");
        assert!(wide.contains("http://localhost:8000"), "{wide}");
        assert!(
            wide.contains("waiting-for-dependencies (UIResource/api)"),
            "{wide}"
        );
    }

    #[test]
    fn objects_print_as_the_server_wrote_them() {
        let state = sample();
        // The resource as the server writes it (the same type serializes on both sides).
        let server_text = serde_json::to_string(state.resource("api").unwrap()).unwrap();
        // kubectl's object: `apiVersion` and `kind`, then the server's fields in its order.
        let mut expected = serde_json::Map::new();
        expected.insert("apiVersion".into(), "tilt.dev/v1alpha1".into());
        expected.insert("kind".into(), "UIResource".into());
        let Value::Object(fields) = serde_json::from_str(&server_text).unwrap() else {
            panic!("an object: {server_text}");
        };
        expected.extend(fields);
        let expected = Value::Object(expected);
        assert_eq!(
            render(Format::Json, &["api"]),
            serde_json::to_string_pretty(&expected).unwrap() + "\n"
        );
        let yaml = lilt_manifest::value_to_yaml(&expected).unwrap();
        assert_eq!(render(Format::Yaml, &["api"]), yaml);
    }

    #[test]
    fn objects_and_lists() {
        let one: Value = serde_json::from_str(&render(Format::Json, &["api"])).unwrap();
        assert_eq!(one["kind"], "UIResource");
        assert_eq!(one["apiVersion"], "tilt.dev/v1alpha1");
        assert_eq!(one["metadata"]["name"], "api");
        let list: Value = serde_json::from_str(&render(Format::Json, &[])).unwrap();
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"].as_array().unwrap().len(), 3);
        let yaml = render(Format::Yaml, &["api"]);
        assert!(yaml.contains("kind: UIResource"), "{yaml}");
        assert!(yaml.contains("triggerMode: 0"), "{yaml}");
        assert_eq!(
            render(Format::Name, &["api", "job"]),
            "uiresource.tilt.dev/api\nuiresource.tilt.dev/job\n"
        );
    }
}
