//! The same soak on the dynamic module (2 workers), ~20 s: 0 stuck requests, counters that
//! balance, the bulkhead cap held across both workers, no hook failure (the checks are in
//! `soak_kit`).

mod e2e;
mod soak_kit;

#[test]
fn soak_on_the_module_loses_nothing_and_leaves_nothing_held() {
    soak_kit::soak(e2e::Adapter::Module, 20);
}
