//! Unicode normalisation for matching: `nfkc` (Unicode NFKC) and `fold` (NFKC, case, marks,
//! invisible characters, confusables and whitespace folded away).
//!
//! Both read their input once and are unknown when the input is longer than
//! [`super::MAX_TEXT`] bytes or the output would be longer than [`GROWTH`] times the input
//! (plus 64 bytes): compatibility decomposition can turn one character into eighteen.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::MAX_TEXT;

/// The most a normalised string may grow, as a multiple of its input.
pub const GROWTH: usize = 4;

fn cap(s: &str) -> usize {
    s.len().saturating_mul(GROWTH).saturating_add(64)
}

/// `nfkc(s)`: Unicode Normalization Form KC (compatibility decomposition, then canonical
/// composition): full-width and mathematical letters, ligatures and superscripts become the
/// plain characters they stand for.
pub fn nfkc_into(s: &str, out: &mut String) -> bool {
    out.clear();
    if s.len() > MAX_TEXT {
        return false;
    }
    if s.is_ascii() {
        out.push_str(s);
        return true;
    }
    let limit = cap(s);
    for c in s.nfkc() {
        if out.len() + c.len_utf8() > limit {
            out.clear();
            return false;
        }
        out.push(c);
    }
    true
}

/// The ASCII a non-ASCII character is confusable with (UTS #39 prototypes), when its whole
/// prototype is ASCII and at most three characters long; `Some("")` for characters that are
/// ignorable (invisible).
fn ascii_prototype(c: char, buf: &mut String) -> Option<()> {
    buf.clear();
    let mut utf8 = [0u8; 4];
    for p in unicode_security::skeleton(c.encode_utf8(&mut utf8)) {
        if !p.is_ascii() || buf.len() >= 3 {
            return None;
        }
        buf.push(p.to_ascii_lowercase());
    }
    Some(())
}

/// Characters removed by `fold`: format characters (zero-width spaces and joiners, bidi
/// controls, soft hyphens, tag characters), variation selectors and combining marks.
fn invisible(c: char) -> bool {
    is_combining_mark(c)
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// `fold(s)`: the text as a reader sees it, for matching. Compatibility-decomposed (NFKD), then
/// invisible characters and combining marks dropped (`ı̈ģn̈ore` → `ignore`, zero-width spaces
/// and bidi controls gone), lower-cased, every non-ASCII letter that is confusable with ASCII
/// replaced by it (Cyrillic `о` → `o`, Greek `ν` → `v`; UTS #39 prototypes), runs of
/// whitespace made one space and the ends trimmed, then composed (NFC). ASCII text only
/// changes case and spacing. Meant for matching, not display: accents and the marks of
/// scripts that write vowels as marks are gone.
pub fn fold_into(s: &str, out: &mut String) -> bool {
    out.clear();
    if s.len() > MAX_TEXT {
        return false;
    }
    if s.is_ascii() {
        // Only case and spacing change.
        for w in s.split_ascii_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
        out.make_ascii_lowercase();
        return true;
    }
    let limit = cap(s);
    let mut proto = String::new();
    let mut space = false;
    let mut folded = String::with_capacity(s.len());
    let mut push = |folded: &mut String, c: char| {
        if c.is_whitespace() {
            space = true;
            return;
        }
        if space && !folded.is_empty() {
            folded.push(' ');
        }
        space = false;
        folded.push(c);
    };
    for c in s.nfkd() {
        if invisible(c) {
            continue;
        }
        // The glyph as written decides what it is confusable with (Greek `Ν` looks like `N`,
        // its lower case `ν` like `v`), then its lower case.
        if c.is_ascii() {
            push(&mut folded, c.to_ascii_lowercase());
        } else if ascii_prototype(c, &mut proto).is_some() {
            // UTS #39 maps `I` look-alikes to `l`; in lower case they are `i`.
            if proto == "l" && c.is_uppercase() {
                proto.replace_range(.., "i");
            }
            for p in proto.chars() {
                push(&mut folded, p);
            }
        } else {
            for l in c.to_lowercase() {
                if l.is_ascii() {
                    push(&mut folded, l);
                } else if ascii_prototype(l, &mut proto).is_some() {
                    for p in proto.chars() {
                        push(&mut folded, p);
                    }
                } else {
                    push(&mut folded, l);
                }
            }
        }
        if folded.len() > limit {
            return false;
        }
    }
    if folded.is_ascii() {
        *out = folded;
        return true;
    }
    for c in folded.nfc() {
        out.push(c);
    }
    out.len() <= limit || {
        out.clear();
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        let mut out = String::new();
        assert!(fold_into(s, &mut out), "{s:?}");
        out
    }

    #[test]
    fn nfkc_is_unicode_nfkc() {
        let mut out = String::new();
        assert!(nfkc_into("ｉｇｎｏｒｅ ﬁle ²", &mut out));
        assert_eq!(out, "ignore file 2");
        assert!(nfkc_into("𝐢𝐠𝐧𝐨𝐫𝐞", &mut out));
        assert_eq!(out, "ignore");
        assert!(nfkc_into("plain", &mut out));
        assert_eq!(out, "plain");
    }

    #[test]
    fn fold_undoes_disguises() {
        let cases = [
            ("IGNORE Previous", "ignore previous"),
            ("ｉｇｎｏｒｅ", "ignore"),
            ("𝐈𝐆𝐍𝐎𝐑𝐄", "ignore"),
            ("іgnоrе", "ignore"),                         // Cyrillic і, о, е
            ("i\u{200B}g\u{200D}n\u{FEFF}ore", "ignore"), // zero-width characters
            ("\u{202E}ignore\u{202C}", "ignore"),         // bidi override
            ("ïgñöré", "ignore"),
            ("i̶g̶n̶o̶r̶e̶", "ignore"), // strike-through combining marks
            ("  all \t\n previous  ", "all previous"),
            ("ΙGΝΟRΕ", "ignore"), // Greek capitals
            ("déjà vu", "deja vu"),
            ("Straße", "straße"),
            ("東京", "東京"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(fold(input), want, "{input:?}");
        }
    }

    #[test]
    fn growth_is_bounded() {
        let mut out = String::new();
        // U+FDFA decomposes into 18 characters.
        let s = "\u{FDFA}".repeat(1000);
        assert!(!nfkc_into(&s, &mut out));
        assert!(out.is_empty());
        assert!(
            nfkc_into("\u{FDFA}", &mut out),
            "one expansion fits the slack"
        );
        let long = "a".repeat(MAX_TEXT + 1);
        assert!(!fold_into(&long, &mut out));
    }
}
