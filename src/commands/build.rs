//! `govern build`: policies → `.govb`, written atomically; prints the digest.

use crate::cli::BuildArgs;
use crate::commands::{Ctx, Out, exit};

pub fn run(ctx: &Ctx, args: &BuildArgs) -> u8 {
    let built = match crate::pipeline::build_paths(&args.paths) {
        Ok(b) => b,
        Err(diags) => {
            ctx.report(&diags, args.format);
            return exit::ERROR;
        }
    };
    let out_name = crate::source::display(&args.output);
    if let Err(e) = crate::fsutil::write_atomic(&args.output, &built.bytes, None) {
        ctx.error(format!("cannot write {out_name}: {e}"));
        return exit::ERROR;
    }
    let mut out = Out::new();
    if args.listing {
        out.write_str(&crate::bytecode::listing::listing(
            &built.program.model,
            &built.program.digest,
        ));
        out.line("");
    }
    let m = &built.program.model;
    out.line(&format!(
        "{}  {out_name}  ({} rules, {} bytes)",
        built.program.digest,
        m.rules.len(),
        built.bytes.len()
    ));
    exit::OK
}
