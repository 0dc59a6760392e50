//! Regexes at load: each compiled under the regex crate's size limits, and all of a bundle's
//! regexes together within [`REGEX_MEMORY`], as the regex engine measures them while they are
//! compiled. The lazy-DFA cache of each is an equal share of [`REGEX_CACHE`].

use regex_automata::MatchKind;
use regex_automata::meta::{self, Regex};

use crate::bytecode::cost::{REGEX_CACHE, REGEX_MEMORY, REGEX_SIZE_LIMIT, regex_cache_share};
use crate::bytecode::model::{Model, Pred, Var};

/// What the regexes compiled so far take, against the budget.
pub(crate) struct RegexBudget {
    used: usize,
    cache: usize,
}

impl RegexBudget {
    pub(crate) fn new(model: &Model) -> RegexBudget {
        let n = model
            .vars
            .iter()
            .filter(|v| matches!(v, Var::Pred(Pred::Regex { .. })))
            .count();
        RegexBudget {
            used: 0,
            cache: regex_cache_share(n),
        }
    }

    /// Compiles the next regex, or says why it does not fit.
    pub(crate) fn compile(&mut self, pattern: &str) -> Result<Regex, String> {
        let remaining = REGEX_MEMORY.saturating_sub(self.used);
        let re =
            build(pattern, remaining.min(REGEX_SIZE_LIMIT), self.cache).map_err(|e| {
                match e.size_limit() {
                    Some(limit) if limit < REGEX_SIZE_LIMIT => format!(
                        "the bundle's regexes would take more than {} MiB together",
                        REGEX_MEMORY >> 20
                    ),
                    Some(limit) => {
                        format!("the compiled regex would exceed the size limit of {limit} bytes")
                    }
                    None => e.to_string(),
                }
            })?;
        let used = self.used.saturating_add(re.memory_usage());
        if used > REGEX_MEMORY {
            return Err(format!(
                "the bundle's regexes would take more than {} MiB together",
                REGEX_MEMORY >> 20
            ));
        }
        self.used = used;
        Ok(re)
    }
}

/// A regex as the VM runs it (the same engine and semantics as `regex::Regex`): compiled
/// within `size_limit` bytes (each automaton the engine builds), with a lazy-DFA cache of
/// `cache` bytes.
fn build(pattern: &str, size_limit: usize, cache: usize) -> Result<Regex, meta::BuildError> {
    let config = meta::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(true)
        .nfa_size_limit(Some(size_limit))
        .onepass_size_limit(Some(size_limit))
        .hybrid_cache_capacity(cache.min(REGEX_CACHE));
    meta::Builder::new()
        .configure(config)
        .syntax(regex_automata::util::syntax::Config::new().utf8(true))
        .build(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_matches_as_the_regex_crate() {
        for (p, hay) in [
            (r"\.env$", "/app/.env"),
            (r"(?i)drop\s+table", "DROP  TABLE x"),
            (r"^\w+$", "héllo"),
            (r"\bfoo\b", "a foo b"),
            (r"", ""),
            (r"^$", "x"),
        ] {
            let ours = build(p, REGEX_SIZE_LIMIT, REGEX_SIZE_LIMIT).unwrap();
            let theirs = regex::Regex::new(p).unwrap();
            assert_eq!(ours.is_match(hay), theirs.is_match(hay), "{p} on {hay}");
        }
    }

    #[test]
    fn a_budget_runs_out() {
        let m = Model {
            compiler: String::new(),
            source_digest: [0; 32],
            default: crate::check::Verdict::Deny,
            files: vec![],
            slots: vec![],
            trackers: vec![],
            vars: vec![],
            rules: vec![],
            leaves: vec![],
            nodes: vec![],
            roots: vec![],
        };
        let mut b = RegexBudget::new(&m);
        let mut n = 0;
        // Each takes most of the per-regex limit: the budget allows a few dozen.
        let refused = loop {
            match b.compile(&format!(r"\w{{17}}{n}")) {
                Ok(_) => n += 1,
                Err(e) => break e,
            }
            assert!(n < 1000, "the budget never ran out");
        };
        assert!(refused.contains("together"), "{refused}");
        assert!(b.used <= REGEX_MEMORY);
        assert!(n >= 16, "{n}");
    }
}
