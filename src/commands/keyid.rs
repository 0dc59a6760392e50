//! `govern keyid`: the id of a key (`sha256:` of its SPKI DER).

use crate::cli::{DiagFormat, KeyidArgs};
use crate::commands::{Ctx, Out, exit};
use crate::sign::{PublicKey, SignError};

pub fn run(ctx: &Ctx, args: &KeyidArgs) -> u8 {
    let mut out = Out::new();
    let mut status = exit::OK;
    for path in &args.keys {
        let key = super::sign::read_key_text(path)
            .and_then(|text| PublicKey::from_pem(&text).map_err(|e| SignError::key(path, e)));
        match key {
            Ok(k) if args.keys.len() == 1 => out.line(k.id()),
            Ok(k) => out.line(&format!("{}  {}", k.id(), crate::source::display(path))),
            Err(e) => {
                out.flush();
                ctx.report(&e.to_diags(), DiagFormat::Human);
                status = exit::ERROR;
            }
        }
    }
    status
}
