//! Configuration: layering, presets, strictness and error paths.

use super::*;
use crate::breaker::Mode;

fn parse(text: &str) -> Result<Config, Vec<String>> {
    Config::from_json(text).map_err(|e| e.problems.iter().map(ToString::to_string).collect())
}

fn one(policy: &str) -> Policy {
    let c = parse(&format!(r#"{{"service":"svc","policies":[{policy}]}}"#)).unwrap();
    c.policies.into_iter().next().unwrap()
}

#[test]
fn environment_profiles_differ_as_documented() {
    let breaker = |env: &str| {
        let c = parse(&format!(
            r#"{{"environment":"{env}","policies":[{{"name":"p","breaker":{{}},"injection":{{}}}}]}}"#
        ))
        .unwrap();
        let p = c.policies.into_iter().next().unwrap();
        (p.breaker.unwrap(), p.injection.unwrap().header_trigger)
    };
    let (dev, dev_header) = breaker("development");
    let (prod, prod_header) = breaker("production");
    let (test, test_header) = breaker("testing");
    assert_eq!(
        (dev.failure_threshold, dev.recovery_timeout_ms),
        (10, 5_000)
    );
    assert_eq!(dev.failure_rate_threshold, 0.8);
    assert_eq!(
        (prod.failure_threshold, prod.recovery_timeout_ms),
        (5, 30_000)
    );
    assert_eq!((prod.recovery_backoff, prod.recovery_jitter), (2.0, 0.1));
    assert_eq!(
        (test.failure_threshold, test.recovery_timeout_ms),
        (3, 1_000)
    );
    assert_eq!((test.minimum_calls, test.probe_lease_ms), (5, 2_000));
    assert_eq!((dev_header, prod_header, test_header), (true, false, true));
    // Production is the default.
    let c = parse(r#"{"policies":[{"name":"p","breaker":{}}]}"#).unwrap();
    assert_eq!(c.environment, Environment::Production);
    assert_eq!(c.policies[0].breaker.as_ref().unwrap(), &prod);
}

#[test]
fn explicit_fields_override_the_preset_field_by_field() {
    let p =
        one(r#"{"name":"p","preset":"redis","breaker":{"failure_threshold":7},"timeout_ms":900}"#);
    let b = p.breaker.unwrap();
    assert_eq!(b.failure_threshold, 7);
    assert_eq!(b.recovery_timeout_ms, 15_000); // still the preset's
    assert_eq!(p.timeout_ms, Some(900));
    assert_eq!(p.retry.unwrap().max_retries, 2);
}

#[test]
fn sections_exist_only_when_named() {
    let p = one(r#"{"name":"p"}"#);
    assert!(p.breaker.is_none() && p.retry.is_none() && p.bulkhead.is_none());
    assert!(p.injection.is_none() && p.timeout_ms.is_none());
    let p = one(r#"{"name":"p","bulkhead":{"max_concurrent":4},"breaker":{"mode":"shadow"}}"#);
    assert_eq!(p.bulkhead.unwrap().max_concurrent, 4);
    assert_eq!(p.breaker.unwrap().mode, Mode::Shadow);
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let errs = parse(
        r#"{"service":"svc","policies":[
            {"name":"a","breaker":{"failure_treshold":3}},
            {"name":"b","breaker":{"failure_rate_threshold":1.5},"bulkhead":{"max_concurrent":0}},
            {"name":"a","match":{"path_prefix":"api"},"retry":{"budget":{"nope":1}}}
        ]}"#,
    )
    .unwrap_err();
    assert_eq!(
        errs,
        vec![
            "policies[0].breaker.failure_treshold: unknown field `failure_treshold`, expected one of `mode`, `failure_threshold`, `failure_rate_threshold`, `slow_call_rate_threshold`, `slow_call_duration_ms`, `window`, `window_size`, `window_buckets`, `minimum_calls`, `recovery_timeout_ms`, `recovery_backoff`, `max_recovery_timeout_ms`, `recovery_jitter`, `half_open_max_calls`, `half_open_success_threshold`, `probe_lease_ms`, `failure_reset_timeout_ms`, `health`, `key_by`, `max_keys`, `key_idle_ms`",
            "policies[1].breaker.failure_rate_threshold: must be in (0, 1], got 1.5",
            "policies[1].bulkhead.max_concurrent: must be at least 1, got 0",
            "policies[2].match.path_prefix: must start with '/', got \"api\"",
            "policies[2].retry.budget.nope: unknown field `nope`, expected one of `budget_percent`, `min_retry_concurrency`, `window_ms`",
            "policies[2].name: duplicate policy name \"a\"",
        ]
    );
}

#[test]
fn top_level_mistakes_are_named() {
    assert_eq!(
        parse(r#"{"policies":[],"sevice":"x"}"#).unwrap_err(),
        vec![
            "sevice: unknown field `sevice`, expected one of `service`, `environment`, `status_path`, `reset_path`, `sync_interval_ms`, `policies`"
        ]
    );
    assert_eq!(
        parse(r#"{"policies":[]}"#).unwrap_err(),
        vec!["policies: must hold at least one policy"]
    );
    assert_eq!(
        parse(r#"{"environment":"staging","policies":[{"name":"p"}]}"#).unwrap_err(),
        vec![
            "environment: unknown variant `staging`, expected one of `development`, `production`, `testing`"
        ]
    );
    assert_eq!(
        parse(r#"{"policies":[{"name":"p","preset":"mongo"}]}"#).unwrap_err()[0],
        "policies[0].preset: unknown variant `mongo`, expected one of `grpc`, `database`, `redis`, `http_external`, `kafka`, `object_storage`"
    );
    assert_eq!(
        parse(r#"{"policies":[{"name":"bad name"}],"sync_interval_ms":0}"#).unwrap_err(),
        vec![
            "sync_interval_ms: must be in [1, 10000], got 0",
            "policies[0].name: must be 1-64 letters, digits, '_' or '-', got \"bad name\"",
        ]
    );
    assert!(parse("{not json").unwrap_err()[0].starts_with("invalid JSON: "));
    assert_eq!(
        parse(r#"{"policies":[{"name":"p","breaker":3}]}"#).unwrap_err(),
        vec!["policies[0].breaker: must be an object"]
    );
}

#[test]
fn every_wrong_field_of_a_section_is_reported_not_only_the_first() {
    assert_eq!(
        parse(
            r#"{"policies":[{"name":"p","retry":{"max_retries":"3","budget":{"window_ms":-1}},
                "bulkhead":{"queue_size":1.5},"timeout_ms":0}]}"#
        )
        .unwrap_err(),
        vec![
            "policies[0].retry.max_retries: invalid type: string \"3\", expected u32",
            "policies[0].retry.budget.window_ms: invalid value: integer `-1`, expected u64",
            "policies[0].bulkhead.queue_size: invalid type: floating point `1.5`, expected u32",
            "policies[0].timeout_ms: must be in [1, 86400000], got 0",
        ]
    );
}

#[test]
fn a_section_reads_on_its_own_with_its_defaults_and_paths() {
    use crate::bulkhead::BulkheadConfig;
    use crate::retry::RetryConfig;
    assert_eq!(
        BulkheadConfig::from_json("{}"),
        Ok(BulkheadConfig::default())
    );
    let e = RetryConfig::from_json(r#"{"max_retries": 99, "budget": {"nope": 1}}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "budget.nope: unknown field `nope`, expected one of `budget_percent`, `min_retry_concurrency`, `window_ms`"
    );
    let e = RetryConfig::from_json(r#"{"max_retries": 99}"#).unwrap_err();
    assert_eq!(e.to_string(), "max_retries: must be at most 10, got 99");
    let e = BreakerConfig::from_json("[").unwrap_err();
    assert!(e.to_string().starts_with("invalid JSON: "), "{e}");
}

#[test]
fn a_rate_window_written_as_the_sources_write_it_is_accepted() {
    // Source 004: failure_rate_threshold 0.5 over window_size 10, no minimum_calls.
    let p = one(r#"{"name":"p","breaker":{"failure_rate_threshold":0.5,"window_size":10}}"#);
    let b = p.breaker.unwrap();
    assert_eq!((b.window_size, b.minimum_calls), (10, 10));
    // The testing profile's 5 is below the window and stays.
    let c = parse(
        r#"{"environment":"testing","policies":[{"name":"p","breaker":{"window_size":10}}]}"#,
    )
    .unwrap();
    assert_eq!(c.policies[0].breaker.as_ref().unwrap().minimum_calls, 5);
    // Standalone sections (the component's circuit-breaker) follow the same rule.
    let b = BreakerConfig::from_json(r#"{"window_size": 10}"#).unwrap();
    assert_eq!(b.minimum_calls, 10);
    // Written explicitly above the window, it is still an error.
    let e = parse(r#"{"policies":[{"name":"p","breaker":{"window_size":10,"minimum_calls":20}}]}"#)
        .unwrap_err();
    assert_eq!(
        e,
        ["policies[0].breaker.minimum_calls: must be at most window_size (10), got 20"]
    );
    // A time window's size is seconds, not calls: no cap.
    let p = one(r#"{"name":"p","breaker":{"window":"time","window_size":10}}"#);
    assert_eq!(p.breaker.unwrap().minimum_calls, 20);
}

#[test]
fn duplicate_keys_and_numbers_out_of_range_are_named_by_path() {
    let e = parse(
        r#"{"service":"a","policies":[{"name":"p","breaker":{"failure_threshold":5,
            "failure_threshold":50},"retry":{"max_retries":1,"max_retries":2}}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        e,
        [
            "policies[0].breaker.failure_threshold: duplicate key `failure_threshold`: a key may appear once per object",
            "policies[0].retry.max_retries: duplicate key `max_retries`: a key may appear once per object",
        ]
    );
    let e = parse(r#"{"policies":[{"name":"p","breaker":{"failure_rate_threshold":1e400}}]}"#)
        .unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "policies[0].breaker.failure_rate_threshold: invalid JSON: number out of range"
        ),
        "{e:?}"
    );
    let e = BreakerConfig::from_json(r#"{"window_size": 1, "window_size": 2}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "window_size: duplicate key `window_size`: a key may appear once per object"
    );
}

#[test]
fn a_policy_can_leave_the_timeout_to_the_route() {
    let p = one(r#"{"name":"p","preset":"grpc","timeout_ms":"route"}"#);
    assert_eq!(p.timeout_ms, None, "the preset's 30 s does not apply");
    assert_eq!(
        p.breaker.unwrap().recovery_timeout_ms,
        60_000,
        "the rest of the preset does"
    );
    assert_eq!(
        one(r#"{"name":"p","preset":"grpc"}"#).timeout_ms,
        Some(30_000)
    );
    assert_eq!(
        one(r#"{"name":"p","timeout_ms":250}"#).timeout_ms,
        Some(250)
    );
    let e = parse(r#"{"policies":[{"name":"p","timeout_ms":"routes"}]}"#).unwrap_err();
    assert_eq!(
        e,
        [r#"policies[0].timeout_ms: must be milliseconds or "route", got "routes""#]
    );
    let e = parse(r#"{"policies":[{"name":"p","timeout_ms":true}]}"#).unwrap_err();
    assert_eq!(
        e,
        ["policies[0].timeout_ms: invalid type: boolean `true`, expected u64"]
    );
}

#[test]
fn settings_envoy_cannot_honour_are_warnings_with_their_paths() {
    let c = parse(
        r#"{"policies":[
            {"name":"a","retry":{"backoff":"adaptive","multiplier":3,"max_retries":2}},
            {"name":"b","retry":{},"outcomes":{"grpc":{"UNKNOWN":"retryable"}}},
            {"name":"c","preset":"grpc"}]}"#,
    )
    .unwrap();
    let w: Vec<String> = c.envoy_warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(w[0].starts_with("policies[0].retry.backoff: has no effect in Envoy"));
    assert!(w[1].starts_with("policies[0].retry.multiplier: has no effect in Envoy"));
    assert!(w[2].starts_with("policies[1].outcomes.grpc.UNKNOWN: Envoy's router has no retry"));
}

#[test]
fn backoff_keys_are_read_and_checked() {
    let p = one(
        r#"{"name":"p","retry":{"backoff":"polynomial","exponent":3,"multiplier":1.5,
            "retriable_status_codes":[429,503]}}"#,
    );
    let r = p.retry.unwrap();
    assert_eq!((r.exponent, r.multiplier), (3.0, 1.5));
    assert_eq!(r.retriable_status_codes, [429, 503]);
    assert_eq!(r.backoff().exponent(), 3.0);
    let e = parse(
        r#"{"policies":[{"name":"p","retry":{"multiplier":0.5,"exponent":0,
            "retriable_status_codes":[99],"retry_on":"retriable-status-codes,5xx"}}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        e,
        [
            "policies[0].retry.multiplier: must be in [1, 100], got 0.5",
            "policies[0].retry.exponent: must be in (0, 10], got 0",
            "policies[0].retry.retriable_status_codes[0]: must be an HTTP status in [100, 599], got 99",
        ]
    );
    let e = parse(r#"{"policies":[{"name":"p","retry":{"retry_on":"retriable-status-codes"}}]}"#)
        .unwrap_err();
    assert_eq!(
        e,
        [
            "policies[0].retry.retry_on: names retriable-status-codes but retriable_status_codes lists no status"
        ]
    );
}

#[test]
fn every_backoff_key_is_a_retry_key_and_warns() {
    for key in BACKOFF_KEYS {
        assert!(
            sections::RETRY_KEYS.contains(&key),
            "{key} is not a retry key"
        );
    }
    let retry = BACKOFF_KEYS
        .iter()
        .map(|k| match *k {
            "backoff" => r#""backoff":"fixed""#.to_owned(),
            "jitter_mode" => r#""jitter_mode":"full""#.to_owned(),
            "multiplier" | "exponent" => format!(r#""{k}":2"#),
            _ => format!(r#""{k}":1"#),
        })
        .collect::<Vec<_>>()
        .join(",");
    let c = parse(&format!(
        r#"{{"policies":[{{"name":"p","retry":{{{retry}}}}}]}}"#
    ))
    .unwrap();
    let paths: Vec<&str> = c.envoy_warnings.iter().map(|w| w.path.as_str()).collect();
    let expected: Vec<String> = BACKOFF_KEYS
        .iter()
        .map(|k| format!("policies[0].retry.{k}"))
        .collect();
    assert_eq!(paths, expected);
}
