//! What a bundle declares beyond the built-in request: its own attributes
//! (`attribute context.tenant: string`) and sets read from data files
//! (`set blocked_hosts = file("data/blocked_hosts.txt")`).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::data::{self, DataError};
use super::ir::*;
use super::{Checker, FileRef, LoadedData, codes, position, schema};
use crate::diag::{Diag, SourceFile};
use crate::syntax::ast::{self, Span};

impl Checker<'_> {
    /// Checks one `attribute PATH: TYPE` and records it. A declaration may add attributes
    /// anywhere but on a built-in one: not equal to a built-in attribute, not inside one, not a
    /// built-in record as a whole, not under `args` (typed by tool declarations) nor `time`
    /// (derived from `ts`), and not inside or around another declaration.
    pub(crate) fn attribute(&mut self, f: FileRef<'_>, a: &ast::AttributeDecl) {
        let segs: Vec<String> = a.path.segments.iter().map(|s| s.name.clone()).collect();
        let shown = a.path.display();
        let Some(root) = segs.first() else { return };
        let span = a.path.span;
        let clash = |message: String, label: &str, help: String| {
            Diag::error(codes::DECLARATION, message)
                .at(f.src, span, label.to_string())
                .help(help)
        };
        let refusal = if root == "args" {
            Some(clash(
                format!("`{shown}` cannot be declared as an attribute"),
                "`args.*` is typed by tool declarations",
                "declare the argument in its tool: `tool NAME(arg: type, …)`".into(),
            ))
        } else if root == "time" {
            Some(clash(
                format!("`{shown}` cannot be declared as an attribute"),
                "`time.*` is derived from `ts`",
                "`time.hour` and `time.weekday` are built in; give the attribute another name"
                    .into(),
            ))
        } else if segs.len() == 1 && schema::RECORDS.contains(&root.as_str()) {
            Some(clash(
                format!("`{shown}` is a built-in record"),
                "built in",
                format!("declare fields of it one by one, e.g. `attribute {shown}.team: string`"),
            ))
        } else {
            schema::BUILTINS.iter().find_map(|b| {
                let bsegs: Vec<&str> = b.path.split('.').collect();
                let mine: Vec<&str> = segs.iter().map(String::as_str).collect();
                if bsegs == mine {
                    Some(clash(
                        format!("`{shown}` is a built-in attribute"),
                        &format!("built in as {}", b.ty.name()),
                        "built-in attributes are typed already: remove the declaration, or give \
                         the attribute another name"
                            .into(),
                    ))
                } else if mine.starts_with(&bsegs) {
                    Some(clash(
                        format!("`{}` is a built-in {}, not a record", b.path, b.ty.name()),
                        "inside a built-in attribute",
                        "give the attribute another name".into(),
                    ))
                } else if bsegs.starts_with(&mine) {
                    Some(clash(
                        format!("`{shown}` is a built-in record"),
                        "built in",
                        format!(
                            "declare fields of it one by one, e.g. `attribute {shown}.team: string`"
                        ),
                    ))
                } else {
                    None
                }
            })
        };
        if let Some(d) = refusal {
            self.error(d);
            return;
        }
        let overlap = self.attrs.values().find(|d| {
            let other = d.path.segments();
            segs.starts_with(other) || other.starts_with(&segs)
        });
        if let Some(d) = overlap {
            let at = self
                .files
                .get(d.loc.file as usize)
                .map(|pf| position(pf, d.loc.span))
                .unwrap_or_default();
            let message = if d.path.segments() == segs.as_slice() {
                format!("attribute `{shown}` is declared twice")
            } else {
                format!("attribute `{shown}` overlaps `{}`", d.path)
            };
            self.error(
                Diag::error(codes::DUPLICATE, message)
                    .at(f.src, span, "declared again here")
                    .help(format!(
                        "`{}` is declared at {at}; declare each attribute once, either as a \
                         record or field by field",
                        d.path
                    )),
            );
            return;
        }
        let Some(ty) = self.decl_ty(f, &a.ty) else {
            return;
        };
        self.attrs.insert(
            segs.clone(),
            AttrSig {
                path: Attr::new(segs),
                ty,
                doc: a.meta.doc_text(),
                loc: f.loc(span),
            },
        );
    }

    /// Whether a declared attribute starts with `name` (so `name` cannot be a set).
    pub(crate) fn is_declared_root(&self, name: &str) -> bool {
        self.attrs
            .keys()
            .any(|k| k.first().is_some_and(|r| r == name))
    }

    /// Every declared attribute and field path, dotted, for suggestions.
    pub(crate) fn declared_names(&self) -> Vec<String> {
        fn walk(prefix: &str, ty: &DeclTy, out: &mut Vec<String>) {
            out.push(prefix.to_string());
            if let DeclTy::Record(fields) = ty {
                for (n, t) in fields {
                    walk(&format!("{prefix}.{n}"), t, out);
                }
            }
        }
        let mut out = Vec::new();
        for a in self.attrs.values() {
            walk(&a.path.segments().join("."), &a.ty, &mut out);
        }
        out
    }

    /// The items of `set name = file("…")`, read through the bundle's data source once per
    /// file; `None` (with the error reported) when the file cannot be used.
    pub(crate) fn data_set(
        &mut self,
        f: FileRef<'_>,
        set: &str,
        path: &ast::Spanned<String>,
    ) -> Option<Arc<[Const]>> {
        let dn = match data::resolve(&f.src.name, &path.node) {
            Ok(n) => n,
            Err(why) => {
                self.error(
                    Diag::error(
                        codes::DATA,
                        format!("data file `{}` cannot be read", path.node),
                    )
                    .at(f.src, path.span, why)
                    .help(
                        "name a file in the directory of the policy file or below it, such as \
                         `file(\"data/hosts.txt\")`",
                    ),
                );
                return None;
            }
        };
        if let Some(loaded) = self.data_files.get_mut(&dn.name) {
            let (values, info, _) = loaded.as_mut()?;
            if !info.sets.iter().any(|s| s == set) {
                info.sets.push(set.to_string());
            }
            return Some(Arc::clone(values));
        }
        let loaded = self.load_data(f, path.span, &dn, set);
        let values = loaded.as_ref().map(|(v, _, _)| Arc::clone(v));
        self.data_files.insert(dn.name, loaded);
        values
    }

    fn load_data(
        &mut self,
        f: FileRef<'_>,
        span: Span,
        dn: &data::DataName,
        set: &str,
    ) -> Option<LoadedData> {
        let name = &dn.name;
        let left = data::MAX_DATA_TOTAL.saturating_sub(self.data_total);
        let limit = data::MAX_DATA_FILE.min(left);
        let bytes = match self.data.read(dn, limit) {
            Ok(b) => b,
            Err(e) => {
                let (label, help) = match e {
                    DataError::Unreadable(why) => (
                        format!("cannot read `{name}`: {why}"),
                        "data files are read relative to the policy file that names them"
                            .to_string(),
                    ),
                    DataError::TooLarge if limit < data::MAX_DATA_FILE => (
                        format!(
                            "`{name}` would take the data of the bundle past {} MiB",
                            data::MAX_DATA_TOTAL >> 20
                        ),
                        format!(
                            "a bundle reads at most {} MiB of data files in all",
                            data::MAX_DATA_TOTAL >> 20
                        ),
                    ),
                    DataError::TooLarge => (
                        format!("`{name}` is larger than {} MiB", data::MAX_DATA_FILE >> 20),
                        format!(
                            "a data file holds at most {} MiB; split it into several sets",
                            data::MAX_DATA_FILE >> 20
                        ),
                    ),
                    DataError::Outside => (
                        format!("`{name}` leads outside the directory of the policy file"),
                        "a data file (or the link it is) must lie in the policy's directory"
                            .to_string(),
                    ),
                };
                self.error(
                    Diag::error(codes::DATA, format!("data file `{name}` cannot be read"))
                        .at(f.src, span, label)
                        .help(help),
                );
                return None;
            }
        };
        self.data_total = self.data_total.saturating_add(bytes.len() as u64);
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        let size = bytes.len() as u64;
        let text = match String::from_utf8(bytes) {
            Ok(t) => crate::source::without_bom(t),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let before = e.as_bytes().get(..valid).unwrap_or(&[]);
                let (line, column) =
                    crate::diag::line_col(std::str::from_utf8(before).unwrap_or(""), valid);
                self.error(
                    Diag::error(
                        codes::DATA,
                        format!(
                            "data file `{name}` is not valid UTF-8 at line {line}, column {column}"
                        ),
                    )
                    .at(f.src, span, format!("`{name}` is read here"))
                    .help("data files are UTF-8 text: save the file as UTF-8"),
                );
                return None;
            }
        };
        let values = match data::parse(name, &text) {
            Ok(v) => Arc::<[Const]>::from(dedup_consts(v)),
            Err(e) => {
                let src = SourceFile::new(name.clone(), text);
                let (line, _) = src.line_col(e.start);
                let mut d = Diag::error(
                    codes::DATA,
                    format!("{} (data file `{name}`, line {line})", e.message),
                )
                .at(&src, Span::new(e.start, e.end), e.label);
                if let Some((s, end, label)) = e.related {
                    d = d.label(Span::new(s, end), label);
                }
                d = d.help(format!("read for set `{set}` at {}", position(f.src, span)));
                self.error(d);
                return None;
            }
        };
        let info = DataInfo {
            name: name.clone(),
            bytes: size,
            items: values.len(),
            digest: format!(
                "sha256:{}",
                sha.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
            sets: vec![set.to_string()],
        };
        Some((values, info, sha))
    }
}
