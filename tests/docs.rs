//! docs/FIDELITY.md names the test of every behaviour: each name must exist, so the table
//! cannot point at a test that was renamed or removed.
#![allow(clippy::unwrap_used)] // a panic is a test's failure report

use std::path::Path;

fn all_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.ends_with("target") {
            all_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_test_named_in_fidelity_md_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc = std::fs::read_to_string(root.join("docs/FIDELITY.md")).unwrap();
    let mut sources = String::new();
    all_sources(&root.join("crates"), &mut sources);
    all_sources(&root.join("tests"), &mut sources);
    let mut checked = 0;
    for token in doc.split('`').skip(1).step_by(2) {
        if let Some(name) = token.strip_suffix("()") {
            if name.ends_with("...") || name.ends_with('_') {
                continue; // an abbreviation of a name spelled out elsewhere in the table
            }
            assert!(sources.contains(&format!("fn {name}(")), "FIDELITY.md names `{name}()`, which no test defines");
            checked += 1;
        } else if token.ends_with(".toml") && !token.contains(['/', '*', '<']) && token != "winerror.toml" {
            assert!(
                root.join("fixtures/conformance").join(token).exists(),
                "FIDELITY.md names {token}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} references checked");
}
