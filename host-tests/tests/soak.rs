//! Soak of the wasm filter in real Envoy (2 workers), ~45 s: mixed load through every mechanism
//! while the upstream cycles through healthy, slow and failing phases and clients abort; then
//! nothing stuck, gauges back to 0, counters that balance, the cap held, memory flat. The
//! checks are in `soak_kit`.

mod e2e;
mod soak_kit;

#[test]
fn soak_mixed_load_loses_nothing_and_leaves_nothing_held() {
    soak_kit::soak(e2e::Adapter::Filter, 45);
}
