//! The load generator: HTTP/1.1 keep-alive GETs over loopback, closed loop or fixed-rate open
//! loop, one OS thread per connection with blocking I/O.
//!
//! Why this shape:
//!
//! - **Closed loop** (N connections, each sends its next request as soon as the previous answer
//!   arrives) finds the maximum throughput: the proxy is never idle while a connection waits.
//! - **Open loop** (a fixed total rate, every request has a *scheduled* send time) measures
//!   latency below the knee. Latency counts from the scheduled time, not from the moment the
//!   request was written: when an answer is late, the requests queued behind it on that
//!   connection are charged for the wait (no coordinated omission, as in wrk2). The generator's
//!   own lateness (a sleep that overshoots) is reported apart as `send_lateness`, so a bad figure
//!   can be blamed on the right side.
//! - Blocking threads keep the client simple and identical for every configuration; its CPU is
//!   not measured (only the proxy's is), but on a small machine it competes with the proxy, which
//!   is why every comparison is a ratio within one run.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The request every connection sends.
const REQUEST: &[u8] =
    b"GET /api/bench HTTP/1.1\r\nhost: bench\r\nuser-agent: breakwater-loadgen\r\n\r\n";

/// One keep-alive HTTP/1.1 connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer; returns the HTTP status.
    fn round_trip(&mut self) -> io::Result<u16> {
        self.stream.write_all(REQUEST)?;
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some((status, total)) = parse_response(&self.buf)?
                && self.buf.len() >= total
            {
                return Ok(status);
            }
        }
    }
}

/// `(status, total length)` once the head is complete; the body length comes from
/// `content-length` (the bench upstream always sends one).
fn parse_response(buf: &[u8]) -> io::Result<Option<(u16, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .ok_or_else(|| bad("no content-length"))?;
    Ok(Some((status, end + 4 + length)))
}

/// What one load run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Answers with status 200.
    pub ok: u64,
    /// Other statuses and I/O errors (each I/O error also reopens the connection).
    pub errors: u64,
    /// Wall time from the first send to the last answer.
    pub elapsed: Duration,
    /// Latency percentiles in microseconds: p50, p99, p99.9, max.
    pub latency_us: [f64; 4],
    /// Open loop only: how late the generator itself sent, p50 and p99 in microseconds.
    pub send_lateness_us: [f64; 2],
}

impl LoadReport {
    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Per-thread result: latencies (ns), lateness (ns), ok, errors.
type ThreadOut = (Vec<u64>, Vec<u64>, u64, u64);

/// The value at quantile `q` of sorted `v` (nearest rank), in microseconds.
pub fn percentile_us(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1_000.0
}

fn merge(outs: Vec<ThreadOut>, elapsed: Duration) -> LoadReport {
    let (mut lat, mut late, mut ok, mut errors) = (Vec::new(), Vec::new(), 0, 0);
    for (l, s, o, e) in outs {
        lat.extend(l);
        late.extend(s);
        ok += o;
        errors += e;
    }
    lat.sort_unstable();
    late.sort_unstable();
    LoadReport {
        ok,
        errors,
        elapsed,
        latency_us: [
            percentile_us(&lat, 0.50),
            percentile_us(&lat, 0.99),
            percentile_us(&lat, 0.999),
            percentile_us(&lat, 1.0),
        ],
        send_lateness_us: [percentile_us(&late, 0.50), percentile_us(&late, 0.99)],
    }
}

/// Sets this thread's timer slack to 1 ns, so `sleep` wakes on time (the default 50 µs slack
/// would show up as generator lateness).
#[allow(unsafe_code)]
fn tight_timer_slack() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes plain integers and only changes this thread's slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// One request, recorded; an I/O error reopens the connection (bounded by the deadline).
fn one(conn: &mut Option<Conn>, addr: SocketAddr, out: &mut ThreadOut) -> bool {
    let result = match conn {
        Some(c) => c.round_trip(),
        None => Conn::open(addr).and_then(|c| conn.insert(c).round_trip()),
    };
    match result {
        Ok(200) => {
            out.2 += 1;
            true
        }
        Ok(_) => {
            out.3 += 1;
            false
        }
        Err(_) => {
            out.3 += 1;
            *conn = None;
            // Do not spin on a dead proxy.
            std::thread::sleep(Duration::from_millis(1));
            false
        }
    }
}

/// Closed loop: `connections` keep-alive connections for `duration`, each sending its next
/// request as soon as the last one was answered.
pub fn closed_loop(addr: SocketAddr, connections: usize, duration: Duration) -> LoadReport {
    let start = Instant::now();
    let deadline = start + duration;
    let outs = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections.max(1))
            .map(|_| {
                s.spawn(move || {
                    let mut out: ThreadOut = (Vec::with_capacity(1 << 16), Vec::new(), 0, 0);
                    let mut conn = Conn::open(addr).ok();
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        if one(&mut conn, addr, &mut out) {
                            out.0.push(t0.elapsed().as_nanos() as u64);
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .collect()
    });
    merge(outs, start.elapsed())
}

/// Open loop: `rate` requests per second in total, spread evenly over `connections`
/// connections, for `duration`. Latency counts from each request's scheduled send time.
pub fn open_loop(
    addr: SocketAddr,
    connections: usize,
    rate: f64,
    duration: Duration,
) -> LoadReport {
    let connections = connections.max(1);
    let period = Duration::from_secs_f64(connections as f64 / rate.max(1.0));
    let start = Instant::now() + Duration::from_millis(20);
    let deadline = start + duration;
    let outs = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|i| {
                s.spawn(move || {
                    tight_timer_slack();
                    let mut out: ThreadOut = (Vec::new(), Vec::new(), 0, 0);
                    let mut conn = Conn::open(addr).ok();
                    let mut next = start + period.mul_f64(i as f64 / connections as f64);
                    while next < deadline {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        out.1
                            .push(Instant::now().saturating_duration_since(next).as_nanos() as u64);
                        if one(&mut conn, addr, &mut out) {
                            out.0.push(next.elapsed().as_nanos() as u64);
                        }
                        next += period;
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .collect()
    });
    merge(outs, duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_lengths() {
        let rsp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx: y\r\n\r\nok";
        assert_eq!(parse_response(rsp).unwrap(), Some((200, rsp.len())));
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        assert_eq!(percentile_us(&v, 0.5), 500.0);
        assert_eq!(percentile_us(&v, 0.99), 990.0);
        assert_eq!(percentile_us(&v, 0.999), 999.0);
        assert_eq!(percentile_us(&v, 1.0), 1000.0);
        assert_eq!(percentile_us(&[], 0.5), 0.0);
    }
}
