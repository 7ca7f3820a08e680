//! Metrics: `proxy_define_metric`, `proxy_get_metric`, `proxy_record_metric`,
//! `proxy_increment_metric`.
//!
//! As in Envoy, a metric is a stat in one process-wide store: every worker
//! that defines the same name gets its own id for the same stat, so the value
//! a test reads ([`World::metric`](super::World::metric)) is the sum over
//! workers. Envoy's rules: a counter only grows (a negative increment is
//! `BadArgument`), `record` adds to a counter, sets a gauge and samples a
//! histogram; a histogram cannot be read or incremented (`BadArgument`); an
//! unknown id is `NotFound`. Gauges are kept signed so a filter that
//! decrements below zero shows a negative value instead of wrapping.

use wasmtime::{Linker, Result};

use super::abi::{metric_type, status};
use super::memory::{Ctx, read_string, write_u32, write_u64};
use super::state::HostState;
use super::world::{Metric, MetricKind};

/// Runs `f` on the stat behind a VM's metric id, or answers `NotFound`.
fn with_metric(caller: &mut Ctx<'_>, id: i32, f: impl FnOnce(&mut Metric) -> i32) -> i32 {
    let state = caller.data();
    let Some(name) = state.metric_ids.get(&(id as u32)) else {
        return status::NOT_FOUND;
    };
    let mut world = state.world.lock();
    match world.metrics.get_mut(name) {
        Some(metric) => f(metric),
        None => status::NOT_FOUND,
    }
}

pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut caller: Ctx<'_>,
         kind: i32,
         name_ptr: i32,
         name_size: i32,
         id_ptr: i32|
         -> Result<i32> {
            let kind = match kind {
                metric_type::COUNTER => MetricKind::Counter,
                metric_type::GAUGE => MetricKind::Gauge,
                metric_type::HISTOGRAM => MetricKind::Histogram,
                _ => return Ok(status::BAD_ARGUMENT),
            };
            let name = read_string(&mut caller, name_ptr, name_size)?;
            let state = caller.data_mut();
            {
                let mut world = state.world.lock();
                let metric = world.metrics.entry(name.clone()).or_insert_with(|| Metric {
                    kind,
                    value: 0,
                    samples: Vec::new(),
                });
                if metric.kind != kind {
                    return Ok(status::BAD_ARGUMENT);
                }
            }
            let existing = state
                .metric_ids
                .iter()
                .find(|(_, n)| **n == name)
                .map(|(id, _)| *id);
            let id = existing.unwrap_or_else(|| {
                let id = u32::try_from(state.metric_ids.len()).unwrap_or(u32::MAX - 1) + 1;
                state.metric_ids.insert(id, name);
                id
            });
            write_u32(&mut caller, id_ptr, id)?;
            Ok(status::OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_metric",
        |mut caller: Ctx<'_>, id: i32, ptr: i32| -> Result<i32> {
            let mut value = None;
            let code = with_metric(&mut caller, id, |metric| match metric.kind {
                MetricKind::Histogram => status::BAD_ARGUMENT,
                _ => {
                    value = Some(metric.value as u64);
                    status::OK
                }
            });
            if let Some(value) = value {
                write_u64(&mut caller, ptr, value)?;
            }
            Ok(code)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut caller: Ctx<'_>, id: i32, value: i64| -> Result<i32> {
            Ok(with_metric(&mut caller, id, |metric| {
                match metric.kind {
                    MetricKind::Counter => metric.value = metric.value.saturating_add(value),
                    MetricKind::Gauge => metric.value = value,
                    MetricKind::Histogram => metric.samples.push(value as u64),
                }
                status::OK
            }))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut caller: Ctx<'_>, id: i32, offset: i64| -> Result<i32> {
            Ok(with_metric(&mut caller, id, |metric| match metric.kind {
                MetricKind::Counter if offset < 0 => status::BAD_ARGUMENT,
                MetricKind::Counter | MetricKind::Gauge => {
                    metric.value = metric.value.saturating_add(offset);
                    status::OK
                }
                MetricKind::Histogram => status::BAD_ARGUMENT,
            }))
        },
    )?;
    Ok(())
}
