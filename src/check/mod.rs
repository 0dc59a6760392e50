//! Names and types: syntax trees → a checked [`Bundle`].
//!
//! Collects every error of every file: unknown attributes (with a did-you-mean), type errors,
//! bad regexes and globs, duplicate rules, undefined sets, more than one `default`, and
//! `args.*` typed through `tool` declarations.

pub mod data;
mod declared;
pub mod expr;
pub mod ir;
pub mod pattern;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::diag::{Diag, SourceFile, did_you_mean};
use crate::syntax::ast::{self, Effect, Span};
pub use ir::*;

/// Diagnostic codes of the checker.
pub mod codes {
    pub const UNKNOWN_ATTRIBUTE: &str = "govern::unknown-attribute";
    pub const UNKNOWN_ARGUMENT: &str = "govern::unknown-argument";
    pub const TYPE: &str = "govern::type";
    pub const REGEX: &str = "govern::invalid-regex";
    pub const GLOB: &str = "govern::invalid-glob";
    pub const DUPLICATE: &str = "govern::duplicate";
    pub const UNDEFINED_SET: &str = "govern::undefined-set";
    pub const DEFAULT: &str = "govern::duplicate-default";
    pub const FUNCTION: &str = "govern::function";
    pub const STATEFUL: &str = "govern::stateful";
    pub const ACTION: &str = "govern::unknown-action";
    pub const ANNOTATION: &str = "govern::annotation";
    pub const DECLARATION: &str = "govern::declaration";
    pub const DATA: &str = "govern::data";
}

/// Parses and checks a set of source files as one bundle, without data files (a
/// `set … = file("…")` is an error): for policies held in memory.
pub fn check_sources(files: Vec<SourceFile>) -> Result<Bundle, Vec<Diag>> {
    check_sources_with(files, &data::NoData)
}

/// Parses and checks a set of source files as one bundle, reading data files from `data`.
pub fn check_sources_with(
    mut files: Vec<SourceFile>,
    data: &dyn data::DataSource,
) -> Result<Bundle, Vec<Diag>> {
    // The order files are given in never matters: they are read in name order.
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut asts = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for f in &files {
        match crate::syntax::parse_file(f) {
            Ok(ast) => asts.push(ast),
            Err(mut es) => errors.append(&mut es),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    check_with(files, asts, data)
}

/// Checks parsed files as one bundle, without data files.
pub fn check(files: Vec<SourceFile>, asts: Vec<ast::File>) -> Result<Bundle, Vec<Diag>> {
    check_with(files, asts, &data::NoData)
}

/// Checks parsed files as one bundle, reading data files from `data`.
pub fn check_with(
    files: Vec<SourceFile>,
    asts: Vec<ast::File>,
    data: &dyn data::DataSource,
) -> Result<Bundle, Vec<Diag>> {
    let mut c = Checker {
        files: &files,
        diags: Vec::new(),
        tools: BTreeMap::new(),
        attrs: BTreeMap::new(),
        sets: BTreeMap::new(),
        bad_sets: BTreeSet::new(),
        statefuls: Vec::new(),
        data,
        data_files: BTreeMap::new(),
        data_total: 0,
    };
    c.declarations(&asts);
    let (policies, rules) = c.policies(&asts);
    let default = c.default(&asts);
    let errors: Vec<Diag> = c.diags.into_iter().filter(Diag::is_error).collect();
    if !errors.is_empty() {
        let mut errors = errors;
        crate::diag::sort(&mut errors);
        return Err(errors);
    }
    let mut hasher = Sha256::new();
    let mut order: Vec<&SourceFile> = files.iter().collect();
    order.sort_by(|a, b| a.recorded_name().cmp(b.recorded_name()));
    for f in order {
        let name = f.recorded_name();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((f.text.len() as u64).to_le_bytes());
        hasher.update(f.text.as_bytes());
    }
    // Data files after the sources, in name order: their names and the SHA-256 of their bytes.
    let mut data_infos = Vec::with_capacity(c.data_files.len());
    for (name, loaded) in c.data_files {
        let Some((_, info, sha)) = loaded else {
            continue;
        };
        hasher.update(b"data");
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(sha);
        data_infos.push(info);
    }
    let source_digest: [u8; 32] = hasher.finalize().into();
    let (default, default_loc) = default;
    Ok(Bundle {
        tools: c.tools.into_values().collect(),
        attributes: c.attrs.into_values().collect(),
        sets: c.sets.into_values().collect(),
        data: data_infos,
        default,
        default_loc,
        policies,
        rules,
        statefuls: c.statefuls,
        source_digest,
        files,
        asts,
    })
}

pub(crate) struct Checker<'a> {
    pub(crate) files: &'a [SourceFile],
    pub(crate) diags: Vec<Diag>,
    pub(crate) tools: BTreeMap<String, ToolSig>,
    /// Declared attributes by path.
    pub(crate) attrs: BTreeMap<Vec<String>, AttrSig>,
    pub(crate) sets: BTreeMap<String, SetInfo>,
    /// Sets whose definition is wrong: already reported, so uses stay quiet.
    pub(crate) bad_sets: BTreeSet<String>,
    pub(crate) statefuls: Vec<Stateful>,
    data: &'a dyn data::DataSource,
    /// Data files by name: their items, what is reported of them and the SHA-256 of their
    /// bytes; `None` when reading failed (reported once).
    data_files: BTreeMap<String, Option<LoadedData>>,
    data_total: u64,
}

type LoadedData = (Arc<[Const]>, DataInfo, [u8; 32]);

/// Which file of the bundle is being checked.
#[derive(Clone, Copy)]
pub(crate) struct FileRef<'a> {
    pub(crate) idx: u32,
    pub(crate) src: &'a SourceFile,
}

impl FileRef<'_> {
    pub(crate) fn loc(&self, span: Span) -> Loc {
        Loc {
            file: self.idx,
            span,
        }
    }
}

impl<'a> Checker<'a> {
    fn file(&self, idx: usize) -> Option<FileRef<'a>> {
        let files: &'a [SourceFile] = self.files;
        files.get(idx).map(|src| FileRef {
            idx: u32::try_from(idx).unwrap_or(u32::MAX),
            src,
        })
    }

    pub(crate) fn error(&mut self, d: Diag) {
        self.diags.push(d);
    }

    /// Tools and sets, from every file, before any rule is checked.
    fn declarations(&mut self, asts: &[ast::File]) {
        // Declared attributes first: tools, sets and conditions are checked against them.
        for (i, file) in asts.iter().enumerate() {
            let Some(f) = self.file(i) else { continue };
            for item in &file.items {
                if let ast::Item::Attribute(a) = item {
                    self.no_annotations(f, &a.meta, "attribute declarations");
                    self.attribute(f, a);
                }
            }
        }
        let mut set_decls: BTreeMap<String, (FileRef<'a>, &ast::SetDecl)> = BTreeMap::new();
        for (i, file) in asts.iter().enumerate() {
            let Some(f) = self.file(i) else { continue };
            for item in &file.items {
                match item {
                    ast::Item::Tool(t) => {
                        self.no_annotations(f, &t.meta, "tool declarations");
                        self.tool(f, t);
                    }
                    ast::Item::Set(s) => {
                        self.no_annotations(f, &s.meta, "sets");
                        if let Some((pf, prev)) = set_decls.get(&s.name.node) {
                            let d = Diag::error(
                                codes::DUPLICATE,
                                format!("set `{}` is defined twice", s.name.node),
                            )
                            .at(f.src, s.name.span, "defined again here")
                            .help(format!(
                                "the first definition is at {}",
                                position(pf.src, prev.name.span)
                            ));
                            self.error(d);
                            continue;
                        }
                        if schema::builtin(&s.name.node).is_some()
                            || schema::RECORDS.contains(&s.name.node.as_str())
                            || self.is_declared_root(&s.name.node)
                        {
                            let d = Diag::error(
                                codes::DUPLICATE,
                                format!("set `{}` has the name of an attribute", s.name.node),
                            )
                            .at(f.src, s.name.span, "choose another name")
                            .help("`x in NAME` must be unambiguous between a set and an attribute");
                            self.error(d);
                            continue;
                        }
                        set_decls.insert(s.name.node.clone(), (f, s));
                    }
                    _ => {}
                }
            }
        }
        // Resolve sets, splicing sets named inside other sets.
        let names: Vec<String> = set_decls.keys().cloned().collect();
        for name in names {
            let mut stack = Vec::new();
            let resolved = self.resolve_set(&name, &set_decls, &mut stack);
            if resolved.is_none() {
                self.bad_sets.insert(name.clone());
            }
            if let Some(values) = resolved
                && let Some((f, decl)) = set_decls.get(&name)
            {
                let file = match &decl.body {
                    ast::SetBody::File(p) => {
                        data::resolve(&f.src.name, &p.node).ok().map(|n| n.name)
                    }
                    ast::SetBody::List(_) => None,
                };
                let info = SetInfo {
                    name: name.clone(),
                    values,
                    loc: f.loc(decl.name.span),
                    file,
                };
                self.sets.insert(name, info);
            }
        }
    }

    fn resolve_set(
        &mut self,
        name: &str,
        decls: &BTreeMap<String, (FileRef<'a>, &ast::SetDecl)>,
        stack: &mut Vec<String>,
    ) -> Option<Arc<[Const]>> {
        if let Some(s) = self.sets.get(name) {
            return Some(Arc::clone(&s.values));
        }
        let (f, decl) = *decls.get(name)?;
        if stack.iter().any(|s| s == name) {
            let d = Diag::error(
                codes::UNDEFINED_SET,
                format!("set `{name}` contains itself"),
            )
            .at(f.src, decl.name.span, "through this set")
            .help(format!("the cycle: {} -> {name}", stack.join(" -> ")));
            self.error(d);
            return None;
        }
        let items = match &decl.body {
            ast::SetBody::List(items) => items,
            ast::SetBody::File(path) => return self.data_set(f, name, path),
        };
        stack.push(name.to_string());
        let mut values = Vec::new();
        let mut kind: Option<(Scalar, Span)> = None;
        let mut ok = true;
        for item in items {
            let (vals, span) = match item {
                ast::ListItem::Literal(l) => {
                    match literal_const(l) {
                        Some(c) => (Arc::from([c]), l.span),
                        None => {
                            self.error(
                                Diag::error(codes::TYPE, "sets hold strings, numbers or booleans")
                                    .at(f.src, l.span, "a duration cannot be in a set"),
                            );
                            ok = false;
                            continue;
                        }
                    }
                }
                ast::ListItem::Set(ident) => {
                    if !decls.contains_key(&ident.node) {
                        let mut d = Diag::error(
                            codes::UNDEFINED_SET,
                            format!("undefined set `{}`", ident.node),
                        )
                        .at(f.src, ident.span, "no set has this name");
                        if let Some(s) = did_you_mean(&ident.node, decls.keys().map(String::as_str))
                        {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        self.error(d);
                        ok = false;
                        continue;
                    }
                    match self.resolve_set(&ident.node, decls, stack) {
                        Some(v) => (v, ident.span),
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            for v in vals.iter() {
                match kind {
                    None => kind = Some((v.scalar(), span)),
                    Some((k, first)) if k != v.scalar() => {
                        self.error(
                            Diag::error(
                                codes::TYPE,
                                format!(
                                    "set `{name}` mixes {} and {}",
                                    k.name(),
                                    v.scalar().name()
                                ),
                            )
                            .at(f.src, span, format!("a {}", v.scalar().name()))
                            .label(first, format!("the first item is a {}", k.name())),
                        );
                        ok = false;
                    }
                    _ => {}
                }
                values.push(v.clone());
            }
        }
        stack.pop();
        ok.then(|| dedup_consts(values).into())
    }

    fn no_annotations(&mut self, f: FileRef<'_>, meta: &ast::Meta, what: &str) {
        for a in &meta.annotations {
            self.error(
                Diag::error(
                    codes::ANNOTATION,
                    format!("annotations do not apply to {what}"),
                )
                .at(f.src, a.span, "remove this annotation")
                .help("`@tag(…)` and `@severity(…)` go in front of a policy or a rule"),
            );
        }
    }

    fn tool(&mut self, f: FileRef<'_>, t: &ast::ToolDecl) {
        if let Some(prev) = self.tools.get(&t.name.node) {
            let first = self
                .files
                .get(prev.loc.file as usize)
                .map(|pf| position(pf, prev.loc.span))
                .unwrap_or_default();
            self.error(
                Diag::error(
                    codes::DUPLICATE,
                    format!("tool `{}` is declared twice", t.name.node),
                )
                .at(f.src, t.name.span, "declared again here")
                .help(format!("the first declaration is at {first}")),
            );
            return;
        }
        let params = self.params(f, &t.params);
        self.tools.insert(
            t.name.node.clone(),
            ToolSig {
                name: t.name.node.clone(),
                params,
                doc: t.meta.doc_text(),
                loc: f.loc(t.name.span),
            },
        );
    }

    fn params(&mut self, f: FileRef<'_>, params: &[ast::Param]) -> Vec<(String, DeclTy)> {
        let mut out: Vec<(String, DeclTy)> = Vec::new();
        for p in params {
            if out.iter().any(|(n, _)| *n == p.name.node) {
                self.error(
                    Diag::error(
                        codes::DUPLICATE,
                        format!("argument `{}` is declared twice", p.name.node),
                    )
                    .at(f.src, p.name.span, "declared again here"),
                );
                continue;
            }
            if let Some(ty) = self.decl_ty(f, &p.ty) {
                out.push((p.name.node.clone(), ty));
            }
        }
        out
    }

    fn decl_ty(&mut self, f: FileRef<'_>, t: &ast::TypeExpr) -> Option<DeclTy> {
        match &t.kind {
            ast::TypeKind::Named(n) => match n.as_str() {
                "string" => Some(DeclTy::String),
                "number" => Some(DeclTy::Number),
                "bool" => Some(DeclTy::Bool),
                other => {
                    let mut d = Diag::error(codes::DECLARATION, format!("unknown type `{other}`"))
                        .at(f.src, t.span, "not a type");
                    let hint = did_you_mean(other, ["string", "number", "bool"]);
                    d = d.help(match hint {
                        Some(h) => format!("did you mean `{h}`? types are string, number, bool, list<T> and {{field: T, …}}"),
                        None => "types are string, number, bool, list<T> and {field: T, …}".to_string(),
                    });
                    self.error(d);
                    None
                }
            },
            ast::TypeKind::List(inner) => {
                let it = self.decl_ty(f, inner)?;
                if !matches!(it, DeclTy::String | DeclTy::Number | DeclTy::Bool) {
                    self.error(
                        Diag::error(
                            codes::DECLARATION,
                            "list items must be string, number or bool",
                        )
                        .at(f.src, inner.span, "not a scalar type"),
                    );
                    return None;
                }
                Some(DeclTy::List(Box::new(it)))
            }
            ast::TypeKind::Record(fields) => Some(DeclTy::Record(self.params(f, fields))),
        }
    }

    fn default(&mut self, asts: &[ast::File]) -> (Verdict, Option<Loc>) {
        let mut found: Vec<(FileRef<'a>, &ast::DefaultDecl)> = Vec::new();
        for (i, file) in asts.iter().enumerate() {
            let Some(f) = self.file(i) else { continue };
            for item in &file.items {
                if let ast::Item::Default(d) = item {
                    self.no_annotations(f, &d.meta, "`default`");
                    found.push((f, d));
                }
            }
        }
        if let Some(((f0, first), rest)) = found.split_first() {
            for (f, d) in rest {
                self.error(
                    Diag::error(codes::DEFAULT, "a bundle has at most one `default`")
                        .at(f.src, d.span, "a second default")
                        .help(format!("the first is at {}", position(f0.src, first.span))),
                );
            }
            let v = match first.effect.node {
                Effect::Allow => Verdict::Allow,
                _ => Verdict::Deny,
            };
            return (v, Some(f0.loc(first.span)));
        }
        (Verdict::Deny, None)
    }

    fn policies(&mut self, asts: &[ast::File]) -> (Vec<PolicyInfo>, Vec<Rule>) {
        let mut policies: Vec<PolicyInfo> = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
        for (i, file) in asts.iter().enumerate() {
            let Some(f) = self.file(i) else { continue };
            for item in &file.items {
                let ast::Item::Policy(p) = item else { continue };
                if let Some(prev) = seen.get(&p.name.node) {
                    let first = self
                        .files
                        .get(prev.file as usize)
                        .map(|pf| position(pf, prev.span))
                        .unwrap_or_default();
                    self.error(
                        Diag::error(codes::DUPLICATE, format!("policy `{}` is defined twice", p.name.node))
                            .at(f.src, p.name.span, "defined again here")
                            .help(format!("the first definition is at {first}; rule ids `policy.rule` must be unique")),
                    );
                    continue;
                }
                seen.insert(p.name.node.clone(), f.loc(p.name.span));
                let idx = policies.len();
                let info = self.policy(f, p, idx, &mut rules);
                policies.push(info);
            }
        }
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        (policies, rules)
    }

    fn policy(
        &mut self,
        f: FileRef<'a>,
        p: &ast::Policy,
        idx: usize,
        rules: &mut Vec<Rule>,
    ) -> PolicyInfo {
        // The grammar allows repeats; the language does not.
        let mut desc_count = 0;
        let mut applies_count = 0;
        for m in &p.order {
            match m {
                ast::Member::Description => desc_count += 1,
                ast::Member::Applies => applies_count += 1,
                ast::Member::Rule(_) => {}
            }
        }
        if desc_count > 1 || applies_count > 1 {
            let what = if desc_count > 1 {
                "`description`"
            } else {
                "`applies when`"
            };
            self.error(
                Diag::error(
                    codes::DUPLICATE,
                    format!("policy `{}` has more than one {what}", p.name.node),
                )
                .at(f.src, p.name.span, "in this policy")
                .help("combine the conditions with `and` into one `applies when`"),
            );
        }
        let (tags, _) = self.annotations(f, &p.meta, false);
        let applies = p.applies.as_ref().and_then(|e| {
            let ctx = expr::ToolCtx::any();
            self.cond(f, e, &ctx)
        });
        let applies_tools = p.applies.as_ref().and_then(expr::tool_constraint);
        let mut names: BTreeMap<&str, Span> = BTreeMap::new();
        for r in &p.rules {
            if let Some(prev) = names.get(r.name.node.as_str()) {
                self.error(
                    Diag::error(
                        codes::DUPLICATE,
                        format!("duplicate rule id `{}.{}`", p.name.node, r.name.node),
                    )
                    .at(f.src, r.name.span, "a second rule with this name")
                    .label(*prev, "the first"),
                );
                continue;
            }
            names.insert(&r.name.node, r.name.span);
            if let Some(rule) = self.rule(f, p, idx, r, applies.as_ref(), applies_tools.as_ref()) {
                rules.push(rule);
            }
        }
        PolicyInfo {
            name: p.name.node.clone(),
            description: p.description.as_ref().map(|d| d.node.clone()),
            doc: p.meta.doc_text(),
            tags,
            applies,
            loc: f.loc(p.name.span),
        }
    }

    /// `@tag(…)` and `@severity(…)`: returns the tags and the severity.
    fn annotations(
        &mut self,
        f: FileRef<'_>,
        meta: &ast::Meta,
        allow_severity: bool,
    ) -> (Vec<String>, Option<String>) {
        let mut tags = Vec::new();
        let mut severity: Option<(String, crate::syntax::ast::Span)> = None;
        for a in &meta.annotations {
            match a.name.node.as_str() {
                "tag" => {
                    if a.args.is_empty() {
                        self.error(
                            Diag::error(codes::ANNOTATION, "`@tag` needs at least one string")
                                .at(f.src, a.span, "for example @tag(\"ASI-02\")"),
                        );
                    }
                    for arg in &a.args {
                        match &arg.kind {
                            ast::LiteralKind::String(s, _) => tags.push(s.clone()),
                            _ => self.error(
                                Diag::error(codes::ANNOTATION, "tags are strings").at(f.src, arg.span, "not a string"),
                            ),
                        }
                    }
                }
                "severity" if allow_severity => match a.args.as_slice() {
                    [arg] => match &arg.kind {
                        ast::LiteralKind::String(s, _) if schema::SEVERITIES.contains(&s.as_str()) => {
                            if let Some((_, first)) = &severity {
                                let (l, c) = f.src.line_col(first.start as usize);
                                self.error(
                                    Diag::error(codes::ANNOTATION, "a rule has at most one `@severity`")
                                        .at(f.src, a.span, "a second severity")
                                        .help(format!("the first is at {}:{l}:{c}; keep one", f.src.name)),
                                );
                            } else {
                                severity = Some((s.clone(), a.span));
                            }
                        }
                        _ => self.error(
                            Diag::error(codes::ANNOTATION, "unknown severity")
                                .at(f.src, arg.span, "not a severity")
                                .help("severity is one of \"low\", \"medium\", \"high\", \"critical\""),
                        ),
                    },
                    _ => self.error(
                        Diag::error(codes::ANNOTATION, "`@severity` takes one string")
                            .at(f.src, a.span, "for example @severity(\"high\")"),
                    ),
                },
                "severity" => self.error(
                    Diag::error(codes::ANNOTATION, "`@severity` applies to rules")
                        .at(f.src, a.span, "not on a policy"),
                ),
                other => {
                    let mut d = Diag::error(codes::ANNOTATION, format!("unknown annotation `@{other}`"))
                        .at(f.src, a.name.span, "not an annotation");
                    d = d.help(match did_you_mean(other, ["tag", "severity"]) {
                        Some(s) => format!("did you mean `@{s}`? annotations are @tag(…) and @severity(…)"),
                        None => "annotations are @tag(…) and @severity(…)".to_string(),
                    });
                    self.error(d);
                }
            }
        }
        (tags, severity.map(|(s, _)| s))
    }

    fn rule(
        &mut self,
        f: FileRef<'a>,
        p: &ast::Policy,
        policy: usize,
        r: &ast::Rule,
        applies: Option<&Cond>,
        applies_tools: Option<&BTreeSet<String>>,
    ) -> Option<Rule> {
        let (tags, severity) = self.annotations(f, &r.meta, true);
        // The tool context of the whole rule: constraints of `applies` and `when`.
        let mut ctx = expr::ToolCtx::any();
        if let Some(t) = applies_tools {
            ctx = ctx.with(t);
        }
        if let Some(t) = r.when.as_ref().and_then(expr::tool_constraint) {
            ctx = ctx.with(&t);
        }
        let before = self.diags.len();
        let when = match &r.when {
            Some(e) => self.cond(f, e, &ctx),
            None => Some(Cond::Const(true)),
        };
        let unless = match &r.unless {
            Some(e) => self.cond(f, e, &ctx).map(Some),
            None => Some(None),
        };
        if self.diags.len() > before {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(a) = applies {
            parts.push(a.clone());
        }
        parts.push(when?);
        if let Some(u) = unless? {
            parts.push(Cond::Not(Box::new(u)));
        }
        let cond = expr::and_all(parts);
        Some(Rule {
            id: format!("{}.{}", p.name.node, r.name.node),
            policy,
            name: r.name.node.clone(),
            effect: r.effect.node,
            cond,
            message: r.because.as_ref().map(|b| b.node.clone()),
            tags,
            severity,
            doc: r.meta.doc_text(),
            loc: f.loc(r.name.span),
            when_loc: r.when.as_ref().map(|e| f.loc(e.span)),
            unless_loc: r.unless.as_ref().map(|e| f.loc(e.span)),
        })
    }
}

/// `file:line:col` of a span, for help texts that point at another place.
pub(crate) fn position(file: &SourceFile, span: Span) -> String {
    let (l, c) = file.line_col(span.start as usize);
    format!("{}:{l}:{c}", file.name)
}

/// The constant a literal stands for; durations are not values.
pub(crate) fn literal_const(l: &ast::Literal) -> Option<Const> {
    match &l.kind {
        ast::LiteralKind::Bool(b) => Some(Const::Bool(*b)),
        ast::LiteralKind::Number(n, _) => Some(Const::Number(*n)),
        ast::LiteralKind::String(s, _) => Some(Const::String(s.clone())),
        ast::LiteralKind::Duration(_) => None,
    }
}
