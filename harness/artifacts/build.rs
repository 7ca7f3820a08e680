//! Builds the wasm artifacts the harness drives and exposes their paths.
//!
//! Tests must run against the real `.wasm` files, built from the sources in
//! this workspace, never a stale copy: so building this crate (a dependency of
//! every test and tool that runs them) builds
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
//! Each artifact becomes a constant of this crate (`src/lib.rs`, generated
//! here into `$OUT_DIR/artifacts.rs`). Adding an artifact is one line in
//! [`ARTIFACTS`].
//!
//! Components (a library crate's WIT exports behind a cargo feature) are listed
//! in [`COMPONENTS`] instead: each is one nested `cargo rustc --crate-type
//! cdylib` for `wasm32-wasip2`, so the crate stays an rlib for every other
//! build, with the same clean environment and guest target directory (a
//! subfolder of it for each further feature of one package: the file names are
//! the same), and the `component-release` profile (speed rather than size).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One wasm artifact: (cargo package, package directory relative to the
/// workspace root, target triple).
const ARTIFACTS: &[(&str, &str, &str)] = &[
    ("abi-probe", "harness/guests/abi-probe", "wasm32-wasip1"),
    ("breakwater-filter", "filter", "wasm32-wasip1"),
    (
        "empty-filter",
        "harness/guests/empty-filter",
        "wasm32-wasip1",
    ),
];

/// One component: (cargo package, package directory relative to the workspace
/// root, the cargo feature holding its export glue, constant name, subfolder of
/// the guest target directory it builds in: empty for the first of a package).
const COMPONENTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "breakwater-core",
        "core",
        "component",
        "BREAKWATER_COMPONENT",
        "",
    ),
    // World `resilience-shared`: the engine over the store the host provides.
    (
        "breakwater-core",
        "core",
        "component-shared",
        "BREAKWATER_COMPONENT_SHARED",
        "component-shared",
    ),
];

/// An artifact built again with a cargo feature, into its own target directory
/// (`<guests>/<feature>`, since the file name is the same): (cargo package,
/// target triple, feature, constant name). Test-only builds, e.g. the filter
/// with `test-hooks` (a header that panics the VM) for the fault tests.
const FEATURE_ARTIFACTS: &[(&str, &str, &str, &str)] = &[(
    "breakwater-filter",
    "wasm32-wasip1",
    "test-hooks",
    "BREAKWATER_FILTER_TEST_HOOKS",
)];

/// The Envoy dynamic module: a native cdylib, built for the host into `<guests>/module` with
/// profile `module-release`, exposed as `BREAKWATER_MODULE` (its directory is what
/// `ENVOY_DYNAMIC_MODULES_SEARCH_PATH` names).
const MODULE: (&str, &str, &str) = ("breakwater-module", "module", "libbreakwater.so");

/// The target every component is built for.
const COMPONENT_TARGET: &str = "wasm32-wasip2";

/// Source folders every artifact may depend on, besides its own directory.
const SHARED_SOURCES: &[&str] = &["core", "wit", "Cargo.toml", "Cargo.lock"];

/// The profile the guests are built with (defined in the workspace manifest).
const PROFILE: &str = "wasm-release";

/// The profile the components are built with: `wasm-release` at opt-level 3 (the size target is
/// the Envoy filter's; a component's cost is its speed).
const COMPONENT_PROFILE: &str = "component-release";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("harness/artifacts sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let guest_target_dir = guest_target_dir(&out_dir);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    for path in ARTIFACTS
        .iter()
        .map(|(_, dir, _)| *dir)
        .chain(COMPONENTS.iter().map(|(_, dir, _, _, _)| *dir))
        .chain([MODULE.1])
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
        run(command, &format!("the wasm guests for {target}"));
    }
    for (package, target, feature, _) in FEATURE_ARTIFACTS {
        let mut command = Command::new(&cargo);
        command
            .current_dir(&workspace)
            .args([
                "build",
                "-p",
                package,
                "--features",
                feature,
                "--target",
                target,
            ])
            .args(["--profile", PROFILE, "--target-dir"])
            .arg(guest_target_dir.join(feature));
        run(command, &format!("{package} with {feature}"));
    }
    for (package, _, feature, _, folder) in COMPONENTS {
        let mut command = Command::new(&cargo);
        command
            .current_dir(&workspace)
            .args(["rustc", "-p", package, "--features", feature])
            .args(["--target", COMPONENT_TARGET, "--profile", COMPONENT_PROFILE])
            .args(["--crate-type", "cdylib", "--target-dir"])
            .arg(guest_target_dir.join(folder));
        run(command, &format!("the component of {package} ({feature})"));
    }

    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "-p",
            MODULE.0,
            "--profile",
            "module-release",
            "--target-dir",
        ])
        .arg(guest_target_dir.join("module"));
    run(command, "the Envoy dynamic module");

    let mut generated = String::new();
    let mut all = Vec::new();
    let mut emit = |constant: String, package: &str, target: &str, path: PathBuf, doc: String| {
        assert!(
            path.is_file(),
            "the nested build did not produce {}",
            path.display()
        );
        writeln!(
            generated,
            "/// {doc}\n\
             pub const {constant}: Artifact = Artifact {{ package: {package:?}, target: {target:?}, path: {path:?} }};",
            path = path.display().to_string(),
        )
        .expect("writing to a String");
        all.push(constant);
    };
    let file = |package: &str| format!("{}.wasm", package.replace('-', "_"));
    for (package, _, target) in ARTIFACTS {
        let path = guest_target_dir
            .join(target)
            .join(PROFILE)
            .join(file(package));
        let doc = format!("`{package}` built for `{target}` (profile `{PROFILE}`).");
        emit(
            package.replace('-', "_").to_uppercase(),
            package,
            target,
            path,
            doc,
        );
    }
    for (package, target, feature, constant) in FEATURE_ARTIFACTS {
        let path = guest_target_dir
            .join(feature)
            .join(target)
            .join(PROFILE)
            .join(file(package));
        let doc = format!(
            "`{package}` with feature `{feature}` built for `{target}` (profile `{PROFILE}`); tests only."
        );
        emit((*constant).to_owned(), package, target, path, doc);
    }
    for (package, _, feature, constant, folder) in COMPONENTS {
        let path = guest_target_dir
            .join(folder)
            .join(COMPONENT_TARGET)
            .join(COMPONENT_PROFILE)
            .join(file(package));
        let doc = format!(
            "The component of `{package}` (feature `{feature}`) built for `{COMPONENT_TARGET}` (profile `{COMPONENT_PROFILE}`)."
        );
        emit((*constant).to_owned(), package, COMPONENT_TARGET, path, doc);
    }
    let path = guest_target_dir
        .join("module/module-release")
        .join(MODULE.2);
    let doc = format!(
        "`{}` (`{}`), native, profile `module-release`.",
        MODULE.0, MODULE.2
    );
    emit(
        "BREAKWATER_MODULE".to_owned(),
        MODULE.0,
        "native",
        path,
        doc,
    );
    writeln!(
        generated,
        "/// Every artifact build.rs produces.\npub const ALL: &[Artifact] = &[{}];",
        all.join(", ")
    )
    .expect("writing to a String");
    std::fs::write(out_dir.join("artifacts.rs"), generated).expect("write $OUT_DIR/artifacts.rs");
}

/// Runs a nested cargo `command` in a clean environment; a failure fails this build with the
/// compiler's message.
fn run(mut command: Command, what: &str) {
    clean_environment(&mut command);
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "building {what} failed ({}):\n{command:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
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
