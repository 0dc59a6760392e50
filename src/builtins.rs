//! The language's pure functions, defined once: `lower`, `upper`, `norm_path`, `url_host`,
//! `len`. They are part of the language definition, like the checker, so the VM and the
//! reference interpreter both call these; the case corpus pins their results.

/// `lower(s)`: Unicode lower case.
pub fn lower(s: &str) -> String {
    let mut out = String::new();
    lower_into(s, &mut out);
    out
}

/// `lower(s)` written into `out` (cleared first), without allocating for ASCII input.
pub fn lower_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&s.to_lowercase());
    }
}

/// `upper(s)`: Unicode upper case.
pub fn upper(s: &str) -> String {
    let mut out = String::new();
    upper_into(s, &mut out);
    out
}

/// `upper(s)` written into `out` (cleared first).
pub fn upper_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        out.push_str(s);
        out.make_ascii_uppercase();
    } else {
        out.push_str(&s.to_uppercase());
    }
}

/// `len(s)`: the number of Unicode scalar values.
pub fn str_len(s: &str) -> usize {
    s.chars().count()
}

/// `norm_path(s)`: resolves `.` and `..` segments and repeated `/`, lexically.
///
/// `/a/./b//c/../d` → `/a/b/d`; `..` above the root of an absolute path stays at the root
/// (`/../etc/passwd` → `/etc/passwd`); a relative path keeps the `..` it cannot resolve
/// (`../x` → `../x`); a trailing `/` is dropped; a path that resolves to nothing is `/` when
/// absolute and `.` when relative; the empty string stays empty. Only `/` separates segments:
/// backslashes and percent-encodings are left as they are.
pub fn norm_path(s: &str) -> String {
    let mut out = String::new();
    norm_path_into(s, &mut out);
    out
}

/// `norm_path(s)` written into `out` (cleared first).
pub fn norm_path_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_empty() {
        return;
    }
    let absolute = s.starts_with('/');
    let mut segs: Vec<&str> = Vec::new();
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => match segs.last() {
                Some(&last) if last != ".." => {
                    segs.pop();
                }
                _ => {
                    if !absolute {
                        segs.push("..");
                    }
                }
            },
            other => segs.push(other),
        }
    }
    if absolute {
        out.push('/');
    }
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('.');
    }
}

/// `url_host(s)`: the lower-cased host of a URL, or `""` when `s` has none.
///
/// The host is what follows `scheme://` (or a leading `//`) up to the first `/`, `?` or `#`,
/// without `user:password@`, without `:port`, without the brackets of an IPv6 address and
/// without one trailing dot. `https://User@Example.COM.:8443/x` → `example.com`.
pub fn url_host(s: &str) -> String {
    let mut out = String::new();
    url_host_into(s, &mut out);
    out
}

/// `url_host(s)` written into `out` (cleared first).
pub fn url_host_into(s: &str, out: &mut String) {
    out.clear();
    let s = s.trim();
    let rest = if let Some(i) = s.find("://") {
        let scheme = s.get(..i).unwrap_or("");
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return;
        }
        s.get(i + 3..).unwrap_or("")
    } else if let Some(r) = s.strip_prefix("//") {
        r
    } else {
        return;
    };
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or("");
    let hostport = authority
        .rfind('@')
        .map_or(authority, |i| authority.get(i + 1..).unwrap_or(""));
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.find(']').map_or(v6, |i| v6.get(..i).unwrap_or(""))
    } else {
        hostport
            .rfind(':')
            .map_or(hostport, |i| hostport.get(..i).unwrap_or(""))
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    lower_into(host, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_path_resolves_lexically() {
        let cases = [
            ("/a/./b//c/../d", "/a/b/d"),
            ("/../etc/passwd", "/etc/passwd"),
            ("/etc/../etc/./shadow", "/etc/shadow"),
            ("../x", "../x"),
            ("a/../../b", "../b"),
            ("a/..", "."),
            ("/", "/"),
            ("//", "/"),
            ("/a/b/", "/a/b"),
            ("", ""),
            (".", "."),
            ("/home/admin/.ssh/", "/home/admin/.ssh"),
            ("..\\x", "..\\x"),
        ];
        for (input, want) in cases {
            assert_eq!(norm_path(input), want, "norm_path({input:?})");
        }
    }

    #[test]
    fn url_host_extracts_the_host() {
        let cases = [
            ("https://Example.COM/path", "example.com"),
            ("https://user:pw@example.com:8443/x?y#z", "example.com"),
            ("http://example.com.", "example.com"),
            ("//cdn.example.com/x", "cdn.example.com"),
            ("https://[::1]:8080/", "::1"),
            ("example.com/path", ""),
            ("not a url", ""),
            ("", ""),
            ("ftp://files.example.org", "files.example.org"),
            ("https://evil.com\\@good.com/", "evil.com"),
            ("https://good.com@evil.com/", "evil.com"),
            ("1http://x.com", ""),
        ];
        for (input, want) in cases {
            assert_eq!(url_host(input), want, "url_host({input:?})");
        }
    }

    #[test]
    fn case_functions() {
        assert_eq!(lower("ÀbC"), "àbc");
        assert_eq!(upper("straße"), "STRASSE");
        assert_eq!(str_len("héllo"), 5);
    }
}
