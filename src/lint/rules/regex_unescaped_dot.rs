//! An unescaped `.` inside what looks like a host or file name in a regex.
//!
//! In a regex `.` matches any character, so `r"^api.example.com$"` also matches
//! `apiXexample.com` and `api-example.com`, a name anyone can register. In a `like` glob `.`
//! is literal, so globs are not reported.
//!
//! Reported when a `.` that is not escaped, not in a class and not followed by a quantifier
//! stands between a letter or digit and two or more letters (`example.com`, `report.pdf`).
//!
//! **Example.**
//! ```gov
//! rule api: allow when url_host(args.url) matches r"^api.example.com$"
//! ```
//!
//! **Fix.** Escape it: `r"^api\.example\.com$"`, or compare without a regex:
//! `url_host(args.url) == "api.example.com"`.
use crate::lint::regex_text::{scan, uses};
use crate::lint::{Cx, Finding, Level, Lint};

pub const LINT: Lint = Lint {
    code: "G0203",
    name: "regex-unescaped-dot",
    level: Level::Warn,
    source: include_str!("regex_unescaped_dot.rs"),
    check,
};

/// The dotted name around the first suspicious dot, if any.
pub(crate) fn suspicious(p: &str) -> Option<String> {
    let b = p.as_bytes();
    for i in scan(p).dots {
        let before = i
            .checked_sub(1)
            .and_then(|j| b.get(j))
            .copied()
            .unwrap_or(b' ');
        let escaped_before = i >= 2 && b.get(i - 2) == Some(&b'\\');
        if !before.is_ascii_alphanumeric() || escaped_before {
            continue;
        }
        if matches!(b.get(i + 1), Some(b'*' | b'+' | b'?' | b'{')) {
            continue;
        }
        let letters = b
            .get(i + 1..)
            .unwrap_or(&[])
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        if letters < 2 {
            continue;
        }
        let mut start = i;
        while start > 0
            && b.get(start - 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
        {
            start -= 1;
        }
        let mut end = i + 1;
        while b
            .get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        {
            end += 1;
        }
        return p.get(start..end).map(str::to_string);
    }
    None
}

fn check(cx: &mut Cx<'_>, out: &mut Vec<Finding>) {
    for u in uses(cx.bundle) {
        if u.glob {
            continue;
        }
        let Some(name) = suspicious(u.pattern) else {
            continue;
        };
        let mut example = name.clone();
        if let Some(k) = example.find('.') {
            example.replace_range(k..k + 1, "X");
        }
        out.push(
            Finding::new(format!(
                "`.` in `{name}` matches any character, so `{example}` matches too"
            ))
            .at(u.loc, "unescaped `.`")
            .help(format!("escape it: `{}`", name.replace('.', "\\."))),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::lint::rules::testing::{fail, pass};

    #[test]
    fn vectors() {
        pass(
            "G0203",
            "policy p {\n rule a: allow when args.u matches r\"^api\\.example\\.com$\"\n}",
        );
        pass(
            "G0203",
            "policy p {\n rule a: allow when args.u matches r\"^a.*b$\"\n}",
        );
        pass(
            "G0203",
            "policy p {\n rule a: allow when args.u like \"*.example.com\"\n}",
        );
        let f = fail(
            "G0203",
            "policy p {\n rule a: allow when args.u matches r\"^api.example.com$\"\n}",
        );
        assert!(f[0].message.contains("apiXexample.com"), "{}", f[0].message);
    }
}
