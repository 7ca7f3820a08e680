//! `breakwater`: check a configuration before it reaches a proxy, explain what each policy
//! will do, and render it for Envoy.
//!
//! ```text
//! breakwater check FILE...            every problem, with file, place and JSON path
//! breakwater explain FILE             each policy's values, where each came from, the headers
//! breakwater render FILE [--as FORM]  YAML or JSON in, the JSON Envoy takes out
//! ```
//!
//! Exit status, as cargo and ripgrep use it: 0 nothing wrong, 1 problems found, 2 could not
//! run (an unreadable file, bad arguments).

mod check;
mod explain;
mod locate;
mod render;
mod yaml;

use std::process::ExitCode;

const HELP: &str = "\
breakwater: check a breakwater configuration wherever it lives, explain each policy's values
and the headers Envoy is told, and render it for Envoy

USAGE:
    breakwater check [--format text|json] FILE...
    breakwater explain [--policy NAME] [--format text|json] FILE
    breakwater render [--as json|envoy|istio] FILE
    breakwater --help | --version

CHECK reads each FILE (JSON or YAML, several documents allowed) and finds breakwater's
configuration in it: a document of its own (a map with `policies`), the wasm filter's
`configuration` or the dynamic module's `filter_config` in an Envoy bootstrap, LDS or ECDS
resource, or an Istio WasmPlugin's `pluginConfig`. Every problem is printed with the file,
the place in it and the JSON path; warnings name settings Envoy cannot honour, a policy that
can never apply, and a `match.cluster` the same bootstrap does not define.

    $ breakwater check envoy/demo.json istio/wasmplugin.yaml
    istio/wasmplugin.yaml: error: spec.pluginConfig: policies[0].breaker.failure_treshold: unknown field ...

EXPLAIN prints each policy's values after the layers (section defaults, the environment
profile, the preset, the policy's own keys), each with where it came from (default,
environment NAME, preset NAME, explicit, or env BREAKWATER_... for a variable RENDER would
apply), and what Envoy's router is told per request: x-envoy-max-retries, x-envoy-retry-on,
x-envoy-retry-grpc-on, x-envoy-retriable-status-codes and the timeout headers, read from the
engine itself. A request timeout header replaces the route's timeout.

    $ BREAKWATER_ENVIRONMENT=testing breakwater explain policies.yaml --policy payments
    policy payments (policies[0]), preset grpc, match {\"cluster\":\"payments\"}
      timeout_ms                 30000      preset grpc
      breaker.mode               \"enforce\"  default
      breaker.failure_threshold  5          preset grpc
      breaker.probe_lease_ms     2000       environment testing
      ...
      router headers Envoy is told:
        GET, HEAD, OPTIONS, PUT, DELETE, TRACE:
          x-envoy-max-retries: 3    <- retry.max_retries, preset grpc: at most; ...
          x-envoy-upstream-rq-timeout-ms: 30000    <- timeout_ms, preset grpc: replaces ...

RENDER reads one YAML or JSON document, applies the environment's overrides
(BREAKWATER_ENVIRONMENT, BREAKWATER_SERVICE, BREAKWATER_POLICY_<NAME>_<SECTION>_<KEY>),
checks the result and prints it: as JSON (default), as the `configuration` StringValue an
Envoy filter takes (--as envoy), or as a WasmPlugin `pluginConfig` (--as istio).

    $ BREAKWATER_ENVIRONMENT=testing breakwater render policies.yaml --as envoy

Exit status: 0 nothing wrong, 1 problems found, 2 could not run.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            0
        }
        Some("-V" | "--version") => {
            println!("breakwater {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("check") => check_command(&args[1..]),
        Some("explain") => explain_command(&args[1..]),
        Some("render") => render_command(&args[1..]),
        Some(other) => usage(&format!("unknown command `{other}`")),
    };
    ExitCode::from(code)
}

fn usage(message: &str) -> u8 {
    eprintln!("breakwater: {message}\nrun `breakwater --help` for usage");
    2
}

fn check_command(args: &[String]) -> u8 {
    let mut json = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--format" => match it.next().map(String::as_str) {
                Some("json") => json = true,
                Some("text") => json = false,
                _ => return usage("--format takes `text` or `json`"),
            },
            s if s.starts_with("--") => return usage(&format!("unknown option `{s}`")),
            _ => files.push(a.clone()),
        }
    }
    if files.is_empty() {
        return usage("check needs at least one FILE");
    }
    let report = check::files(&files);
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    u8::try_from(report.status()).unwrap_or(2)
}

fn explain_command(args: &[String]) -> u8 {
    let mut json = false;
    let mut policy = None;
    let mut file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--format" => match it.next().map(String::as_str) {
                Some("json") => json = true,
                Some("text") => json = false,
                _ => return usage("--format takes `text` or `json`"),
            },
            "--policy" => match it.next() {
                Some(name) => policy = Some(name.clone()),
                None => return usage("--policy takes a policy name"),
            },
            s if s.starts_with("--") => return usage(&format!("unknown option `{s}`")),
            _ if file.is_some() => return usage("explain takes one FILE"),
            _ => file = Some(a.clone()),
        }
    }
    let Some(file) = file else {
        return usage("explain needs a FILE");
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return 2;
        }
    };
    let vars: Vec<(String, String)> = std::env::vars().collect();
    match explain::file(&file, &text, &vars, policy.as_deref()) {
        Ok(explained) if json => {
            println!("{}", explain::json(&file, &explained));
            0
        }
        Ok(explained) => {
            print!("{}", explain::text(&file, &explained));
            0
        }
        Err(explain::Failure::Problems(lines)) => {
            for line in lines {
                eprintln!("{line}");
            }
            1
        }
        Err(explain::Failure::Usage(message)) => {
            eprintln!("breakwater: {message}");
            2
        }
    }
}

fn render_command(args: &[String]) -> u8 {
    let mut form = "json";
    let mut file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--as" => match it.next().map(String::as_str) {
                Some(f @ ("json" | "envoy" | "istio")) => form = f,
                _ => return usage("--as takes `json`, `envoy` or `istio`"),
            },
            s if s.starts_with("--") => return usage(&format!("unknown option `{s}`")),
            _ if file.is_some() => return usage("render takes one FILE"),
            _ => file = Some(a.clone()),
        }
    }
    let Some(file) = file else {
        return usage("render needs a FILE");
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{file}: cannot read: {e}");
            return 2;
        }
    };
    let mut doc = match yaml::documents(&text).map(|d| d.into_iter().next()) {
        Ok(Some(d)) => d,
        Ok(None) => {
            eprintln!("{file}: empty");
            return 1;
        }
        Err(e) => {
            eprintln!("{file}: not YAML or JSON: {e}");
            return 1;
        }
    };
    let vars: Vec<(String, String)> = std::env::vars().collect();
    if let Err(e) = render::apply(&mut doc, &vars) {
        eprintln!("{file}: {e}");
        return 1;
    }
    let json = match render::render(&doc) {
        Ok(j) => j,
        Err(problems) => {
            for line in problems.lines() {
                eprintln!("{file}: error: {line}");
            }
            return 1;
        }
    };
    match form {
        "envoy" => println!(
            "{}",
            serde_json::json!({
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": json,
            })
        ),
        "istio" => println!("{}", serde_json::json!({ "pluginConfig": doc })),
        _ => println!("{json}"),
    }
    0
}
