//! Rendered diagnostics, one `.gov` per error scenario in `testdata/diagnostics/`. The
//! snapshots are the messages users see: file, line, labelled span, what was expected, help.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::diag::{RenderOptions, SourceFile, render_human};

#[test]
fn every_scenario_is_refused_with_a_clear_message() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("../testdata/diagnostics", "*.gov", |path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let errors = match govern::check::check_sources(vec![SourceFile::new(name.clone(), text)]) {
                Ok(_) => panic!("{name} was accepted"),
                Err(e) => e,
            };
            assert!(!errors.is_empty());
            let mut rendered = String::new();
            for e in &errors {
                rendered.push_str(&render_human(e, RenderOptions { color: false, unicode: true, width: 100 }));
                rendered.push_str("---\n");
                rendered.push_str(&serde_json::to_string(&e.to_json()).unwrap());
                rendered.push_str("\n===\n");
            }
            insta::assert_snapshot!("diag", rendered);
        });
    });
}
