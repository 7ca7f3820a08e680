//! Fleet rollout through xDS: breakwater's configuration delivered by ECDS (the http filter's
//! `config_discovery`, a `envoy.extensions.filters.http.wasm.v3.Wasm` resource), as Istio
//! delivers a WasmPlugin, to three Envoy 1.40 processes subscribed to one resource file
//! (`envoy/ecds-bootstrap.yaml`, `envoy/ecds-breakwater.yaml`), with traffic flowing through
//! every process while the resource changes:
//!
//! - a new valid configuration reaches every process, no request fails or hangs, and a breaker
//!   opened before the update is still open after it (the state lives in shared data under
//!   keys the new configuration shares);
//! - a configuration the filter refuses (here a key it does not know, as a newer breakwater's
//!   configuration would have) is rejected by every process and counted, the previous one keeps
//!   serving, the problem and its JSON path are in each process's log, and a process that
//!   starts meanwhile answers 500 until a valid resource arrives;
//! - the upgrade order of `envoy/README.md`: a new filter binary first (with the configuration
//!   in force), then the configuration; back in the reverse order, state kept throughout;
//! - what the filter counted since its last tick reaches Envoy when a configuration replaces
//!   the one that counted it (RELIABILITY.md, finding 3).
//!
//! Needs Envoy (`make envoy-install`); a missing Envoy fails the test.

mod e2e;
mod ecds_kit;

use artifacts::{BREAKWATER_FILTER, BREAKWATER_FILTER_TEST_HOOKS};
use ecds_kit::{Fleet, Member, Release, assert_all_served, breakwater, scenario, with_load};
use envoy_kit::client::{HttpConnection, HttpRequest};
use serde_json::Value;

/// Answers of the upstream for the `state` policy's requests: failures that open its breaker.
const FAIL: (&str, &str) = ("x-upstream-status", "503");
/// The header that `reload-v2` honours with an injected fault and `reload-v1` ignores.
const INJECT: (&str, &str) = ("x-failure-inject", "true");
/// The path the background load requests (policy `api`; no breakwater reply under any version).
const LOAD_PATH: &str = "/plain";
/// Requests the load must answer around each step, so that traffic flowed through it.
const STEP_ANSWERS: u64 = 30;

/// Which configuration serves a member, by behaviour: `reload-v2` injects on [`INJECT`].
fn injects(member: &Member) -> bool {
    breakwater(&member.get("/api", &[INJECT])) == Some("injected_fault")
}

/// Opens the `state` policy's breaker on every member (3 failures, `failure_threshold: 3`).
fn open_state_breakers(fleet: &Fleet) {
    for member in &fleet.members {
        for _ in 0..3 {
            assert_eq!(member.get("/state", &[FAIL]).status, 503);
        }
    }
    fleet.wait_all("breaker `state` open", |m| {
        breakwater(&m.get("/state", &[])) == Some("circuit_open")
    });
}

/// The breaker opened by [`open_state_breakers`] still rejects on every member, its `state`
/// gauge reads open (metrics lag by up to a tick), and no request for `/state` reached the
/// upstream since `upstream_before`.
fn assert_state_breakers_still_open(fleet: &Fleet, upstream_before: u64) {
    for (i, member) in fleet.members.iter().enumerate() {
        assert_eq!(
            breakwater(&member.get("/state", &[])),
            Some("circuit_open"),
            "member {i}: the breaker opened before the update is not open after it"
        );
    }
    fleet.wait_all("policy state's breaker_state gauge reads open", |m| {
        m.policy_stat("state", "breaker_state") == 1
    });
    assert_eq!(fleet.upstream.path_count("/state"), upstream_before);
}

#[test]
fn a_new_configuration_reaches_every_process_while_traffic_flows_and_open_breakers_stay_open() {
    let (v1, v2) = (scenario("reload-v1"), scenario("reload-v2"));
    let filter = BREAKWATER_FILTER.path();
    let fleet = Fleet::start(&Release {
        version: "v1",
        filter,
        config: &v1,
    });
    open_state_breakers(&fleet);
    let upstream_state = fleet.upstream.path_count("/state");
    // One kept-alive connection per member, opened under v1: v2 must reach it too.
    let forced = HttpRequest::get("/api").header(INJECT.0, INJECT.1);
    let mut kept: Vec<HttpConnection> = fleet
        .addrs()
        .into_iter()
        .map(|addr| HttpConnection::open(addr).expect("connect"))
        .collect();
    for (member, conn) in fleet.members.iter().zip(&mut kept) {
        assert!(!injects(member), "v1 ignores the injection header");
        let rsp = conn.send(&forced).expect("answer under v1");
        assert_eq!((rsp.status, breakwater(&rsp)), (200, None));
    }
    let before = fleet.ecds();

    let ((), report) = with_load(&fleet.addrs(), LOAD_PATH, |load| {
        load.wait_for_answers(STEP_ANSWERS);
        fleet.publish(&Release {
            version: "v2",
            filter,
            config: &v2,
        });
        fleet.wait_all("version v2 accepted", |m| m.ecds().version == "v2");
        fleet.wait_all("v2's injection applied", injects);
        load.wait_for_answers(STEP_ANSWERS);
    });

    assert_all_served(&report);
    for (i, (member, before)) in fleet.members.iter().zip(&before).enumerate() {
        let after = member.ecds();
        assert_eq!(
            after.update_success,
            before.update_success + 1,
            "member {i}"
        );
        assert_eq!(after.update_rejected, 0, "member {i}");
    }
    for (i, conn) in kept.iter_mut().enumerate() {
        let rsp = conn.send(&forced).expect("answer under v2");
        assert_eq!(
            breakwater(&rsp),
            Some("injected_fault"),
            "member {i}: a connection opened under v1 does not get v2"
        );
        assert!(
            conn.is_open() && conn.sent() == 2,
            "member {i}: connection closed"
        );
    }
    assert_state_breakers_still_open(&fleet, upstream_state);
    println!(
        "ecds v1 -> v2 on {} processes: {} requests during the update, all 200: {:?}",
        fleet.members.len(),
        report.total(),
        report.statuses
    );
}

/// `reload-v2` plus `policies[1].hedging`, a key this filter does not know (as a configuration
/// written for a newer breakwater would have): applied, it would turn injection on.
fn config_with_an_unknown_key() -> String {
    let mut config: Value = serde_json::from_str(&scenario("reload-v2")).expect("reload-v2 JSON");
    config["policies"][1]["hedging"] = serde_json::json!({ "max_attempts": 2 });
    config.to_string()
}

/// The line breakwater logs for the refused key (through Envoy's `wasm` logger, at error).
const REFUSAL: &str =
    "breakwater: invalid configuration: policies[1].hedging: unknown field `hedging`";

/// `version_info` of the ECDS resource in a member's `/config_dump`.
fn dumped_version(member: &Member) -> String {
    let text = member
        .envoy
        .admin_get("/config_dump?resource=ecds_filters")
        .expect("ECDS config dump");
    let json: Value = serde_json::from_str(&text).expect("config dump JSON");
    json.pointer("/configs/0/version_info")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_invalid_configuration_is_refused_by_every_process_and_the_previous_one_keeps_serving() {
    let (v1, v2, bad) = (
        scenario("reload-v1"),
        scenario("reload-v2"),
        config_with_an_unknown_key(),
    );
    let filter = BREAKWATER_FILTER.path();
    let mut fleet = Fleet::start(&Release {
        version: "v1",
        filter,
        config: &v1,
    });

    let ((), report) = with_load(&fleet.addrs(), LOAD_PATH, |load| {
        load.wait_for_answers(STEP_ANSWERS);
        fleet.publish(&Release {
            version: "v2-unknown-key",
            filter,
            config: &bad,
        });
        fleet.wait_all("the update rejected and counted", |m| {
            let s = m.ecds();
            s.update_rejected == 1 && s.config_fail == 1
        });
        load.wait_for_answers(STEP_ANSWERS);
    });

    assert_all_served(&report);
    for (i, member) in fleet.members.iter().enumerate() {
        let status = member.ecds();
        assert_eq!(status.version, "v1", "member {i}: {status:?}");
        assert_eq!(status.update_success, 1, "member {i}: {status:?}");
        assert!(
            !injects(member),
            "member {i}: the refused configuration applied"
        );
        let log = member.envoy.log_text();
        assert!(
            log.contains(REFUSAL),
            "member {i}: no `{REFUSAL}` in the log:\n{}",
            member.envoy.log_tail()
        );
        // envoy/README.md tells operators to read `version_text`, not the config dump: Envoy
        // 1.40 dumps the resource it received, rejected or not.
        assert_eq!(
            dumped_version(member),
            "v2-unknown-key",
            "member {i}: the ECDS config dump now shows the serving version; update \
             envoy/README.md (Rolling out through ECDS)"
        );
    }

    // A process that starts while the resource is refused has no configuration to fall back
    // on: Envoy answers every request 500 (never unprotected) until a valid one arrives.
    let late = fleet.start_member();
    assert_eq!(late.ecds().version, "");
    assert_eq!(late.ecds().config_fail, 1);
    assert_eq!(late.get(LOAD_PATH, &[]).status, 500);
    assert!(late.envoy.log_text().contains(REFUSAL));
    fleet.members.push(late);

    // Fixing forward: the next valid resource reaches every process, the late one included.
    fleet.publish(&Release {
        version: "v2",
        filter,
        config: &v2,
    });
    fleet.wait_all("version v2 accepted", |m| m.ecds().version == "v2");
    fleet.wait_all("v2's injection applied", injects);
    for member in &fleet.members {
        assert_eq!(member.get(LOAD_PATH, &[]).status, 200);
    }
    println!(
        "ecds refusal on {} processes: {} requests meanwhile, all 200; stats {:?}",
        fleet.members.len() - 1,
        report.total(),
        fleet.ecds()
    );
}

/// VMs Envoy created so far (`wasm.envoy.wasm.runtime.v8.created`).
fn vms_created(member: &Member) -> u64 {
    member.stat("wasm.envoy.wasm.runtime.v8.created")
}

#[test]
fn a_new_filter_binary_goes_first_and_its_configuration_second_and_back_in_reverse() {
    let (v1, v2) = (scenario("reload-v1"), scenario("reload-v2"));
    // Two builds of the filter that read the same configuration keys: the shipped one and the
    // test-hooks build (other bytes, so Envoy loads it as another module in new VMs).
    let (old, new) = (
        BREAKWATER_FILTER.path(),
        BREAKWATER_FILTER_TEST_HOOKS.path(),
    );
    let fleet = Fleet::start(&Release {
        version: "old/v1",
        filter: old,
        config: &v1,
    });
    open_state_breakers(&fleet);
    let upstream_state = fleet.upstream.path_count("/state");

    // (version, binary, configuration, whether it injects, whether the binary changes)
    let steps = [
        // Upgrade: the new filter with the configuration in force, then the configuration.
        ("new/v1", new, &v1, false, true),
        ("new/v2", new, &v2, true, false),
        // Rollback: the configuration first, then the filter.
        ("new/v1-again", new, &v1, false, false),
        ("old/v1-again", old, &v1, false, true),
    ];
    let ((), report) = with_load(&fleet.addrs(), LOAD_PATH, |load| {
        load.wait_for_answers(STEP_ANSWERS);
        for (version, filter, config, injecting, new_binary) in steps {
            let vms: Vec<u64> = fleet.members.iter().map(vms_created).collect();
            fleet.publish(&Release {
                version,
                filter,
                config,
            });
            fleet.wait_all(&format!("version {version} accepted"), |m| {
                m.ecds().version == version
            });
            fleet.wait_all(&format!("{version}: injection {injecting}"), |m| {
                injects(m) == injecting
            });
            let deltas: Vec<u64> = fleet
                .members
                .iter()
                .zip(&vms)
                .map(|(m, before)| vms_created(m) - before)
                .collect();
            println!("{version}: VMs created {deltas:?}");
            if new_binary {
                // Another module needs its own VMs: at least one on the main thread (the
                // canary may be another) and one on the worker. A new configuration of the
                // same module reuses them (Envoy 1.40 creates at most its canary).
                assert!(
                    deltas.iter().all(|&d| d >= 2),
                    "{version}: the new binary did not get VMs of its own: {deltas:?}"
                );
            }
            load.wait_for_answers(STEP_ANSWERS);
        }
    });

    assert_all_served(&report);
    for (i, member) in fleet.members.iter().enumerate() {
        let status = member.ecds();
        assert_eq!(status.update_success, 5, "member {i}: {status:?}");
        assert_eq!(status.update_rejected, 0, "member {i}: {status:?}");
    }
    // The breaker state lives in shared data per `vm_id`, which outlives a module: it carried
    // over through both binaries and both configurations.
    assert_state_breakers_still_open(&fleet, upstream_state);
    println!(
        "ecds upgrade and rollback on {} processes: {} requests, all 200",
        fleet.members.len(),
        report.total()
    );
}

/// A configuration whose tick (`sync_interval_ms`, the longest allowed: 10 s) does not come
/// before the test is over: what the filter counted reaches Envoy only when the root context
/// that holds it is done. `timeout_ms` tells `v1` from `v2`.
fn slow_tick_config(timeout_ms: u64) -> String {
    serde_json::json!({
        "service": "flush",
        "environment": "testing",
        "sync_interval_ms": 10000,
        "policies": [{
            "name": "api",
            "match": { "path_prefix": "/" },
            "timeout_ms": timeout_ms,
            "breaker": {
                "failure_threshold": 2,
                "recovery_timeout_ms": 60000,
                "max_recovery_timeout_ms": 60000
            }
        }]
    })
    .to_string()
}

/// Regression: the filter used to export its metrics only on its tick, so what was counted
/// between the last tick and a configuration update went with the replaced root context: here
/// three requests, two failures and a breaker opening never counted, and the `state` gauge
/// reading closed until the new configuration's first tick. The root context now exports them
/// when Envoy is done with it (`on_done`).
#[test]
fn what_happened_since_the_last_tick_is_counted_and_logged_across_an_update() {
    let (v1, v2) = (slow_tick_config(5000), slow_tick_config(6000));
    let filter = BREAKWATER_FILTER.path();
    let fleet = Fleet::start(&Release {
        version: "v1",
        filter,
        config: &v1,
    });
    for member in &fleet.members {
        for _ in 0..2 {
            assert_eq!(member.get("/api", &[FAIL]).status, 503);
        }
        assert_eq!(breakwater(&member.get("/api", &[])), Some("circuit_open"));
    }
    fleet.publish(&Release {
        version: "v2",
        filter,
        config: &v2,
    });
    fleet.wait_all("version v2 accepted", |m| m.ecds().version == "v2");
    fleet.wait_all("v1's counts exported", |m| {
        m.policy_stat("api", "requests_total") == 3
            && m.policy_stat("api", "failures_total") == 2
            && m.policy_stat("api", "breaker_opened_total") == 1
            && m.policy_stat("api", "breaker_state") == 1
    });
    fleet.wait_all("the transition logged", |m| {
        m.envoy.log_text().contains(
            "breakwater transition service=flush policy=api from=closed to=open \
             reason=consecutive_failures",
        )
    });
}
