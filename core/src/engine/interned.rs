//! One copy of each distinct compiled table, shared by the policies that compile to it.
//!
//! A gateway writes a policy per upstream cluster, most of them with the same outcome rules
//! and the same retry section. Compiled per policy, the outcome table (1.2 KB) and the router
//! header lists (several KB at the default retry count) made 10,000 policies cost ~70 MB per
//! engine, and an engine per Envoy worker. So the engine keeps one `Arc` of each table, found
//! by the settings it is compiled from, and hands it to every policy with those settings: the
//! memory follows the number of *distinct* settings, not the number of policies, and a table
//! is compiled once per distinct settings (building and dropping 10,000 equal copies was most
//! of the cost of loading them). `cargo bench -p breakwater-core --bench scale` reports bytes
//! per policy and load time. The maps hash with Fx: their keys come from the configuration.

use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use crate::outcome::{Classifier, OutcomesConfig};
use crate::retry::{Conditions, RetryConfig, RetryHeaders};

/// What a policy's router header lists are compiled from: its retry count, per-try timeout,
/// hedging, request timeout, idempotency settings and router conditions (see
/// [`RetryHeaders::new`]).
type HeadersKey = (
    u32,
    (Option<u64>, bool),
    Option<u64>,
    bool,
    String,
    Conditions,
);

/// The tables an engine's policies share while it is built.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Compiled outcome classifications, by the rules they were compiled from.
    classifiers: HashMap<OutcomesConfig, Arc<Classifier>>,
    /// Router header lists, by what they were compiled from.
    retry_headers: HashMap<HeadersKey, Arc<RetryHeaders>>,
}

impl Tables {
    /// The shared classifier compiled from `outcomes`.
    pub(crate) fn classifier(&mut self, outcomes: &OutcomesConfig) -> Arc<Classifier> {
        if let Some(held) = self.classifiers.get(outcomes) {
            return Arc::clone(held);
        }
        let compiled = Arc::new(Classifier::new(outcomes));
        self.classifiers
            .insert(outcomes.clone(), Arc::clone(&compiled));
        compiled
    }

    /// The shared router header lists of a retry section with these `conditions` and this
    /// whole-request `timeout_ms`.
    pub(crate) fn retry_headers(
        &mut self,
        retry: &RetryConfig,
        conditions: Conditions,
        timeout_ms: Option<u64>,
    ) -> Arc<RetryHeaders> {
        let key: HeadersKey = (
            retry.max_retries,
            (retry.per_try_timeout_ms, retry.hedge_on_per_try_timeout),
            timeout_ms,
            retry.retry_non_idempotent,
            retry.idempotency_header.clone(),
            conditions,
        );
        if let Some(held) = self.retry_headers.get(&key) {
            return Arc::clone(held);
        }
        let compiled = Arc::new(RetryHeaders::new(retry, &key.5, timeout_ms));
        self.retry_headers.insert(key, Arc::clone(&compiled));
        compiled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Treatment;

    #[test]
    fn equal_settings_share_one_table_and_different_ones_do_not() {
        let mut tables = Tables::default();
        let plain = OutcomesConfig::default();
        let mut strict = OutcomesConfig::default();
        strict.http.insert("404".to_owned(), Treatment::Failure);
        let a = tables.classifier(&plain);
        assert!(Arc::ptr_eq(&a, &tables.classifier(&plain.clone())));
        assert!(!Arc::ptr_eq(&a, &tables.classifier(&strict)));

        let retry = RetryConfig::default();
        let conditions = Conditions::new(&retry, &plain);
        let h = tables.retry_headers(&retry, conditions.clone(), Some(1000));
        assert!(Arc::ptr_eq(
            &h,
            &tables.retry_headers(&retry, conditions.clone(), Some(1000))
        ));
        let other = tables.retry_headers(&retry, conditions.clone(), Some(2000));
        assert!(!Arc::ptr_eq(&h, &other));
        assert_eq!(*h, RetryHeaders::new(&retry, &conditions, Some(1000)));
    }
}
