//! Reading a running Envoy through its admin interface: listeners, stats
//! (JSON and Prometheus), arbitrary admin paths.
//!
//! Stat names are matched exactly: a test asking for a counter that does not
//! exist gets an error listing similar names, not a silent zero.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::{Envoy, EnvoyError};
use crate::client::HttpRequest;

/// The timeout of one admin request.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One sample of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample {
    /// The metric name.
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl PromSample {
    /// A label's value.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Envoy {
    fn admin(&self, method: &str, path: &str) -> Result<String, EnvoyError> {
        let rsp = HttpRequest::new(method, path)
            .timeout(ADMIN_TIMEOUT)
            .send(self.admin_addr())
            .map_err(|e| EnvoyError::Admin(format!("{method} {path}: {e}")))?;
        if rsp.status / 100 != 2 {
            return Err(EnvoyError::Admin(format!(
                "{method} {path}: status {}: {}",
                rsp.status,
                rsp.text()
            )));
        }
        Ok(rsp.text())
    }

    /// `GET path` on the admin interface; a non-2xx status is an error.
    pub fn admin_get(&self, path: &str) -> Result<String, EnvoyError> {
        self.admin("GET", path)
    }

    /// `POST path` on the admin interface (e.g. `/reset_counters`).
    pub fn admin_post(&self, path: &str) -> Result<String, EnvoyError> {
        self.admin("POST", path)
    }

    /// `/stats/prometheus` as text.
    pub fn stats_prometheus(&self) -> Result<String, EnvoyError> {
        self.admin_get("/stats/prometheus")
    }

    /// `/stats/prometheus`, parsed.
    pub fn prometheus_samples(&self) -> Result<Vec<PromSample>, EnvoyError> {
        Ok(parse_prometheus(&self.stats_prometheus()?))
    }

    /// Every counter and gauge by name, from `/stats?format=json`
    /// (histograms are left out).
    pub fn stats(&self) -> Result<BTreeMap<String, u64>, EnvoyError> {
        let text = self.admin_get("/stats?format=json")?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| EnvoyError::Admin(format!("/stats?format=json is not JSON: {e}")))?;
        let stats = json
            .get("stats")
            .and_then(Value::as_array)
            .ok_or_else(|| EnvoyError::Admin("/stats?format=json has no `stats` list".into()))?;
        Ok(stats
            .iter()
            .filter_map(|s| {
                Some((
                    s.get("name")?.as_str()?.to_owned(),
                    s.get("value")?.as_u64()?,
                ))
            })
            .collect())
    }

    /// A counter or gauge by exact name; `Ok(None)` if it does not exist.
    pub fn stat(&self, name: &str) -> Result<Option<u64>, EnvoyError> {
        Ok(self.stats()?.get(name).copied())
    }

    /// A counter or gauge by exact name; a missing stat is an error that
    /// lists similar names (`cluster.backend.upstream_rq_total`).
    pub fn counter(&self, name: &str) -> Result<u64, EnvoyError> {
        let stats = self.stats()?;
        if let Some(v) = stats.get(name) {
            return Ok(*v);
        }
        let last = name.rsplit('.').next().unwrap_or(name);
        let similar = stats
            .keys()
            .filter(|k| k.contains(last))
            .take(20)
            .cloned()
            .collect();
        Err(EnvoyError::NoSuchStat {
            name: name.to_owned(),
            similar,
        })
    }

    /// Waits (bounded polling) until the stat exists and `pred` holds for
    /// it; returns the last value seen.
    pub fn wait_for_stat(
        &self,
        name: &str,
        timeout: Duration,
        mut pred: impl FnMut(u64) -> bool,
    ) -> Result<u64, EnvoyError> {
        let mut last = None;
        let ok = crate::poll::wait_until(timeout, || {
            last = self.stat(name).ok().flatten();
            last.is_some_and(&mut pred)
        });
        match last {
            Some(v) if ok => Ok(v),
            _ => Err(EnvoyError::Admin(format!(
                "stat {name} did not reach the expected value within {timeout:?} (last: {last:?})"
            ))),
        }
    }

    /// Listener addresses by name from `/listeners?format=json`.
    pub(crate) fn fetch_listeners(&self) -> Result<BTreeMap<String, SocketAddr>, EnvoyError> {
        let text = self.admin_get("/listeners?format=json")?;
        parse_listeners(&text)
    }
}

/// Parses `/listeners?format=json` into listener name → address.
fn parse_listeners(text: &str) -> Result<BTreeMap<String, SocketAddr>, EnvoyError> {
    let bad = |why: &str| EnvoyError::Admin(format!("/listeners?format=json: {why}: {text}"));
    let json: Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let list = json
        .get("listener_statuses")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no listener_statuses"))?;
    let mut out = BTreeMap::new();
    for l in list {
        let name = l.get("name").and_then(Value::as_str);
        let sock = l.pointer("/local_address/socket_address");
        let ip = sock.and_then(|s| s.get("address")).and_then(Value::as_str);
        let port = sock
            .and_then(|s| s.get("port_value"))
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok());
        if let (Some(name), Some(ip), Some(port)) = (name, ip, port) {
            let ip = ip.parse().map_err(|_| bad("bad listener address"))?;
            out.insert(name.to_owned(), SocketAddr::new(ip, port));
        }
    }
    Ok(out)
}

/// Parses the Prometheus text format (comments and malformed lines skipped).
pub fn parse_prometheus(text: &str) -> Vec<PromSample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_prom_line)
        .collect()
}

fn parse_prom_line(line: &str) -> Option<PromSample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value = value.trim().parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        None => (head.trim(), Vec::new()),
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(PromSample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y"` → pairs; handles `\"` and `\\` escapes inside values.
fn parse_labels(mut s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.push((key.trim_start_matches(',').to_owned(), value));
        s = rest[end + 1..].trim_start_matches(',');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_lines() {
        let text = "# TYPE a counter\na_total 3\nb{policy=\"pay\",x=\"q\\\"uote\"} 1.5\n\n";
        let s = parse_prometheus(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "a_total");
        assert_eq!(s[1].label("policy"), Some("pay"));
        assert_eq!(s[1].label("x"), Some("q\"uote"));
        assert!((s[1].value - 1.5).abs() < f64::EPSILON);
    }

    #[test]
    fn parses_listeners() {
        let text = r#"{"listener_statuses":[{"name":"main","local_address":
            {"socket_address":{"address":"127.0.0.1","port_value":37245}}}]}"#;
        let l = parse_listeners(text).expect("valid listeners JSON");
        assert_eq!(l["main"], "127.0.0.1:37245".parse().expect("addr"));
    }
}
