use super::*;
use crate::config::Config;

fn problems(fallback: &str, sections: &str) -> Vec<String> {
    let doc = format!(r#"{{"policies":[{{"name":"p",{sections}"fallback":{fallback}}}]}}"#);
    match Config::from_json(&doc) {
        Ok(_) => vec![],
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn a_fallback_is_a_reply_or_a_reroute_and_every_mistake_is_named() {
    let breaker = r#""breaker":{},"#;
    assert!(problems(r#"{"reply":{"body":"[]"}}"#, breaker).is_empty());
    assert!(problems(r#"{"reroute":{}}"#, breaker).is_empty());
    assert_eq!(
        problems("{}", breaker),
        ["policies[0].fallback.reply: give one of reply or reroute"]
    );
    assert_eq!(
        problems(r#"{"reply":{},"reroute":{}}"#, breaker),
        ["policies[0].fallback.reroute: give either reply or reroute, not both"]
    );
    assert_eq!(
        problems(r#"{"reply":{}}"#, ""),
        ["policies[0].fallback.on: circuit_open needs a breaker section in the policy"]
    );
    assert_eq!(
        problems(r#"{"on":["bulkhead_full"],"reply":{}}"#, breaker),
        ["policies[0].fallback.on: bulkhead_full needs a bulkhead section in the policy"]
    );
    assert_eq!(
        problems(
            r#"{"reply":{"status":700,"headers":{"Bad Name":"x","content-length":"1",
                "x-ok":"line\nbreak"},"grpc_status":20,"grpc_message":"m"}}"#,
            breaker
        ),
        [
            "policies[0].fallback.reply.status: must be in [200, 599], got 700",
            "policies[0].fallback.reply.headers.Bad Name: not a lowercase header name: \"Bad Name\"",
            "policies[0].fallback.reply.headers.content-length: is set by the proxy or by breakwater, not by a fallback",
            "policies[0].fallback.reply.headers.x-ok: value must be printable ASCII",
            "policies[0].fallback.reply.grpc_status: must be in [0, 16], got 20",
        ]
    );
    assert_eq!(
        problems(r#"{"reroute":{"header":"x-envoy-retry-on"}}"#, breaker),
        [
            "policies[0].fallback.reroute.header: \"x-envoy-retry-on\" is Envoy's or breakwater's own"
        ]
    );
    let unknown = problems(r#"{"reply":{"stauts":200}}"#, breaker);
    assert!(unknown[0].contains("stauts"), "{unknown:?}");
    let bad_on = problems(r#"{"on":["queue_timeout"],"reply":{}}"#, breaker);
    assert!(
        bad_on[0].starts_with("policies[0].fallback.on[0]"),
        "{bad_on:?}"
    );
}

#[test]
fn a_static_reply_is_marked_and_answers_grpc_only_when_told_how() {
    let config = FallbackConfig {
        reply: Some(FallbackReply {
            status: 200,
            headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
            body: r#"{"items":[]}"#.to_owned(),
            grpc_status: None,
            grpc_message: None,
        }),
        ..FallbackConfig::default()
    };
    let Some(Fallback::Reply { http, grpc }) =
        Fallback::new(&config, "catalog", RejectReason::BreakerOpen)
    else {
        panic!("a reply");
    };
    assert_eq!(http.http_status, 200);
    assert_eq!(http.body, br#"{"items":[]}"#);
    assert_eq!(http.header("x-breakwater"), Some("fallback"));
    assert_eq!(http.header("content-type"), Some("application/json"));
    assert_eq!(
        http.header("x-envoy-overloaded"),
        None,
        "an answer, not overload"
    );
    assert_eq!(http.response_code_details(), "breakwater_fallback");
    assert_eq!(
        http.reason,
        RejectReason::BreakerOpen,
        "the refusal it replaces"
    );
    assert_eq!(grpc, None, "no grpc_status: gRPC clients get the refusal");

    let config = FallbackConfig {
        reply: Some(FallbackReply {
            grpc_status: Some(0),
            grpc_message: Some("served from défaut".to_owned()),
            ..FallbackReply::default()
        }),
        ..FallbackConfig::default()
    };
    let Some(Fallback::Reply { grpc: Some(g), .. }) =
        Fallback::new(&config, "catalog", RejectReason::BreakerOpen)
    else {
        panic!("a gRPC reply");
    };
    assert_eq!(g.http_status, 200);
    assert_eq!(g.header("grpc-status"), Some("0"));
    assert_eq!(g.header("grpc-message"), Some("served from d%C3%A9faut"));
    assert_eq!(g.header("content-type"), Some("application/grpc"));
    assert!(g.body.is_empty(), "trailers-only");
}

#[test]
fn a_reroute_names_the_policy_unless_told_otherwise() {
    let config = FallbackConfig {
        reroute: Some(Reroute::default()),
        ..FallbackConfig::default()
    };
    assert_eq!(
        Fallback::new(&config, "catalog", RejectReason::BreakerOpen),
        Some(Fallback::Reroute {
            header: "x-breakwater-fallback".to_owned(),
            value: "catalog".to_owned()
        })
    );
    assert!(config.covers(RejectReason::BreakerOpen));
    assert!(
        !config.covers(RejectReason::BulkheadFull),
        "default: open only"
    );
    assert!(!config.covers(RejectReason::QueueTimeout));
}
