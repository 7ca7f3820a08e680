//! A real OCI registry on loopback for one test: Debian's `docker-registry` (the CNCF
//! distribution registry) with a configuration written to a temporary directory, storage
//! there too, stopped when the guard drops (also when the test fails).

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the registry may take to answer `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running registry; dropping it stops the process.
#[derive(Debug)]
pub(crate) struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    /// Starts a registry storing under `dir` on a free loopback port, and waits until it
    /// answers. A port taken between choosing it and binding it is retried with another.
    pub(crate) fn start(dir: &Path) -> Result<Registry, String> {
        let binary = which("docker-registry").ok_or(
            "docker-registry is not installed: `make oci-tools` installs it \
             (Debian package docker-registry)",
        )?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut last = String::new();
        for attempt in 0..3 {
            let port = free_port()?;
            let config = dir.join("config.yml");
            let storage = dir.join("storage");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: breakwater-test-only\n",
                    storage.display()
                ),
            )
            .map_err(|e| format!("{}: {e}", config.display()))?;
            let log = dir.join(format!("registry-{attempt}.log"));
            let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
            let err = out.try_clone().map_err(|e| e.to_string())?;
            let child = Command::new(&binary)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
            let mut registry = Registry { child, port, log };
            match registry.wait_ready() {
                Ok(()) => return Ok(registry),
                Err(e) => last = e,
            }
            // Dropping `registry` stops this attempt's process.
        }
        Err(last)
    }

    /// `127.0.0.1:PORT`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the registry logged so far (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A plain HTTP/1.1 GET on the registry; returns the whole response (head and body).
    pub(crate) fn get(&self, path: &str, accept: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
            self.address()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    /// Polls `/v2/` (bounded) until it answers 200; fails early if the process exits.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "docker-registry exited ({status}) before answering:\n{}",
                    self.log()
                ));
            }
            if self
                .get("/v2/", "*/*")
                .is_ok_and(|r| r.starts_with("HTTP/1.1 200"))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "docker-registry did not answer /v2/ within {READY_TIMEOUT:?}:\n{}",
            self.log()
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the kernel just handed out on loopback (free a moment ago).
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// `name` on PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}
