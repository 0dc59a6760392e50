//! The suite file as written: `serde` types for `*.test.yaml` (docs/testing.md).
//!
//! Every struct refuses unknown fields, so a misspelt key (`expct:`) is an error with its line
//! instead of a check that silently never runs. Shorthands (`expect: allow`, `use: name`,
//! `bundle: dir`) are read by hand-written visitors so that errors stay precise.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use crate::check::Verdict;

/// A whole suite file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuite {
    /// Policy files or directories, or one `.govb`, relative to the suite file.
    pub bundle: OneOrMany,
    /// Named request templates that cases `use`.
    #[serde(default)]
    pub fixtures: Ordered<Json>,
    /// The kind of every case that does not say its own: `attack` or `benign`.
    pub kind: Option<CaseKind>,
    /// Variant name → a merge patch applied last to every request: each case runs once per
    /// variant.
    #[serde(default)]
    pub variants: Ordered<Json>,
    pub tests: Vec<RawCase>,
}

/// What a case stands for in a red-team corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    /// Must not be allowed: the decision is `deny` or `escalate`.
    Attack,
    /// Must be allowed.
    Benign,
}

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::Attack => "attack",
            CaseKind::Benign => "benign",
        }
    }

    /// The expectation the kind stands for, when a case has no `expect` of its own.
    pub fn expectation(self) -> ExpectOne {
        match self {
            CaseKind::Attack => ExpectOne {
                decision_in: Some(vec![Verdict::Deny, Verdict::Escalate]),
                ..ExpectOne::default()
            },
            CaseKind::Benign => ExpectOne {
                decision: Some(Verdict::Allow),
                ..ExpectOne::default()
            },
        }
    }
}

/// One entry of `tests:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    pub name: String,
    /// `attack` or `benign` (overrides the suite's `kind`).
    pub kind: Option<CaseKind>,
    /// Fixtures merged, in order, under `request`.
    #[serde(default, rename = "use")]
    pub uses: OneOrMany,
    pub request: Option<Json>,
    /// Attribute path → values; one case per combination.
    pub matrix: Option<Ordered<Vec<Json>>>,
    pub stream: Option<Vec<RawStep>>,
    pub expect: Option<RawExpect>,
}

/// One step of a stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    #[serde(default, rename = "use")]
    pub uses: OneOrMany,
    pub request: Option<Json>,
    /// How many events this step sends (default 1).
    pub repeat: Option<u64>,
    /// Time between the events of this step, and from the previous step when `ts` is absent.
    pub every: Option<String>,
    pub expect: Option<ExpectOne>,
}

/// A string or a list of strings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping whose order is kept and whose keys must be distinct.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(o, _)| *o == k) {
                        return Err(de::Error::custom(format!("duplicate key `{k}`")));
                    }
                    let v = map.next_value::<T>()?;
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// `expect:` of a case: one expectation, or one per matrix combination.
#[derive(Debug, Clone, PartialEq)]
pub enum RawExpect {
    One(ExpectOne),
    List(Vec<ExpectOne>),
}

/// One expectation. Absent fields are not checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectOne {
    pub decision: Option<Verdict>,
    /// The verdict is one of these (the expectation of an `attack` case: `deny` or
    /// `escalate`); not written in suites.
    pub decision_in: Option<Vec<Verdict>>,
    /// The determining rules, as a set.
    pub rules: Option<Vec<String>>,
    /// The `because` messages of the determining rules, in any order.
    pub messages: Option<Vec<String>>,
    /// The `warn` rules that matched, as a set.
    pub warnings: Option<Vec<WarnExpect>>,
    /// The unknown attributes, as a set.
    pub unknown: Option<Vec<String>>,
}

/// An expected warning: a rule id, optionally with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarnExpect {
    pub rule: String,
    pub message: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WarnFields {
    rule: String,
    message: Option<String>,
}

impl<'de> Deserialize<'de> for WarnExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WarnExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rule id or a mapping with `rule` and `message`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WarnExpect, E> {
                Ok(WarnExpect {
                    rule: v.to_string(),
                    message: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<WarnExpect, A::Error> {
                let f = WarnFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(WarnExpect {
                    rule: f.rule,
                    message: f.message,
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_verdict<E: de::Error>(v: &str) -> Result<Verdict, E> {
    Verdict::parse(v).ok_or_else(|| {
        E::custom(format!(
            "unknown decision `{v}`, expected `allow`, `deny` or `escalate`"
        ))
    })
}

fn verdict_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Verdict>, D::Error> {
    let s = String::deserialize(d)?;
    parse_verdict(&s).map(Some)
}

impl<'de> Deserialize<'de> for ExpectOne {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExpectVisitor { list: false })
            .and_then(|e| match e {
                RawExpect::One(one) => Ok(one),
                RawExpect::List(_) => Err(de::Error::custom("expected one expectation")),
            })
    }
}

impl<'de> Deserialize<'de> for RawExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExpectVisitor { list: true })
    }
}

/// The fields of an expectation written as a mapping.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFields {
    #[serde(default, deserialize_with = "verdict_opt")]
    decision: Option<Verdict>,
    rules: Option<Vec<String>>,
    messages: Option<Vec<String>>,
    warnings: Option<Vec<WarnExpect>>,
    unknown: Option<Vec<String>>,
}

struct ExpectVisitor {
    list: bool,
}

impl<'de> Visitor<'de> for ExpectVisitor {
    type Value = RawExpect;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.list {
            f.write_str(
                "`allow`, `deny`, `escalate`, a mapping of expected fields, or a list of those",
            )
        } else {
            f.write_str("`allow`, `deny`, `escalate` or a mapping of expected fields")
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawExpect, E> {
        Ok(RawExpect::One(ExpectOne {
            decision: Some(parse_verdict(v)?),
            ..ExpectOne::default()
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawExpect, A::Error> {
        let f = ExpectFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(RawExpect::One(ExpectOne {
            decision: f.decision,
            decision_in: None,
            rules: f.rules,
            messages: f.messages,
            warnings: f.warnings,
            unknown: f.unknown,
        }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawExpect, A::Error> {
        if !self.list {
            return Err(de::Error::custom(
                "a list of expectations is only for a matrix; a stream step takes one",
            ));
        }
        let mut out = Vec::new();
        while let Some(e) = seq.next_element::<ExpectOne>()? {
            out.push(e);
        }
        Ok(RawExpect::List(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawSuite, String> {
        serde_yaml::from_str::<RawSuite>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn shorthands_and_full_forms() {
        let s = parse(
            "bundle: ../p\nfixtures: {b: {x: 1}, a: {y: 2}}\ntests:\n\
             - {name: one, use: a, request: {tool: t}, expect: allow}\n\
             - name: two\n  use: [a, b]\n  expect: {decision: deny, rules: [p.r], warnings: [p.w, {rule: p.v, message: m}]}\n\
             - name: three\n  matrix: {args.n: [1, 2]}\n  expect: [allow, {decision: escalate}]\n",
        )
        .unwrap();
        assert_eq!(s.bundle.0, vec!["../p"]);
        let names: Vec<&str> = s.fixtures.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        let t = &s.tests;
        assert_eq!(t[0].uses.0, vec!["a"]);
        assert_eq!(
            t[0].expect,
            Some(RawExpect::One(ExpectOne {
                decision: Some(Verdict::Allow),
                ..ExpectOne::default()
            }))
        );
        let Some(RawExpect::One(e)) = &t[1].expect else {
            panic!("one expectation")
        };
        assert_eq!(e.decision, Some(Verdict::Deny));
        assert_eq!(
            e.warnings.as_ref().unwrap()[1].message.as_deref(),
            Some("m")
        );
        assert!(matches!(&t[2].expect, Some(RawExpect::List(l)) if l.len() == 2));
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse("bundle: p\ntests:\n  - name: a\n    expct: allow\n").unwrap_err();
        assert!(e.contains("unknown field `expct`"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        let e = parse("bundle: p\ntests:\n  - name: a\n    expect: alow\n").unwrap_err();
        assert!(e.contains("unknown decision `alow`"), "{e}");
        let e = parse("bundle: p\ntests:\n  - name: a\n    expect: {decison: deny}\n").unwrap_err();
        assert!(e.contains("unknown field `decison`"), "{e}");
        let e = parse("bundle: p\nfixtures: {a: {}, a: {}}\ntests: []\n").unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
        let e = parse("bundle: p\ntests:\n  - name: a\n    stream:\n      - {expect: [allow]}\n")
            .unwrap_err();
        assert!(e.contains("only for a matrix"), "{e}");
    }
}
