//! Regexes (`matches`) and globs (`like`), compiled and refused at build time.

use std::sync::Arc;

use super::ir::Pattern;

/// Size limits for compiled regexes, the same at build time and when a bundle is loaded.
pub use crate::bytecode::cost::REGEX_SIZE_LIMIT;

/// Compiles a regex with the limits every bundle is held to.
pub fn build_regex(source: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// A regex for `matches`, or the reason it is refused.
pub fn regex(source: &str) -> Result<Pattern, String> {
    match build_regex(source) {
        Ok(re) => Ok(Pattern {
            source: source.to_string(),
            regex_source: source.to_string(),
            regex: Arc::new(re),
        }),
        Err(e) => Err(regex_error_text(&e)),
    }
}

/// The one line of a regex error that says what is wrong.
pub fn regex_error_text(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or(text)
            .to_string(),
        regex::Error::CompiledTooBig(limit) => {
            format!("the compiled regex would exceed the size limit of {limit} bytes")
        }
        other => other.to_string(),
    }
}

/// A glob for `like`: `*` any run of characters, `?` one character, `[abc]`, `[a-z]`, `[!abc]`
/// classes, and `\` to take the next character literally. The whole value must match.
pub fn glob(source: &str) -> Result<Pattern, String> {
    let regex_source = glob_to_regex(source)?;
    match build_regex(&regex_source) {
        Ok(re) => Ok(Pattern {
            source: source.to_string(),
            regex_source,
            regex: Arc::new(re),
        }),
        Err(e) => Err(regex_error_text(&e)),
    }
}

/// Translates a glob into an anchored regex.
pub fn glob_to_regex(glob: &str) -> Result<String, String> {
    let mut out = String::from(r"\A(?s:");
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(&n) => out.push_str(&regex::escape(&n.to_string())),
                    None => {
                        return Err("the glob ends with `\\`, which has nothing to escape".into());
                    }
                }
            }
            '[' => {
                let start = i;
                i += 1;
                let mut class = String::from("[");
                if chars.get(i) == Some(&'!') {
                    class.push('^');
                    i += 1;
                }
                let mut members = 0;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "the character class opened at character {} is never closed with `]`",
                                start + 1
                            ));
                        }
                        Some(']') if members > 0 => break,
                        Some(&a) => {
                            if chars.get(i + 1) == Some(&'-')
                                && chars.get(i + 2).is_some_and(|&b| b != ']')
                            {
                                let b = chars.get(i + 2).copied().unwrap_or(a);
                                if b < a {
                                    return Err(format!("the range `{a}-{b}` is backwards"));
                                }
                                class.push_str(&class_char(a));
                                class.push('-');
                                class.push_str(&class_char(b));
                                i += 3;
                            } else {
                                class.push_str(&class_char(a));
                                i += 1;
                            }
                            members += 1;
                        }
                    }
                }
                class.push(']');
                out.push_str(&class);
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out.push_str(r")\z");
    Ok(out)
}

fn class_char(c: char) -> String {
    match c {
        '\\' | ']' | '[' | '^' | '-' | '&' | '~' => format!("\\{c}"),
        c => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(g: &str, s: &str) -> bool {
        glob(g).map(|p| p.regex.is_match(s)).unwrap_or(false)
    }

    #[test]
    fn globs_match_whole_values() {
        assert!(like("*.pdf", "a.pdf"));
        assert!(!like("*.pdf", "a.pdf.exe"));
        assert!(like("a?c", "abc"));
        assert!(!like("a?c", "abbc"));
        assert!(like("/tmp/*", "/tmp/a/b"));
        assert!(like("[a-c]x", "bx"));
        assert!(!like("[!a-c]x", "bx"));
        assert!(like(r"\*", "*"));
        assert!(!like(r"\*", "x"));
        assert!(like("a.b", "a.b"));
        assert!(!like("a.b", "axb"));
        assert!(like("*", "line\nbreak"));
    }

    #[test]
    fn bad_globs_are_refused() {
        assert!(glob("[abc").is_err());
        assert!(glob("abc\\").is_err());
        assert!(glob("[z-a]").is_err());
    }

    #[test]
    fn bad_regexes_are_refused() {
        let e = regex("(unclosed").err().unwrap_or_default();
        assert!(e.contains("unclosed"), "{e}");
    }
}
