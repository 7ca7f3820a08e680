//! `explain`'s output: text for people, JSON (`--format json`) for machines.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Explanation, HeaderView, PolicyView};

/// For people: per configuration, per policy, one line per value with its origin, then the
/// router headers per kind of request.
pub(crate) fn text(file: &str, explanations: &[Explanation]) -> String {
    let mut out = String::new();
    for e in explanations {
        let place = if e.place.is_empty() {
            String::new()
        } else {
            format!(" {}", e.place)
        };
        let _ = writeln!(
            out,
            "{file}{place}: service {} ({}), environment {} ({})",
            e.service.value, e.service.source, e.environment.value, e.environment.source
        );
        for p in &e.policies {
            policy(&mut out, p);
        }
    }
    out
}

fn policy(out: &mut String, p: &PolicyView) {
    let preset = p
        .preset
        .map(|n| format!(", preset {n}"))
        .unwrap_or_default();
    let matcher = if p.matcher.is_null() {
        "every request".to_owned()
    } else {
        p.matcher.to_string()
    };
    let _ = writeln!(
        out,
        "\npolicy {} (policies[{}]){preset}, match {matcher}",
        p.name, p.index
    );
    let width = p.settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    let values: Vec<String> = p.settings.iter().map(|s| s.value.to_string()).collect();
    let vwidth = values.iter().map(String::len).max().unwrap_or(0);
    for (s, value) in p.settings.iter().zip(&values) {
        let adjusted = s
            .layered
            .as_ref()
            .map(|l| format!(" (set to {l}, adjusted by resolution)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:width$}  {value:vwidth$}  {}{adjusted}",
            s.key, s.source
        );
    }
    let _ = writeln!(out, "  router headers Envoy is told:");
    for r in &p.requests {
        let _ = writeln!(out, "    {}:", r.label);
        headers(out, &r.headers);
    }
    if let Some(none) = &p.no_retry {
        let _ = writeln!(
            out,
            "    when no retry is granted (retry budget spent, breaker not closed, a probe):"
        );
        headers(out, none);
    }
    if let Some(route) = &p.route_timeout {
        let _ = writeln!(out, "    {route}");
    }
}

fn headers(out: &mut String, list: &[HeaderView]) {
    if list.is_empty() {
        let _ = writeln!(out, "      (none)");
    }
    for h in list {
        let note = h
            .note
            .as_ref()
            .map(|n| format!("    <- {n}"))
            .unwrap_or_default();
        let _ = writeln!(out, "      {}: {}{note}", h.name, h.value);
    }
}

/// For machines: the same, as one JSON document.
pub(crate) fn json(file: &str, explanations: &[Explanation]) -> Value {
    let header = |h: &HeaderView| json!({"name": h.name, "value": h.value, "note": h.note});
    let configurations: Vec<Value> = explanations
        .iter()
        .map(|e| {
            let policies: Vec<Value> = e
                .policies
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "index": p.index,
                        "preset": p.preset,
                        "match": p.matcher,
                        "settings": p.settings.iter().map(|s| json!({
                            "key": s.key, "value": s.value, "source": s.source,
                            "layered": s.layered,
                        })).collect::<Vec<_>>(),
                        "requests": p.requests.iter().map(|r| json!({
                            "request": r.label, "grpc": r.grpc, "scope": r.scope,
                            "retries": r.retries,
                            "headers": r.headers.iter().map(header).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                        "no_retry": p.no_retry.as_ref()
                            .map(|l| l.iter().map(header).collect::<Vec<_>>()),
                        "route_timeout": p.route_timeout,
                    })
                })
                .collect();
            json!({
                "place": e.place,
                "service": {"value": e.service.value, "source": e.service.source},
                "environment": {"value": e.environment.value, "source": e.environment.source},
                "policies": policies,
            })
        })
        .collect();
    json!({"file": file, "configurations": configurations})
}
