//! `govern explain`: a lint's documentation, from the doc comments of its file.

use crate::cli::ExplainArgs;
use crate::commands::{Ctx, Out, exit};
use crate::lint;

pub fn run(ctx: &Ctx, args: &ExplainArgs) -> u8 {
    let mut out = Out::new();
    if args.all {
        if args.markdown {
            out.write_str(&lint::docs_markdown());
        } else {
            for l in lint::rules::ALL {
                out.line(&format!(
                    "{}  {:<28} {:<5}  {}",
                    l.code,
                    l.name,
                    l.level,
                    l.summary()
                ));
            }
        }
        return exit::OK;
    }
    let name = args.lint.as_deref().unwrap_or("");
    let Some(l) = lint::find(name) else {
        let names = lint::rules::ALL.iter().flat_map(|l| [l.code, l.name]);
        let hint = match crate::diag::did_you_mean(name, names) {
            Some(s) => format!("; did you mean `{s}`?"),
            None => String::new(),
        };
        ctx.error(format!(
            "no lint is called `{name}`{hint} (`govern explain --all` lists them)"
        ));
        return exit::ERROR;
    };
    if args.markdown {
        out.line(&format!(
            "## {}\n\n`{}` · default level **{}**\n\n{}",
            l.code,
            l.name,
            l.level,
            l.docs()
        ));
    } else {
        out.line(&format!(
            "{} {} (default level: {})\n",
            l.code, l.name, l.level
        ));
        out.line(&l.docs());
    }
    exit::OK
}
