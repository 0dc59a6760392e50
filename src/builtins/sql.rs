//! SQL structure: `sql_statements`, `sql_tables` and `sql_read_only`, from a real parser
//! (`sqlparser`) rather than regexes, so that comments, quoting and stacked statements are
//! read the way a database reads them.
//!
//! A text is parsed by five dialects (generic, PostgreSQL, MySQL, SQL Server, SQLite). The
//! dialects that accept it must agree on the statements and on whether they only read;
//! otherwise the text is ambiguous, as `SELECT 'a\'; DROP TABLE t; --'` is (MySQL reads one
//! statement, the others two), and every function of it is unknown. A text no dialect accepts
//! is unknown too. Tables are the union over the dialects that accept the text.
//!
//! Bounds: at most [`MAX_SQL`] bytes and [`MAX_STATEMENTS`] statements (nested ones included),
//! nesting at most [`MAX_DEPTH`] deep, no NUL byte; anything else is unknown. Parsing is linear
//! in the text for each dialect, and the last text analysed is remembered per thread, so that
//! several rules about one query parse it once.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, Query, Select, Statement, Visit, Visitor};
use sqlparser::dialect::{
    Dialect, GenericDialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// The longest SQL text analysed, in bytes.
pub const MAX_SQL: usize = 256 * 1024;

/// The most statements (nested ones included) a text may hold.
pub const MAX_STATEMENTS: usize = 1000;

/// The deepest nesting of expressions and queries the parser follows.
pub const MAX_DEPTH: usize = 50;

/// What the SQL functions say about one text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// The kind of every statement, nested statements after the one holding them.
    pub statements: Vec<&'static str>,
    /// Tables, views and table functions named, by their last name part, lower case; sorted.
    pub tables: Vec<String>,
    /// Whether every statement only reads.
    pub read_only: bool,
}

/// Statement kinds that only read, when nothing inside them writes.
pub const READ_KINDS: [&str; 3] = ["select", "show", "explain"];

/// Functions with effects beyond reading (sleeping, files, processes, sessions, sequences,
/// other servers): a query that calls one does not only read. Compared with the last part of
/// the function's name, in lower case.
pub const EFFECT_FUNCTIONS: &[&str] = &[
    "benchmark",
    "dblink",
    "dblink_connect",
    "dblink_exec",
    "dbms_lock",
    "dbms_pipe",
    "get_lock",
    "lo_export",
    "lo_from_bytea",
    "lo_import",
    "lo_put",
    "lo_unlink",
    "load_extension",
    "load_file",
    "nextval",
    "opendatasource",
    "openquery",
    "openrowset",
    "pg_advisory_lock",
    "pg_advisory_xact_lock",
    "pg_cancel_backend",
    "pg_file_write",
    "pg_logical_emit_message",
    "pg_ls_dir",
    "pg_notify",
    "pg_read_binary_file",
    "pg_read_file",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    "pg_stat_file",
    "pg_switch_wal",
    "pg_terminate_backend",
    "readfile",
    "release_lock",
    "set_config",
    "setval",
    "sleep",
    "sp_configure",
    "sp_executesql",
    "sp_oacreate",
    "sp_oamethod",
    "sys_eval",
    "sys_exec",
    "utl_file",
    "utl_http",
    "utl_inaddr",
    "writefile",
    "xp_cmdshell",
    "xp_dirtree",
    "xp_fileexist",
    "xp_regread",
    "xp_regwrite",
];

thread_local! {
    static LAST: RefCell<Option<(String, Option<Analysis>)>> = const { RefCell::new(None) };
}

/// Analyses `sql`, or `None` when it is unknown (too long, ambiguous, or no dialect parses it).
pub fn analyze(sql: &str) -> Option<Analysis> {
    if sql.len() > MAX_SQL || sql.contains('\0') {
        return None;
    }
    let cached = LAST.with(|last| {
        last.borrow()
            .as_ref()
            .filter(|(text, _)| text == sql)
            .map(|(_, a)| a.clone())
    });
    if let Some(a) = cached {
        return a;
    }
    let a = analyze_uncached(sql);
    LAST.with(|last| *last.borrow_mut() = Some((sql.to_string(), a.clone())));
    a
}

fn analyze_uncached(sql: &str) -> Option<Analysis> {
    let dialects: [&dyn Dialect; 5] = [
        &GenericDialect {},
        &PostgreSqlDialect {},
        &MySqlDialect {},
        &MsSqlDialect {},
        &SQLiteDialect {},
    ];
    let mut agreed: Option<Analysis> = None;
    let mut tables: BTreeSet<String> = BTreeSet::new();
    for d in dialects {
        let Some((a, t)) = parse_with(d, sql) else {
            continue;
        };
        tables.extend(t);
        match &agreed {
            None => agreed = Some(a),
            Some(prev) => {
                if prev.statements != a.statements || prev.read_only != a.read_only {
                    return None;
                }
            }
        }
    }
    let mut a = agreed?;
    a.tables = tables.into_iter().collect();
    Some(a)
}

/// One dialect's reading, statement by statement (so that memory holds one statement's
/// syntax tree at a time), or `None` when the dialect does not accept the text.
fn parse_with(d: &dyn Dialect, sql: &str) -> Option<(Analysis, BTreeSet<String>)> {
    let mut p = Parser::new(d)
        .with_recursion_limit(MAX_DEPTH)
        .try_with_sql(sql)
        .ok()?;
    let mut v = Walk::default();
    let mut expecting_delimiter = false;
    loop {
        while p.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        if p.peek_token_ref().token == Token::EOF {
            break;
        }
        // Statements are separated by `;`: anything else after a statement is refused (the
        // library's own loop would stop silently at an `END`).
        if expecting_delimiter {
            return None;
        }
        let st = p.parse_statement().ok()?;
        if let ControlFlow::Break(()) = st.visit(&mut v) {
            return None;
        }
        expecting_delimiter = true;
    }
    Some((
        Analysis {
            statements: v.kinds,
            tables: Vec::new(),
            read_only: !v.writes,
        },
        v.tables,
    ))
}

#[derive(Default)]
struct Walk {
    kinds: Vec<&'static str>,
    tables: BTreeSet<String>,
    writes: bool,
    /// Statements being visited, outermost first: the depth of the current one.
    depth: usize,
    /// The depth of an `EXPLAIN` without `ANALYZE` being visited: the statement it explains
    /// does not run, so neither its kind nor what it would do counts.
    plan_only: Option<usize>,
}

impl Walk {
    fn table(&mut self, name: &ObjectName) {
        if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
            let n = last.value.to_lowercase();
            if EFFECT_FUNCTIONS.contains(&n.as_str()) {
                self.writes = true;
            }
            self.tables.insert(n);
        }
    }
}

impl Visitor for Walk {
    type Break = ();

    fn pre_visit_statement(&mut self, st: &Statement) -> ControlFlow<()> {
        self.depth += 1;
        if self.plan_only.is_some() {
            return ControlFlow::Continue(());
        }
        if let Statement::Explain {
            analyze, options, ..
        } = st
        {
            let runs = *analyze
                || options
                    .iter()
                    .flatten()
                    .any(|o| o.name.value.eq_ignore_ascii_case("analyze"));
            if !runs {
                self.plan_only = Some(self.depth);
            }
        }
        let k = kind(st);
        if !READ_KINDS.contains(&k) {
            self.writes = true;
        }
        self.kinds.push(k);
        if self.kinds.len() > MAX_STATEMENTS {
            return ControlFlow::Break(());
        }
        // Names the relation visitor does not see.
        match st {
            Statement::Drop { names, table, .. } => {
                for n in names.iter().chain(table.iter()) {
                    self.table(n);
                }
            }
            Statement::Copy {
                source: sqlparser::ast::CopySource::Table { table_name, .. },
                ..
            } => self.table(table_name),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _: &Statement) -> ControlFlow<()> {
        if self.plan_only == Some(self.depth) {
            self.plan_only = None;
        }
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.plan_only.is_some() {
            return ControlFlow::Continue(());
        }
        // `FOR UPDATE` / `FOR SHARE` take locks.
        if !q.locks.is_empty() {
            self.writes = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        if self.plan_only.is_some() {
            return ControlFlow::Continue(());
        }
        // `SELECT … INTO t` creates a table.
        if s.into.is_some() {
            self.writes = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
        self.table(r);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.plan_only.is_some() {
            return ControlFlow::Continue(());
        }
        if let Expr::Function(f) = e
            && let Some(last) = f.name.0.last().and_then(|p| p.as_ident())
        {
            let n = last.value.to_lowercase();
            // `dbms_lock.sleep`, `utl_http.request`: the package names the effect.
            let package = f
                .name
                .0
                .first()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase());
            if EFFECT_FUNCTIONS.contains(&n.as_str())
                || package.is_some_and(|p| EFFECT_FUNCTIONS.contains(&p.as_str()))
            {
                self.writes = true;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Collects the name of an enum variant from its `Debug` output, stopping at the first
/// character that is not part of a name (so the rest of the tree is never formatted).
struct VariantName(String);

impl fmt::Write for VariantName {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if !c.is_ascii_alphanumeric() || self.0.len() >= 48 {
                return Err(fmt::Error);
            }
            self.0.push(c);
        }
        Ok(())
    }
}

/// The kind of a statement: a fixed vocabulary (docs/language.md), `other` for the rest.
pub fn kind(st: &Statement) -> &'static str {
    let mut name = VariantName(String::new());
    let _ = fmt::write(&mut name, format_args!("{st:?}"));
    kind_of_variant(&name.0)
}

fn kind_of_variant(v: &str) -> &'static str {
    match v {
        "Query" => "select",
        "Insert" => "insert",
        "Update" => "update",
        "Delete" => "delete",
        "Merge" => "merge",
        "Truncate" => "truncate",
        "RenameTable" => "alter",
        "Grant" | "GrantRole" => "grant",
        "Revoke" | "RevokeRole" => "revoke",
        "Deny" => "deny",
        "Set" | "Reset" => "set",
        "Explain" | "ExplainTable" => "explain",
        "Use" => "use",
        "StartTransaction" => "begin",
        "Commit" => "commit",
        "Rollback" => "rollback",
        "Savepoint" | "ReleaseSavepoint" => "savepoint",
        "Copy" | "CopyIntoSnowflake" | "Unload" | "ExportData" | "Directory" => "copy",
        "Call" => "call",
        "Execute" => "execute",
        "Prepare" => "prepare",
        "Deallocate" => "deallocate",
        "Declare" => "declare",
        "Fetch" | "Open" | "Close" => "cursor",
        "Load" | "LoadData" | "Install" => "load",
        "AttachDatabase" | "AttachDuckDBDatabase" => "attach",
        "DetachDuckDBDatabase" => "detach",
        "Pragma" => "pragma",
        "Vacuum" | "OptimizeTable" => "vacuum",
        "Analyze" => "analyze",
        "Lock" | "LockTables" => "lock",
        "UnlockTables" => "unlock",
        "Kill" => "kill",
        "Comment" => "comment",
        "LISTEN" | "UNLISTEN" | "NOTIFY" => "notify",
        "Flush" => "flush",
        "Discard" => "discard",
        "Cache" | "UNCache" => "cache",
        "RefreshMaterializedView" => "refresh",
        v if v.starts_with("Drop") => "drop",
        v if v.starts_with("Create") => "create",
        v if v.starts_with("Alter") => "alter",
        v if v.starts_with("Show") => "show",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Option<Vec<&'static str>> {
        analyze(sql).map(|a| a.statements)
    }

    #[test]
    fn statement_kinds_see_through_comments_and_stacking() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("SELECT * FROM users", Some(&["select"])),
            ("/* c */ DROP TABLE users", Some(&["drop"])),
            ("SELECT 1; DROP TABLE users", Some(&["select", "drop"])),
            (
                "select 1 -- x\n; delete from t where 1=1",
                Some(&["select", "delete"]),
            ),
            ("SELECT 1 -- ; DROP TABLE x", Some(&["select"])),
            (
                "select * from t where a = 'it''s; drop table x'",
                Some(&["select"]),
            ),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                Some(&["select", "delete"]),
            ),
            (
                "EXPLAIN ANALYZE DELETE FROM t",
                Some(&["explain", "delete"]),
            ),
            (
                "EXPLAIN (ANALYZE) DELETE FROM t",
                Some(&["explain", "delete"]),
            ),
            // A plan is not a run: the explained statement does not count.
            ("EXPLAIN DELETE FROM t", Some(&["explain"])),
            (
                "EXPLAIN SELECT * FROM t; DELETE FROM t",
                Some(&["explain", "delete"]),
            ),
            ("UPDATE users SET admin = true WHERE 1=1", Some(&["update"])),
            ("INSERT INTO t SELECT * FROM u", Some(&["insert"])),
            ("TRUNCATE users", Some(&["truncate"])),
            ("ALTER TABLE u ADD c int", Some(&["alter"])),
            ("GRANT ALL ON t TO bob", Some(&["grant"])),
            ("CREATE TABLE x AS SELECT * FROM users", Some(&["create"])),
            (
                "BEGIN; DELETE FROM x; COMMIT;",
                Some(&["begin", "delete", "commit"]),
            ),
            ("select 1;;;", Some(&["select"])),
            ("", Some(&[])),
            ("-- only a comment", Some(&[])),
            ("SELECT * FROM [dbo].[users]", Some(&["select"])),
            ("SELECT `a` FROM `t`", Some(&["select"])),
            ("DECLARE @x int; EXEC(@x)", Some(&["declare", "execute"])),
            ("this is not sql", None),
            ("SELECT 1 END DROP TABLE x", None),
            ("SELECT 'a\\'; DROP TABLE x; --'", None),
            ("SELECT 1 #'\n; DROP TABLE users; -- '", None),
            ("SELECT 1 /*!50000 ; DROP TABLE users */", None),
            ("SELECT 1\0; DROP TABLE x", None),
        ];
        for (sql, want) in cases {
            assert_eq!(kinds(sql).as_deref(), *want, "{sql:?}");
        }
    }

    #[test]
    fn read_only_is_every_statement_only_reading() {
        let cases = [
            (
                "SELECT a FROM t JOIN u ON t.id = u.id WHERE x IN (SELECT 1)",
                Some(true),
            ),
            ("SHOW TABLES", Some(true)),
            ("EXPLAIN SELECT 1", Some(true)),
            ("EXPLAIN DELETE FROM t", Some(true)),
            ("EXPLAIN ANALYZE DELETE FROM t", Some(false)),
            ("SELECT 1 UNION SELECT password FROM users", Some(true)),
            ("", Some(true)),
            ("SELECT 1; DELETE FROM t", Some(false)),
            ("select * into newt from t", Some(false)),
            ("SELECT * FROM t FOR UPDATE", Some(false)),
            ("SELECT pg_sleep(10)", Some(false)),
            ("SELECT pg_read_file('/etc/passwd')", Some(false)),
            ("SELECT LOAD_FILE('/etc/passwd')", Some(false)),
            ("SELECT * FROM OPENROWSET('SQLNCLI', 'x', 'y')", Some(false)),
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                Some(false),
            ),
            ("SET ROLE admin", Some(false)),
            ("COPY t TO PROGRAM 'sh'", Some(false)),
            ("not sql at all", None),
        ];
        for (sql, want) in cases {
            assert_eq!(analyze(sql).map(|a| a.read_only), want, "{sql:?}");
        }
    }

    #[test]
    fn tables_are_last_name_parts_in_lower_case() {
        let t = |sql| analyze(sql).map(|a| a.tables);
        assert_eq!(
            t("SELECT * FROM a.b.Users u JOIN \"Secret\" s ON 1=1 WHERE x IN (SELECT id FROM c)"),
            Some(vec!["c".into(), "secret".into(), "users".into()])
        );
        assert_eq!(
            t("DROP TABLE IF EXISTS public.x, y CASCADE"),
            Some(vec!["x".into(), "y".into()])
        );
        assert_eq!(t("COPY accounts TO STDOUT"), Some(vec!["accounts".into()]));
        assert_eq!(t("TRUNCATE users"), Some(vec!["users".into()]));
        assert_eq!(t("SELECT 1"), Some(vec![]));
    }

    #[test]
    fn bounded() {
        let many = "SELECT 1;".repeat(MAX_STATEMENTS + 1);
        assert_eq!(analyze(&many), None);
        let ok = "SELECT 1;".repeat(MAX_STATEMENTS);
        assert_eq!(
            analyze(&ok).map(|a| a.statements.len()),
            Some(MAX_STATEMENTS)
        );
        let huge = "SELECT 1;".repeat(100_000);
        assert_eq!(analyze(&huge), None, "longer than MAX_SQL");
        let deep = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(analyze(&deep), None, "deeper than MAX_DEPTH");
    }

    #[test]
    fn variant_names_map_to_kinds() {
        assert_eq!(kind_of_variant("DropFunction"), "drop");
        assert_eq!(kind_of_variant("CreateIndex"), "create");
        assert_eq!(kind_of_variant("AlterRole"), "alter");
        assert_eq!(kind_of_variant("ShowTables"), "show");
        assert_eq!(kind_of_variant("Msck"), "other");
    }
}
