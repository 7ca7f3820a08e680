//! The source documents' own tables, read as they are written (../shared/SEEDS.md), against
//! what breakwater does.
//!
//! Each table below is a verbatim copy of the rows in SEEDS.md, and the test parses the
//! source's wording ("5 failures, 60 s cooldown", "none") rather than restating numbers, so a
//! swapped column cannot hide behind a test written from the code. Where the project sits beside
//! the `shared/` folder (a developer's checkout, CI), the copy is also checked against
//! SEEDS.md itself, so the copy cannot drift from the source.

use std::path::PathBuf;

use breakwater_core::Config;
use breakwater_core::outcome::{ErrorCategory, grpc};

/// Source 002's preset table, verbatim (one copy, `cli/tests/explain.rs` reads it too).
const PRESETS: &str = include_str!("data/presets-002.md");

/// Source 000's error taxonomy, verbatim.
const TAXONOMY: &str = "\
  | error class | category | gRPC status |
  |---|---|---|
  | validation error | validation | `INVALID_ARGUMENT` |
  | not found | not_found | `NOT_FOUND` |
  | conflict | conflict | `ALREADY_EXISTS` |
  | unauthorized | unauthorized | `PERMISSION_DENIED` |
  | transient backend error | transient | `UNAVAILABLE` |
  | anything else | internal | `INTERNAL` |
";

/// The body rows of a markdown table, each split into trimmed cells.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(2)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

/// `"30 s"` in milliseconds.
fn seconds_ms(cell: &str) -> u64 {
    let n = cell.strip_suffix(" s").expect("a duration in seconds");
    n.parse::<u64>().expect("whole seconds") * 1000
}

/// The number before `word` in a cell like `"5 failures, 60 s cooldown"`.
fn number_before(cell: &str, word: &str) -> u64 {
    let part = cell
        .split(',')
        .map(str::trim)
        .find(|p| p.ends_with(word))
        .unwrap_or_else(|| panic!("{word} in {cell:?}"));
    let n = part.strip_suffix(word).unwrap().trim();
    let n = n.strip_suffix(" s").unwrap_or(n);
    n.parse().expect("a number")
}

/// SEEDS.md, when this checkout sits beside the `shared/` folder.
fn seeds_md() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/SEEDS.md");
    std::fs::read_to_string(path).ok()
}

#[test]
fn the_copies_are_the_source_tables() {
    let Some(seeds) = seeds_md() else {
        eprintln!("shared/SEEDS.md is not beside this checkout: the copies stand on their own");
        return;
    };
    for table in [PRESETS, TAXONOMY] {
        assert!(seeds.contains(table), "not verbatim in SEEDS.md:\n{table}");
    }
}

#[test]
fn presets_are_source_002s_table_column_by_column() {
    let table = rows(PRESETS);
    assert_eq!(table.len(), 6);
    for env in ["development", "production", "testing"] {
        for row in &table {
            let [name, timeout, breaker, retry] = &row[..] else {
                panic!("four cells: {row:?}")
            };
            let c = Config::from_json(&format!(
                r#"{{"environment":"{env}","policies":[{{"name":"p","preset":"{name}"}}]}}"#
            ))
            .expect("a preset alone is a valid policy");
            let p = &c.policies[0];
            let b = p.breaker.as_ref().expect("presets set a breaker");
            let r = p.retry.as_ref().expect("presets set a retry section");
            let at = format!("{env}/{name}");
            assert_eq!(p.timeout_ms, Some(seconds_ms(timeout)), "timeout {at}");
            assert_eq!(
                u64::from(b.failure_threshold),
                number_before(breaker, "failures"),
                "failures {at}"
            );
            assert_eq!(
                b.recovery_timeout_ms,
                number_before(breaker, "cooldown") * 1000,
                "cooldown {at}"
            );
            let retries = if retry == "none" {
                0
            } else {
                number_before(retry, "retries")
            };
            assert_eq!(u64::from(r.max_retries), retries, "retries {at}");
        }
    }
}

#[test]
fn taxonomy_is_source_000s_table() {
    let table = rows(TAXONOMY);
    assert_eq!(table.len(), 6);
    for row in &table {
        let [_, category, status] = &row[..] else {
            panic!("three cells: {row:?}")
        };
        let c = ErrorCategory::ALL
            .into_iter()
            .find(|c| c.name() == category)
            .unwrap_or_else(|| panic!("no category {category}"));
        let code = grpc::grpc_code_from_name(status).expect("a gRPC status name");
        assert_eq!(c.grpc_code(), code, "{category} is written as {status}");
        assert_eq!(
            ErrorCategory::from_grpc(code),
            Some(c),
            "{status} reads back as {category}"
        );
    }
}
