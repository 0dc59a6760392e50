//! Detectors for well-known sensitive data: `secrets` (credentials by their published formats,
//! plus keyword assignments with random-looking values), `pii` and `pii_count` (card numbers
//! with the Luhn check, US social security numbers, IBANs with their check digits, UK national
//! insurance numbers, e-mail addresses and phone numbers).
//!
//! Every pattern runs in linear time (the `regex` crate), each over the whole input once; the
//! checks on a candidate (Luhn, mod 97, entropy) are linear in the candidate. Inputs longer
//! than [`super::MAX_TEXT`] bytes are unknown. Precision is documented per kind in
//! docs/language.md and pinned by the tests below.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{LazyLock, OnceLock};

use regex::Regex;
use regex_automata::meta;
use regex_automata::{Input, MatchKind, PatternID, PatternSet};
use regex_syntax::hir::{Capture, Class, Hir, HirKind, Literal, Look, Repetition};

use super::MAX_TEXT;

/// A secret format: its kind and a pattern whose match (group 1 when there is one) is the
/// secret.
struct SecretRule {
    kind: &'static str,
    pattern: &'static str,
    /// Minimum Shannon entropy (bits per character) of the matched secret, for patterns that
    /// would otherwise match ordinary words.
    entropy: f64,
    /// The secret must mix letters with digits or symbols, as passwords do (`stored` is not one).
    mixed: bool,
    /// What every match in an ASCII text holds, ASCII case aside: for each list, one of its
    /// (lowercase) texts at least. `secret_needs_are_the_patterns` derives them from the
    /// pattern.
    needs: &'static [&'static [&'static str]],
}

const SECRET_RULES: &[SecretRule] = &[
    SecretRule {
        kind: "aws_access_key_id",
        pattern: r"\b((?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16})\b",
        entropy: 0.0,
        mixed: false,
        needs: &[&[
            "abia", "acca", "agpa", "aida", "aipa", "akia", "anpa", "anva", "apka", "aroa", "asia",
        ]],
    },
    SecretRule {
        kind: "aws_secret_access_key",
        pattern: r#"(?i)aws.{0,24}(?:secret|private).{0,16}?['"]?\s*[:=]\s*['"]?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
        entropy: 3.5,
        mixed: false,
        needs: &[&["aws"], &["private", "secret"]],
    },
    SecretRule {
        kind: "github_token",
        pattern: r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,90})\b",
        entropy: 0.0,
        mixed: false,
        needs: &[&["gho", "ghp", "ghr", "ghs", "ghu", "github_pat_"]],
    },
    SecretRule {
        kind: "gitlab_token",
        pattern: r"\b(glpat-[A-Za-z0-9_-]{20,})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["glpat-"]],
    },
    SecretRule {
        kind: "slack_token",
        pattern: r"\b(xox[abposr]-[A-Za-z0-9-]{10,})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["xox"], &["-"]],
    },
    SecretRule {
        kind: "slack_webhook",
        pattern: r"(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/_-]{20,})",
        entropy: 0.0,
        mixed: false,
        needs: &[
            &["https://hooks.slack.com/"],
            &["services", "workflows"],
            &["/"],
        ],
    },
    SecretRule {
        kind: "stripe_key",
        pattern: r"\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["rk", "sk"], &["_"], &["live", "test"], &["_"]],
    },
    SecretRule {
        kind: "anthropic_key",
        pattern: r"\b(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_-]{80,})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["sk-ant-"], &["admin", "api"], &["-"]],
    },
    SecretRule {
        kind: "openai_key",
        pattern: r"\b(sk-(?:proj-|svcacct-|admin-)[A-Za-z0-9_-]{40,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-[A-Za-z0-9]{48})\b",
        entropy: 0.0,
        mixed: false,
        needs: &[&["sk-"]],
    },
    SecretRule {
        kind: "google_api_key",
        pattern: r"\b(AIza[0-9A-Za-z_-]{35})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["aiza"]],
    },
    SecretRule {
        kind: "private_key",
        pattern: r"(-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----)",
        entropy: 0.0,
        mixed: false,
        needs: &[&["-----begin "], &["private key"], &["-----"]],
    },
    SecretRule {
        kind: "jwt",
        pattern: r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["eyj"], &[".eyj"], &["."]],
    },
    SecretRule {
        kind: "sendgrid_key",
        pattern: r"\b(SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["sg."], &["."]],
    },
    SecretRule {
        kind: "twilio_key",
        pattern: r"\b(SK[0-9a-f]{32})\b",
        entropy: 3.0,
        mixed: false,
        needs: &[&["sk"]],
    },
    SecretRule {
        kind: "npm_token",
        pattern: r"\b(npm_[A-Za-z0-9]{36})\b",
        entropy: 0.0,
        mixed: false,
        needs: &[&["npm_"]],
    },
    SecretRule {
        kind: "pypi_token",
        pattern: r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})",
        entropy: 0.0,
        mixed: false,
        needs: &[&["pypi-ageichlwas5vcmc"]],
    },
    SecretRule {
        kind: "huggingface_token",
        pattern: r"\b(hf_[A-Za-z]{34})\b",
        entropy: 0.0,
        mixed: false,
        needs: &[&["hf_"]],
    },
    SecretRule {
        kind: "azure_storage_key",
        pattern: r"(?i)AccountKey\s*=\s*([A-Za-z0-9+/]{86}==)",
        entropy: 0.0,
        mixed: false,
        needs: &[&["accountkey"], &["="], &["=="]],
    },
    SecretRule {
        kind: "url_credentials",
        pattern: r"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|rediss|amqps?|mssql|sqlserver|ftp|sftp|smtps?|https?)://[^\s:/@]{1,64}:([^\s:/@]{3,128})@[A-Za-z0-9.-]+",
        entropy: 1.0,
        mixed: false,
        needs: &[
            &[
                "amqp",
                "ftp",
                "http",
                "mariadb",
                "mongodb",
                "mssql",
                "mysql",
                "postgres",
                "redis",
                "rediss",
                "sftp",
                "smtp",
                "sqlserver",
            ],
            &["://"],
            &[":"],
            &["@"],
        ],
    },
    SecretRule {
        kind: "bearer_token",
        pattern: r"(?i)\bauthorization\s*[:=]\s*['\x22]?(?:bearer|token|basic)\s+([A-Za-z0-9._~+/=-]{16,})",
        entropy: 3.0,
        mixed: false,
        needs: &[&["authorization"], &["basic", "bearer", "token"]],
    },
    SecretRule {
        kind: "generic_secret",
        pattern: r#"(?i)(?:^|[^A-Za-z0-9])(?:api[_-]?key|apikey|api[_-]?secret|access[_-]?key(?:[_-]?id)?|secret[_-]?key|secret|client[_-]?secret|access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key|token|password|passwd|pwd|credentials?)['"]?\s*(?::|=|=>|:=)\s*['"`]?([A-Za-z0-9_\-./+=!@#$%^&*~]{8,128})"#,
        entropy: 3.3,
        mixed: false,
        needs: &[
            &[
                "access",
                "apikey",
                "credential",
                "key",
                "passwd",
                "password",
                "private",
                "pwd",
                "refresh",
                "secret",
                "token",
            ],
            &[":", ":=", "=", "=>"],
        ],
    },
    SecretRule {
        kind: "generic_secret",
        pattern: r#"(?i)\b(?:password|passwd|passphrase|passcode)\s+(?:is|was|will be)\s*:?\s*['"`]?([^\s'"`]{6,64})"#,
        entropy: 2.5,
        mixed: true,
        needs: &[
            &["pass"],
            &["code", "phrase", "wd", "word"],
            &["is", "was", "will be"],
        ],
    },
];

/// Values that are placeholders or references, not secrets: `<your-key>`, `${API_KEY}`,
/// `xxxx…`, `****`, `os.environ…`, or one of the passwords documentation uses.
fn placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    const WORDS: [&str; 17] = [
        "your",
        "example",
        "sample",
        "placeholder",
        "changeme",
        "redacted",
        "dummy",
        "xxxx",
        "****",
        "...",
        "<",
        "${",
        "{{",
        "process.env",
        "environ",
        "getenv",
        "secretref",
    ];
    const DOC_PASSWORDS: [&str; 9] = [
        "password", "passwd", "pass", "secret", "admin", "root", "user", "test", "postgres",
    ];
    WORDS.iter().any(|w| l.contains(w))
        || DOC_PASSWORDS.contains(&l.as_str())
        || l.chars().all(|c| c == l.chars().next().unwrap_or(c))
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Each secret pattern's capturing regex, compiled on its first use: most texts are candidates
/// for few patterns ([`SECRET_SET`] says which), so a process that sees few credentials
/// compiles few (the 22 together cost some 50 M instructions).
static SECRET_REGEXES: LazyLock<Vec<OnceLock<Option<Regex>>>> =
    LazyLock::new(|| SECRET_RULES.iter().map(|_| OnceLock::new()).collect());

/// The capturing regex of the `i`th secret pattern (`None` if it cannot be built, which
/// `every_pattern_builds` shows none does).
fn secret_regex(i: usize) -> Option<&'static Regex> {
    let (rule, re) = (SECRET_RULES.get(i)?, SECRET_REGEXES.get(i)?);
    re.get_or_init(|| Regex::new(rule.pattern).ok()).as_ref()
}

/// Every secret pattern in one set, made to match a superset of what the patterns match (see
/// [`superset`]): one pass over a text says which patterns may match at all, so that only
/// those run their (much dearer) capturing search, which decides. Most texts match none.
/// `None` when the set cannot be built: each pattern is then tried on its own.
///
/// The patterns' Unicode word boundaries (`\b`) would keep the set off the lazy DFA for any
/// text with a non-ASCII character (it gives up there, and the set runs again on the much
/// slower PikeVM), and a set that must say which of its patterns match cannot stop early:
/// with ASCII boundaries it stays on the DFA.
static SECRET_SET: OnceLock<Option<meta::Regex>> = OnceLock::new();

/// [`SECRET_SET`], built on its first use.
fn secret_set() -> Option<&'static meta::Regex> {
    SECRET_SET.get_or_init(build_secret_set).as_ref()
}

fn build_secret_set() -> Option<meta::Regex> {
    let hirs = SECRET_RULES
        .iter()
        .map(|r| {
            regex_syntax::Parser::new()
                .parse(r.pattern)
                .map(|h| superset(&h))
        })
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    meta::Builder::new()
        .configure(meta::Config::new().match_kind(MatchKind::All))
        .build_many_from_hir(&hirs)
        .ok()
}

/// How many texts [`secrets`] may screen by what each pattern needs while [`SECRET_SET`] is
/// not built. Screening a text costs several times what the built set's pass over it does
/// (the literals are searched one by one in a lowercase copy), and building the set costs
/// about as much as screening 1,800 texts: a process that sees few texts with credentials
/// in them (a `diff`, a `test` suite) never builds it, and one that decides many (a
/// decision point) builds it after this many and then pays the set's pass alone.
const SCREENED_BEFORE_THE_SET: u32 = 1024;

/// The texts screened so far while [`SECRET_SET`] was not built.
static SCREENED: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// This thread's search memory for [`SECRET_SET`] (the set's own pool is fast only on the
    /// first thread that used it).
    static SECRET_SET_CACHE: RefCell<Option<meta::Cache>> = const { RefCell::new(None) };
}

/// Which patterns of [`SECRET_SET`] match `s` (a superset of the secret patterns that do).
fn secret_candidates(set: &meta::Regex, s: &str) -> PatternSet {
    let mut found = PatternSet::new(set.pattern_len());
    let input = Input::new(s);
    let searched = SECRET_SET_CACHE.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return false;
        };
        let cache = c.get_or_insert_with(|| set.create_cache());
        set.which_overlapping_matches_with(cache, &input, &mut found);
        true
    });
    if !searched {
        set.which_overlapping_matches(&input, &mut found);
    }
    found
}

/// `hir` with every Unicode word-boundary assertion made ASCII where that can only match
/// more, and dropped elsewhere, so that the result matches wherever `hir` matches (and
/// perhaps elsewhere too).
///
/// A Unicode `\b` holds where exactly one of the two characters around it is a Unicode word
/// character. When the pattern puts an ASCII word character (`[0-9A-Za-z_]`) on one side,
/// that side is the word side, and the other is no Unicode, hence no ASCII, word character:
/// the ASCII `\b` holds too. With anything else on the pattern's side (`-`, `(?i)s`, which
/// also matches `ſ`), the word side may be a non-ASCII letter on the text's side, where the
/// ASCII `\b` would fail: the assertion is dropped, and a pattern without an assertion
/// matches wherever it matched with it. Any other Unicode word assertion is dropped too.
fn superset(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Look(l) if unicode_word(*l) => Hir::empty(),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) | HirKind::Look(_) => hir.clone(),
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(superset(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(superset(&c.sub)),
            ..c.clone()
        }),
        HirKind::Alternation(alts) => Hir::alternation(alts.iter().map(superset).collect()),
        HirKind::Concat(items) => Hir::concat(
            items
                .iter()
                .enumerate()
                .map(|(i, h)| match h.kind() {
                    HirKind::Look(Look::WordUnicode)
                        if items.get(i + 1..).is_some_and(starts_ascii_word)
                            || items.get(..i).is_some_and(ends_ascii_word) =>
                    {
                        Hir::look(Look::WordAscii)
                    }
                    _ => superset(h),
                })
                .collect(),
        ),
    }
}

fn unicode_word(l: Look) -> bool {
    matches!(
        l,
        Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode
    )
}

fn ascii_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether every match of `hir` is non-empty and begins with an ASCII word character.
fn first_ascii_word(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(Literal(bytes)) => bytes.first().is_some_and(|&b| ascii_word(b)),
        HirKind::Class(c) => class_ascii_word(c),
        HirKind::Repetition(r) => r.min >= 1 && first_ascii_word(&r.sub),
        HirKind::Capture(c) => first_ascii_word(&c.sub),
        HirKind::Alternation(alts) => alts.iter().all(first_ascii_word),
        HirKind::Concat(items) => starts_ascii_word(items),
        HirKind::Empty | HirKind::Look(_) => false,
    }
}

/// Whether every match of `hir` is non-empty and ends with an ASCII word character (a last
/// byte below 0x80 is a whole character).
fn last_ascii_word(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(Literal(bytes)) => bytes.last().is_some_and(|&b| ascii_word(b)),
        HirKind::Class(c) => class_ascii_word(c),
        HirKind::Repetition(r) => r.min >= 1 && last_ascii_word(&r.sub),
        HirKind::Capture(c) => last_ascii_word(&c.sub),
        HirKind::Alternation(alts) => alts.iter().all(last_ascii_word),
        HirKind::Concat(items) => ends_ascii_word(items),
        HirKind::Empty | HirKind::Look(_) => false,
    }
}

/// Whether the first character matched by the sequence `items` is always an ASCII word
/// character: assertions match no character and are passed over.
fn starts_ascii_word(items: &[Hir]) -> bool {
    items
        .iter()
        .find(|h| !matches!(h.kind(), HirKind::Look(_)))
        .is_some_and(first_ascii_word)
}

/// Whether the last character matched by the sequence `items` is always an ASCII word
/// character.
fn ends_ascii_word(items: &[Hir]) -> bool {
    items
        .iter()
        .rev()
        .find(|h| !matches!(h.kind(), HirKind::Look(_)))
        .is_some_and(last_ascii_word)
}

fn class_ascii_word(c: &Class) -> bool {
    match c {
        Class::Unicode(u) => u.ranges().iter().all(|r| {
            (r.start()..=r.end()).all(|ch| u8::try_from(u32::from(ch)).is_ok_and(ascii_word))
        }),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .all(|r| (r.start()..=r.end()).all(|b| b.is_ascii() && ascii_word(b))),
    }
}

/// The fewest bytes any secret pattern matches (`pwd:` and eight characters, the generic
/// pattern's shortest; `secret_texts_are_never_shorter` holds every pattern to it).
const MIN_SECRET_LEN: usize = 12;

/// Every kind `secrets` can return, in order.
pub fn secret_kinds() -> impl Iterator<Item = &'static str> {
    SECRET_RULES.iter().map(|r| r.kind)
}

/// `secrets(s)`: the kinds of credentials found in `s`, each once, sorted. Unknown when `s`
/// is longer than [`MAX_TEXT`] bytes (or, which cannot happen, a pattern failed to build).
pub fn secrets(s: &str) -> Option<Vec<&'static str>> {
    if s.len() > MAX_TEXT {
        return None;
    }
    // No pattern matches fewer bytes: a shorter text holds no credential, and the set is not
    // compiled for it.
    if s.len() < MIN_SECRET_LEN {
        return Some(Vec::new());
    }
    // An ASCII text holding none of what each pattern needs holds no credential either: while
    // the set is not built, and for the process's first few texts (see
    // `SCREENED_BEFORE_THE_SET`), it is not built for such a text. The answer is the same
    // either way.
    let set = match SECRET_SET.get() {
        Some(set) => set.as_ref(),
        None => {
            if s.is_ascii()
                && SCREENED.fetch_add(1, Ordering::Relaxed) < SCREENED_BEFORE_THE_SET
                && !any_secret_needs_met(s)
            {
                return Some(Vec::new());
            }
            secret_set()
        }
    };
    // A pattern the set does not match has no match to capture: skipping it finds the same.
    // A pattern tried that cannot be built makes the answer unknown.
    let candidates = set.map(|set| secret_candidates(set, s));
    secrets_among(s, candidates.as_ref())
}

/// Whether the ASCII text `s` holds what some secret pattern needs ([`SecretRule::needs`]).
fn any_secret_needs_met(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    SECRET_RULES.iter().any(|r| needs_met(r, &lower))
}

/// Whether `lower` (an ASCII text in lowercase) holds what `rule` needs.
fn needs_met(rule: &SecretRule, lower: &str) -> bool {
    let holds = |t: &&str| memchr::memmem::find(lower.as_bytes(), t.as_bytes()).is_some();
    rule.needs.iter().all(|any| any.iter().any(holds))
}

/// [`secrets`] trying only the patterns in `candidates` (every pattern when `None`).
fn secrets_among(s: &str, candidates: Option<&PatternSet>) -> Option<Vec<&'static str>> {
    if candidates.is_some_and(PatternSet::is_empty) {
        return Some(Vec::new());
    }
    let mut found = BTreeSet::new();
    for (i, rule) in SECRET_RULES.iter().enumerate() {
        if candidates.is_some_and(|c| PatternID::new(i).is_ok_and(|p| !c.contains(p))) {
            continue;
        }
        let re = secret_regex(i)?;
        for c in re.captures_iter(s) {
            let Some(m) = c.get(1).or_else(|| c.get(0)) else {
                continue;
            };
            let v = m.as_str();
            // Documentation's sample keys (`AKIAIOSFODNN7EXAMPLE`) are not secrets.
            if v.to_ascii_lowercase().contains("example") {
                continue;
            }
            if rule.entropy > 0.0 && (entropy(v) < rule.entropy || placeholder(v)) {
                continue;
            }
            if rule.mixed
                && !(v.chars().any(char::is_alphabetic)
                    && v.chars()
                        .any(|c| c.is_ascii_digit() || c.is_ascii_punctuation()))
            {
                continue;
            }
            found.insert(rule.kind);
            break;
        }
    }
    Some(found.into_iter().collect())
}

/// Card networks by issuer prefix and the lengths their numbers have.
fn card_network_ok(digits: &[u8]) -> bool {
    let n = digits.len();
    let prefix = |k: usize| -> u32 {
        digits
            .iter()
            .take(k)
            .fold(0u32, |acc, d| acc * 10 + u32::from(*d))
    };
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match p1 {
        // Visa
        4 => matches!(n, 13 | 16 | 19),
        // Mastercard 51-55 and 2221-2720
        5 => (51..=55).contains(&p2) && n == 16,
        2 => (2221..=2720).contains(&p4) && n == 16,
        // Amex 34/37, Diners 300-305/36/38/39, JCB 3528-3589
        3 => match p2 {
            34 | 37 => n == 15,
            36 | 38 | 39 => (14..=19).contains(&n),
            30 => (300..=305).contains(&p3) && (14..=19).contains(&n),
            35 => (3528..=3589).contains(&p4) && (16..=19).contains(&n),
            _ => false,
        },
        // Discover 6011/644-649/65, UnionPay 62, Maestro 6304/6759/6761-6763
        6 => {
            (p4 == 6011
                || (644..=649).contains(&p3)
                || p2 == 65
                || p2 == 62
                || p4 == 6304
                || p4 == 6759
                || (6761..=6763).contains(&p4))
                && (16..=19).contains(&n)
        }
        _ => false,
    }
}

/// The Luhn check (ISO/IEC 7812-1).
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// IBAN lengths by country (the SWIFT registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// An IBAN (without spaces, upper case) of the right length for its country whose check
/// digits are right (ISO 13616, mod 97).
fn iban_ok(iban: &str) -> bool {
    let Some(country) = iban.get(..2) else {
        return false;
    };
    if !IBAN_LENGTHS
        .iter()
        .any(|(c, n)| *c == country && *n == iban.len())
    {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US social security number that can be issued: area not 000, 666 or 900-999, group not
/// 00, serial not 0000, and not one of the numbers published in advertising.
fn ssn_ok(area: &str, group: &str, serial: &str) -> bool {
    let a: u32 = area.parse().unwrap_or(0);
    a != 0
        && a != 666
        && a < 900
        && group != "00"
        && serial != "0000"
        && !matches!(
            (area, group, serial),
            ("078", "05", "1120") | ("219", "09", "9999") | ("123", "45", "6789")
        )
}

/// A UK national insurance number's prefix that can be issued.
fn nino_ok(prefix: &str) -> bool {
    !matches!(prefix, "BG" | "GB" | "NK" | "KN" | "TN" | "NT" | "ZZ")
}

/// PII patterns: each yields candidates that a check accepts or rejects.
struct PiiRegexes {
    card: Regex,
    ssn: Regex,
    ssn_labelled: Regex,
    iban: Regex,
    nino: Regex,
    email: Regex,
    phone: Regex,
}

static PII: LazyLock<Option<PiiRegexes>> = LazyLock::new(|| {
    Some(PiiRegexes {
        // 13-19 digits, in groups of 2-6 separated by one space or dash, not part of a longer
        // number.
        card: Regex::new(r"(?:^|[^0-9.,-])(\d{2,6}(?:[ .-]?\d{2,6}){1,5})(?:$|[^0-9.,-]|[.,](?:\s|$))").ok()?,
        ssn: Regex::new(r"(?:^|[^0-9-])(\d{3})([- ])(\d{2})([- ])(\d{4})(?:$|[^0-9-])").ok()?,
        ssn_labelled: Regex::new(r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\b\D{0,20}(\d{3})(\d{2})(\d{4})(?:$|\D)").ok()?,
        iban: Regex::new(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?)\b").ok()?,
        nino: Regex::new(r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b").ok()?,
        email: Regex::new(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b").ok()?,
        phone: Regex::new(r"(?:^|[^0-9+])(\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}|\(\d{3}\)\s?\d{3}[ .-]\d{4}|\d{3}[.-]\d{3}[.-]\d{4})(?:$|[^0-9])").ok()?,
    })
});

/// Every kind `pii` can return.
pub const PII_KINDS: [&str; 6] = ["card_number", "email", "iban", "phone", "uk_nino", "us_ssn"];

/// Finds PII in `s`, calling `found(kind)` once per finding.
fn scan_pii(s: &str, found: &mut dyn FnMut(&'static str)) -> Option<()> {
    if s.len() > MAX_TEXT {
        return None;
    }
    // Every pattern but the e-mail one matches a decimal digit (`\d`, Unicode's `Nd`, which
    // `char::is_numeric` includes), and the e-mail one an `@`: a pattern whose character the
    // text lacks finds nothing and is not run, and a text with neither compiles none.
    let numeric =
        s.bytes().any(|b| b.is_ascii_digit()) || (!s.is_ascii() && s.chars().any(char::is_numeric));
    let at = s.contains('@');
    if !numeric && !at {
        return Some(());
    }
    let re = PII.as_ref()?;
    if numeric {
        scan_pii_numeric(re, s, found);
    }
    if at {
        for _ in re.email.find_iter(s) {
            found("email");
        }
    }
    if numeric {
        for c in re.phone.captures_iter(s) {
            if c.get(1).is_some() {
                found("phone");
            }
        }
    }
    Some(())
}

/// The findings of the patterns of [`scan_pii`] before the e-mail one, all of which need a
/// digit.
fn scan_pii_numeric(re: &PiiRegexes, s: &str, found: &mut dyn FnMut(&'static str)) {
    let mut digits = Vec::with_capacity(19);
    for c in re.card.captures_iter(s) {
        let Some(m) = c.get(1) else { continue };
        digits.clear();
        digits.extend(
            m.as_str()
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|b| b - b'0'),
        );
        // Separators, when present, are all of one kind.
        let seps: BTreeSet<u8> = m.as_str().bytes().filter(|b| !b.is_ascii_digit()).collect();
        if (13..=19).contains(&digits.len())
            && seps.len() <= 1
            && card_network_ok(&digits)
            && luhn(&digits)
        {
            found("card_number");
        }
    }
    for c in re.ssn.captures_iter(s) {
        if let (Some(a), Some(s1), Some(g), Some(s2), Some(n)) =
            (c.get(1), c.get(2), c.get(3), c.get(4), c.get(5))
            && s1.as_str() == s2.as_str()
            && ssn_ok(a.as_str(), g.as_str(), n.as_str())
        {
            found("us_ssn");
        }
    }
    for c in re.ssn_labelled.captures_iter(s) {
        if let (Some(a), Some(g), Some(n)) = (c.get(1), c.get(2), c.get(3))
            && ssn_ok(a.as_str(), g.as_str(), n.as_str())
        {
            found("us_ssn");
        }
    }
    for c in re.iban.captures_iter(s) {
        if let Some(m) = c.get(1) {
            let compact: String = m.as_str().chars().filter(|c| *c != ' ').collect();
            if iban_ok(&compact) {
                found("iban");
            }
        }
    }
    for c in re.nino.captures_iter(s) {
        if c.get(1).is_some_and(|p| nino_ok(p.as_str())) {
            found("uk_nino");
        }
    }
}

/// `pii(s)`: the kinds of personal data found in `s`, each once, sorted.
pub fn pii(s: &str) -> Option<Vec<&'static str>> {
    let mut kinds = BTreeSet::new();
    scan_pii(s, &mut |k| {
        kinds.insert(k);
    })?;
    Some(kinds.into_iter().collect())
}

/// `pii_count(s)`: how many pieces of personal data `s` holds, all kinds together (a bulk
/// dump of customer rows counts every e-mail, phone number, card and id in it).
pub fn pii_count(s: &str) -> Option<usize> {
    let mut n = 0usize;
    scan_pii(s, &mut |_| n += 1)?;
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{Strategy, prop};

    #[test]
    fn every_pattern_builds() {
        assert!((0..SECRET_RULES.len()).all(|i| secret_regex(i).is_some()));
        assert!(secret_set().is_some());
        assert!(PII.is_some());
    }

    /// The lowercase byte every ASCII character class `c` matches is, ASCII case aside (`None`
    /// when its ASCII members are not one letter's two cases or one character).
    fn class_byte(c: &Class) -> Option<u8> {
        let ascii: Vec<(u32, u32)> = match c {
            Class::Unicode(u) => u
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
            Class::Bytes(b) => b
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
        };
        let mut one: Option<u8> = None;
        for (lo, hi) in ascii {
            for c in lo..=hi.min(0x7f) {
                let b = u8::try_from(c).ok()?.to_ascii_lowercase();
                if one.is_some_and(|x| x != b) {
                    return None;
                }
                one = Some(b);
            }
        }
        one
    }

    /// The one text (lowercase) every match of `hir` in an ASCII text is, ASCII case aside.
    fn exact(hir: &Hir) -> Option<Vec<u8>> {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => Some(Vec::new()),
            HirKind::Literal(Literal(bytes)) => {
                bytes.is_ascii().then(|| bytes.to_ascii_lowercase())
            }
            HirKind::Class(c) => class_byte(c).map(|b| vec![b]),
            HirKind::Capture(Capture { sub, .. }) => exact(sub),
            HirKind::Repetition(Repetition { min, max, sub, .. }) if Some(*min) == *max => {
                exact(sub).map(|e| e.repeat(*min as usize))
            }
            HirKind::Concat(items) => items.iter().try_fold(Vec::new(), |mut acc, h| {
                acc.extend(exact(h)?);
                Some(acc)
            }),
            _ => None,
        }
    }

    /// What every match of `hir` in an ASCII text holds: for each list, one of its texts at least
    /// (lowercase, ASCII case aside).
    fn needs(hir: &Hir) -> Vec<Vec<Vec<u8>>> {
        if let Some(e) = exact(hir).filter(|e| !e.is_empty()) {
            return vec![vec![e]];
        }
        match hir.kind() {
            HirKind::Capture(Capture { sub, .. }) => needs(sub),
            HirKind::Repetition(Repetition { min, sub, .. }) if *min >= 1 => needs(sub),
            HirKind::Alternation(alts) => {
                let mut any = Vec::new();
                for alt in alts {
                    // The alternative's list with the longest shortest text.
                    let Some(best) = needs(alt)
                        .into_iter()
                        .max_by_key(|l| l.iter().map(Vec::len).min().unwrap_or(0))
                    else {
                        return Vec::new();
                    };
                    any.extend(best);
                }
                any.sort();
                any.dedup();
                vec![any]
            }
            HirKind::Concat(items) => {
                let mut all = Vec::new();
                let mut run = Vec::new();
                for h in items {
                    if let Some(e) = exact(h) {
                        run.extend(e);
                        continue;
                    }
                    if !run.is_empty() {
                        all.push(vec![std::mem::take(&mut run)]);
                    }
                    all.extend(needs(h));
                }
                if !run.is_empty() {
                    all.push(vec![run]);
                }
                all
            }
            _ => Vec::new(),
        }
    }

    /// Every secret pattern's needs are what [`needs`] derives from it, and a text holding
    /// none of them finds nothing.
    #[test]
    fn secret_needs_are_the_patterns() {
        for rule in SECRET_RULES {
            let hir = regex_syntax::Parser::new().parse(rule.pattern).unwrap();
            let derived: Vec<Vec<String>> = needs(&hir)
                .into_iter()
                .map(|l| {
                    l.into_iter()
                        .map(|t| String::from_utf8(t).unwrap())
                        .collect()
                })
                .collect();
            let written: Vec<Vec<String>> = rule
                .needs
                .iter()
                .map(|l| l.iter().map(|t| (*t).to_string()).collect())
                .collect();
            assert_eq!(derived, written, "{}", rule.kind);
            assert!(!written.is_empty(), "{}", rule.kind);
        }
        for text in [
            "https://api.github.com/",
            "https://api.exchangerate.host/",
            "prompt injection",
            "the quick brown fox jumps",
        ] {
            assert!(!any_secret_needs_met(text), "{text}");
            assert_eq!(secrets_among(text, None), Some(Vec::new()), "{text}");
        }
        // Case and the patterns' own texts.
        for text in [
            "Authorization: BEARER abcDEF123456ghiJKL789mno",
            "PASSWORD=hunter2hunter2",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        ] {
            assert!(any_secret_needs_met(text), "{text}");
        }
    }

    /// The shortcuts of `secrets` and `pii` for texts no pattern can match: every secret
    /// pattern matches at least `MIN_SECRET_LEN` bytes, every PII pattern but the e-mail one
    /// needs a decimal digit, and the e-mail one an `@`.
    #[test]
    fn secret_texts_are_never_shorter() {
        for rule in SECRET_RULES {
            let hir = regex_syntax::Parser::new().parse(rule.pattern).unwrap();
            let min = hir.properties().minimum_len().unwrap();
            assert!(min >= MIN_SECRET_LEN, "{}: {min}", rule.kind);
        }
        let re = PII.as_ref().unwrap();
        for r in [
            &re.card,
            &re.ssn,
            &re.ssn_labelled,
            &re.iban,
            &re.nino,
            &re.phone,
        ] {
            // No alternative without a digit: each is run on texts that come close.
            assert!(r.as_str().contains(r"\d"), "{r}");
            for t in [
                "ssn: abc-de-fghi",
                "GB AB CD EF",
                "+ (ABC) DEF-GHIJ",
                "AB CD EF GH A",
            ] {
                assert!(!r.is_match(t), "{r}: {t}");
            }
        }
        assert!(re.email.as_str().contains('@') && !re.email.as_str().contains('|'));
        assert_eq!(pii("no digits here, mail at example.com"), Some(vec![]));
        assert_eq!(pii("call +1 415 555 0100"), Some(vec!["phone"]));
        assert_eq!(pii("write to a@b.io"), Some(vec!["email"]));
        assert_eq!(pii("a@b.io, +1 415 555 0100"), Some(vec!["email", "phone"]));
    }

    #[test]
    fn secret_formats() {
        let cases: &[(&str, &[&str])] = &[
            ("key AKIAZ7QYXW3V2U4T6S5R in config", &["aws_access_key_id"]),
            (
                "aws_secret_access_key = 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",
                &["aws_secret_access_key", "generic_secret"],
            ),
            (
                "token ghp_16C7e42F292c6912E7710c838347Ae178B4a here",
                &["github_token"],
            ),
            ("glpat-xxyyzz1234567890abcdEF", &["gitlab_token"]),
            (
                "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
                &["slack_token"],
            ),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc0000", &["stripe_key"]),
            (
                "OPENAI_API_KEY=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk",
                &["generic_secret", "openai_key"],
            ),
            (
                "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
                &["google_api_key"],
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=",
                &["private_key"],
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                &["jwt"],
            ),
            (
                "postgres://admin:S3cr3tPassw0rd@db.internal:5432/app",
                &["url_credentials"],
            ),
            (
                "Authorization: Bearer abcDEF123456ghiJKL789mno",
                &["bearer_token"],
            ),
            (
                "api_key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
                &["generic_secret"],
            ),
            ("\"password\": \"Tr0ub4dor&3xK9!\"", &["generic_secret"]),
            ("the wifi password is Summer2024!", &["generic_secret"]),
        ];
        for (text, want) in cases {
            assert_eq!(secrets(text).as_deref(), Some(*want), "{text:?}");
        }
    }

    /// The set only skips patterns that cannot match: on texts with and without secrets,
    /// alone and mixed, the kinds found are those every pattern on its own finds.
    #[test]
    fn the_pattern_set_skips_only_what_cannot_match() {
        let parts = [
            "key AKIAZ7QYXW3V2U4T6S5R in config",
            "aws_secret_access_key = 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",
            "token ghp_16C7e42F292c6912E7710c838347Ae178B4a here",
            "glpat-xxyyzz1234567890abcdEF",
            "token: 7f3a9c2e1b4d5e6f8a0b",
            "password: summer2024",
            "AWS documents AKIAIOSFODNN7EXAMPLE as a sample key id",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "DATABASE_URL=postgres://app:S3cr3t-Pa55w0rd!@db:5432/app",
            "see https://example.com:8080/docs for details",
            "",
        ];
        let mut texts: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        for (i, a) in parts.iter().enumerate() {
            for b in parts.iter().skip(i) {
                texts.push(format!("{a} and {b}"));
            }
        }
        let mut with_some = 0;
        for t in &texts {
            let all = secrets_among(t, None);
            assert_eq!(secrets(t), all, "{t:?}");
            with_some += usize::from(all.is_some_and(|k| !k.is_empty()));
        }
        assert!(
            with_some > texts.len() / 2,
            "{with_some} of {}",
            texts.len()
        );
    }

    /// The set's ASCII boundaries are where the pattern puts an ASCII word character next to
    /// them; elsewhere they are dropped. Counted per pattern, so that a change of the patterns
    /// or of the rewriting shows here.
    #[test]
    fn the_set_keeps_ascii_boundaries_only_next_to_ascii_word_characters() {
        fn looks(h: &Hir, out: &mut Vec<Look>) {
            match h.kind() {
                HirKind::Look(l) => out.push(*l),
                HirKind::Repetition(r) => looks(&r.sub, out),
                HirKind::Capture(c) => looks(&c.sub, out),
                HirKind::Alternation(v) | HirKind::Concat(v) => {
                    v.iter().for_each(|h| looks(h, out))
                }
                _ => {}
            }
        }
        let mut kept = Vec::new();
        for r in SECRET_RULES {
            let h = regex_syntax::Parser::new().parse(r.pattern).unwrap();
            let (mut before, mut after) = (Vec::new(), Vec::new());
            looks(&h, &mut before);
            looks(&superset(&h), &mut after);
            assert!(!after.iter().any(|l| unicode_word(*l)), "{}", r.kind);
            let word = before.iter().filter(|l| **l == Look::WordUnicode).count();
            let ascii = after.iter().filter(|l| **l == Look::WordAscii).count();
            kept.push((r.kind, word, ascii));
        }
        let dropped: Vec<_> = kept.iter().filter(|(_, w, a)| w != a).collect();
        assert_eq!(
            dropped,
            [
                // `[A-Za-z0-9_-]{40,}\b`: the key may end with `-`.
                &("openai_key", 2, 1),
                // `(?i)` makes `s` (of `sftp`, `smtp`) match `ſ`, which is not ASCII.
                &("url_credentials", 1, 0),
            ]
        );
        assert_eq!(kept.iter().map(|(_, _, a)| a).sum::<usize>(), 21);
    }

    /// An ASCII `\b` after a `-` would miss this key: its last character is `-` and a
    /// non-ASCII letter follows, which is a Unicode boundary but no ASCII one.
    #[test]
    fn a_boundary_after_a_non_word_character_is_not_made_ascii() {
        let key = format!("sk-proj-{}é", "-".repeat(40));
        assert_eq!(
            secrets_among(&key, None).as_deref(),
            Some(&["openai_key"][..])
        );
        assert_eq!(secrets(&key).as_deref(), Some(&["openai_key"][..]));
    }

    /// Texts made of credential-shaped pieces: a start of a secret format, runs of characters
    /// its pattern takes (of the lengths the patterns count), an ending, and around them
    /// characters that are Unicode but not ASCII word characters (`é`, `ß`, `ſ`, the Kelvin
    /// sign, an Arabic-Indic digit), spaces only Unicode knows, and ASCII: the places where a
    /// Unicode and an ASCII `\b` differ.
    fn unicode_text() -> impl Strategy<Value = String> {
        let around = || {
            prop::sample::select(vec![
                "é", "ß", "ſ", "\u{212A}", "٣", "\u{a0}", "\u{2003}", " ", "\n", "-", "_", "a",
                "Z", "9", "=", ":", "\"", "@", "/", ".", "",
            ])
        };
        let start = prop::sample::select(vec![
            "AKIA",
            "ghp_",
            "github_pat_",
            "glpat-",
            "xoxb-",
            "sk_live_",
            "sk-ant-api03-",
            "sk-proj-",
            "sk-",
            "AIza",
            "eyJ",
            "SG.",
            "SK",
            "npm_",
            "hf_",
            "pypi-AgEIcHlwaS5vcmc",
            "AccountKey=",
            "postgres://u:",
            "ſmtp://u:",
            "https://u:",
            "ſftp://",
            "authorization: bearer ",
            "aws_secret_access_key = ",
            "password: ",
            "token=",
            "password is ",
            "",
        ]);
        let run = (
            prop::sample::select(vec!['A', 'Q', 'a', 'f', '7', '0', '-', '_', '.', 'é', 'ſ']),
            prop::sample::select(vec![
                1usize, 8, 16, 20, 22, 32, 34, 35, 36, 40, 43, 48, 60, 86,
            ]),
        )
            .prop_map(|(c, n)| c.to_string().repeat(n));
        let end = prop::sample::select(vec!["", "", "==", "@db", ".", "T3BlbkFJ", "-", "é"]);
        let piece = (
            around(),
            start,
            prop::collection::vec(run, 0..3),
            end,
            around(),
        )
            .prop_map(|(l, s, runs, e, r)| format!("{l}{s}{}{e}{r}", runs.concat()));
        prop::collection::vec(piece, 1..4).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            .. proptest::prelude::ProptestConfig::default()
        })]

        /// Wherever a secret pattern matches, the set says it may: `secrets` finds what trying
        /// every pattern finds.
        #[test]
        fn the_set_matches_wherever_a_pattern_does(text in unicode_text()) {
            let set = secret_set().unwrap();
            let candidates = secret_candidates(set, &text);
            for (i, rule) in SECRET_RULES.iter().enumerate() {
                if secret_regex(i).unwrap().is_match(&text) {
                    proptest::prop_assert!(
                        candidates.contains(PatternID::new(i).unwrap()),
                        "{} on {text:?}",
                        rule.kind
                    );
                    proptest::prop_assert!(
                        !text.is_ascii() || needs_met(rule, &text.to_ascii_lowercase()),
                        "{} needs on {text:?}",
                        rule.kind
                    );
                }
            }
            proptest::prop_assert_eq!(secrets(&text), secrets_among(&text, None));
        }
    }

    #[test]
    fn ordinary_text_has_no_secrets() {
        for text in [
            "set api_key: <your-api-key> in the config",
            "password: ${DB_PASSWORD}",
            "token: xxxxxxxxxxxxxxxx",
            "the max_tokens=4096 setting and token_count: 1200",
            "Use the password field to log in; passwords must have 12 characters.",
            "the password is stored in the vault and rotated monthly",
            "secret: hello world",
            "api_key = os.environ['API_KEY']",
            "commit e3b0c44298fc1c149afbf4c8996fb92427ae41e4 fixed the key rotation",
            "see https://example.com:8080/docs for details",
            "the AKIA prefix marks AWS access keys",
            "AWS documents AKIAIOSFODNN7EXAMPLE as a sample key id",
            "DATABASE_URL=postgres://user:password@localhost:5432/app",
            "token = os.environ.get('TOKEN')",
            "",
        ] {
            assert_eq!(secrets(text).as_deref(), Some(&[][..]), "{text:?}");
        }
    }

    #[test]
    fn generic_secret_precision_as_documented() {
        // A low-entropy password is missed; a hash-like value under a key name is reported.
        assert!(entropy("summer2024") < 3.0);
        assert_eq!(secrets("password: summer2024").as_deref(), Some(&[][..]));
        assert_eq!(
            secrets("token: 7f3a9c2e1b4d5e6f8a0b").as_deref(),
            Some(&["generic_secret"][..])
        );
    }

    #[test]
    fn card_numbers_pass_luhn_and_network() {
        for n in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "3530111333300000",
            "2223003122003222",
        ] {
            assert_eq!(
                pii(&format!("card: {n}.")).as_deref(),
                Some(&["card_number"][..]),
                "{n}"
            );
        }
        for n in [
            "4111 1111 1111 1112",                // Luhn fails
            "1234567812345670",                   // passes Luhn, no network
            "4111 1111-1111 1111",                // mixed separators
            "order 41111111111111110000 shipped", // longer number
            "2024-01-15",
            "v4.111.111.111.1111",
        ] {
            assert!(!pii(n).unwrap_or_default().contains(&"card_number"), "{n}");
        }
    }

    #[test]
    fn national_ids() {
        assert_eq!(pii("SSN 536-22-1987").as_deref(), Some(&["us_ssn"][..]));
        assert_eq!(pii("ssn: 536221987").as_deref(), Some(&["us_ssn"][..]));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "536-00-1987",
            "536-22-0000",
            "078-05-1120",
            "536-22 1987",
        ] {
            assert!(!pii(bad).unwrap_or_default().contains(&"us_ssn"), "{bad}");
        }
        assert_eq!(
            pii("NI number AB 12 34 56 C").as_deref(),
            Some(&["uk_nino"][..])
        );
        assert!(
            !pii("GB 12 34 56 C")
                .unwrap_or_default()
                .contains(&"uk_nino")
        );
        assert_eq!(
            pii("IBAN DE89 3704 0044 0532 0130 00").as_deref(),
            Some(&["iban"][..])
        );
        assert_eq!(
            pii("GB82WEST12345698765432").as_deref(),
            Some(&["iban"][..])
        );
        assert!(
            !pii("DE89 3704 0044 0532 0130 01")
                .unwrap_or_default()
                .contains(&"iban")
        );
    }

    #[test]
    fn counts_add_up_over_a_dump() {
        let mut rows = String::from("id,name,email,phone\n");
        for i in 0..120 {
            rows.push_str(&format!(
                "{i},Customer {i},customer{i}@example.com,+1 415 555 {:04}\n",
                1000 + i
            ));
        }
        assert_eq!(pii_count(&rows), Some(240));
        assert_eq!(pii(&rows).as_deref(), Some(&["email", "phone"][..]));
        assert_eq!(
            pii_count("no personal data here, version 1.2.3, 2024-05-01"),
            Some(0)
        );
    }

    #[test]
    fn luhn_check() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<u8>>();
        assert!(luhn(&d("79927398713")));
        assert!(!luhn(&d("79927398710")));
        assert!(!luhn(&[]));
    }
}
