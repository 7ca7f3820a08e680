//! The test upstream as a standalone server, for `make demo` and for humans.
//!
//! `demo-upstream [--port N]` (default 0: a free port) prints
//! `listening on 127.0.0.1:PORT` on one line, then serves until killed.
//! Switch its behaviour with curl: `curl 127.0.0.1:PORT/_control/status/503`,
//! `/_control/fail?fraction=0.3`, `/_control/delay/200`, `/_control/reset`,
//! `/_control/stats` (see `envoy_kit::upstream`).

use std::io::Write;

use envoy_kit::upstream::UpstreamServer;

fn main() {
    let port = match parse_port(std::env::args().skip(1)) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("demo-upstream: {message}\nusage: demo-upstream [--port N]");
            std::process::exit(2);
        }
    };
    let server = match UpstreamServer::start_on(port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo-upstream: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening on {}", server.addr());
    let _ = std::io::stdout().flush();
    // Serve until the process is killed; the server runs on its own threads.
    loop {
        std::thread::park();
    }
}

fn parse_port(mut args: impl Iterator<Item = String>) -> Result<u16, String> {
    let mut port = 0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value.parse().map_err(|_| format!("bad port {value:?}"))?;
            }
            "-h" | "--help" => return Err("help".to_owned()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(port)
}
