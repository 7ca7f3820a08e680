//! [`RedisStore`]: the engine's compare-and-swap store in Redis, shared by a fleet.
//!
//! **Layout.** Each engine key (`breakwater/<service>/<policy>/<part>`) is one Redis hash under
//! `<prefix><key>`, with field `d` (the engine's bytes, verbatim) and field `v` (the version, a
//! decimal integer). The prefix namespaces one fleet (or one test) from every other user of the
//! server.
//!
//! **Compare-and-swap in one round trip.** A write is one Lua script ([`SET_SCRIPT`], sent as
//! `EVALSHA`, loaded again by the client after a server restart): Redis runs a script
//! atomically, so "check the version, write, bump the version, re-arm the expiry" cannot
//! interleave with another client's. WATCH/MULTI would take three round trips and a retry loop
//! of its own. A read is one `HMGET`.
//!
//! **Versions never come back.** A new key (created, or re-created after it expired or the
//! server restarted empty) starts its version at the server's clock in microseconds, then counts
//! up by one per write; a version read before the key was lost therefore cannot match the new
//! key's, as `wit/store.wit` requires (unless one key took more writes than microseconds passed).
//!
//! **Expiry.** Every write re-arms `PEXPIRE` (default an hour), so keys of removed policies or
//! renamed services die. A bulkhead holder that dies is not Redis's business: its row in the
//! engine's holder table is reclaimed by the other engines after a lease (`engine::permits` in
//! core).
//!
//! **Outages.** Every Redis error (refused, timed out, dropped, a script error) answers
//! [`StoreError::Unavailable`], never a panic: the engine then keeps its cached view and fails
//! closed where a cap needs the store. The connection is dropped on an error and made again on
//! the next call, with bounded connect, read and write timeouts, so a call never blocks longer
//! than [`RedisOptions::timeout`] (twice, when it must connect first). The engine itself calls a
//! failed store again only after a sync interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use breakwater_core::store::{Cas, SharedStore, StoreError};
use redis::{Client, Connection, RedisResult, Script};

/// The compare-and-swap write: `KEYS[1]` the hash, `ARGV[1]` the value, `ARGV[2]` the expected
/// version (empty: create only if absent), `ARGV[3]` the expiry in milliseconds. Returns 1 when
/// written, 0 on a conflict.
pub const SET_SCRIPT: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[2] == '' then
  if current then return 0 end
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', t[1] .. string.format('%06d', tonumber(t[2])))
else
  if current ~= ARGV[2] then return 0 end
  redis.call('HSET', KEYS[1], 'd', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'v', 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// How a [`RedisStore`] reaches Redis and names its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// Put before every engine key: one namespace per fleet (e.g. `prod:`).
    pub prefix: String,
    /// The longest a connect, a read or a write may take before the call is `unavailable`.
    /// # Default
    /// 250 ms.
    pub timeout: Duration,
    /// Time to live of a key, re-armed on every write. Keep it far above the longest breaker
    /// open time and above a bulkhead holder's lease (50 sync intervals, at least 10 s).
    /// # Default
    /// One hour.
    pub ttl: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: String::new(),
            timeout: Duration::from_millis(250),
            ttl: Duration::from_secs(3600),
        }
    }
}

/// Counters of a [`RedisStore`], for the host to report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisCounts {
    /// Calls made (reads and writes).
    pub calls: u64,
    /// Calls answered `unavailable` (Redis unreachable, timed out, or erring).
    pub unavailable: u64,
    /// Writes refused for a version mismatch (the engine retries them).
    pub conflicts: u64,
    /// Connections made (the first, and one after each error).
    pub connects: u64,
}

/// Breakwater's [`SharedStore`] in Redis (see the module docs). `Send + Sync`: share one behind
/// an `Arc` between every engine and instance of a process; each process of a fleet opens its
/// own.
pub struct RedisStore {
    client: Client,
    options: RedisOptions,
    script: Script,
    conn: Mutex<Option<Connection>>,
    calls: AtomicU64,
    unavailable: AtomicU64,
    conflicts: AtomicU64,
    connects: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.options)
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the server at `url` (`redis://127.0.0.1:6379/0`). Only the URL is checked
    /// here; the connection is made on the first call (and again after any error), so a host
    /// can start while Redis is down.
    pub fn open(url: &str, options: RedisOptions) -> Result<RedisStore, String> {
        let client = Client::open(url).map_err(|e| format!("redis url {url:?}: {e}"))?;
        if options.timeout.is_zero() {
            return Err("redis timeout: must be more than 0".to_owned());
        }
        if options.ttl < Duration::from_secs(10) {
            return Err(format!(
                "redis ttl: must be at least 10 s (a bulkhead holder's shortest lease), got {:?}",
                options.ttl
            ));
        }
        Ok(RedisStore {
            client,
            options,
            script: Script::new(SET_SCRIPT),
            conn: Mutex::new(None),
            calls: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The Redis key of an engine key.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.options.prefix)
    }

    /// The counters so far.
    pub fn counts(&self) -> RedisCounts {
        RedisCounts {
            calls: self.calls.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
        }
    }

    /// The last error Redis gave, for a host's log or health report.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Runs `f` on the connection, connecting first if there is none; an error drops the
    /// connection and answers `unavailable`.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut slot = lock(&self.conn);
        let result = match &mut *slot {
            Some(conn) => f(conn),
            None => self.connect().and_then(|mut conn| {
                let r = f(&mut conn);
                *slot = Some(conn);
                r
            }),
        };
        result.map_err(|e| {
            *slot = None;
            self.unavailable.fetch_add(1, Ordering::Relaxed);
            *lock(&self.last_error) = Some(e.to_string());
            StoreError::Unavailable
        })
    }

    fn connect(&self) -> RedisResult<Connection> {
        self.connects.fetch_add(1, Ordering::Relaxed);
        let t = self.options.timeout;
        let conn = self.client.get_connection_with_timeout(t)?;
        conn.set_read_timeout(Some(t))?;
        conn.set_write_timeout(Some(t))?;
        Ok(conn)
    }
}

/// A lock that a panicked holder did not spoil (the guarded values stay valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SharedStore for RedisStore {
    fn get(&self, key: &str, buf: &mut Vec<u8>) -> Result<Option<Cas>, StoreError> {
        buf.clear();
        let key = self.redis_key(key);
        let (value, version): (Option<Vec<u8>>, Option<u64>) =
            self.with_conn(|c| redis::cmd("HMGET").arg(&key).arg("d").arg("v").query(c))?;
        match (value, version) {
            (Some(value), Some(version)) => {
                buf.extend_from_slice(&value);
                Ok(Some(version))
            }
            (None, None) => Ok(None),
            // Half a value: someone else wrote this key. Not ours to read or to overwrite.
            _ => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
                *lock(&self.last_error) = Some(format!("redis key {key:?} is not breakwater's"));
                Err(StoreError::Unavailable)
            }
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<Cas>) -> Result<(), StoreError> {
        let key = self.redis_key(key);
        let expected = cas.map(|c| c.to_string()).unwrap_or_default();
        let ttl_ms = u64::try_from(self.options.ttl.as_millis()).unwrap_or(u64::MAX);
        let written: i64 = self.with_conn(|c| {
            self.script
                .key(&key)
                .arg(value)
                .arg(&expected)
                .arg(ttl_ms)
                .invoke(c)
        })?;
        if written == 1 {
            Ok(())
        } else {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::CasMismatch)
        }
    }
}
