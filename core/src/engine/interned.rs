//! One copy of each distinct compiled table, shared by the policies that compile to it.
//!
//! A gateway writes a policy per upstream cluster, most of them with the same outcome rules
//! and the same retry section. Compiled per policy, the outcome table (1.2 KB) and the router
//! header lists (several KB at the default retry count) made 10,000 policies cost ~70 MB per
//! engine, and an engine per Envoy worker. Equal tables are equal values, so the engine keeps
//! one `Arc` of each and hands it to every policy that compiles to it: the cost follows the
//! number of *distinct* settings, not the number of policies (`cargo bench -p breakwater-core
//! --bench scale` reports the bytes per policy). Fx hashes the 600-entry outcome table several
//! times faster than SipHash, and the values come from the configuration alone.

use std::hash::Hash;
use std::sync::Arc;

use rustc_hash::FxHashSet as HashSet;

use rustc_hash::FxHashMap as HashMap;

use crate::outcome::Classifier;
use crate::outcome::OutcomesConfig;
use crate::retry::RetryHeaders;

/// A set of shared values: [`Interned::get`] returns the copy already held when an equal one
/// was seen, else keeps this one.
#[derive(Debug)]
pub(crate) struct Interned<T> {
    seen: HashSet<Arc<T>>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            seen: HashSet::default(),
        }
    }
}

impl<T: Hash + Eq> Interned<T> {
    /// The shared copy of `value`.
    pub(crate) fn get(&mut self, value: T) -> Arc<T> {
        if let Some(held) = self.seen.get(&value) {
            return Arc::clone(held);
        }
        let shared = Arc::new(value);
        self.seen.insert(Arc::clone(&shared));
        shared
    }
}

/// The tables an engine's policies share while it is built.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Compiled outcome classifications, by the rules they were compiled from: most policies
    /// write none, so a lookup compares two empty maps instead of hashing a 620-entry table
    /// (which was the largest cost of loading 10,000 policies).
    classifiers: HashMap<OutcomesConfig, Arc<Classifier>>,
    /// Precomputed router header lists.
    pub(crate) retry_headers: Interned<RetryHeaders>,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_different_ones_do_not() {
        let mut set = Interned::default();
        let a = set.get(String::from("x"));
        let b = set.get(String::from("x"));
        let c = set.get(String::from("y"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(*c, "y");
    }
}
