//! The readers: serde's wording, exact paths, every wrong field reported.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::breaker::{BreakerConfig, Mode};
use crate::config::Match;

/// The problems of reading `v` as a `T` at `path`, as `path: reason` lines.
fn problems<T: FromJson>(v: Value, path: &str) -> (Option<T>, Vec<String>) {
    let mut p = Problems::new();
    let t = T::read(&v, path, &mut p);
    let lines = match p.finish() {
        Ok(()) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    };
    (t, lines)
}

#[test]
fn integers_are_range_checked_with_serdes_words() {
    assert_eq!(problems::<u32>(json!(7), "x"), (Some(7), vec![]));
    assert_eq!(
        problems::<u32>(json!(-1), "x").1,
        ["x: invalid value: integer `-1`, expected u32"]
    );
    assert_eq!(
        problems::<u16>(json!(70000), "x").1,
        ["x: invalid value: integer `70000`, expected u16"]
    );
    assert_eq!(
        problems::<u32>(json!(u64::from(u32::MAX) + 1), "x").1,
        ["x: invalid value: integer `4294967296`, expected u32"]
    );
    assert_eq!(
        problems::<u64>(json!(1.5), "x").1,
        ["x: invalid type: floating point `1.5`, expected u64"]
    );
    assert_eq!(
        problems::<u64>(json!("3"), "x").1,
        ["x: invalid type: string \"3\", expected u64"]
    );
    assert_eq!(problems::<u64>(json!(u64::MAX), "x").0, Some(u64::MAX));
}

#[test]
fn other_scalars_name_what_they_got() {
    assert_eq!(problems::<f64>(json!(2), "r").0, Some(2.0));
    assert_eq!(
        problems::<f64>(json!(true), "r").1,
        ["r: invalid type: boolean `true`, expected f64"]
    );
    assert_eq!(
        problems::<bool>(json!(null), "b").1,
        ["b: invalid type: null, expected a boolean"]
    );
    assert_eq!(
        problems::<String>(json!([1]), "s").1,
        ["s: invalid type: sequence, expected a string"]
    );
    assert_eq!(
        problems::<Mode>(json!({}), "mode").1,
        ["mode: invalid type: map, expected one of `enforce`, `shadow`, `forced_open`, `disabled`"]
    );
    assert_eq!(
        problems::<Mode>(json!("closed"), "mode").1,
        [
            "mode: unknown variant `closed`, expected one of `enforce`, `shadow`, `forced_open`, `disabled`"
        ]
    );
}

#[test]
fn lists_and_maps_report_each_wrong_element_at_its_path() {
    let (v, lines) = problems::<Vec<String>>(json!(["a", 1, "b", false]), "m");
    assert_eq!(v, None);
    assert_eq!(
        lines,
        [
            "m[1]: invalid type: integer `1`, expected a string",
            "m[3]: invalid type: boolean `false`, expected a string",
        ]
    );
    let (v, lines) = problems::<BTreeMap<String, u32>>(json!({"a": 1, "b": "x", "c": 2}), "h");
    assert_eq!(v, None);
    assert_eq!(lines, ["h.b: invalid type: string \"x\", expected u32"]);
    let (v, _) = problems::<BTreeMap<String, u32>>(json!({"a": 1, "c": 2}), "h");
    assert_eq!(
        v,
        Some(BTreeMap::from([("a".to_owned(), 1), ("c".to_owned(), 2)]))
    );
}

#[test]
fn a_section_reports_every_wrong_field_and_is_dropped() {
    let (b, lines) = problems::<BreakerConfig>(
        json!({"mode": "off", "failure_threshold": -3, "recovery_timeout_ms": 10, "nope": 1}),
        "policies[0].breaker",
    );
    assert_eq!(b, None);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0]
            .starts_with("policies[0].breaker.nope: unknown field `nope`, expected one of `mode`,")
    );
    assert!(lines[1].starts_with("policies[0].breaker.mode: unknown variant `off`"));
    assert_eq!(
        lines[2],
        "policies[0].breaker.failure_threshold: invalid value: integer `-3`, expected u32"
    );
}

#[test]
fn absent_keys_keep_the_defaults_and_present_ones_override() {
    let (b, lines) = problems::<BreakerConfig>(json!({"failure_threshold": 9}), "");
    assert!(lines.is_empty(), "{lines:?}");
    let b = b.unwrap();
    assert_eq!(b.failure_threshold, 9);
    assert_eq!(
        BreakerConfig {
            failure_threshold: 5,
            ..b
        },
        BreakerConfig::default()
    );
    assert_eq!(
        problems::<BreakerConfig>(json!("fast"), "b").1,
        ["b: invalid type: string \"fast\", expected an object"]
    );
}

#[test]
fn optional_fields_take_null_as_absent_but_plain_ones_do_not() {
    let (m, lines) = problems::<Match>(json!({"cluster": null, "route": "r"}), "match");
    assert!(lines.is_empty(), "{lines:?}");
    let m = m.unwrap();
    assert_eq!((m.cluster, m.route.as_deref()), (None, Some("r")));
    assert_eq!(
        problems::<Match>(json!({"methods": null}), "match").1,
        ["match.methods: invalid type: null, expected a sequence"]
    );
}

#[test]
fn a_required_field_is_named_when_missing_or_null() {
    let doc = json!({"x": 1});
    let mut p = Problems::new();
    let mut f = Fields::new(&doc, "policies[2]", &["x", "name"], &mut p).unwrap();
    assert_eq!(f.required::<String>("name"), None);
    assert_eq!(f.done(()), None);
    let doc = json!({"name": null});
    let mut f = Fields::new(&doc, "policies[3]", &["name"], &mut p).unwrap();
    assert_eq!(f.required::<String>("name"), None);
    assert_eq!(
        p.finish().unwrap_err().to_string(),
        "policies[2]: missing field `name`\npolicies[3].name: invalid type: null, expected a string"
    );
}
