//! The taxonomy functions agree with core for every HTTP status and gRPC code.

use breakwater_core::outcome::{ErrorCategory, grpc};
use component_host::Guest;
use component_host::bindings::exports::breakwater::resilience::taxonomy::ErrorCategory as Wit;
use component_host::{Outcome, OutcomeKind};

fn name(c: Option<Wit>, g: &mut Guest) -> Option<String> {
    let t = g.bindings.breakwater_resilience_taxonomy();
    c.map(|c| t.call_category_name(&mut g.store, c).expect("no trap"))
}

#[test]
fn categories_of_statuses_and_codes_match_core() {
    let mut g = Guest::new().expect("instantiates");
    for status in 100..=600u16 {
        let t = g.bindings.breakwater_resilience_taxonomy();
        let c = t
            .call_category_from_http(&mut g.store, status)
            .expect("no trap");
        let want = ErrorCategory::from_http(status).map(|c| c.name().to_owned());
        assert_eq!(name(c, &mut g), want, "HTTP {status}");
    }
    for code in 0..=20u32 {
        let t = g.bindings.breakwater_resilience_taxonomy();
        let c = t
            .call_category_from_grpc(&mut g.store, code)
            .expect("no trap");
        let want = ErrorCategory::from_grpc(code).map(|c| c.name().to_owned());
        assert_eq!(name(c, &mut g), want, "gRPC {code}");
    }
}

#[test]
fn every_category_maps_back_to_core_statuses() {
    let mut g = Guest::new().expect("instantiates");
    let all = [
        Wit::Validation,
        Wit::NotFound,
        Wit::Conflict,
        Wit::Unauthorized,
        Wit::Unauthenticated,
        Wit::Transient,
        Wit::Internal,
        Wit::Timeout,
        Wit::Overload,
    ];
    for (wit, core) in all.into_iter().zip(ErrorCategory::ALL) {
        let t = g.bindings.breakwater_resilience_taxonomy();
        let s = &mut g.store;
        assert_eq!(t.call_category_name(&mut *s, wit).unwrap(), core.name());
        assert_eq!(
            t.call_http_status(&mut *s, wit).unwrap(),
            core.http_status()
        );
        assert_eq!(t.call_grpc_code(&mut *s, wit).unwrap(), core.grpc_code());
    }
}

#[test]
fn outcomes_names_and_parsing() {
    let mut g = Guest::new().expect("instantiates");
    let t = g.bindings.breakwater_resilience_taxonomy();
    let s = &mut g.store;
    let reset = Outcome {
        kind: OutcomeKind::Reset,
        http_status: None,
        grpc_status: None,
    };
    assert_eq!(
        t.call_category_of(&mut *s, reset).unwrap(),
        Some(Wit::Transient)
    );
    let grpc_ok = Outcome {
        kind: OutcomeKind::Response,
        http_status: Some(200),
        grpc_status: Some(grpc::OK),
    };
    assert_eq!(t.call_category_of(&mut *s, grpc_ok).unwrap(), None);
    let deadline = Outcome {
        grpc_status: Some(grpc::DEADLINE_EXCEEDED),
        ..grpc_ok
    };
    assert_eq!(
        t.call_category_of(&mut *s, deadline).unwrap(),
        Some(Wit::Timeout)
    );

    assert_eq!(
        t.call_grpc_code_name(&mut *s, 14).unwrap().as_deref(),
        Some("UNAVAILABLE")
    );
    assert_eq!(t.call_grpc_code_name(&mut *s, 17).unwrap(), None);
    assert_eq!(
        t.call_grpc_code_from_name(&mut *s, "resource_exhausted")
            .unwrap(),
        Some(8)
    );
    assert_eq!(t.call_grpc_code_from_name(&mut *s, "nope").unwrap(), None);
    assert_eq!(t.call_parse_grpc_status(&mut *s, " 14 ").unwrap(), Some(14));
    assert_eq!(t.call_parse_grpc_status(&mut *s, "-1").unwrap(), None);
    assert_eq!(t.call_parse_http_status(&mut *s, "503").unwrap(), Some(503));
    assert_eq!(t.call_parse_http_status(&mut *s, "99").unwrap(), None);
}
