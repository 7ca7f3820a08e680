//! Finding the Envoy binary, and `envoy --mode validate`.
//!
//! The tests must fail, never skip, when Envoy is missing: a skipped
//! end-to-end test proves nothing. So a missing binary is an error that says
//! how to install it (`make envoy-install`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::EnvoyError;

/// The environment variable that names an Envoy binary explicitly.
pub const ENVOY_ENV: &str = "BREAKWATER_ENVOY";

/// How long `validate` may take (it loads and configures wasm VMs).
pub const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (the folder holding `envoy/` and `.venv/`): two levels above this crate
/// (`harness/envoy-kit`).
pub fn workspace_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The folder of Envoy configuration templates (`<workspace>/envoy`).
pub fn config_dir() -> PathBuf {
    workspace_dir().join("envoy")
}

/// The Envoy binary: `$BREAKWATER_ENVOY`, else `<workspace>/.venv/bin/envoy`
/// (installed by `make envoy-install`), else `envoy` on `PATH`.
pub fn envoy_binary() -> Result<PathBuf, EnvoyError> {
    let mut searched = Vec::new();
    if let Some(explicit) = std::env::var_os(ENVOY_ENV) {
        let path = PathBuf::from(explicit);
        if is_executable(&path) {
            return Ok(path);
        }
        searched.push(format!("${ENVOY_ENV}={}", path.display()));
    }
    let venv = workspace_dir().join(".venv/bin/envoy");
    if is_executable(&venv) {
        return Ok(venv);
    }
    searched.push(venv.display().to_string());
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("envoy");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    searched.push("envoy on PATH".to_owned());
    Err(EnvoyError::BinaryNotFound { searched })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `envoy --mode validate` on a config; `Err` holds Envoy's output (or
/// why it could not run), so a test can assert on the reason.
pub fn validate(config_yaml: &str) -> Result<(), String> {
    validate_with_env(config_yaml, &[])
}

/// [`validate`] with environment variables for the Envoy process (e.g. where to find a
/// dynamic module).
pub fn validate_with_env(config_yaml: &str, env: &[(String, String)]) -> Result<(), String> {
    let binary = envoy_binary().map_err(|e| e.to_string())?;
    let dir = tempfile::Builder::new()
        .prefix("breakwater-validate-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let config = dir.path().join("config.yaml");
    let output = dir.path().join("output.log");
    std::fs::write(&config, config_yaml).map_err(|e| format!("write config: {e}"))?;
    let out_file = std::fs::File::create(&output).map_err(|e| format!("create log: {e}"))?;
    let err_file = out_file
        .try_clone()
        .map_err(|e| format!("clone log: {e}"))?;
    let mut child = Command::new(&binary)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(&config)
        .arg("--disable-hot-restart")
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        .spawn()
        .map_err(|e| format!("run {}: {e}", binary.display()))?;
    let mut status = None;
    let finished = crate::poll::wait_until(VALIDATE_TIMEOUT, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let text = || {
        std::fs::read(&output)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "envoy --mode validate did not finish in {VALIDATE_TIMEOUT:?}:\n{}",
            text()
        ));
    }
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("envoy --mode validate failed ({s}):\n{}", text())),
        None => Err("envoy --mode validate: no exit status".to_owned()),
    }
}
