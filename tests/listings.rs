//! Golden bytecode listings: the disassembly of each policy in `testdata/listings/`. A change
//! in the compiler's output, the encoding or the digest shows here first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use govern::diag::SourceFile;

#[test]
fn listings() {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::glob!("../testdata/listings", "*.gov", |path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).unwrap();
            let built = govern::pipeline::build_sources(vec![SourceFile::new(name, text)]).unwrap();
            let listing = govern::bytecode::listing::listing(
                &built.program.model,
                &built.program.digest,
                built.bytes.len(),
            );
            // The compiler version is in the listing; keep the snapshot valid across releases.
            let listing = listing.replace(govern::compile::COMPILER_VERSION, "govern <version>");
            insta::assert_snapshot!("listing", listing);
        });
    });
}
