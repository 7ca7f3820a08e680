//! Policy selection: the `match` section. First matching policy wins; an empty match matches all.

use std::collections::BTreeMap;

use crate::request::RequestInfo;
use crate::validate::{Problems, quoted};

/// Conditions a request must meet, all of them, for a policy to apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", serde(deny_unknown_fields, default))]
pub struct Match {
    /// Upstream cluster name, exactly.
    pub cluster: Option<String>,
    /// Route name, exactly.
    pub route: Option<String>,
    /// Path prefix (`/api/` matches `/api/x`).
    pub path_prefix: Option<String>,
    /// Allowed methods (any when empty), uppercase.
    pub methods: Vec<String>,
    /// Headers that must be present with exactly these values; names are lowercase.
    pub headers: BTreeMap<String, String>,
}

impl Match {
    /// Records every invalid value under the JSON path `at`.
    pub fn validate(&self, at: &str, p: &mut Problems) {
        if let Some(prefix) = &self.path_prefix
            && !prefix.starts_with('/')
        {
            p.add(
                at,
                "path_prefix",
                format!("must start with '/', got {}", quoted(prefix)),
            );
        }
        for (i, m) in self.methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                p.add(
                    at,
                    &format!("methods[{i}]"),
                    format!(
                        "must be an uppercase method like \"GET\", got {}",
                        quoted(m)
                    ),
                );
            }
        }
        for name in self.headers.keys() {
            let ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !ok {
                p.add(
                    at,
                    &format!("headers.{name}"),
                    "header names must be lowercase letters, digits, '-' or '_'",
                );
            }
        }
    }

    /// True if `req` meets every condition. Allocation-free.
    pub fn matches(&self, req: &RequestInfo<'_>) -> bool {
        self.cluster.as_deref().is_none_or(|c| c == req.cluster)
            && self.route.as_deref().is_none_or(|r| r == req.route)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| req.path.starts_with(p))
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == req.method))
            && self
                .headers
                .iter()
                .all(|(k, v)| req.headers.header(k) == Some(v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_must_hold() {
        let m: Match = crate::config::read::from_str(
            r#"{"cluster":"pay","path_prefix":"/v1/","methods":["GET","PUT"],"headers":{"x-tenant":"a"}}"#,
        )
        .unwrap();
        let h = [("x-tenant", "a")];
        let ok = RequestInfo {
            method: "GET",
            path: "/v1/x",
            cluster: "pay",
            route: "r",
            headers: &h,
        };
        assert!(m.matches(&ok));
        assert!(!m.matches(&RequestInfo {
            method: "POST",
            ..ok
        }));
        assert!(!m.matches(&RequestInfo {
            path: "/v2/x",
            ..ok
        }));
        assert!(!m.matches(&RequestInfo {
            cluster: "other",
            ..ok
        }));
        assert!(!m.matches(&RequestInfo { headers: &(), ..ok }));
        assert!(Match::default().matches(&RequestInfo::new("GET", "/")));
    }
}
