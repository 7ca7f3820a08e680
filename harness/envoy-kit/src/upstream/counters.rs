//! What the test upstream saw: totals, per-path counts, in-flight (current
//! and maximum), arrival order and the last requests.
//!
//! Bulkhead tests read the maximum in-flight count to prove a cap held; FIFO
//! tests read the order of `x-seq` values; retry tests read how many attempts
//! reached the upstream and with which headers. Every list is bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

/// The most request records and arrival entries kept (oldest dropped first).
pub const MAX_RECORDS: usize = 10_000;

/// One request as the upstream received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// 1-based arrival number since the last counter reset.
    pub number: u64,
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Request headers, lowercase pairs (what Envoy sent upstream).
    pub headers: Vec<(String, String)>,
    /// The `x-seq` header, if any.
    pub seq: Option<String>,
    /// Bytes of request body read.
    pub body_len: usize,
}

impl RequestRecord {
    /// The first value of a request header.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::client::find_header(&self.headers, name)
    }
}

/// A consistent copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamStats {
    /// Requests received (control requests excluded).
    pub total: u64,
    /// Requests being handled now.
    pub inflight: u64,
    /// The most requests handled at once since the last reset.
    pub max_inflight: u64,
    /// Requests per path (without query).
    pub per_path: BTreeMap<String, u64>,
    /// `x-seq` values in arrival order (requests without one are not listed).
    pub arrivals: Vec<String>,
}

impl UpstreamStats {
    /// The stats as JSON (what `/_control/stats` answers).
    pub fn to_json(&self) -> Value {
        json!({
            "total": self.total,
            "inflight": self.inflight,
            "max_inflight": self.max_inflight,
            "per_path": self.per_path,
            "arrivals": self.arrivals,
        })
    }
}

#[derive(Debug, Default)]
struct Lists {
    per_path: BTreeMap<String, u64>,
    arrivals: VecDeque<String>,
    records: VecDeque<RequestRecord>,
}

/// The live counters, shared by every connection task.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    total: AtomicU64,
    inflight: Arc<AtomicU64>,
    max_inflight: AtomicU64,
    lists: Mutex<Lists>,
}

/// Holds one in-flight slot; dropping it (response sent, or the client went
/// away and the handler was dropped) releases the slot.
#[derive(Debug)]
pub(crate) struct InflightGuard(Arc<AtomicU64>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counters {
    fn lists(&self) -> std::sync::MutexGuard<'_, Lists> {
        // A panic while holding the lock leaves plain counters: keep going.
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an arriving request, enters it in flight and records it;
    /// `fill` gets the arrival number.
    pub(crate) fn arrive(
        &self,
        path_only: &str,
        fill: impl FnOnce(u64) -> RequestRecord,
    ) -> (u64, InflightGuard) {
        let mut lists = self.lists();
        let number = self.total.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.inflight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_inflight.fetch_max(now, Ordering::SeqCst);
        *lists.per_path.entry(path_only.to_owned()).or_default() += 1;
        let record = fill(number);
        if let Some(seq) = &record.seq {
            if lists.arrivals.len() == MAX_RECORDS {
                lists.arrivals.pop_front();
            }
            lists.arrivals.push_back(seq.clone());
        }
        if lists.records.len() == MAX_RECORDS {
            lists.records.pop_front();
        }
        lists.records.push_back(record);
        (number, InflightGuard(Arc::clone(&self.inflight)))
    }

    /// Zeroes the counters and lists; the max in-flight restarts at the
    /// current in-flight count (those requests are still running).
    pub(crate) fn reset(&self) {
        let mut lists = self.lists();
        self.total.store(0, Ordering::SeqCst);
        self.max_inflight
            .store(self.inflight.load(Ordering::SeqCst), Ordering::SeqCst);
        *lists = Lists::default();
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    pub(crate) fn inflight(&self) -> u64 {
        self.inflight.load(Ordering::SeqCst)
    }

    pub(crate) fn max_inflight(&self) -> u64 {
        self.max_inflight.load(Ordering::SeqCst)
    }

    pub(crate) fn path_count(&self, path: &str) -> u64 {
        self.lists().per_path.get(path).copied().unwrap_or(0)
    }

    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        self.lists().records.iter().cloned().collect()
    }

    pub(crate) fn last_record(&self) -> Option<RequestRecord> {
        self.lists().records.back().cloned()
    }

    pub(crate) fn snapshot(&self) -> UpstreamStats {
        let lists = self.lists();
        UpstreamStats {
            total: self.total(),
            inflight: self.inflight(),
            max_inflight: self.max_inflight(),
            per_path: lists.per_path.clone(),
            arrivals: lists.arrivals.iter().cloned().collect(),
        }
    }
}
