//! JSON and YAML: `decode_*`, `encode_*`, and the conversions between Starlark values and
//! `serde_json::Value` that the `read_*` builtins share.

use anyhow::{Context, bail};
use serde_json::Value as Json;
use starlark::environment::GlobalsBuilder;
use starlark::starlark_module;
use starlark::values::dict::DictRef;
use starlark::values::list::AllocList;
use starlark::values::structs::StructRef;
use starlark::values::{Heap, Value, ValueLike};

use crate::builtins::args::sequence;
use crate::values::{Blob, string_like};

pub(crate) fn register(builder: &mut GlobalsBuilder) {
    encoding_builtins(builder);
}

/// A Starlark value for decoded data. Integral numbers stay ints, as in Tilt.
pub(crate) fn json_to_value<'v>(heap: Heap<'v>, json: Json) -> Value<'v> {
    heap.alloc(json)
}

/// Exactly one JSON value.
pub(crate) fn parse_json(text: &str) -> anyhow::Result<Json> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Json>();
    let first = stream.next().context("no JSON value found")??;
    if stream.next().is_some() {
        bail!("found multiple JSON values");
    }
    Ok(first)
}

/// Every non-empty document of a YAML stream.
pub(crate) fn parse_yaml_stream(text: &str) -> anyhow::Result<Vec<Json>> {
    let docs: Vec<Json> = serde_saphyr::from_multiple(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// One YAML document; a stream of several is an error. An empty text decodes to None.
pub(crate) fn parse_yaml_doc(text: &str) -> anyhow::Result<Json> {
    single_yaml_doc(parse_yaml_stream(text)?)
}

/// The only document of a stream, None for an empty one; Tilt's error for several.
fn single_yaml_doc(mut docs: Vec<Json>) -> anyhow::Result<Json> {
    match docs.len() {
        0 => Ok(Json::Null),
        1 => Ok(docs.remove(0)),
        _ => bail!(
            "expected a yaml document but found a yaml stream (documents separated by `---`). use decode_yaml_stream instead to decode a yaml stream"
        ),
    }
}

/// Converts a Starlark value for encoding: dicts with string keys, lists, tuples, strings,
/// numbers, bools, None and blobs (as their text).
pub(crate) fn value_to_json(value: Value<'_>, what: &str) -> anyhow::Result<Json> {
    let mut left = crate::growth::heap_limit();
    value_to_json_at(value, what, 0, &mut left)
}

/// What one converted node is counted as, besides its text.
const NODE_BYTES: u64 = 32;

/// `depth` bounds the recursion: a value built in a loop (`x = [x]`) or a cycle
/// (`x.append(x)`) would otherwise overflow the stack and abort the process. `left` bounds
/// the size of the result: a list that holds one large string many times is small in the
/// Starlark heap but is written out once per copy.
fn value_to_json_at(
    value: Value<'_>,
    what: &str,
    depth: usize,
    left: &mut u64,
) -> anyhow::Result<Json> {
    if depth > crate::nesting::MAX_NESTING {
        bail!(
            "{what}: value nested too deep (more than {} levels), or it contains itself",
            crate::nesting::MAX_NESTING
        );
    }
    let size = NODE_BYTES + value.unpack_str().map_or(0, |s| s.len() as u64);
    match left.checked_sub(size) {
        Some(rest) => *left = rest,
        None => bail!(
            "{what}: the value written out takes more than lilt's memory limit of {} for one \
             file (does a list hold one large value many times?) (set LILT_MAX_HEAP_BYTES to \
             change it)",
            crate::paths::human_bytes(crate::growth::heap_limit())
        ),
    }
    if value.is_none() {
        return Ok(Json::Null);
    }
    if let Some(b) = value.unpack_bool() {
        return Ok(Json::Bool(b));
    }
    if let Some(s) = value.unpack_str() {
        return Ok(Json::String(s.to_owned()));
    }
    if let Some(blob) = value.downcast_ref::<Blob>() {
        return Ok(Json::String(blob.text.clone()));
    }
    if let Some(i) = value.unpack_i32() {
        return Ok(Json::from(i));
    }
    if value.get_type() == "int" || value.get_type() == "float" {
        return value
            .to_json_value()
            .with_context(|| format!("{what}: cannot encode {value}"));
    }
    if let Some(dict) = DictRef::from_value(value) {
        let mut map = serde_json::Map::new();
        for (k, v) in dict.iter() {
            let Some(key) = k.unpack_str() else {
                bail!(
                    "{what}: only string keys are supported in maps, got key of type {}",
                    k.get_type()
                );
            };
            map.insert(key.to_owned(), value_to_json_at(v, what, depth + 1, left)?);
        }
        return Ok(Json::Object(map));
    }
    if let Some(items) = sequence(value) {
        return items
            .into_iter()
            .map(|v| value_to_json_at(v, what, depth + 1, left))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Json::Array);
    }
    if value.get_type() == "struct" {
        // starlark's encoder recurses without bound: measure the depth first.
        if nested_deeper_than(value, crate::nesting::MAX_NESTING - depth) {
            bail!(
                "{what}: value nested too deep (more than {} levels), or it contains itself",
                crate::nesting::MAX_NESTING
            );
        }
        return value
            .to_json_value()
            .with_context(|| format!("{what}: cannot encode {value}"));
    }
    bail!("{what}: unsupported type {}", value.get_type())
}

/// Whether `value` has containers (dicts, lists, tuples, structs) nested more than `levels`
/// deep. Stops as soon as it knows, so a cycle ends too.
fn nested_deeper_than(value: Value<'_>, levels: usize) -> bool {
    let children: Vec<Value<'_>> = if let Some(dict) = DictRef::from_value(value) {
        dict.iter().map(|(_, v)| v).collect()
    } else if let Some(s) = StructRef::from_value(value) {
        s.iter().map(|(_, v)| v).collect()
    } else if value.unpack_str().is_some() {
        return false;
    } else if let Some(items) = sequence(value) {
        items
    } else {
        return false;
    };
    if children.is_empty() {
        return false;
    }
    levels == 0
        || children
            .into_iter()
            .any(|c| nested_deeper_than(c, levels - 1))
}

/// YAML text for one value, in Tilt's style (two-space indent, block lists).
pub(crate) fn to_yaml(json: &Json) -> anyhow::Result<String> {
    lilt_manifest::value_to_yaml(json).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The same data with every map's keys in sorted order, as Go's encoders write maps.
pub(crate) fn sort_keys(json: Json) -> Json {
    match json {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The data as Tilt's YAML encoder sees it: `sigs.k8s.io/yaml` goes through JSON, where
/// an integral float is written as an integer (`1.0` becomes `1`), and reads it back.
fn go_yaml_numbers(json: Json) -> Json {
    match json {
        Json::Number(n) if n.is_f64() => match n.as_f64() {
            // Below 2^63 the integer fits an int64, as yaml.v2 reads it back.
            Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Json::from(f as i64),
            _ => Json::Number(n),
        },
        Json::Array(items) => Json::Array(items.into_iter().map(go_yaml_numbers).collect()),
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| (k, go_yaml_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Go's `json.Encoder` output with `SetIndent("", "  ")`, without the final newline.
fn write_go_json(out: &mut String, json: &Json, depth: usize) {
    let indent = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&go_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Json::String(s) => write_go_string(out, s),
        Json::Array(items) if items.is_empty() => out.push_str("[]"),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_go_json(out, item, depth + 1);
            }
            indent(out, depth);
            out.push(']');
        }
        Json::Object(map) if map.is_empty() => out.push_str("{}"),
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, depth + 1);
                write_go_string(out, k);
                out.push_str(": ");
                write_go_json(out, v, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
    }
}

/// A JSON string as Go escapes it: `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes.
fn write_go_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float as Go's JSON encoder writes it: plain digits between 1e-6 and 1e21, otherwise
/// an exponent (`1e+21`, `1e-7`).
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    let exp = format!("{f:e}");
    match exp.split_once('e') {
        Some((mantissa, e)) if !e.starts_with('-') => format!("{mantissa}e+{e:0>2}"),
        Some((mantissa, e)) => format!("{mantissa}e{e}"),
        None => exp,
    }
}

fn text_arg(value: Value<'_>, what: &str) -> anyhow::Result<String> {
    string_like(value).with_context(|| {
        format!(
            "{what}: expected a string or blob, got {}",
            value.get_type()
        )
    })
}

#[starlark_module]
fn encoding_builtins(builder: &mut GlobalsBuilder) {
    fn decode_json<'v>(json: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let text = text_arg(json, "decode_json")?;
        Ok(json_to_value(
            heap,
            parse_json(&text).context("error parsing JSON")?,
        ))
    }

    /// A string (not a blob, as in Tilt), written as Go's `json.Encoder` with a two-space
    /// indent writes it: sorted keys, HTML characters escaped, a final newline.
    fn encode_json<'v>(obj: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let json = value_to_json(obj, "encode_json")?;
        let mut text = String::new();
        write_go_json(&mut text, &sort_keys(json), 0);
        text.push('\n');
        Ok(heap.alloc(text))
    }

    fn decode_yaml<'v>(yaml: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let text = text_arg(yaml, "decode_yaml")?;
        // Only a parse failure is "error parsing YAML"; a stream keeps Tilt's own message.
        let docs = parse_yaml_stream(&text).context("error parsing YAML")?;
        Ok(json_to_value(heap, single_yaml_doc(docs)?))
    }

    fn decode_yaml_stream<'v>(yaml: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let text = text_arg(yaml, "decode_yaml_stream")?;
        let docs = parse_yaml_stream(&text).context("error parsing YAML stream")?;
        let values: Vec<Value<'v>> = docs.into_iter().map(|d| json_to_value(heap, d)).collect();
        Ok(heap.alloc(AllocList(values)))
    }

    /// Keys come out sorted: Tilt goes through Go maps (`sigs.k8s.io/yaml`).
    fn encode_yaml<'v>(obj: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let json = go_yaml_numbers(sort_keys(value_to_json(obj, "encode_yaml")?));
        Ok(heap.alloc(Blob {
            text: to_yaml(&json)?,
        }))
    }

    fn encode_yaml_stream<'v>(objs: Value<'v>, heap: Heap<'v>) -> anyhow::Result<Value<'v>> {
        let Some(items) = sequence(objs) else {
            bail!(
                "encode_yaml_stream: expected a list, got {}",
                objs.get_type()
            );
        };
        let mut text = String::new();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                text.push_str("---\n");
            }
            let json = go_yaml_numbers(sort_keys(value_to_json(item, "encode_yaml_stream")?));
            text.push_str(&to_yaml(&json)?);
        }
        Ok(heap.alloc(Blob { text }))
    }
}
