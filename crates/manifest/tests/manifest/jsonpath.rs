//! The JSONPath subset used by image locators.

use lilt_manifest::{JsonPath, ManifestError};
use serde_json::{Value, json};

fn find(path: &str, doc: &Value) -> Result<Vec<(String, Value)>, String> {
    let jp = JsonPath::parse(path).map_err(|e| e.to_string())?;
    jp.find(doc)
        .map(|hits| {
            hits.into_iter()
                .map(|(p, v)| (p.to_string(), v.clone()))
                .collect()
        })
        .map_err(|e| e.to_string())
}

fn doc() -> Value {
    json!({
        "spec": {
            "image": "gcr.io/foo",
            "images": ["a", "b", "c"],
            "containers": [
                {"name": "x", "image": "x-img", "env": [{"name": "FETCHER_IMAGE", "value": "f-img"}, {"name": "OTHER", "value": "o"}]},
                {"name": "y", "image": "y-img"}
            ]
        }
    })
}

#[test]
fn fields_indexes_and_wildcards() {
    let d = doc();
    assert_eq!(
        find("{.spec.image}", &d),
        Ok(vec![(".spec.image".into(), json!("gcr.io/foo"))])
    );
    assert_eq!(find(".spec.image", &d), find("{.spec.image}", &d));
    assert_eq!(find("{$.spec.image}", &d), find("{.spec.image}", &d));
    assert_eq!(
        find("{.spec.images[0]}", &d),
        Ok(vec![(".spec.images[0]".into(), json!("a"))])
    );
    assert_eq!(
        find("{.spec.images[-1]}", &d),
        Ok(vec![(".spec.images[2]".into(), json!("c"))])
    );
    assert_eq!(find("{.spec.images[0:2]}", &d).map(|v| v.len()), Ok(2));
    assert_eq!(
        find("{.spec.containers[*].image}", &d),
        Ok(vec![
            (".spec.containers[0].image".into(), json!("x-img")),
            (".spec.containers[1].image".into(), json!("y-img")),
        ])
    );
    assert_eq!(find("{.spec['image']}", &d), find("{.spec.image}", &d));
    assert_eq!(find("{.spec.images.*}", &d).map(|v| v.len()), Ok(3));
}

#[test]
fn recursive_descent_finds_every_image_field() {
    let images: Vec<String> = find("{..image}", &doc())
        .unwrap_or_default()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        images,
        [
            ".spec.image",
            ".spec.containers[0].image",
            ".spec.containers[1].image"
        ]
    );
}

#[test]
fn filters_select_list_items() {
    let d = doc();
    assert_eq!(
        find(
            "{.spec.containers[*].env[?(@.name=='FETCHER_IMAGE')].value}",
            &d
        ),
        Ok(vec![(
            ".spec.containers[0].env[0].value".into(),
            json!("f-img")
        )])
    );
    assert_eq!(
        find("{.spec.containers[?(@.name != \"x\")].image}", &d),
        Ok(vec![(".spec.containers[1].image".into(), json!("y-img"))])
    );
    assert_eq!(
        find("{.spec.containers[?(@.env)].name}", &d),
        Ok(vec![(".spec.containers[0].name".into(), json!("x"))])
    );
}

#[test]
fn missing_fields_are_errors_with_tilts_text() {
    assert_eq!(
        find("{.foobar}", &doc()),
        Err("Matching (json_path=\"{.foobar}\"): foobar is not found".to_owned())
    );
    assert_eq!(
        find("{.spec.images[5]}", &doc()),
        Err("Matching (json_path=\"{.spec.images[5]}\"): array index out of bounds: index 5, length 3".to_owned())
    );
}

#[test]
fn syntax_errors() {
    assert!(matches!(
        JsonPath::parse("{foobar()}"),
        Err(ManifestError::JsonPathSyntax { message, .. }) if message == "unrecognized identifier foobar()"
    ));
    assert!(JsonPath::parse("{.spec[}").is_err());
    assert!(JsonPath::parse("{.spec.image").is_err());
}

#[test]
fn strings_only() {
    let jp = JsonPath::parse("{.spec.images}").unwrap_or_else(|e| panic!("{e}"));
    let d = doc();
    let err = jp.find_strings(&d).map(|_| ()).map_err(|e| e.to_string());
    assert_eq!(
        err,
        Err(
            "May only match strings (json_path=\"{.spec.images}\")\nGot Type: []interface {}"
                .to_owned()
        )
    );
}
