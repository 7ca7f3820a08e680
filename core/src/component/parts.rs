//! The small exports: retry schedules, the fault injector, and the taxonomy functions.

use std::cell::RefCell;

use crate::injection::{Fault, InjectionConfig, Injector};
use crate::outcome::{ErrorCategory, grpc};
use crate::random::SplitMix64;
use crate::retry::{RetryConfig, Schedule, SuccessRate, parse_retry_after};
use crate::time::Nanos;

use super::bindings::exports::breakwater::resilience::fault_injection as wit_injection;
use super::bindings::exports::breakwater::resilience::retry as wit_retry;
use super::bindings::exports::breakwater::resilience::taxonomy as wit_taxonomy;
use super::bindings::exports::breakwater::resilience::types::{self as wit_types, ConfigError};
use super::{Component, convert, rng};

impl wit_retry::Guest for Component {
    type RetrySchedule = ScheduleResource;
    type SuccessRate = SuccessRateResource;

    fn parse_retry_after(value: String, now_unix: u64) -> Option<u64> {
        parse_retry_after(value.as_bytes(), Nanos::new(now_unix)).map(Nanos::as_nanos)
    }
}

/// One request's retry delays.
#[derive(Debug)]
pub(super) struct ScheduleResource {
    schedule: RefCell<Schedule<SplitMix64>>,
}

impl wit_retry::GuestRetrySchedule for ScheduleResource {
    fn new(config: String, seed: Option<u64>) -> Result<Self, ConfigError> {
        let config = RetryConfig::from_json(&config).map_err(convert::config_error)?;
        Ok(ScheduleResource {
            schedule: RefCell::new(config.backoff().schedule(rng(seed))),
        })
    }

    fn next_delay(&self) -> Option<u64> {
        self.schedule.borrow_mut().next().map(Nanos::as_nanos)
    }

    fn attempt(&self) -> u32 {
        self.schedule.borrow().attempt()
    }

    fn remaining(&self) -> u32 {
        u32::try_from(self.schedule.borrow().len()).unwrap_or(u32::MAX)
    }

    fn set_success_rate(&self, rate: f64) {
        self.schedule.borrow_mut().set_success_rate(rate);
    }
}

/// A host's recent success rate, for the `adaptive` strategy.
#[derive(Debug)]
pub(super) struct SuccessRateResource {
    rate: RefCell<SuccessRate>,
}

impl wit_retry::GuestSuccessRate for SuccessRateResource {
    fn new() -> Self {
        SuccessRateResource {
            rate: RefCell::new(SuccessRate::new()),
        }
    }

    fn record(&self, success: bool) {
        self.rate.borrow_mut().record(success);
    }

    fn rate(&self) -> f64 {
        self.rate.borrow().rate()
    }
}

impl wit_injection::Guest for Component {
    type FaultInjector = InjectorResource;
}

/// One fault injector and its random stream.
#[derive(Debug)]
pub(super) struct InjectorResource {
    inner: RefCell<(Injector, SplitMix64)>,
}

impl wit_injection::GuestFaultInjector for InjectorResource {
    fn new(config: String, seed: Option<u64>) -> Result<Self, ConfigError> {
        let config = InjectionConfig::from_json(&config).map_err(convert::config_error)?;
        Ok(InjectorResource {
            inner: RefCell::new((Injector::new(&config), rng(seed))),
        })
    }

    fn decide(&self, forced: bool) -> Option<wit_injection::Fault> {
        let (injector, rng) = &mut *self.inner.borrow_mut();
        Some(match injector.decide(forced, rng)? {
            Fault::Abort {
                http_status,
                grpc_status,
            } => wit_injection::Fault::Abort(wit_injection::AbortStatus {
                http_status,
                grpc_status,
            }),
            Fault::Delay(d) => wit_injection::Fault::Delay(d.as_nanos()),
        })
    }

    fn finish(&self) {
        self.inner.borrow_mut().0.finish();
    }

    fn active(&self) -> u32 {
        self.inner.borrow().0.active()
    }
}

/// Core's category to WIT's.
fn to_wit(c: ErrorCategory) -> wit_taxonomy::ErrorCategory {
    use wit_taxonomy::ErrorCategory as W;
    match c {
        ErrorCategory::Validation => W::Validation,
        ErrorCategory::NotFound => W::NotFound,
        ErrorCategory::Conflict => W::Conflict,
        ErrorCategory::Unauthorized => W::Unauthorized,
        ErrorCategory::Unauthenticated => W::Unauthenticated,
        ErrorCategory::Transient => W::Transient,
        ErrorCategory::Internal => W::Internal,
        ErrorCategory::Timeout => W::Timeout,
        ErrorCategory::Overload => W::Overload,
    }
}

/// WIT's category to core's.
fn from_wit(c: wit_taxonomy::ErrorCategory) -> ErrorCategory {
    use wit_taxonomy::ErrorCategory as W;
    match c {
        W::Validation => ErrorCategory::Validation,
        W::NotFound => ErrorCategory::NotFound,
        W::Conflict => ErrorCategory::Conflict,
        W::Unauthorized => ErrorCategory::Unauthorized,
        W::Unauthenticated => ErrorCategory::Unauthenticated,
        W::Transient => ErrorCategory::Transient,
        W::Internal => ErrorCategory::Internal,
        W::Timeout => ErrorCategory::Timeout,
        W::Overload => ErrorCategory::Overload,
    }
}

impl wit_taxonomy::Guest for Component {
    fn category_from_http(status: u16) -> Option<wit_taxonomy::ErrorCategory> {
        ErrorCategory::from_http(status).map(to_wit)
    }

    fn category_from_grpc(code: u32) -> Option<wit_taxonomy::ErrorCategory> {
        ErrorCategory::from_grpc(code).map(to_wit)
    }

    fn category_of(outcome: wit_types::Outcome) -> Option<wit_taxonomy::ErrorCategory> {
        convert::outcome(&outcome).category().map(to_wit)
    }

    fn http_status(category: wit_taxonomy::ErrorCategory) -> u16 {
        from_wit(category).http_status()
    }

    fn grpc_code(category: wit_taxonomy::ErrorCategory) -> u32 {
        from_wit(category).grpc_code()
    }

    fn category_name(category: wit_taxonomy::ErrorCategory) -> String {
        from_wit(category).name().to_owned()
    }

    fn grpc_code_name(code: u32) -> Option<String> {
        grpc::grpc_code_name(code).map(str::to_owned)
    }

    fn grpc_code_from_name(name: String) -> Option<u32> {
        grpc::grpc_code_from_name(&name)
    }

    fn parse_grpc_status(value: String) -> Option<u32> {
        grpc::parse_grpc_status(value.as_bytes())
    }

    fn parse_http_status(value: String) -> Option<u16> {
        grpc::parse_http_status(value.as_bytes())
    }
}
