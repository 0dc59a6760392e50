//! `govern chaos-run`: mutate recorded events the way an attacker (or an agent steered by
//! injected text) would spell them again, decide every mutant, and report each invariant the
//! policy breaks with the smallest example found.
//!
//! - [`spec`] reads experiments (`*.chaos.yaml`) and their seed events;
//! - [`mutate`] holds the fault families and how each mutates an event;
//! - [`run`] makes, decides, checks and shrinks mutants, in parallel and deterministically;
//! - `restart` is the restart engine fault as a point with an audit log restarts (its state
//!   restored from the log);
//! - [`report`] writes the result as text, JSON or JUnit, with the SLOs checked.
//!
//! Streams are decided with [`crate::stream`] (the engine every stream-deciding command
//! shares), engine faults go through [`crate::pipeline`]'s loader and [`crate::point`], the
//! decision point of the run-time commands.

pub mod mutate;
pub mod report;
mod restart;
pub mod run;
pub mod spec;

use crate::diag::{Diag, SourceFile};
use spec::{Experiment, Invariant, PolicySpec};

/// Builds or loads what the experiment decides with, and compiles its user invariants.
pub fn load_target(exp: &Experiment) -> Result<run::Target, Vec<Diag>> {
    let (program, bytes) = match &exp.policy {
        PolicySpec::Sources(paths) => {
            let built = crate::pipeline::build_paths(paths)?;
            (built.program, built.bytes)
        }
        PolicySpec::Bundle { path, trust } => {
            let name = crate::source::display(path);
            let bytes = crate::limits::read_file(path, crate::limits::BUNDLE).map_err(|e| {
                vec![
                    Diag::error("govern::io", format!("cannot read bundle: {e}"))
                        .in_file(&name, None),
                ]
            })?;
            let program = match trust {
                Some(t) => crate::pipeline::load_signed_bundle(
                    path,
                    crate::pipeline::Trusted {
                        trust: t,
                        signature: None,
                        state: None,
                    },
                )?,
                None => crate::pipeline::load_bundle_bytes(&name, &bytes).map_err(|d| vec![d])?,
            };
            (program, bytes)
        }
    };
    let user = user_invariants(exp)?;
    Ok(run::Target {
        program,
        bytes,
        user,
    })
}

/// The user invariants as one program: `rule NAME: allow when CONDITION` each, default
/// `deny`, so that a rule matches exactly when its condition is true (never when unknown).
fn user_invariants(exp: &Experiment) -> Result<Option<crate::vm::Program>, Vec<Diag>> {
    let users: Vec<&spec::UserInvariant> = exp
        .invariants
        .iter()
        .filter_map(|i| match i {
            Invariant::User(u) => Some(u),
            _ => None,
        })
        .collect();
    if users.is_empty() {
        return Ok(None);
    }
    let mut errors = Vec::new();
    // Each condition is checked on its own first, so that an error names its invariant.
    for u in &users {
        let text = invariant_source(&[u]);
        if let Err(ds) = crate::pipeline::build_sources(vec![SourceFile::new(
            format!("{}#{}", exp.name, u.name),
            text,
        )]) {
            for d in ds.into_iter().filter(Diag::is_error) {
                errors.push(
                    Diag::error(
                        spec::codes::INVARIANT,
                        format!("invariant `{}`: {}", u.name, d.message),
                    )
                    .in_file(&exp.name, Some(u.line))
                    .help("`violated_when` is a condition of the policy language over the mutated event, `chaos.decision`, `chaos.original_decision` and `chaos.fault`"),
                );
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let built = crate::pipeline::build_sources(vec![SourceFile::new(
        format!("{}#invariants", exp.name),
        invariant_source(&users),
    )])?;
    Ok(Some(built.program))
}

fn invariant_source(users: &[&spec::UserInvariant]) -> String {
    let mut s = String::from(
        "attribute chaos.decision: string\nattribute chaos.original_decision: string\nattribute chaos.fault: string\ndefault deny\npolicy invariants {\n",
    );
    for u in users {
        s.push_str(&format!(
            "  rule {}: allow when {}\n",
            u.name,
            u.violated_when.replace('\n', " ")
        ));
    }
    s.push_str("}\n");
    s
}
