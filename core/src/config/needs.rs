//! What of a request the engine can look at under a configuration ([`RequestNeeds`]): worked
//! out here, from the policies' matchers, injection and retry sections, so that an adapter whose
//! host charges per header read reads only these.

use super::Config;
use crate::breaker::{KeyBy, Mode};
use crate::injection::FAULT_HEADER;
use crate::request::RequestNeeds;

impl Config {
    /// What the engine can look at in a request under this configuration.
    pub fn request_needs(&self) -> RequestNeeds {
        let mut needs = RequestNeeds::default();
        if !self.policies.is_empty() {
            needs.add_header("content-type");
        }
        for p in &self.policies {
            let m = &p.matcher;
            needs.method |= !m.methods.is_empty() || p.retry.is_some();
            needs.path |= m.path_prefix.is_some();
            needs.cluster |= m.cluster.is_some();
            needs.route |= m.route.is_some();
            for name in m.headers.keys() {
                needs.add_header(name);
            }
            if p.injection
                .as_ref()
                .is_some_and(|i| i.enabled && i.header_trigger)
            {
                needs.add_header(FAULT_HEADER);
            }
            if let Some(r) = &p.retry {
                needs.add_header(&r.idempotency_header);
            }
            // A keyed breaker reads its key (disabled breakers are never consulted).
            match p
                .breaker
                .as_ref()
                .filter(|b| b.mode != Mode::Disabled)
                .and_then(|b| b.key_by.as_ref())
            {
                Some(KeyBy::GrpcMethod | KeyBy::Path) => needs.path = true,
                Some(KeyBy::Header(h)) => needs.add_header(h),
                None => {}
            }
        }
        needs
    }
}
