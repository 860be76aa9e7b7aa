//! The session cache: who holds a bearer token, without two database reads on every request.
//!
//! An entry is the session's practitioner row and expiry as read from the store. It is used
//! only while all of these hold:
//! - it is younger than `auth.session_cache_ms` (the bound for changes made by *another*
//!   replica of a shared database: a session revoked or a member removed there is refused here
//!   at most that long after);
//! - no change to a session or a practitioner was made through *this* hub since it was read
//!   ([`SessionCache::invalidate`] after each such write: logout, removal, certification,
//!   enrolment, login failures), so on a single hub such changes take effect at once;
//! - the session has not expired by the hub's clock (checked on every use).
//!
//! The generation is read before the store is, so a write that lands while an entry is being
//! read makes that entry stale rather than cached past the write.

use medshare_store::PractitionerRow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most cached sessions; beyond, stale entries go, then all (the next requests re-read).
const CAPACITY: usize = 10_000;

/// Recently checked sessions by token hash.
pub struct SessionCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    practitioner: PractitionerRow,
    expires_at: i64,
    read_at: Instant,
    generation: u64,
}

/// Where a store read for a session started: pass it back to [`SessionCache::put`].
#[derive(Clone, Copy, Debug)]
// The generation, and when the read started: an entry's age counts from before the store was
// read, so the cross-replica bound holds however long the read took.
pub struct Ticket(u64, Instant);

impl SessionCache {
    /// A cache whose entries live at most `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The session's holder if a usable entry exists (see the module documentation).
    pub fn get(&self, token_hash: &str, now: i64) -> Option<PractitionerRow> {
        if self.ttl.is_zero() {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.get(token_hash)?;
        (e.generation == generation && e.read_at.elapsed() < self.ttl && e.expires_at > now)
            .then(|| e.practitioner.clone())
    }

    /// Call before reading a session from the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire), Instant::now())
    }

    /// Remember a holder read from the store after `ticket` (nothing if a change was made
    /// since: the entry would already be stale).
    pub fn put(&self, ticket: Ticket, token_hash: &str, p: PractitionerRow, expires_at: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            let ttl = self.ttl;
            entries.retain(|_, e| e.generation == ticket.0 && e.read_at.elapsed() < ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            token_hash.to_owned(),
            Entry {
                practitioner: p,
                expires_at,
                read_at: ticket.1,
                generation: ticket.0,
            },
        );
    }

    /// A session or practitioner changed through this hub: every entry is stale.
    pub fn invalidate(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}
