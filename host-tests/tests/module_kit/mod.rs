//! What only the dynamic-module tests need, on top of `e2e` (the stack every real-Envoy test
//! starts, here with [`Adapter::Module`]): the `envoy/module.yaml` builder for `envoy --mode
//! validate`, and kept-alive connections pinned to a worker, to prove exactness across workers.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;

use envoy_kit::envoy::{Envoy, EnvoyBuilder};

#[allow(unused_imports)] // each test binary uses a different subset
pub(crate) use super::e2e::{Adapter, Stack, WAIT, breakwater, scenario};

/// `envoy/module.yaml` with the module found and `config` as its `filter_config`.
pub(crate) fn builder(config: &str, upstream_port: u16) -> EnvoyBuilder {
    Envoy::from_template("module.yaml")
        .upstream_port(upstream_port)
        .dynamic_module(artifacts::BREAKWATER_MODULE.path())
        .plugin_config(config)
}

/// Starts the upstream and Envoy with the module configured by `config`, on `workers` workers.
pub(crate) fn start_with(config: &str, workers: u32) -> Stack {
    super::e2e::start_on(Adapter::Module, config, workers)
}

/// Starts the stack of `envoy/scenarios/<name>.json` with 2 workers.
pub(crate) fn start(name: &str) -> Stack {
    start_with(&scenario(name), 2)
}

/// One kept-alive HTTP/1.1 connection to Envoy, so a test knows which worker serves it (Envoy
/// hands a connection to one worker for its whole life).
pub(crate) struct Connection {
    stream: std::net::TcpStream,
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl Connection {
    /// Connects to `addr`.
    pub(crate) fn open(addr: SocketAddr) -> Connection {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
        Connection { stream, reader }
    }

    /// `GET path` on this connection: the status and the `x-breakwater` header, if any.
    pub(crate) fn get(&mut self, path: &str) -> (u16, Option<String>) {
        use std::io::{BufRead, Read, Write};
        write!(self.stream, "GET {path} HTTP/1.1\r\nhost: test\r\n\r\n").expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let (mut length, mut reason) = (0usize, None);
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').expect("header line");
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().expect("length"),
                "x-breakwater" => reason = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("body");
        (status, reason)
    }
}

/// Per worker, the connections Envoy's listener `main` has accepted
/// (`listener.<address>.worker_<n>.downstream_cx_total`).
pub(crate) fn connections_per_worker(stack: &Stack, workers: u32) -> Vec<u64> {
    let stats = stack.envoy.stats().expect("stats");
    (0..workers)
        .map(|w| {
            let suffix = format!(".worker_{w}.downstream_cx_total");
            stats
                .iter()
                .filter(|(k, _)| k.starts_with("listener.127.0.0.1_") && k.ends_with(&suffix))
                .map(|(_, v)| *v)
                .sum()
        })
        .collect()
}

/// Two kept-alive connections, one on each of Envoy's 2 workers.
pub(crate) fn one_connection_per_worker(stack: &Stack) -> [Connection; 2] {
    let mut found: [Option<Connection>; 2] = [None, None];
    for _ in 0..64 {
        let before = connections_per_worker(stack, 2);
        let mut c = Connection::open(stack.addr);
        // A first request makes sure the worker accepted it (and that it works).
        assert_eq!(c.get("/warmup").0, 200);
        let after = connections_per_worker(stack, 2);
        if let Some(w) = (0..2).find(|&w| after[w] > before[w])
            && found[w].is_none()
        {
            found[w] = Some(c);
        }
        if found.iter().all(Option::is_some) {
            let [a, b] = found;
            return [a.expect("worker 0"), b.expect("worker 1")];
        }
    }
    panic!("Envoy never put a connection on each of its 2 workers");
}
