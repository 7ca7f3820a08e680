//! Core's modules depend one way, as `src/lib.rs` documents: a module may use only the modules
//! placed below it in [`LAYERS`]. This test reads the source (code, not comments or test
//! modules) and fails on every `crate::<module>` that reaches up, so a dependency cycle cannot
//! come back unnoticed; and it fails on a module of `lib.rs` that has no place in the layers.
//!
//! Within a layer the order matters too (it keeps the layer free of cycles): `outcome` may use
//! `validate`, `config` may use `preset`, never the reverse.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Bottom first. A module may use the modules before it, never one after it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "bottom: values and seams",
        &["time", "random", "store", "validate", "request", "outcome"],
    ),
    (
        "the mechanisms",
        &["breaker", "bulkhead", "injection", "reply", "retry"],
    ),
    ("answers built from the mechanisms", &["fallback"]),
    ("configuration", &["preset", "config"]),
    ("the engine", &["engine"]),
    ("adapters in core", &["component"]),
];

fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter())
        .position(|m| *m == module)
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir` that is not a test file (`tests.rs`, or inside a `tests/`).
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("readable entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`engine/admit.rs` is `engine`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("non-empty path");
    let first = first.as_os_str().to_str().expect("UTF-8 path");
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file: line comments (docs included) dropped, and an inline
/// `#[cfg(test)] mod tests { .. }` dropped up to its closing `}` (rustfmt puts the brace of a
/// top-level module alone at the start of a line).
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.starts_with("mod tests {"))
        {
            lines.find(|l| *l == "}");
            continue;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The top-level modules named by `crate::` paths in `code`, grouped imports
/// (`crate::{a, b::c}`) included.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `some_crate::`, not `crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth 1 of the group: after `{` and after each `,` at that depth.
            let mut depth = 1;
            let mut expect_name = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => expect_name = true,
                    c if expect_name && depth == 1 && !c.is_whitespace() => {
                        refs.insert(ident(&group[j..]));
                        expect_name = false;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            refs.insert(ident(rest));
        }
    }
    refs.retain(|r| !r.is_empty());
    refs
}

#[test]
fn no_module_uses_a_higher_one() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    files.sort();
    let mut upward = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("lib.rs")) {
        let module = module_of(file);
        let Some(own) = rank(&module) else {
            upward.push(format!(
                "{}: module `{module}` has no layer",
                file.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).expect("readable source");
        for used in crate_refs(&code(&text)) {
            // Re-exports at the crate root (`crate::Nanos`) are checked where they are defined.
            let Some(theirs) = rank(&used) else { continue };
            if theirs > own {
                upward.push(format!(
                    "{}: `{module}` uses `crate::{used}`, a higher module",
                    file.display()
                ));
            }
        }
    }
    assert!(upward.is_empty(), "{}", upward.join("\n"));
}

#[test]
fn every_module_has_a_layer() {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("readable lib.rs");
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
                .map(|m| m.trim_end_matches(';'))
        })
        .collect();
    assert!(modules.len() > 10, "lib.rs modules read: {modules:?}");
    let placed: BTreeSet<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let missing: Vec<&&str> = modules.iter().filter(|m| !placed.contains(**m)).collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn the_scan_sees_upward_uses() {
    let text = "//! docs name crate::engine\nuse crate::{time::Nanos, config::{Config, Policy}};\n\
                fn f() { crate::engine::x(); other_crate::preset::y(); }\n\
                #[cfg(test)]\nmod tests {\n    use crate::reply::LocalReply;\n}\n\
                use crate::retry::RetryConfig;\n";
    let refs: Vec<String> = crate_refs(&code(text)).into_iter().collect();
    assert_eq!(refs, ["config", "engine", "retry", "time"]);
}
