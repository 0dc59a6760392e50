//! `govern serve`: arguments in, a decision point behind an HTTP door, exit status out.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{DiagFormat, LogFormat, ServeArgs};
use crate::commands::{Ctx, exit};
use crate::point::log::{self, Log};
use crate::point::{Options, Point, Source};

pub fn run(ctx: &Ctx, args: &ServeArgs) -> u8 {
    let log = Arc::new(Log::new(
        match args.log_format {
            LogFormat::Human => log::LogFormat::Human,
            LogFormat::Json => log::LogFormat::Json,
        },
        Box::new(std::io::stderr()),
    ));
    let Some(audit) = super::recorder(ctx, &args.audit) else {
        return exit::ERROR;
    };
    let point = Point::open(Options {
        source: Source {
            bundle: args.bundle.clone(),
            signature: args.signature.clone(),
            trust: args.trust.clone(),
            state: args.state.clone(),
        },
        max_keys: args.max_keys,
        audit,
        audit_required: args.audit_required,
        log: Arc::clone(&log),
    });
    let point = match point {
        Ok(p) => Arc::new(p),
        Err(diags) => {
            ctx.report(&diags, DiagFormat::Human);
            return exit::ERROR;
        }
    };
    let config = crate::serve::Config {
        listen: args.listen.clone(),
        threads: args.threads.map_or(0, usize::from),
        header_timeout: Duration::from_secs(args.request_timeout),
        body_timeout: Duration::from_secs(args.request_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        decision_timeout: Duration::from_millis(args.decision_timeout),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        watch: !args.no_watch,
        ..crate::serve::Config::default()
    };
    match crate::serve::run(point, config, log, None) {
        Ok(true) => exit::OK,
        Ok(false) => exit::ERROR,
        Err(e) => {
            ctx.error(e.0);
            exit::ERROR
        }
    }
}
