//! Sources → checked bundle → bytes → loaded program, in one call, for every command that
//! compiles policies.

use std::path::PathBuf;

use crate::bytecode;
use crate::bytecode::model::{Pred, Var};
use crate::check::Bundle;
use crate::diag::{Diag, SourceFile};
use crate::vm::Program;

/// A bundle compiled from sources, with everything each stage produced.
pub struct Built {
    pub bundle: Bundle,
    /// The `.govb` bytes.
    pub bytes: Vec<u8>,
    /// The program loaded from those bytes (so it went through the verifier).
    pub program: Program,
}

/// Reads, checks, compiles, encodes and loads the policies under `paths`, with the data files
/// they name.
pub fn build_paths(paths: &[PathBuf]) -> Result<Built, Vec<Diag>> {
    let files = crate::source::load(paths)?;
    build_sources_with(files, &crate::source::DiskData)
}

/// Checks, compiles, encodes and loads in-memory sources (without data files).
pub fn build_sources(files: Vec<SourceFile>) -> Result<Built, Vec<Diag>> {
    build_sources_with(files, &crate::check::data::NoData)
}

/// Checks, compiles, encodes and loads in-memory sources, reading data files from `data`.
pub fn build_sources_with(
    files: Vec<SourceFile>,
    data: &dyn crate::check::data::DataSource,
) -> Result<Built, Vec<Diag>> {
    let bundle = crate::check::check_sources_with(files, data)?;
    let model = crate::compile::compile(&bundle).map_err(|e| vec![e.diag(&bundle)])?;
    let bytes = bytecode::encode(&model);
    let mut program = Program::load(&bytes).map_err(|e| {
        // What the verifier refuses for its cost is refused at the rule responsible.
        if let Err(x) = bytecode::cost::Cost::of(&model).check(bytes.len()) {
            return vec![crate::compile::bounds::exceeded(&bundle, &x)];
        }
        if let Some((var, reason)) = &e.regex
            && let Some(Var::Pred(Pred::Regex { regex, .. })) = model.vars.get(*var as usize)
        {
            return vec![crate::compile::bounds::regex_refused(
                &bundle, regex, reason,
            )];
        }
        vec![
            Diag::error(
                "govern::internal",
                format!("the compiled bundle failed verification: {e}"),
            )
            .help("this is a bug in govern; please report it with the policies that cause it"),
        ]
    })?;
    // The bytes record each file relative to its root; messages (explanations, coverage,
    // listings) name the files as the user did, so that they can be opened.
    program.model.files = bundle.files.iter().map(|f| f.name.clone()).collect();
    Ok(Built {
        bundle,
        bytes,
        program,
    })
}

/// Loads a `.govb` file, refusing anything that does not verify.
pub fn load_bundle(path: &std::path::Path) -> Result<Program, Diag> {
    let name = crate::source::display(path);
    let bytes = crate::limits::read_file(path, crate::limits::BUNDLE).map_err(|e| {
        Diag::error("govern::io", format!("cannot read bundle: {e}")).in_file(&name, None)
    })?;
    load_bundle_bytes(&name, &bytes)
}

/// Loads `.govb` bytes already read (for example the exact bytes a signature check
/// verified), refusing anything that does not verify; `name` is used in the message.
pub fn load_bundle_bytes(name: &str, bytes: &[u8]) -> Result<Program, Diag> {
    Program::load(bytes).map_err(|e| {
        Diag::error("govern::bundle", format!("refused bundle: {e}"))
            .in_file(name, None)
            .help("rebuild it with `govern build`; a bundle that fails verification is never run")
    })
}

/// How a signed bundle is to be checked before it is loaded: the options `--trust`,
/// `--signature` and `--state` of every command that loads bundles.
#[derive(Clone, Copy, Debug)]
pub struct Trusted<'a> {
    /// The trust file.
    pub trust: &'a std::path::Path,
    /// The envelope; `<bundle>.sig.json` when `None`.
    pub signature: Option<&'a std::path::Path>,
    /// The state file of last-seen versions: rollbacks refused, newer versions recorded.
    pub state: Option<&'a std::path::Path>,
}

/// Loads a `.govb` file only if its signature verifies ([`crate::sign::verify_bundle`]:
/// trusted keys, its own name, with a state file no rollback). The program is loaded from the
/// very bytes whose digest was verified. On refusal, one diagnostic per failed check, each
/// saying `refused bundle`.
pub fn load_signed_bundle(bundle: &std::path::Path, t: Trusted<'_>) -> Result<Program, Vec<Diag>> {
    let name = crate::source::display(bundle);
    match crate::sign::verify_bundle(bundle, t.signature, t.trust, t.state) {
        Ok(v) => load_bundle_bytes(&name, &v.bytes).map_err(|d| vec![d]),
        Err(e) => Err(e
            .to_diags()
            .into_iter()
            .map(|mut d| {
                d.message = format!("refused bundle `{name}`: {}", d.message);
                d
            })
            .collect()),
    }
}
