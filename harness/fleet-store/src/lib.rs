//! fleet-store: the stores a host gives breakwater's engine so that many engines share one
//! breaker and one bulkhead per policy.
//!
//! The engine keeps its shared state behind core's [`SharedStore`] trait (read a versioned
//! value, compare-and-swap it); the component of world `resilience-shared` imports the same
//! contract as the WIT interface `store` (`wit/store.wit`). A host picks the reach:
//!
//! - **one process**: core's [`breakwater_core::MemoryStore`], an `Arc<Mutex<…>>` map whose
//!   clones share it: every instance on every thread of the host sees one breaker;
//! - **a fleet of replicas**: [`RedisStore`], one Redis for every process of every replica.
//!
//! [`RedisServer`] starts a throwaway `redis-server` on loopback for tests and examples.

mod redis_store;
mod server;

pub use redis_store::{RedisCounts, RedisOptions, RedisStore, SET_SCRIPT};
pub use server::RedisServer;

pub use breakwater_core::store::{Cas, SharedStore, StoreError};
