//! `govern test`: policy test suites (`*.test.yaml`), their runner, coverage and reports.
//!
//! A suite names a bundle and lists cases; each case is one or more events with expectations
//! on the decision. [`load`] reads a file into [`Suite`] (fixtures merged, matrices expanded,
//! stream timestamps set), [`run`] evaluates every case on the VM and, for bundles compiled
//! from sources, on the reference interpreter too (they must agree), [`coverage`] counts the
//! rules and diagram leaves the cases reach, [`report`] renders the results for people, for
//! machines (JSON) and for CI (JUnit XML), and [`record`] turns a trace into a suite that pins
//! today's decisions. Nothing here prints; the command does. The format is in docs/testing.md.

pub mod coverage;
pub mod lines;
pub mod load;
pub mod record;
pub mod report;
pub mod run;
pub mod spec;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::diag::{Diag, SourceFile};
pub use coverage::Coverage;
use lines::{LineIndex, Seg};
pub use run::{BundleResult, CaseResult, Failure, RunReport, Status, SuiteResult};
pub use spec::CaseKind;
use spec::ExpectOne;

/// Diagnostic codes of this module.
pub mod codes {
    /// A suite that cannot be read.
    pub const IO: &str = "govern::io";
    /// YAML that is not a suite: syntax, unknown or missing fields, wrong types.
    pub const YAML: &str = "govern::suite::yaml";
    /// A suite that is well-formed YAML but cannot be run as written.
    pub const SUITE: &str = "govern::suite";
    /// An expectation that no decision of the bundle could ever meet.
    pub const EXPECT: &str = "govern::suite::expect";
    /// The VM and the reference interpreter disagree: a bug in govern.
    pub const INTERNAL: &str = "govern::internal";
}

/// A suite file, read and expanded.
#[derive(Debug)]
pub struct Suite {
    pub path: PathBuf,
    /// The path as shown in reports.
    pub name: String,
    /// The YAML text, for snippets in diagnostics.
    pub source: SourceFile,
    pub lines: LineIndex,
    pub bundle: BundleSpec,
    /// In file order, matrices expanded.
    pub cases: Vec<Case>,
}

/// What a suite is evaluated with, resolved against the suite's directory.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BundleSpec {
    /// Policy files or directories, compiled for the run.
    Sources(Vec<PathBuf>),
    /// A compiled `.govb`.
    Compiled(PathBuf),
}

impl BundleSpec {
    /// The bundle as shown in reports: its paths, joined by `, `.
    pub fn display(&self) -> String {
        match self {
            BundleSpec::Sources(ps) => ps
                .iter()
                .map(|p| crate::source::display(p))
                .collect::<Vec<_>>()
                .join(", "),
            BundleSpec::Compiled(p) => crate::source::display(p),
        }
    }

    /// The files and directories the bundle is built from.
    pub fn paths(&self) -> Vec<&Path> {
        match self {
            BundleSpec::Sources(ps) => ps.iter().map(PathBuf::as_path).collect(),
            BundleSpec::Compiled(p) => vec![p.as_path()],
        }
    }
}

/// One reported case: a single request, one matrix combination, or a stream.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    /// The line of the case in the suite file.
    pub line: Option<usize>,
    /// The events, in order; state carries over from one to the next.
    pub events: Vec<Ev>,
    /// Why the case cannot run; a case with problems is an error, never a pass.
    pub problems: Vec<Diag>,
    /// `attack` or `benign`, in a red-team corpus.
    pub kind: Option<spec::CaseKind>,
    /// The suite variant this case runs as.
    pub variant: Option<String>,
}

/// One event of a case.
#[derive(Clone, Debug)]
pub struct Ev {
    pub request: Json,
    pub expect: Option<Expect>,
    /// Where the event comes from in a stream.
    pub step: Option<StepRef>,
}

/// An expectation and where it is written.
#[derive(Clone, Debug)]
pub struct Expect {
    pub one: ExpectOne,
    pub path: Vec<Seg>,
}

/// The stream step an event comes from (all 1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRef {
    pub step: usize,
    pub steps: usize,
    pub repeat: usize,
    pub repeats: usize,
    pub line: Option<usize>,
}

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only cases whose name contains this text.
    pub filter: Option<String>,
    /// When set, every suite's bundle must be a `.govb` whose signature verifies against this
    /// trust file; policy sources are refused.
    pub trust: Option<PathBuf>,
    /// With `trust`: the state file of last-seen versions (rollbacks refused).
    pub state: Option<PathBuf>,
}

/// The suite files under `paths`: files as given, directories searched recursively for
/// `*.test.yaml` (skipping hidden directories and `target`). Sorted, without duplicates.
pub fn discover(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diag>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let mut suites = Vec::new();
                let walked =
                    crate::fsutil::walk_sorted(p, &|n| n == "target", &is_suite_name, &mut suites);
                found.extend(suites.iter().map(|s| load::normalize(s)));
                if let Err(e) = walked {
                    errors.push(
                        Diag::error(codes::IO, format!("cannot read directory: {e}"))
                            .in_file(crate::source::display(p), None),
                    );
                }
            }
            Ok(_) => found.push(load::normalize(p)),
            Err(e) => errors.push(
                Diag::error(codes::IO, format!("cannot read: {e}"))
                    .in_file(crate::source::display(p), None),
            ),
        }
    }
    found.sort();
    found.dedup();
    (found, errors)
}

/// Whether a file name is a suite's.
pub fn is_suite_name(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}
