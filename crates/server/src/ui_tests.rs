use super::*;

#[test]
fn the_ui_adds_less_than_300_kb_to_the_binary() {
    let total: usize = ASSETS.iter().map(|asset| asset.body.len()).sum();
    assert!(total < 300 * 1024, "the UI's assets take {total} bytes");
}

#[test]
fn every_module_the_ui_imports_is_served() {
    let names: Vec<&str> = ASSETS.iter().map(|asset| asset.name).collect();
    for asset in ASSETS {
        for line in asset.body.lines() {
            let Some(rest) = line.split(" from \"./").nth(1) else {
                continue;
            };
            let Some(imported) = rest.split('"').next() else {
                continue;
            };
            assert!(
                names.contains(&imported),
                "{} imports {imported}, which is not served",
                asset.name
            );
        }
    }
    let index = ASSETS[0].body;
    for referenced in ["style.css", "app.js"] {
        assert!(index.contains(referenced), "index.html does not load {referenced}");
    }
}

#[test]
fn no_view_writes_markup_from_strings() {
    // User data reaches the page as text only (dom.js's `h`); the CSP would
    // block inline scripts anyway, but markup from strings would still let
    // a tag value inject elements.
    for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!asset.body.contains(forbidden), "{} uses {forbidden}", asset.name);
        }
    }
}

/// `dm-names.js`'s table `name` as (value, name) pairs.
fn js_table(name: &str) -> Vec<(i32, String)> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == "dm-names.js")
        .expect("dm-names.js is served");
    let body = asset
        .body
        .split(&format!("export const {name} = {{"))
        .nth(1)
        .and_then(|rest| rest.split("};").next())
        .expect("the table is in the file");
    body.lines()
        .filter_map(|line| {
            let (value, name) = line.trim().trim_end_matches(',').split_once(": ")?;
            Some((value.parse().ok()?, name.trim_matches('"').to_owned()))
        })
        .collect()
}

#[test]
fn the_ui_names_dm_integers_as_the_rust_tables_do() {
    use tracekeep_proto::dm_names::{BINLOG_EVENT_TYPES, OP_TYPES};
    for (name, table) in [("OP_TYPES", OP_TYPES), ("BINLOG_EVENT_TYPES", BINLOG_EVENT_TYPES)] {
        let expected: Vec<(i32, String)> = table.iter().map(|(value, name)| (*value, (*name).to_owned())).collect();
        assert_eq!(
            js_table(name),
            expected,
            "dm-names.js's {name} differs from tracekeep_proto::dm_names"
        );
    }
}
