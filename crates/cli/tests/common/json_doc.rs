//! `docs/json.md` read as a specification: the fields each `--json` output must have.

use std::collections::BTreeMap;

use serde_json::Value;

/// One documented table: each field and whether it may be absent.
pub type Shape = BTreeMap<String, bool>;

/// The tables of `docs/json.md`, by section title (`Snapshot`, `` `lifeboat show` ``, …), in
/// order within a section.
pub fn documented() -> BTreeMap<String, Vec<Shape>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/json.md")).unwrap();
    let mut sections: BTreeMap<String, Vec<Shape>> = BTreeMap::new();
    let mut section = String::new();
    let mut in_table = false;
    for line in doc.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.to_string();
            in_table = false;
        } else if let Some(row) = line.strip_prefix("| `") {
            let cells: Vec<&str> = row.split(" | ").collect();
            let field = cells[0].trim_end_matches('`').to_string();
            let optional = cells.get(1).is_some_and(|ty| ty.ends_with("or absent"));
            let tables = sections.entry(section.clone()).or_default();
            if !in_table {
                tables.push(Shape::new());
                in_table = true;
            }
            tables.last_mut().unwrap().insert(field, optional);
        } else if !line.starts_with('|') {
            in_table = false;
        }
    }
    sections
}

/// The `index`th table under `section`.
pub fn table(section: &str, index: usize) -> Shape {
    documented()
        .get(section)
        .and_then(|t| t.get(index))
        .cloned()
        .unwrap_or_else(|| panic!("docs/json.md has no table {index} under `{section}`"))
}

/// Asserts that `value` is an object with the fields of `shape`, and no others.
pub fn assert_shape(value: &Value, shape: &Shape, what: &str) {
    let object = value.as_object().unwrap_or_else(|| panic!("{what}: not an object: {value}"));
    for (field, optional) in shape {
        assert!(*optional || object.contains_key(field), "{what}: documented field `{field}` is missing in {value}");
    }
    for field in object.keys() {
        assert!(shape.contains_key(field), "{what}: field `{field}` is not documented in docs/json.md");
    }
}
