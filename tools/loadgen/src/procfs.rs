//! CPU time and memory of a process, from `/proc`.
//!
//! The benchmark charges the proxy with the CPU its process used (user + system, every thread)
//! between two reads, divided by the requests answered in between: the cost per request that
//! matters for capacity planning, independent of how busy the shared machine was. `utime` and
//! `stime` tick at `CLK_TCK` (100 Hz: 10 ms), so a measurement must burn at least a second of CPU
//! for a sub-percent error; the benchmark's few-second loads do.

use std::time::Duration;

/// User + system CPU time the process `pid` used so far (all threads, reaped children excluded).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / clock_ticks()))
}

/// CPU time the process `pid` ran so far, to the nanosecond: the sum over its threads of the
/// scheduler's run time (`/proc/<pid>/task/*/schedstat`, first field). Exact where
/// [`cpu_time`] ticks at 10 ms, so short measurement slices can be compared ([`super::ab`]).
pub fn cpu_time_exact(pid: u32) -> Option<Duration> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(stat) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else {
            continue; // the thread ended meanwhile
        };
        nanos += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

/// `utime + stime` (fields 14 and 15) from a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first after `)`
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of `pid` in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[allow(unsafe_code)]
fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_the_command_name() {
        let stat = "42 (envoy (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some(267));
    }

    #[test]
    fn own_process_has_cpu_and_memory() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_some());
        let before = cpu_time_exact(pid).expect("schedstat");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(cpu_time_exact(pid).expect("schedstat") > before, "{x}");
        assert!(rss_bytes(pid).is_some_and(|b| b > 0));
    }
}
