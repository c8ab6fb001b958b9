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
