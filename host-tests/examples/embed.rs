//! Embedding breakwater in your own host: the template to copy.
//!
//! `cargo run -p host-tests --example embed -- host-tests/examples/embed-config.json`
//!
//! It loads the component (`BREAKWATER_COMPONENT`, built by host-tests' build.rs; any
//! `wasm32-wasip2` build of `breakwater-core --features component` will do), links WASI p2,
//! builds an `engine` from your JSON configuration, and replays a small timeline against the
//! cluster `payments`: three upstream failures, a rejected request, a probe after the
//! recovery time, and a bulkhead that queues. Your host does the same with its real clock and
//! requests: fetch `request-needs` and `header-sets` once; call `on-request` with only what the
//! engine needs and act on the decision (a `proceed` names its headers by number); report
//! `on-response`, draining `poll-action` when it says actions wait; and call `handle-timeout`
//! when your timer reaches `poll-timeout` (read after each `handle-timeout`, and brought
//! forward by a delay or queue decision's `until`), then drain `poll-action`.

use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use artifacts::BREAKWATER_COMPONENT;
use component_host::bindings::exports::breakwater::resilience::engine::{
    Action, Decision, GuestEngine, Method, Request,
};
use component_host::bindings::exports::breakwater::resilience::types::{
    Header, Outcome, OutcomeKind,
};
use component_host::{Resilience, ResiliencePre};

/// Your store data: WASI and its resource table.
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

const MS: u64 = 1_000_000;

fn main() -> wasmtime::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "host-tests/examples/embed-config.json".to_owned());
    let config = std::fs::read_to_string(&path)?;

    // Once per process: compile and link. Per worker/tenant: instantiate (microseconds).
    let engine = Engine::default();
    let component = Component::from_file(&engine, BREAKWATER_COMPONENT.path())?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let pre = ResiliencePre::new(linker.instantiate_pre(&component)?)?;
    let state = State {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    let bindings: Resilience = pre.instantiate(&mut store)?;
    let api = bindings.breakwater_resilience_engine().engine();

    // A bad configuration is a WIT error listing every problem with its JSON path.
    let bw = match api.call_constructor(&mut store, &config, 0, None)? {
        Ok(bw) => bw,
        Err(e) => {
            for p in e.problems {
                eprintln!("{path}: {}: {}", p.path, p.reason);
            }
            std::process::exit(2);
        }
    };

    // Every string in a request is copied into the component: pass only what the engine's
    // configuration can look at (here the cluster and `content-type`, not `user-agent`).
    let needs = api.call_request_needs(&mut store, bw)?;
    let request = |id: &str| {
        let incoming = [
            ("content-type", "application/json"),
            ("user-agent", "embed-example/1"),
        ];
        Request {
            method: Method::Get,
            path: format!("/pay/{id}"),
            cluster: needs.cluster.then(|| "payments".into()),
            route: needs.route.then(|| "checkout".into()),
            headers: incoming
                .iter()
                .filter(|(name, _)| needs.headers.iter().any(|n| n == name))
                .map(|(name, value)| Header {
                    name: (*name).into(),
                    value: (*value).into(),
                })
                .collect(),
        }
    };
    let status = |code| Outcome {
        kind: OutcomeKind::Response,
        http_status: Some(code),
        grpc_status: None,
    };

    // Once per engine: the header lists a `proceed` names by number, and the timer's deadline.
    let header_sets = api.call_header_sets(&mut store, bw)?;
    let mut deadline = api.call_poll_timeout(&mut store, bw)?;

    // (at ms, request id, upstream status for the request, 0: keep it open)
    let timeline: &[(u64, &str, u16)] = &[
        (0, "r1", 503),
        (10, "r2", 503),
        (20, "r3", 503),
        (30, "r4", 200),
        (6_000, "probe", 200),
        (6_100, "a", 0),
        (6_100, "b", 0),
        (6_100, "c", 0),
    ];
    let mut open = Vec::new();
    let mut held = 0;
    for &(at, id, answer) in timeline {
        let now = at * MS;
        // The timer: due work first, then what it released; the deadline is read again only
        // here (requests move it earlier only through a delay or queue decision's `until`).
        if now >= deadline {
            api.call_handle_timeout(&mut store, bw, now)?;
            held -= drain(&api, &mut store, bw, now, &header_sets)?;
            deadline = api.call_poll_timeout(&mut store, bw)?;
        }
        let decision = api.call_on_request(&mut store, bw, now, &request(id))?;
        print!("t={at:>5}ms {id:<5} -> ");
        match decision {
            Decision::Pass => println!("pass"),
            Decision::Proceed(p) => {
                println!("proceed [{}]", show(&header_sets[p.headers as usize]));
                if answer == 0 {
                    open.push(p.ticket);
                } else {
                    let ready =
                        api.call_on_response(&mut store, bw, now, p.ticket, status(answer), 1)?;
                    println!("{:>16} upstream answered {answer}", "");
                    // A returned bulkhead permit may have resumed a queued request.
                    if ready > 0 {
                        held -= drain(&api, &mut store, bw, now, &header_sets)?;
                    }
                }
            }
            Decision::Delay(h) => {
                held += 1;
                deadline = deadline.min(h.until);
                println!("delay until {}ms", h.until / MS)
            }
            Decision::Queue(h) => {
                held += 1;
                deadline = deadline.min(h.until);
                println!("queue until {}ms", h.until / MS)
            }
            Decision::Reject(r) => println!(
                "reject {} {:?} retry-after={:?}s",
                r.status, r.reason, r.retry_after
            ),
        }
    }

    // Run the timer until the held request is settled: it comes back as an action.
    let mut now = deadline;
    while held > 0 {
        now = deadline;
        api.call_handle_timeout(&mut store, bw, now)?;
        held -= drain(&api, &mut store, bw, now, &header_sets)?;
        deadline = api.call_poll_timeout(&mut store, bw)?;
    }
    while let Some(t) = api.call_poll_event(&mut store, bw)? {
        println!(
            "transition {}: {:?} -> {:?} at {}ms ({})",
            t.policy,
            t.from,
            t.to,
            t.at / MS,
            t.reason
        );
    }
    println!("status: {}", api.call_status_json(&mut store, bw, now)?);
    Ok(())
}

/// Header pairs as `name=value, ...`.
fn show(headers: &[Header]) -> String {
    let pairs: Vec<String> = headers
        .iter()
        .map(|h| format!("{}={}", h.name, h.value))
        .collect();
    pairs.join(", ")
}

/// Carries out every waiting action at `now`; returns how many held requests it settled.
fn drain(
    api: &GuestEngine<'_>,
    store: &mut Store<State>,
    bw: ResourceAny,
    now: u64,
    header_sets: &[Vec<Header>],
) -> wasmtime::Result<usize> {
    let mut settled = 0;
    while let Some(action) = api.call_poll_action(&mut *store, bw)? {
        settled += 1;
        match action {
            Action::Resume(p) => println!(
                "t={:>5}ms ticket {} resumes [{}]",
                now / MS,
                p.ticket,
                show(&header_sets[p.headers as usize])
            ),
            Action::Reply(r) => println!(
                "t={:>5}ms queued request answered {} {:?}",
                now / MS,
                r.reply.status,
                r.reply.reason
            ),
        }
    }
    Ok(settled)
}
