//! `make demo` and `make envoy`: breakwater protecting a service in real Envoy.
//!
//! `demo [--out DIR]` runs the narrated, checked scenario (`demo`) and exits 0 only
//! if every step behaved as narrated; the HTML timeline goes to `DIR/demo-timeline.html`
//! (default `<workspace>/out`). `demo --serve [--for SECS]` starts the same Envoy and upstream
//! and leaves them running for curl until Ctrl-C. Exit codes: 0 success, 1 a check or the
//! setup failed, 2 bad arguments, 130 interrupted.

use std::path::PathBuf;
use std::time::Duration;

use demo::narrate::{Narrator, Style};
use demo::{self, interrupt, serve};

const USAGE: &str = "usage: demo [--adapter filter|module] [--out DIR] | demo --serve [--adapter filter|module] [--for SECS]";

#[derive(Debug, Default)]
struct Args {
    serve: bool,
    serve_for: Option<Duration>,
    out: Option<PathBuf>,
    adapter: demo::Adapter,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--serve" => parsed.serve = true,
            "--for" => {
                let v = args.next().ok_or("--for needs seconds")?;
                let secs: u64 = v.parse().map_err(|_| format!("bad --for {v:?}"))?;
                parsed.serve_for = Some(Duration::from_secs(secs));
            }
            "--out" => parsed.out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--adapter" => {
                let v = args.next().ok_or("--adapter needs filter or module")?;
                parsed.adapter = demo::Adapter::from_name(&v)
                    .ok_or_else(|| format!("unknown adapter {v:?}: filter or module"))?;
            }
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
}

fn main() {
    interrupt::install();
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(m) => {
            eprintln!("demo: {m}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let say = Narrator::stdout();
    // Everything the demo starts is dropped inside these calls, before exit.
    let result = if args.serve {
        serve::serve(&say, args.serve_for, args.adapter)
    } else {
        let out = args.out.unwrap_or_else(demo::default_out_dir);
        demo::run(&say, &out, args.adapter).map(|_| ())
    };
    let code = match result {
        Ok(()) => 0,
        // Ctrl-C in a terminal reaches Envoy too; whatever failed after it is the interruption.
        Err(_) if interrupt::requested() => {
            say.line(&say.paint(
                Style::Dim,
                "\ninterrupted: Envoy and the upstream are stopped",
            ));
            130
        }
        Err(e) => {
            say.line("");
            say.line(&say.paint(Style::Red, &format!("demo FAILED: {e}")));
            1
        }
    };
    std::process::exit(code);
}
