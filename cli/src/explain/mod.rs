//! `breakwater explain`: each policy's values after defaults → environment profile → preset →
//! explicit keys, with where each came from, and the router headers Envoy will be told per
//! request.
//!
//! Nothing is recomputed here. The values and their origins are core's
//! (`breakwater_core::config::explain`: the resolved policy, and the layers resolution merges);
//! the headers are the engine's own lists (`Engine::policy_headers`) for an engine built from
//! the same configuration, the ones the filter and the module copy into each request. So what
//! `explain` prints cannot drift from what Envoy is told. This module adds only what the CLI
//! itself did: the environment variables that `render` applies (`BREAKWATER_ENVIRONMENT`,
//! `BREAKWATER_POLICY_…`), which show as `env VAR` instead of `explicit`.
//!
//! The variables apply to a document of breakwater's own (the form `render` takes); a
//! configuration inside an Envoy bootstrap, an xDS resource or an Istio `WasmPlugin` is
//! explained as written, since that is what the proxy reads.

mod headers;
mod print;

use breakwater_core::config::explain::{Explained, Source, explain};
use breakwater_core::{Engine, MemoryStore, Nanos, random::SplitMix64};
use serde_json::Value;

use crate::locate;
use crate::render::{self, Override};
use crate::yaml;

pub(crate) use print::{json, text};

/// A value and where it came from, as printed (`default`, `preset grpc`, `env BREAKWATER_…`).
#[derive(Debug, Clone)]
pub(crate) struct Labeled {
    pub(crate) value: Value,
    pub(crate) source: String,
}

/// One setting of a policy.
#[derive(Debug, Clone)]
pub(crate) struct SettingView {
    pub(crate) key: String,
    pub(crate) value: Value,
    pub(crate) source: String,
    /// The value its layer had set, when resolution adjusted it.
    pub(crate) layered: Option<Value>,
}

/// One router header with, for the ones a setting decides, that setting and its origin.
#[derive(Debug, Clone)]
pub(crate) struct HeaderView {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) note: Option<String>,
}

/// What one kind of request is told.
#[derive(Debug, Clone)]
pub(crate) struct RequestView {
    /// Which requests (`GET, HEAD, …`, `gRPC`).
    pub(crate) label: String,
    pub(crate) grpc: bool,
    /// `full` (every condition) or `before_processing` (only what proves the upstream never
    /// processed the request).
    pub(crate) scope: &'static str,
    /// Retries granted at most (the budget may grant fewer).
    pub(crate) retries: u32,
    pub(crate) headers: Vec<HeaderView>,
}

/// One policy explained.
#[derive(Debug, Clone)]
pub(crate) struct PolicyView {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) preset: Option<&'static str>,
    /// `match` as written (`null`: every request).
    pub(crate) matcher: Value,
    pub(crate) settings: Vec<SettingView>,
    /// Per kind of request, with the most retries the policy grants.
    pub(crate) requests: Vec<RequestView>,
    /// When no retry is granted (budget spent, breaker not closed, a probe); `None` without a
    /// retry section (then `requests` already holds the only list).
    pub(crate) no_retry: Option<Vec<HeaderView>>,
    /// Why no request timeout header is sent, when none is.
    pub(crate) route_timeout: Option<String>,
}

/// One configuration explained.
#[derive(Debug, Clone)]
pub(crate) struct Explanation {
    /// Where in the file (empty for a document of its own).
    pub(crate) place: String,
    pub(crate) service: Labeled,
    pub(crate) environment: Labeled,
    pub(crate) policies: Vec<PolicyView>,
}

/// Why explain could not explain.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The configuration has problems (exit 1): one line each, with place and path.
    Problems(Vec<String>),
    /// Could not run (exit 2).
    Usage(String),
}

/// Explains every configuration found in `text` (the file `file`), with the environment's
/// overrides `vars` applied to a document of its own; only policy `only` when given.
pub(crate) fn file(
    file: &str,
    text: &str,
    vars: &[(String, String)],
    only: Option<&str>,
) -> Result<Vec<Explanation>, Failure> {
    let docs = yaml::documents(text)
        .map_err(|e| Failure::Problems(vec![format!("{file}: error: not YAML or JSON: {e}")]))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for doc in &docs {
        for found in locate::find(doc) {
            let place = found.place.clone();
            let at = |m: &str| {
                if place.is_empty() {
                    format!("{file}: error: {m}")
                } else {
                    format!("{file}: error: {place}: {m}")
                }
            };
            let text = match found.text {
                Ok(t) => t,
                Err(e) => {
                    problems.push(at(&e));
                    continue;
                }
            };
            let (text, overrides) = if place.is_empty() {
                let mut doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match render::apply(&mut doc, vars) {
                    Ok(o) => (doc.to_string(), o),
                    Err(e) => {
                        problems.push(at(&e));
                        continue;
                    }
                }
            } else {
                (text, Vec::new())
            };
            match explain(&text) {
                Ok(e) => out.push(view(place.clone(), &e, &text, &overrides)),
                Err(e) => problems.extend(e.problems.iter().map(|p| at(&p.to_string()))),
            }
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Problems(problems));
    }
    if out.is_empty() {
        return Err(Failure::Problems(vec![format!(
            "{file}: error: no breakwater configuration found"
        )]));
    }
    if let Some(name) = only {
        for e in &mut out {
            e.policies.retain(|p| p.name == name);
        }
        if out.iter().all(|e| e.policies.is_empty()) {
            let e = explain_names(file, text, vars);
            return Err(Failure::Usage(format!(
                "{file}: no policy named {name:?} (it has {e})"
            )));
        }
        out.retain(|e| !e.policies.is_empty());
    }
    Ok(out)
}

/// The policy names of `text`, for the "no policy named" message.
fn explain_names(file: &str, text: &str, vars: &[(String, String)]) -> String {
    let names: Vec<String> = self::file(file, text, vars, None)
        .unwrap_or_default()
        .iter()
        .flat_map(|e| e.policies.iter().map(|p| p.name.clone()))
        .collect();
    names.join(", ")
}

/// The printable view of core's explanation of one configuration.
fn view(place: String, e: &Explained, text: &str, overrides: &[Override]) -> Explanation {
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let top = |key: &str| match overrides.iter().rev().find(|o| o.path == key) {
        Some(o) => format!("env {}", o.var),
        None if doc.get(key).is_some() => "explicit".to_owned(),
        None => "default".to_owned(),
    };
    let engine = Engine::new(
        &e.config,
        MemoryStore::new(),
        SplitMix64::new(0),
        Nanos::ZERO,
    );
    let policies = e
        .policies
        .iter()
        .map(|origins| {
            let i = origins.index;
            let policy = &e.config.policies[i];
            let settings: Vec<SettingView> = origins
                .settings
                .iter()
                .map(|s| SettingView {
                    key: s.key.clone(),
                    value: s.value.clone(),
                    source: label(s.source, &format!("policies[{i}].{}", s.key), overrides),
                    layered: s.layered.clone(),
                })
                .collect();
            let headers = headers::requests(&engine, i, policy, &settings);
            PolicyView {
                index: i,
                name: policy.name.clone(),
                preset: policy.preset.map(|p| p.name()),
                matcher: doc
                    .pointer(&format!("/policies/{i}/match"))
                    .cloned()
                    .unwrap_or(Value::Null),
                settings,
                requests: headers.requests,
                no_retry: headers.no_retry,
                route_timeout: headers.route_timeout,
            }
        })
        .collect();
    Explanation {
        place,
        service: Labeled {
            value: Value::from(e.config.service.clone()),
            source: top("service"),
        },
        environment: Labeled {
            value: Value::from(e.config.environment.name()),
            source: if e.environment_written {
                top("environment")
            } else {
                "default".to_owned()
            },
        },
        policies,
    }
}

/// `env VAR` for a key an environment variable set, else core's source.
fn label(source: Source, path: &str, overrides: &[Override]) -> String {
    match overrides.iter().rev().find(|o| o.path == path) {
        Some(o) if source == Source::Explicit => format!("env {}", o.var),
        _ => source.to_string(),
    }
}
