//! `govern lint`: the checks a careful reviewer would make, run on every policy change.
//!
//! Every lint lives in its own file under [`rules`], with a stable code (`G0101`), a kebab
//! name (`unreachable-rule`), a default [`Level`] and its documentation as `//!` comments; the
//! registry ([`rules::ALL`]) lists them. *Semantic* lints reason on the decision diagrams of
//! the bundle ([`crate::compile::analysis`]) and prove what they claim: a claim about every
//! request ("this rule can never match") holds on every path of the diagram, and an example
//! request ("both rules match this one") is only shown once the VM and the reference
//! interpreter both confirm it. *Authoring* lints read the syntax trees and the checked bundle.
//!
//! Findings can be silenced inline with `// govern:allow(CODE) reason` ([`suppress`]) and
//! their levels changed per project in `govern.toml` ([`config`]).

pub mod config;
pub mod output;
pub mod regex_text;
pub mod rules;
pub mod semantic;
pub mod suppress;
pub mod walk;
pub mod witness;

use std::fmt;

use crate::check::{Bundle, Loc};
use crate::diag::Severity;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// `error`, `warn` (or `warning`) and `info`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            _ => None,
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Level::Info => Severity::Info,
            Level::Warn => Severity::Warning,
            Level::Error => Severity::Error,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lint: its identity, its default level, its docs and its check.
pub struct Lint {
    /// Stable code, `G` + four digits: `G00xx` suppressions, `G01xx` semantic, `G02xx` authoring.
    pub code: &'static str,
    /// Stable kebab-case name.
    pub name: &'static str,
    pub level: Level,
    /// The text of the lint's source file: its leading `//!` lines are its documentation.
    pub source: &'static str,
    pub check: fn(&mut Cx<'_>, &mut Vec<Finding>),
}

impl Lint {
    /// The documentation: the leading `//!` lines of the lint's file, without the markers.
    pub fn docs(&self) -> String {
        let mut out = String::new();
        for line in self.source.lines() {
            let Some(rest) = line.strip_prefix("//!") else {
                break;
            };
            out.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            out.push('\n');
        }
        out.trim_end().to_string()
    }

    /// The first paragraph of the documentation, on one line.
    pub fn summary(&self) -> String {
        let docs = self.docs();
        let para: Vec<&str> = docs
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        para.join(" ")
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub code: &'static str,
    pub name: &'static str,
    pub level: Level,
    pub message: String,
    /// Where: a file of the bundle and a span; `None` for the bundle as a whole.
    pub loc: Option<Loc>,
    pub label: String,
    /// Other places that explain the finding (the rule that shadows, …).
    pub related: Vec<(Loc, String)>,
    pub help: Option<String>,
    /// An example request (event JSON) that shows the problem, confirmed by evaluation.
    pub witness: Option<serde_json::Value>,
}

impl Finding {
    /// A finding with a message; the driver fills in code, name and level.
    pub fn new(message: impl Into<String>) -> Finding {
        Finding {
            code: "",
            name: "",
            level: Level::Warn,
            message: message.into(),
            loc: None,
            label: String::new(),
            related: Vec::new(),
            help: None,
            witness: None,
        }
    }

    pub fn at(mut self, loc: Loc, label: impl Into<String>) -> Finding {
        self.loc = Some(loc);
        self.label = label.into();
        self
    }

    pub fn related(mut self, loc: Loc, label: impl Into<String>) -> Finding {
        self.related.push((loc, label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    pub fn witness(mut self, w: serde_json::Value) -> Finding {
        self.witness = Some(w);
        self
    }
}

/// What a lint's check can look at.
pub struct Cx<'a> {
    pub bundle: &'a Bundle,
    sem: Option<semantic::Semantic<'a>>,
}

impl<'a> Cx<'a> {
    pub fn new(bundle: &'a Bundle) -> Cx<'a> {
        Cx { bundle, sem: None }
    }

    /// The diagrams of the bundle, built on first use and shared by the semantic lints.
    pub fn semantic(&mut self) -> &mut semantic::Semantic<'a> {
        let bundle = self.bundle;
        self.sem
            .get_or_insert_with(|| semantic::Semantic::new(bundle))
    }
}

/// The levels in force: the defaults, changed by `govern.toml`.
#[derive(Clone, Debug, Default)]
pub struct Levels {
    /// Code → level, `None` when the lint is off.
    pub overrides: std::collections::BTreeMap<String, Option<Level>>,
}

impl Levels {
    /// The level of a lint, or `None` when it is turned off.
    pub fn of(&self, lint: &Lint) -> Option<Level> {
        match self.overrides.get(lint.code) {
            Some(l) => *l,
            None => Some(lint.level),
        }
    }
}

/// Runs every lint that is not turned off on a checked bundle, applies the inline
/// suppressions, and returns the findings sorted by file, position and code. A bundle whose
/// decision diagram passes the compiler's node limit cannot be analysed (nor built): that is
/// the error.
pub fn run(bundle: &Bundle, levels: &Levels) -> Result<Vec<Finding>, crate::compile::TooLarge> {
    let mut cx = Cx::new(bundle);
    let mut findings = Vec::new();
    for lint in rules::ALL {
        let Some(level) = levels.of(lint) else {
            continue;
        };
        let mut found = Vec::new();
        (lint.check)(&mut cx, &mut found);
        if let Some(sem) = &cx.sem
            && sem.a.m.exceeded()
        {
            return Err(crate::compile::TooLarge {
                rule: sem.a.too_large,
            });
        }
        for mut f in found {
            f.loc = f.loc.map(|l| trimmed(bundle, l));
            for (l, _) in f.related.iter_mut() {
                *l = trimmed(bundle, *l);
            }
            f.code = lint.code;
            f.name = lint.name;
            f.level = level;
            findings.push(f);
        }
    }
    let mut findings = suppress::apply(bundle, findings, levels);
    sort(bundle, &mut findings);
    findings.dedup();
    Ok(findings)
}

/// The verb of an effect: `allows`, `denies`, `escalates`, `warns`.
pub fn verb(e: crate::syntax::ast::Effect) -> &'static str {
    use crate::syntax::ast::Effect;
    match e {
        Effect::Allow => "allows",
        Effect::Deny => "denies",
        Effect::Escalate => "escalates",
        Effect::Warn => "warns",
    }
}

/// `loc` without the whitespace and comments the parser's spans can end with.
pub fn trimmed(bundle: &Bundle, loc: Loc) -> Loc {
    let Some(file) = bundle.file(loc) else {
        return loc;
    };
    let start = loc.span.start as usize;
    let end = crate::fmt::comments::trim_trivia(&file.text, start, loc.span.end as usize);
    Loc {
        file: loc.file,
        span: crate::syntax::ast::Span::new(start, end.max(start)),
    }
}

/// Sorts findings by file name, position, code and message.
pub fn sort(bundle: &Bundle, findings: &mut [Finding]) {
    let key = |f: &Finding| {
        let file = f
            .loc
            .and_then(|l| bundle.file(l))
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let pos = f.loc.map(|l| (l.span.start, l.span.end)).unwrap_or((0, 0));
        (file, pos, f.code, f.message.clone())
    };
    findings.sort_by_key(key);
}

/// The lint with this code or name (`G0101` or `unreachable-rule`), case-insensitive.
pub fn find(code_or_name: &str) -> Option<&'static Lint> {
    rules::ALL.iter().copied().find(|l| {
        l.code.eq_ignore_ascii_case(code_or_name) || l.name.eq_ignore_ascii_case(code_or_name)
    })
}

/// `docs/lints.md`: every lint's documentation, generated from the lint files.
pub fn docs_markdown() -> String {
    let mut s = String::from(
        "<!-- Generated by `govern explain --all --markdown`; do not edit by hand. -->\n\
         # Lints\n\n\
         `govern lint` runs every lint below. Each has a stable code and name (both work in\n\
         `govern explain`, in `// govern:allow(…)` and in `govern.toml`) and a default level.\n\
         See `docs/lint.md` for how to run, configure and suppress them.\n\n\
         | code | name | level | what it finds |\n|---|---|---|---|\n",
    );
    for l in rules::ALL {
        s.push_str(&format!(
            "| [{}](#{}) | `{}` | {} | {} |\n",
            l.code,
            l.code.to_ascii_lowercase(),
            l.name,
            l.level,
            l.summary()
        ));
    }
    for l in rules::ALL {
        s.push_str(&format!(
            "\n## {}\n\n`{}` · default level **{}**\n\n{}\n",
            l.code,
            l.name,
            l.level,
            l.docs()
        ));
    }
    s
}
