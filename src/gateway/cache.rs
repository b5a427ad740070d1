//! The authorizer result cache: what the authorizer answered (its policy and context, not the
//! allow/deny decision), keyed by the identity source values, for the TTL, on a clock tests can
//! move, in bounded memory.
//!
//! Source: reference/api-gateway-authorizers.md §3.1. API Gateway caches the returned policy
//! document and context and re-evaluates the cached policy against the method ARN of every
//! later request; an emulator that cached the decision would never show the classic
//! cross-route 403 (§3.2). The caller does the evaluation (with `policy::evaluate`); this
//! module only keeps documents.
//!
//! **Bound.** AWS documents no size for the cache. This one keeps at most `capacity` entries
//! (default [`DEFAULT_CAPACITY`]) and at most `budget` bytes of keys and documents, each
//! document counted at the length of its JSON (default [`DEFAULT_BUDGET`]; in memory an entry
//! takes two to three times what it is counted at). Entries are kept in insertion order; since
//! every entry lives for the same TTL, that is also expiry order. On each insert, expired
//! entries at the front are dropped, and while the cache is still over either bound the oldest
//! live entry is evicted. A flood of distinct tokens therefore costs a bounded amount of memory
//! no matter how long it runs or how large the tokens and documents are; the evicted tokens
//! simply invoke the authorizer again on their next request, which is what API Gateway does
//! once an entry is gone. (benches/gateway.rs measures it: docs/PERFORMANCE.md.)

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Entries the cache holds by default: room for every caller of a busy API within a TTL.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Bytes of keys and documents (as JSON) the cache holds by default.
pub const DEFAULT_BUDGET: usize = 8 * 1024 * 1024;

/// The time the cache runs on: the system's monotonic clock, or a manual one tests move.
#[derive(Clone, Debug)]
pub struct Clock(ClockKind);

#[derive(Clone, Debug)]
enum ClockKind {
    System(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The monotonic system clock.
    pub fn system() -> Self {
        Clock(ClockKind::System(Instant::now()))
    }

    /// A clock that stands still until [`Clock::advance`] moves it.
    pub fn manual() -> Self {
        Clock(ClockKind::Manual(Arc::new(AtomicU64::new(0))))
    }

    /// Moves a manual clock forward (does nothing to the system clock).
    pub fn advance(&self, by: Duration) {
        if let ClockKind::Manual(ms) = &self.0 {
            ms.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
        }
    }

    /// Milliseconds since the clock started.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            ClockKind::System(origin) => origin.elapsed().as_millis() as u64,
            ClockKind::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

struct Entry {
    document: Arc<Value>,
    /// What it counts against the byte budget.
    bytes: usize,
    expires_ms: u64,
    /// Which insertion made it, so a stale line of the order queue is recognised.
    stamp: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Arc<str>, Entry>,
    /// Keys in insertion (and so expiry) order, with the stamp of their insertion.
    order: VecDeque<(Arc<str>, u64)>,
    next_stamp: u64,
    evictions: u64,
    /// Bytes counted against the budget.
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.bytes;
        }
    }
}

/// Counts bytes written, to size a document without keeping its JSON.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Cached authorizer responses, keyed by identity source values.
pub struct ResultCache {
    ttl_ms: u64,
    capacity: usize,
    budget: usize,
    clock: Clock,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache")
            .field("ttl_ms", &self.ttl_ms)
            .field("capacity", &self.capacity)
            .field("entries", &self.len())
            .finish()
    }
}

impl ResultCache {
    /// A cache keeping documents for `ttl` (zero turns it off), at most `capacity` of them
    /// and `budget` bytes of keys and documents.
    pub fn new(ttl: Duration, capacity: usize, budget: usize, clock: Clock) -> Self {
        ResultCache {
            ttl_ms: ttl.as_millis() as u64,
            capacity: capacity.max(1),
            budget,
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Whether caching is on (TTL above zero).
    pub fn enabled(&self) -> bool {
        self.ttl_ms > 0
    }

    /// The live document for `key`, if any.
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        if !self.enabled() {
            return None;
        }
        let now = self.clock.now_ms();
        let inner = self.inner.lock().expect("cache lock");
        inner
            .entries
            .get(key)
            .filter(|e| e.expires_ms > now)
            .map(|e| e.document.clone())
    }

    /// Keeps `document` for `key` for the TTL, evicting as the bounds require. A document
    /// larger than the whole budget is not kept.
    pub fn insert(&self, key: &str, document: Arc<Value>) {
        if !self.enabled() {
            return;
        }
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, &*document).expect("a JSON value serializes");
        let bytes = key.len() + counter.0;
        if bytes > self.budget {
            return;
        }
        let now = self.clock.now_ms();
        let mut inner = self.inner.lock().expect("cache lock");
        let inner = &mut *inner;
        inner.remove(key);
        // Expired entries at the front go first: they are no use to anyone.
        while let Some((front, stamp)) = inner.order.front() {
            let live = inner.entries.get(front).filter(|e| e.stamp == *stamp);
            match live {
                Some(e) if e.expires_ms > now => break,
                Some(_) => {
                    let front = front.clone();
                    inner.remove(&front);
                }
                None => {}
            }
            inner.order.pop_front();
        }
        while inner.entries.len() >= self.capacity || inner.bytes + bytes > self.budget {
            let Some((oldest, stamp)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&oldest).is_some_and(|e| e.stamp == stamp) {
                inner.remove(&oldest);
                inner.evictions += 1;
            }
        }
        let stamp = inner.next_stamp;
        inner.next_stamp += 1;
        let key: Arc<str> = Arc::from(key);
        inner.order.push_back((key.clone(), stamp));
        inner.bytes += bytes;
        inner.entries.insert(
            key,
            Entry {
                document,
                bytes,
                expires_ms: now.saturating_add(self.ttl_ms),
                stamp,
            },
        );
    }

    /// Entries held (live or expired but not yet dropped).
    pub fn len(&self) -> usize {
        self.inner.lock().expect("cache lock").entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live entries evicted to keep the bound.
    pub fn evictions(&self) -> u64 {
        self.inner.lock().expect("cache lock").evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(n: u64) -> Arc<Value> {
        Arc::new(json!({ "n": n }))
    }

    #[test]
    fn an_entry_lives_for_the_ttl_on_the_clock_given() {
        let clock = Clock::manual();
        let cache = ResultCache::new(Duration::from_secs(300), 10, 1 << 20, clock.clone());
        cache.insert("t", doc(1));
        clock.advance(Duration::from_secs(299));
        assert_eq!(cache.get("t"), Some(doc(1)));
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.get("t"), None);
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = ResultCache::new(Duration::ZERO, 10, 1 << 20, Clock::manual());
        cache.insert("t", doc(1));
        assert!(cache.is_empty());
        assert_eq!(cache.get("t"), None);
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_the_capacity() {
        let cache = ResultCache::new(Duration::from_secs(300), 100, 1 << 20, Clock::manual());
        for n in 0..10_000 {
            cache.insert(&format!("token-{n}"), doc(n));
        }
        assert_eq!(cache.len(), 100);
        assert_eq!(cache.evictions(), 9_900);
        // The newest survive; the oldest went first.
        assert!(cache.get("token-9999").is_some());
        assert!(cache.get("token-0").is_none());
        assert!(cache.inner.lock().unwrap().order.len() <= 100);
    }

    #[test]
    fn reinserting_after_expiry_leaves_no_stale_order_behind() {
        let clock = Clock::manual();
        let cache = ResultCache::new(Duration::from_secs(1), 10, 1 << 20, clock.clone());
        for n in 0..1_000 {
            cache.insert("same", doc(n));
            clock.advance(Duration::from_secs(2));
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.inner.lock().unwrap().order.len() <= 2);
        assert_eq!(cache.evictions(), 0);
    }

    #[test]
    fn large_documents_are_held_to_the_byte_budget() {
        let cache = ResultCache::new(Duration::from_secs(300), 1_000, 10_000, Clock::manual());
        let big = Arc::new(json!({ "context": "x".repeat(900) }));
        for n in 0..100 {
            cache.insert(&format!("token-{n}"), big.clone());
        }
        let inner = cache.inner.lock().unwrap();
        assert!(inner.bytes <= 10_000, "{}", inner.bytes);
        assert_eq!(inner.entries.len(), 10);
        drop(inner);
        // A document over the whole budget is not kept at all.
        cache.insert("huge", Arc::new(json!("x".repeat(20_000))));
        assert!(cache.get("huge").is_none());
    }
}
