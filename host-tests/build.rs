//! Builds the wasm artifacts the harness drives and exposes their paths.
//!
//! Tests must run against the real `.wasm` files, built from the sources in
//! this workspace, never a stale copy: so `cargo test -p host-tests` builds
//! them first. One nested `cargo build` per wasm target builds every package
//! of that target, with the `wasm-release` profile the shipped filter uses.
//!
//! The nested cargo runs in its own target directory (`<target-dir>/guests`):
//! sharing the outer one would deadlock on cargo's build lock. It gets a clean
//! environment: the outer build's flags (`RUSTFLAGS`, clippy's
//! `RUSTC_WORKSPACE_WRAPPER`, the `CARGO_*` variables cargo sets for build
//! scripts) would otherwise leak into a build for another target. The jobserver
//! (`CARGO_MAKEFLAGS`) and `RUSTC` are kept so the nested build shares cores
//! and toolchain with the outer one.
//!
//! Each artifact becomes a constant in `host-tests/src/artifacts.rs` (generated
//! here into `$OUT_DIR/artifacts.rs`). Adding an artifact is one line in
//! [`ARTIFACTS`].

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One wasm artifact: (cargo package, package directory relative to the
/// workspace root, target triple).
const ARTIFACTS: &[(&str, &str, &str)] = &[
    ("abi-probe", "host-tests/guests/abi-probe", "wasm32-wasip1"),
    // ("breakwater-filter", "filter", "wasm32-wasip1"),
];

/// Source folders every artifact may depend on, besides its own directory.
const SHARED_SOURCES: &[&str] = &["core", "wit", "Cargo.toml", "Cargo.lock"];

/// The profile the guests are built with (defined in the workspace manifest).
const PROFILE: &str = "wasm-release";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host-tests sits in the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guest_target_dir = guest_target_dir(&out_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    for path in ARTIFACTS
        .iter()
        .map(|(_, dir, _)| *dir)
        .chain(SHARED_SOURCES.iter().copied())
    {
        let path = workspace.join(path);
        // A missing path would make cargo rerun this script on every build.
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    let mut targets: Vec<&str> = ARTIFACTS.iter().map(|(_, _, target)| *target).collect();
    targets.sort_unstable();
    targets.dedup();
    for target in targets {
        let mut command = Command::new(&cargo);
        command
            .current_dir(&workspace)
            .args([
                "build",
                "--target",
                target,
                "--profile",
                PROFILE,
                "--target-dir",
            ])
            .arg(&guest_target_dir);
        for (package, _, _) in ARTIFACTS.iter().filter(|(_, _, t)| *t == target) {
            command.args(["-p", package]);
        }
        clean_environment(&mut command);
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        if !output.status.success() {
            panic!(
                "building the wasm guests failed ({}):\n{command:?}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    let mut generated = String::new();
    let mut all = Vec::new();
    for (package, _, target) in ARTIFACTS {
        let crate_name = package.replace('-', "_");
        let path = guest_target_dir
            .join(target)
            .join(PROFILE)
            .join(format!("{crate_name}.wasm"));
        assert!(
            path.is_file(),
            "the nested build did not produce {}",
            path.display()
        );
        let constant = crate_name.to_uppercase();
        writeln!(
            generated,
            "/// `{package}` built for `{target}` (profile `{PROFILE}`).\n\
             pub const {constant}: Artifact = Artifact {{ package: {package:?}, target: {target:?}, path: {path:?} }};",
            path = path.display().to_string(),
        )
        .expect("writing to a String");
        all.push(constant);
    }
    writeln!(
        generated,
        "/// Every artifact build.rs produces.\npub const ALL: &[Artifact] = &[{}];",
        all.join(", ")
    )
    .expect("writing to a String");
    std::fs::write(out_dir.join("artifacts.rs"), generated).expect("write $OUT_DIR/artifacts.rs");
}

/// `<target-dir>/guests` when OUT_DIR has the usual
/// `<target-dir>[/<triple>]/<profile>/build/<pkg>-<hash>/out` shape (shared by
/// every profile, so `cargo test` and `cargo clippy` reuse one guest build),
/// else a folder under OUT_DIR.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    let mut ancestors = out_dir.ancestors();
    let build = ancestors.nth(2);
    match (build, ancestors.nth(1)) {
        (Some(build), Some(target_dir)) if build.file_name().is_some_and(|n| n == "build") => {
            target_dir.join("guests")
        }
        _ => out_dir.join("guests"),
    }
}

/// Removes what the outer build set for itself (see the module doc).
fn clean_environment(command: &mut Command) {
    const EXACT: &[&str] = &[
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
    ];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p)) {
            command.env_remove(key);
        }
    }
}
