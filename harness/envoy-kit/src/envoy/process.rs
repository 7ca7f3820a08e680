//! Starting a real Envoy, waiting until it is ready, and stopping it.
//!
//! Each instance gets its own temp dir (rendered config, log, admin address
//! file), binds admin and listeners to 127.0.0.1 port 0 and runs with
//! `--disable-hot-restart`, so parallel tests share no port and no shared
//! memory region. Real ports are discovered without races: the admin address
//! from `--admin-address-path`, listener ports from `/listeners?format=json`.
//! `Drop` sends SIGTERM, then SIGKILL after [`STOP_TIMEOUT`], and reaps the
//! process, also when a test panics.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::EnvoyError;
use super::binary::{config_dir, envoy_binary};
use super::error::log_tail;
use super::template::{render, yaml_quote};
use crate::poll;

/// The longest wait for Envoy to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The step of the readiness polling.
pub const READY_STEP: Duration = Duration::from_millis(20);
/// How long Envoy gets to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The placeholder that stands for breakwater's stats tags (`{{STATS_TAGS}}`): unless a test
/// sets it, [`EnvoyBuilder::render`] fills it with [`STATS_TAGS_FILE`], so the repository's
/// templates use the very snippet users are told to paste into their bootstrap.
pub const STATS_TAGS_VAR: &str = "STATS_TAGS";
/// breakwater's `stats_config` snippet, in `<workspace>/envoy/`.
pub const STATS_TAGS_FILE: &str = "stats-tags.yaml";

/// Where a config template comes from.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Text(String),
}

/// Configures and starts an [`Envoy`].
///
/// ```no_run
/// use envoy_kit::envoy::Envoy;
/// use envoy_kit::upstream::UpstreamServer;
/// let upstream = UpstreamServer::start().expect("upstream");
/// let envoy = Envoy::from_template("smoke.yaml")
///     .upstream_port(upstream.port())
///     .concurrency(2)
///     .start()
///     .expect("envoy starts");
/// let listener = envoy.listener("main").expect("listener `main`");
/// ```
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    source: Source,
    vars: BTreeMap<String, String>,
    concurrency: u32,
    log_level: String,
    extra_args: Vec<String>,
    ready_timeout: Duration,
    env: Vec<(String, String)>,
}

impl EnvoyBuilder {
    /// A template file; a relative path is taken from `<workspace>/envoy/`.
    pub fn from_file(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            config_dir().join(path)
        };
        Self::new(Source::File(path))
    }

    /// A template given as text.
    pub fn from_yaml(yaml: impl Into<String>) -> Self {
        Self::new(Source::Text(yaml.into()))
    }

    fn new(source: Source) -> Self {
        Self {
            source,
            vars: BTreeMap::new(),
            concurrency: 2,
            log_level: "info".to_owned(),
            extra_args: Vec::new(),
            ready_timeout: READY_TIMEOUT,
            env: Vec::new(),
        }
    }

    /// Sets `{{NAME}}` to `value`, inserted verbatim.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets `{{NAME}}` to `text` as a YAML double-quoted string (for JSON
    /// plugin configurations: `value: {{PLUGIN_CONFIG}}`).
    pub fn var_quoted(self, name: impl Into<String>, text: &str) -> Self {
        self.var(name, yaml_quote(text))
    }

    /// Sets `{{UPSTREAM_PORT}}`.
    pub fn upstream_port(self, port: u16) -> Self {
        self.var("UPSTREAM_PORT", port.to_string())
    }

    /// Sets `{{FILTER_WASM}}` to the filter's path.
    pub fn filter_wasm(self, path: impl AsRef<Path>) -> Self {
        self.var("FILTER_WASM", path.as_ref().display().to_string())
    }

    /// Sets `{{PLUGIN_CONFIG}}` to the plugin configuration JSON, quoted.
    pub fn plugin_config(self, json: &str) -> Self {
        self.var_quoted("PLUGIN_CONFIG", json)
    }

    /// Worker threads (`--concurrency`, default 2).
    pub fn concurrency(mut self, workers: u32) -> Self {
        self.concurrency = workers;
        self
    }

    /// Log level (`-l`, default `info`).
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = level.into();
        self
    }

    /// Appends a command-line argument (e.g. `--component-log-level`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Sets an environment variable of the Envoy process.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The longest wait for readiness (default [`READY_TIMEOUT`]).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// The rendered configuration (`{{STATS_TAGS}}` filled with [`STATS_TAGS_FILE`] unless set).
    pub fn render(&self) -> Result<String, EnvoyError> {
        let template = match &self.source {
            Source::Text(t) => t.clone(),
            Source::File(p) => std::fs::read_to_string(p)
                .map_err(|e| EnvoyError::Template(format!("read {}: {e}", p.display())))?,
        };
        let mut vars = self.vars.clone();
        let placeholder = format!("{{{{{STATS_TAGS_VAR}}}}}");
        if template.contains(&placeholder) && !vars.contains_key(STATS_TAGS_VAR) {
            let path = config_dir().join(STATS_TAGS_FILE);
            let snippet = std::fs::read_to_string(&path)
                .map_err(|e| EnvoyError::Template(format!("read {}: {e}", path.display())))?;
            vars.insert(STATS_TAGS_VAR.to_owned(), snippet);
        }
        render(&template, &vars)
    }

    /// Renders and runs `envoy --mode validate` on the result (with the builder's environment).
    pub fn validate(&self) -> Result<(), String> {
        super::binary::validate_with_env(&self.render().map_err(|e| e.to_string())?, &self.env)
    }

    /// Starts Envoy and waits until `/ready` answers 200; on failure the
    /// error holds the log tail and no process is left running.
    pub fn start(&self) -> Result<Envoy, EnvoyError> {
        let config = self.render()?;
        let binary = envoy_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("breakwater-envoy-")
            .tempdir()
            .map_err(|e| EnvoyError::io("create temp dir", e))?;
        let config_path = dir.path().join("config.yaml");
        let log_path = dir.path().join("envoy.log");
        let admin_path = dir.path().join("admin-address");
        std::fs::write(&config_path, &config).map_err(|e| EnvoyError::io("write config", e))?;
        let log = std::fs::File::create(&log_path).map_err(|e| EnvoyError::io("create log", e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| EnvoyError::io("clone log", e))?;
        let mut command = Command::new(&binary);
        die_with_starting_thread(&mut command);
        let child = command
            .arg("-c")
            .arg(&config_path)
            .arg("--concurrency")
            .arg(self.concurrency.to_string())
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_path)
            .arg("-l")
            .arg(&self.log_level)
            .args(&self.extra_args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| EnvoyError::io(format!("start {}", binary.display()), e))?;
        // From here on `Drop` stops the process, whatever fails below.
        let mut envoy = Envoy {
            child,
            dir,
            config_path,
            log_path,
            admin: None,
            listeners: BTreeMap::new(),
        };
        envoy.wait_ready(&admin_path, self.ready_timeout)?;
        envoy.listeners = envoy.fetch_listeners()?;
        Ok(envoy)
    }
}

/// A running Envoy; dropping it stops the process (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    dir: tempfile::TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
    admin: Option<SocketAddr>,
    listeners: BTreeMap<String, SocketAddr>,
}

impl Envoy {
    /// A builder for a template file under `<workspace>/envoy/` (or absolute).
    pub fn from_template(path: impl AsRef<Path>) -> EnvoyBuilder {
        EnvoyBuilder::from_file(path)
    }

    /// A builder for a template given as text.
    pub fn from_yaml(yaml: impl Into<String>) -> EnvoyBuilder {
        EnvoyBuilder::from_yaml(yaml)
    }

    fn wait_ready(&mut self, admin_path: &Path, timeout: Duration) -> Result<(), EnvoyError> {
        let start = Instant::now();
        let mut exited = None;
        let ready = poll::wait_until_step(timeout, READY_STEP, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                exited = Some(status);
                return true;
            }
            if self.admin.is_none() {
                self.admin = std::fs::read_to_string(admin_path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
            }
            self.admin.is_some_and(|addr| {
                crate::client::HttpRequest::get("/ready")
                    .timeout(Duration::from_secs(1))
                    .send(addr)
                    .is_ok_and(|r| r.status == 200)
            })
        });
        if let Some(status) = exited {
            return Err(EnvoyError::Exited {
                status: status.to_string(),
                log_tail: log_tail(&self.log_path),
            });
        }
        if ready {
            Ok(())
        } else {
            Err(EnvoyError::NotReady {
                waited: start.elapsed(),
                log_tail: log_tail(&self.log_path),
            })
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin address (127.0.0.1 and the port Envoy picked).
    pub fn admin_addr(&self) -> SocketAddr {
        // `start` returns an Envoy only once the admin address is known.
        self.admin
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The address of the listener named `name` in the config.
    pub fn listener(&self, name: &str) -> Result<SocketAddr, EnvoyError> {
        if let Some(addr) = self.listeners.get(name) {
            return Ok(*addr);
        }
        let now = self.fetch_listeners()?;
        now.get(name).copied().ok_or_else(|| {
            EnvoyError::Admin(format!(
                "no listener named {name:?}; listeners: {:?}",
                now.keys().collect::<Vec<_>>()
            ))
        })
    }

    /// All listeners by name, as discovered at start.
    pub fn listeners(&self) -> &BTreeMap<String, SocketAddr> {
        &self.listeners
    }

    /// The temp dir holding the config, the log and the admin address file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The rendered config file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The log file (Envoy's stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything Envoy logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last lines of the log (for failure messages).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops Envoy now (as `Drop` would) and returns how it exited.
    pub fn stop(mut self) -> Option<std::process::ExitStatus> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        send_sigterm(self.child.id());
        let mut status = None;
        poll::wait_until(STOP_TIMEOUT, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            let _ = self.child.kill();
            status = self.child.wait().ok();
        }
        status
    }
}

impl Drop for Envoy {
    /// Stops the process. If the test is panicking, the log tail goes to
    /// stderr (the test harness shows it with the failure); with
    /// `BREAKWATER_KEEP_ENVOY_DIR` set, the temp dir is kept and its path
    /// printed.
    fn drop(&mut self) {
        let status = self.terminate();
        if std::thread::panicking() {
            eprintln!(
                "--- envoy (pid {}, {status:?}) log tail, {} ---\n{}",
                self.child.id(),
                self.log_path.display(),
                self.log_tail()
            );
        }
        if std::env::var_os(KEEP_DIR_ENV).is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("envoy dir kept: {}", self.dir.path().display());
        }
    }
}

/// Set this environment variable to keep each Envoy's temp dir (config, log).
pub const KEEP_DIR_ENV: &str = "BREAKWATER_KEEP_ENVOY_DIR";

/// Asks the kernel to SIGKILL Envoy when the thread that started it ends (`PR_SET_PDEATHSIG`),
/// so a test binary killed outright (a CI timeout, SIGKILL) leaves no orphaned Envoy behind;
/// `Drop` covers every other path. The signal follows the starting *thread*, so an [`Envoy`] is
/// stopped by the thread that started it: every test and the demo do exactly that.
#[allow(unsafe_code)]
fn die_with_starting_thread(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe, allocates nothing and touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// SIGTERM lets Envoy exit cleanly (flushing its log); SIGKILL is the fallback.
#[allow(unsafe_code)]
fn send_sigterm(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; `pid`
    // is our own unreaped child, so it cannot name a recycled process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}
