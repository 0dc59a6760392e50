//! Loading the bundle a point decides with: read, verify the signature when a trust file is
//! given, verify the bytecode, and say what was loaded.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diag::Diag;
use crate::vm::Program;

/// Where a point's bundle comes from and how it is checked; read again at every reload.
#[derive(Clone, Debug)]
pub struct Source {
    pub bundle: PathBuf,
    /// The signature envelope (`<bundle>.sig.json` when `None`), with `trust`.
    pub signature: Option<PathBuf>,
    /// Refuse any bundle whose signature does not verify against this trust file.
    pub trust: Option<PathBuf>,
    /// With `trust`: the state file of last-seen versions (`--state`): a bundle older than
    /// the last version of its name loaded is refused, a newer one recorded.
    pub state: Option<PathBuf>,
}

impl Source {
    /// The files whose change means the bundle may have changed: the bundle, and with a
    /// trust file the envelope and the trust file.
    pub fn watched(&self) -> Vec<PathBuf> {
        let mut v = vec![self.bundle.clone()];
        if let Some(t) = &self.trust {
            v.push(
                self.signature
                    .clone()
                    .unwrap_or_else(|| crate::sign::default_signature_path(&self.bundle)),
            );
            v.push(t.clone());
        }
        v
    }
}

/// What vouches for a loaded bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// Whether a signature was required and verified (`--trust`).
    pub verified: bool,
    /// The name and version its manifest gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The trusted keys whose signatures counted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// A bundle loaded and verified.
pub struct Loaded {
    pub program: Program,
    pub signature: Signature,
    /// When it was loaded (ns since the epoch).
    pub loaded_at: i64,
    /// The file it was read from, as shown in messages.
    pub file: String,
}

/// Reads and verifies the bundle of `source`: with a trust file, the program is loaded from
/// the very bytes whose signature verified. Errors are the diagnostics to show (file,
/// reason, fix), never a panic.
pub fn load(source: &Source) -> Result<Loaded, Vec<Diag>> {
    let file = crate::source::display(&source.bundle);
    let (program, signature) = match &source.trust {
        Some(_) if is_policy(&source.bundle) => {
            return Err(vec![
                Diag::error(
                    "govern::bundle",
                    format!("`{file}` holds policies, and only a signed bundle can be trusted"),
                )
                .help("build and sign a bundle (`govern build`, `govern sign`) and pass it with `--bundle`"),
            ]);
        }
        Some(trust) => verified(
            &source.bundle,
            source.signature.as_deref(),
            trust,
            source.state.as_deref(),
        )?,
        None if is_policy(&source.bundle) => (
            crate::pipeline::build_paths(std::slice::from_ref(&source.bundle))?.program,
            Signature::default(),
        ),
        None => (
            crate::pipeline::load_bundle(&source.bundle).map_err(|d| vec![d])?,
            Signature::default(),
        ),
    };
    // A decision point decides many events: its walks are combined now, not after its
    // first decisions.
    program.combine_walks();
    Ok(Loaded {
        program,
        signature,
        loaded_at: crate::stream::now_ns(),
        file,
    })
}

/// Whether `path` names policies to compile (a directory, or a `.gov` file) rather than a
/// bundle: a point started with `--policy` compiles them at every load and reload.
pub fn is_policy(path: &Path) -> bool {
    path.is_dir() || path.extension().is_some_and(|e| e == "gov")
}

fn verified(
    bundle: &Path,
    signature: Option<&Path>,
    trust: &Path,
    state: Option<&Path>,
) -> Result<(Program, Signature), Vec<Diag>> {
    let name = crate::source::display(bundle);
    match crate::sign::verify_bundle(bundle, signature, trust, state) {
        Ok(v) => {
            let program =
                crate::pipeline::load_bundle_bytes(&name, &v.bytes).map_err(|d| vec![d])?;
            let manifest = v.report.manifest.as_ref();
            let keys = v
                .report
                .signatures
                .iter()
                .filter(|s| s.status == crate::sign::SigStatus::Valid)
                .map(|s| s.keyid.clone())
                .collect();
            Ok((
                program,
                Signature {
                    verified: true,
                    name: manifest.map(|m| m.name.clone()),
                    version: manifest.map(|m| m.version.clone()),
                    keys,
                },
            ))
        }
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
