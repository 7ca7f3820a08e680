//! The parent's side: [`Worker`] starts a worker process and exchanges lines with it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

/// The environment variable that makes a test binary a worker: it holds the [`Spec`] as JSON.
pub const WORKER_ENV: &str = "BREAKWATER_FLEET_WORKER";

/// Every reply line starts with this (the test harness prints lines of its own around them).
pub(crate) const REPLY: &str = "@@ ";

/// The longest a worker may take to answer one command: a store outage must not make any
/// command hang (the Redis store's timeouts are 250 ms), so this only catches a broken worker.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// What a worker runs: the engine's configuration over a Redis store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// `redis://127.0.0.1:<port>/0`.
    pub url: String,
    /// The key prefix (one per test: tests share nothing).
    pub prefix: String,
    /// The engine's JSON configuration.
    pub config: String,
    /// The engine's seed.
    pub seed: u64,
}

impl Spec {
    /// As JSON, for [`WORKER_ENV`].
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "url": self.url, "prefix": self.prefix, "config": self.config, "seed": self.seed,
        })
        .to_string()
    }

    /// From [`Spec::to_json`]'s form.
    pub fn from_json(text: &str) -> Result<Spec, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("{WORKER_ENV}: {e}"))?;
        let s = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{WORKER_ENV}: `{k}` must be a string"))
        };
        Ok(Spec {
            url: s("url")?,
            prefix: s("prefix")?,
            config: s("config")?,
            seed: v["seed"]
                .as_u64()
                .ok_or_else(|| format!("{WORKER_ENV}: `seed` must be a number"))?,
        })
    }
}

/// One worker process.
#[derive(Debug)]
pub struct Worker {
    name: String,
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Worker {
    /// Starts the current test binary again to run only the ignored test `test` (which must
    /// call [`crate::serve`]), as worker `name`, and waits for it to be ready.
    pub fn spawn(name: &str, test: &str, spec: &Spec) -> Result<Worker, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(WORKER_ENV, spec.to_json())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn worker {name}: {e}"))?;
        let stdin = child.stdin.take().ok_or("worker stdin")?;
        let stdout = child.stdout.take().ok_or("worker stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(reply) = line.strip_prefix(REPLY)
                    && tx.send(reply.to_owned()).is_err()
                {
                    break;
                }
            }
        });
        let mut worker = Worker {
            name: name.to_owned(),
            child,
            stdin,
            lines,
        };
        let hello = worker.recv()?;
        if hello != "ready" {
            return Err(format!("worker {name} did not start: {hello}"));
        }
        Ok(worker)
    }

    /// Sends one command without waiting for its reply.
    pub fn send(&mut self, command: &str) -> Result<(), String> {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("worker {}: send {command:?}: {e}", self.name))
    }

    /// The next reply; an `error …` reply is an error.
    pub fn recv(&mut self) -> Result<String, String> {
        match self.lines.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) if line.starts_with("error") => Err(format!("worker {}: {line}", self.name)),
            Ok(line) => Ok(line),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "worker {}: no reply in {REPLY_TIMEOUT:?}",
                self.name
            )),
            Err(RecvTimeoutError::Disconnected) => Err(format!("worker {}: exited", self.name)),
        }
    }

    /// Sends one command and returns its reply.
    pub fn call(&mut self, command: &str) -> Result<String, String> {
        self.send(command)?;
        self.recv()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.send("quit");
        // A worker that does not leave within a few seconds is killed.
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
