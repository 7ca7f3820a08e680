//! A fleet of Envoy processes that take breakwater's configuration from one ECDS resource file
//! (`envoy/ecds-bootstrap.yaml` subscribed to `envoy/ecds-breakwater.yaml` as rendered here), the
//! way a mesh's proxies all subscribe to one WasmPlugin resource, and a bounded load that keeps
//! traffic flowing through every process while the resource changes.
//!
//! Each process runs one worker (`--concurrency 1`): the fleet is what is under test, and three
//! processes of one worker already outnumber the machine's cores. Every process is an
//! [`Envoy`], stopped when the fleet drops, on every path (a failed start included).

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use envoy_kit::client::{HttpConnection, HttpRequest, HttpResponse};
use envoy_kit::envoy::{EcdsStatus, Envoy, XdsFile, yaml_quote};
use envoy_kit::poll::wait_until;
use envoy_kit::upstream::UpstreamServer;

pub(crate) use super::e2e::{WAIT, breakwater, scenario};

/// Processes subscribed to the resource.
pub(crate) const FLEET: usize = 3;
/// A request with no answer (or reset) within this is stuck.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// The load stops by itself after this, whatever the test does.
pub(crate) const LOAD_LIMIT: Duration = Duration::from_secs(60);
/// The ECDS resource (and http filter) name in `envoy/ecds-bootstrap.yaml`.
pub(crate) const RESOURCE: &str = "breakwater";

/// One version of the ECDS resource: the filter binary and breakwater's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Release<'a> {
    /// `version_info` of the resource file.
    pub(crate) version: &'a str,
    /// The `.wasm` the resource names.
    pub(crate) filter: &'a Path,
    /// breakwater's JSON configuration.
    pub(crate) config: &'a str,
}

/// One Envoy process of the fleet and its listener `main`.
pub(crate) struct Member {
    pub(crate) envoy: Envoy,
    pub(crate) addr: SocketAddr,
}

impl Member {
    /// What this process made of the ECDS resource (a failed admin request fails the test).
    pub(crate) fn ecds(&self) -> EcdsStatus {
        self.envoy
            .ecds_status("http_filter", RESOURCE)
            .unwrap_or_else(|e| panic!("ECDS stats of pid {}: {e}", self.envoy.pid()))
    }

    /// A GET on a fresh connection with `headers`; no answer within [`DEADLINE`] fails the test.
    pub(crate) fn get(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        let mut request = HttpRequest::get(path)
            .header("connection", "close")
            .timeout(DEADLINE);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .send(self.addr)
            .unwrap_or_else(|e| panic!("GET {path} via pid {}: {e}", self.envoy.pid()))
    }

    /// A counter or gauge, 0 while it does not exist.
    pub(crate) fn stat(&self, name: &str) -> u64 {
        self.envoy.stat(name).ok().flatten().unwrap_or(0)
    }

    /// One of `policy`'s breakwater metrics (`requests_total`, `breaker_state`, …) as the filter
    /// names it in `/stats`; 0 while it does not exist.
    pub(crate) fn policy_stat(&self, policy: &str, metric: &str) -> u64 {
        self.stat(&format!(
            "wasmcustom.envoy.breakwater.{metric}.policy.{policy}"
        ))
    }
}

/// The upstream, the resource file and [`FLEET`] Envoy processes subscribed to it.
pub(crate) struct Fleet {
    // Declared first, dropped first: the processes stop before their resource file goes.
    pub(crate) members: Vec<Member>,
    pub(crate) upstream: UpstreamServer,
    resource: XdsFile,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// Publishes `first`, then starts [`FLEET`] processes subscribed to it (each ready, so each
    /// has accepted `first`).
    pub(crate) fn start(first: &Release<'_>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the resource file");
        let resource = XdsFile::new(dir.path().join("ecds.yaml"));
        let mut fleet = Self {
            members: Vec::new(),
            upstream: UpstreamServer::start().expect("upstream starts"),
            resource,
            _dir: dir,
        };
        fleet.publish(first);
        for _ in 0..FLEET {
            let member = fleet.start_member();
            fleet.members.push(member);
        }
        fleet.wait_all(&format!("version {} serving", first.version), |m| {
            m.ecds().version == first.version
        });
        fleet
    }

    /// Starts one more process subscribed to the resource (not added to `members`).
    pub(crate) fn start_member(&self) -> Member {
        let envoy = Envoy::from_template("ecds-bootstrap.yaml")
            .upstream_port(self.upstream.port())
            .var("ECDS_PATH", self.resource.path().display().to_string())
            .var("ECDS_DIR", self.resource.dir().display().to_string())
            .concurrency(1)
            .start()
            .unwrap_or_else(|e| panic!("envoy starts: {e}"));
        let addr = envoy.listener("main").expect("listener `main`");
        Member { envoy, addr }
    }

    /// Writes `release` as the resource file (write, then rename over the old one).
    pub(crate) fn publish(&self, release: &Release<'_>) {
        let vars = BTreeMap::from([
            ("VERSION".to_owned(), yaml_quote(release.version)),
            (
                "FILTER_WASM".to_owned(),
                release.filter.display().to_string(),
            ),
            ("PLUGIN_CONFIG".to_owned(), yaml_quote(release.config)),
        ]);
        self.resource
            .publish_template("ecds-breakwater.yaml", &vars)
            .unwrap_or_else(|e| panic!("publish {}: {e}", release.version));
    }

    /// Every member's listener.
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.members.iter().map(|m| m.addr).collect()
    }

    /// Every member's ECDS status, in order.
    pub(crate) fn ecds(&self) -> Vec<EcdsStatus> {
        self.members.iter().map(Member::ecds).collect()
    }

    /// Waits (bounded by [`WAIT`]) until `done` holds for every member; fails the test naming
    /// the members that did not get there, with their ECDS status.
    pub(crate) fn wait_all(&self, what: &str, done: impl Fn(&Member) -> bool) {
        let mut pending: Vec<usize> = (0..self.members.len()).collect();
        wait_until(WAIT, || {
            pending.retain(|&i| !done(&self.members[i]));
            pending.is_empty()
        });
        if !pending.is_empty() {
            let report: Vec<String> = pending
                .iter()
                .map(|&i| {
                    let m = &self.members[i];
                    format!(
                        "member {i} (pid {}): {:?}\n{}",
                        m.envoy.pid(),
                        m.ecds(),
                        m.envoy.log_tail()
                    )
                })
                .collect();
            panic!(
                "{what}: not reached within {WAIT:?} by\n{}",
                report.join("\n")
            );
        }
    }
}

/// What the load saw, per member.
#[derive(Debug, Default)]
pub(crate) struct LoadReport {
    /// Answers by status, per member (index into `Fleet::members`).
    pub(crate) statuses: Vec<BTreeMap<u16, u64>>,
    /// Requests with no answer within [`DEADLINE`] or reset, with their member.
    pub(crate) failures: Vec<String>,
    /// Connections opened, per member (the load keeps one open as long as Envoy does).
    pub(crate) connections: Vec<u64>,
    /// Whether the load ran into [`LOAD_LIMIT`] instead of being stopped.
    pub(crate) hit_limit: bool,
}

impl LoadReport {
    /// Every answer, all members together.
    pub(crate) fn total(&self) -> u64 {
        self.statuses.iter().flat_map(BTreeMap::values).sum()
    }
}

/// GETs of `path`, round-robin over the members, one at a time from one thread, from the
/// moment [`with_load`] starts until it ends (or [`LOAD_LIMIT`]); each member's requests go on
/// one kept-alive connection, reopened only if Envoy closed it (counted).
pub(crate) struct Load {
    answered: AtomicU64,
    stop: AtomicBool,
}

impl Load {
    /// Answers so far.
    pub(crate) fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Waits (bounded by [`WAIT`]) until `n` more requests have been answered: traffic flowed
    /// through the moment the caller is in. Fails the test otherwise.
    pub(crate) fn wait_for_answers(&self, n: u64) {
        let from = self.answered();
        assert!(
            wait_until(WAIT, || self.answered() >= from + n),
            "the load stalled: {} answers in {WAIT:?}, expected {n}",
            self.answered() - from
        );
    }

    fn run(&self, addrs: &[SocketAddr], path: &str) -> LoadReport {
        let start = Instant::now();
        let mut report = LoadReport {
            statuses: vec![BTreeMap::new(); addrs.len()],
            connections: vec![0; addrs.len()],
            ..LoadReport::default()
        };
        let mut connections: Vec<Option<HttpConnection>> = addrs.iter().map(|_| None).collect();
        let request = HttpRequest::get(path).timeout(DEADLINE);
        for (i, addr) in addrs.iter().enumerate().cycle() {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            if start.elapsed() >= LOAD_LIMIT {
                report.hit_limit = true;
                break;
            }
            let answer = match &mut connections[i] {
                Some(open) => open.send(&request),
                slot @ None => HttpConnection::open(*addr).and_then(|open| {
                    report.connections[i] += 1;
                    slot.insert(open).send(&request)
                }),
            };
            match answer {
                Ok(rsp) => *report.statuses[i].entry(rsp.status).or_default() += 1,
                Err(e) => report.failures.push(format!("member {i}: {e}")),
            }
            if !connections[i].as_ref().is_some_and(HttpConnection::is_open) {
                connections[i] = None;
            }
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        report
    }
}

/// Sets the stop flag when dropped, so a failing step (a panic) ends the load at once instead
/// of after [`LOAD_LIMIT`].
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `during` on this thread while another sends GETs of `path` to `addrs`; returns what
/// `during` returned and what the load saw. The load stops when `during` returns or panics.
pub(crate) fn with_load<R>(
    addrs: &[SocketAddr],
    path: &str,
    during: impl FnOnce(&Load) -> R,
) -> (R, LoadReport) {
    let load = Load {
        answered: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    };
    let report = Mutex::new(None);
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let r = load.run(addrs, path);
            *report.lock().expect("report lock") = Some(r);
        });
        let _stop = StopOnDrop(&load.stop);
        during(&load)
    });
    let report = report
        .into_inner()
        .expect("report lock")
        .expect("the load thread reported");
    (result, report)
}

/// Asserts that the load got an answer to every request, all 200, from every member, each on
/// the one connection it opened first (Envoy closed none).
pub(crate) fn assert_all_served(report: &LoadReport) {
    assert!(!report.hit_limit, "the load ran into {LOAD_LIMIT:?}");
    assert!(
        report.failures.is_empty(),
        "requests without an answer: {:?}",
        report.failures
    );
    for (i, statuses) in report.statuses.iter().enumerate() {
        assert!(
            statuses.get(&200).is_some_and(|&n| n > 0),
            "member {i} served no request: {statuses:?}"
        );
        assert_eq!(
            statuses.keys().copied().collect::<Vec<_>>(),
            vec![200],
            "member {i}: answers other than 200 during the update: {statuses:?}"
        );
    }
    assert_eq!(
        report.connections,
        vec![1; report.connections.len()],
        "connections the load had to open per member (Envoy closed the others)"
    );
}
