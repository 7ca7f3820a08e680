//! The Python and JavaScript embedding guides (`examples/python`, `examples/js`) run their own
//! tests here, against the component this workspace builds (`artifacts::BREAKWATER_COMPONENT`,
//! handed over as `$BREAKWATER_COMPONENT`), so `cargo test -p host-tests` covers every guide and
//! a component change that breaks one fails here, with the guide's own output.
//!
//! Needs what `make examples-install` installs: wasmtime-py in `.venv` (or the Python named by
//! `$BREAKWATER_PYTHON`) and `npm ci` in `examples/js`; Node.js 20 or newer. A missing one fails
//! the test with that command, never skips it. (The Rust guide is a workspace member with its
//! own tests: `cargo test -p embed-example`.)

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use artifacts::BREAKWATER_COMPONENT;

/// Longest a guide's test run may take (each takes a few seconds).
const LIMIT: Duration = Duration::from_secs(180);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host-tests sits in the workspace")
        .to_path_buf()
}

fn component() -> PathBuf {
    let path = BREAKWATER_COMPONENT.path();
    assert!(
        path.is_file(),
        "{} is missing (rebuild with `cargo build -p artifacts`)",
        path.display()
    );
    path.to_path_buf()
}

/// Runs `program args` in `dir` with the component's path, killed after [`LIMIT`]; returns its
/// output, and fails the test with that output when it exits non-zero.
fn run(dir: &Path, program: &Path, args: &[&str]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("BREAKWATER_COMPONENT", component())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    match status {
        Some(s) if s.success() => output,
        Some(s) => panic!(
            "`{} {}` in {} failed ({s}):\n{output}",
            program.display(),
            args.join(" "),
            dir.display()
        ),
        None => panic!(
            "`{} {}` took more than {LIMIT:?}:\n{output}",
            program.display(),
            args.join(" ")
        ),
    }
}

/// The number after `marker` on the line that has it (`Ran 12 tests`, `# pass 10`).
fn count_after(output: &str, marker: &str) -> usize {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(marker))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `{marker}` line in:\n{output}"))
}

#[test]
fn the_python_guide_passes_its_tests() {
    let python = std::env::var_os("BREAKWATER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python3"));
    assert!(
        python.exists(),
        "{} is missing: run `make examples-install` (or set BREAKWATER_PYTHON)",
        python.display()
    );
    let output = run(
        &root().join("examples/python"),
        &python,
        &["-m", "unittest", "-v"],
    );
    let ran = count_after(&output, "Ran ");
    assert!(ran >= 12, "expected the guide's 12 tests:\n{output}");
    assert!(output.lines().any(|l| l.trim() == "OK"), "{output}");
}

#[test]
fn the_javascript_guide_passes_its_tests() {
    let dir = root().join("examples/js");
    assert!(
        dir.join("node_modules/@bytecodealliance/jco-transpile")
            .is_dir(),
        "examples/js/node_modules is missing: run `make examples-install`"
    );
    let node = Path::new("node");
    run(&dir, node, &["transpile.mjs"]);
    let output = run(&dir, node, &["--test", "test/"]);
    assert!(count_after(&output, "# pass") >= 10, "{output}");
    assert_eq!(count_after(&output, "# fail"), 0, "{output}");
}
