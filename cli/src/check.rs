//! `breakwater check`: every problem of every configuration in the files named, with the file,
//! the place in it and the JSON path; and warnings about mistakes Envoy would not report.

use std::fmt::Write as _;

use breakwater_core::Config;
use serde_json::{Value, json};

use crate::locate;
use crate::yaml;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The configuration is refused (by breakwater, so by Envoy).
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

/// One finding.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) file: String,
    /// Where in the file (the configuration's place, then the JSON path inside it).
    pub(crate) place: String,
    pub(crate) message: String,
}

/// Everything `check` found in the files, and whether any file could not be read at all.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) findings: Vec<Finding>,
    /// Configurations checked.
    pub(crate) configurations: usize,
    /// Files that could not be read (exit status 2).
    pub(crate) unreadable: Vec<String>,
}

impl Report {
    /// Exit status: 2 when a file could not be read, 1 when an error was found, else 0.
    pub(crate) fn status(&self) -> i32 {
        if !self.unreadable.is_empty() {
            2
        } else if self.findings.iter().any(|f| f.severity == Severity::Error) {
            1
        } else {
            0
        }
    }

    /// One line per finding, for people: `file: place: path: message`.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for u in &self.unreadable {
            let _ = writeln!(out, "{u}");
        }
        for f in &self.findings {
            let tag = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let place = if f.place.is_empty() {
                String::new()
            } else {
                format!("{}: ", f.place)
            };
            let _ = writeln!(out, "{}: {tag}: {place}{}", f.file, f.message);
        }
        let errors = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        let _ = writeln!(
            out,
            "{} configuration(s) checked: {errors} error(s), {} warning(s)",
            self.configurations,
            self.findings.len() - errors
        );
        out
    }

    /// The report as JSON, for machines.
    pub(crate) fn json(&self) -> Value {
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                json!({
                    "severity": match f.severity { Severity::Error => "error", Severity::Warning => "warning" },
                    "file": f.file, "place": f.place, "message": f.message,
                })
            })
            .collect();
        json!({"configurations": self.configurations, "unreadable": self.unreadable, "findings": findings})
    }
}

/// Checks every file.
pub(crate) fn files(paths: &[String]) -> Report {
    let mut report = Report::default();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => check_text(path, &text, &mut report),
            Err(e) => report.unreadable.push(format!("{path}: cannot read: {e}")),
        }
    }
    report
}

/// Checks the text of one file named `file`.
pub(crate) fn check_text(file: &str, text: &str, report: &mut Report) {
    let mut add = |severity, place: String, message: String| {
        report.findings.push(Finding {
            severity,
            file: file.to_owned(),
            place,
            message,
        });
    };
    // JSON that does not parse: core's own reader names the place (line, column and, where
    // it can, the JSON path), better than a YAML parser would.
    if text.trim_start().starts_with('{')
        && serde_json::from_str::<Value>(text).is_err()
        && let Err(e) = Config::from_json(text)
    {
        report.configurations += 1;
        for p in e.problems {
            add(Severity::Error, String::new(), p.to_string());
        }
        return;
    }
    let docs = match yaml::documents(text) {
        Ok(d) => d,
        Err(e) => {
            add(
                Severity::Error,
                String::new(),
                format!("not YAML or JSON: {e}"),
            );
            return;
        }
    };
    let several = docs.len() > 1;
    let mut any = false;
    for (d, doc) in docs.iter().enumerate() {
        let clusters = locate::cluster_names(doc);
        for found in locate::find(doc) {
            any = true;
            report.configurations += 1;
            let place = match (several, found.place.is_empty()) {
                (true, true) => format!("document {}", d + 1),
                (true, false) => format!("document {}: {}", d + 1, found.place),
                (false, _) => found.place.clone(),
            };
            let text = match found.text {
                Ok(t) => t,
                Err(e) => {
                    add(Severity::Error, place, e);
                    continue;
                }
            };
            match Config::from_json(&text) {
                Err(e) => {
                    for p in e.problems {
                        add(Severity::Error, place.clone(), p.to_string());
                    }
                }
                Ok(config) => {
                    for w in warnings(&config, clusters.as_deref()) {
                        add(Severity::Warning, place.clone(), w);
                    }
                }
            }
        }
    }
    if !any {
        add(
            Severity::Error,
            String::new(),
            "no breakwater configuration found (a document with `policies`, a wasm filter or \
             dynamic module named breakwater, or an Istio WasmPlugin)"
                .to_owned(),
        );
    }
}

/// What a valid configuration probably got wrong.
fn warnings(config: &Config, clusters: Option<&[String]>) -> Vec<String> {
    let mut out: Vec<String> = config
        .envoy_warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut catch_all: Option<usize> = None;
    for (i, p) in config.policies.iter().enumerate() {
        if let Some(j) = catch_all {
            out.push(format!(
                "policies[{i}]: never applies: policies[{j}] ({}) matches every request before it",
                config.policies[j].name
            ));
        }
        let m = &p.matcher;
        let everything = m.cluster.is_none()
            && m.route.is_none()
            && m.path_prefix.as_deref().is_none_or(|p| p == "/")
            && m.methods.is_empty()
            && m.headers.is_empty();
        if everything && catch_all.is_none() {
            catch_all = Some(i);
        }
        if let (Some(cluster), Some(names)) = (&m.cluster, clusters)
            && !names.iter().any(|n| n == cluster)
        {
            out.push(format!(
                "policies[{i}].match.cluster: {cluster:?} names no cluster of this bootstrap \
                 (it has {})",
                names.join(", ")
            ));
        }
    }
    out
}
