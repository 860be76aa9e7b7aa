//! The session cache: who holds a bearer token, without two database reads on every request.
//!
//! An entry is the session's practitioner row and expiry as read from the store. It is used
//! only while all of these hold:
//! - it is younger than `auth.session_cache_ms` (the backstop for a change made by *another*
//!   replica of a shared database that it never announced);
//! - no change to a session or a practitioner was made through this hub, or announced by
//!   another replica, since it was read ([`SessionCache::invalidate`] after each such write:
//!   logout, removal, certification, enrolment; [`crate::invalidate`] for the announcements),
//!   so such changes take effect at once;
//! - the cross-replica invalidation feed is connected ([`SessionCache::suspend`]);
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
    /// The age bound, and off while the cross-replica invalidation feed is lost
    /// ([`SessionCache::suspend`]).
    switch: crate::invalidate::Switch,
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
            switch: crate::invalidate::Switch::new(ttl),
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Whether nothing may be served or stored now.
    fn off(&self) -> bool {
        self.switch.off()
    }

    /// Serve and store nothing until [`SessionCache::resume`] (the cross-replica invalidation
    /// feed is lost: [`crate::invalidate`]).
    pub fn suspend(&self) {
        self.switch.suspend();
    }

    /// Serve again, with everything cached before dropped.
    pub fn resume(&self) {
        self.invalidate();
        self.switch.resume();
    }

    /// The session's holder if a usable entry exists (see the module documentation).
    pub fn get(&self, token_hash: &str, now: i64) -> Option<PractitionerRow> {
        if self.off() {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.get(token_hash)?;
        (e.generation == generation
            && e.read_at.elapsed() < self.switch.ttl()
            && e.expires_at > now)
            .then(|| e.practitioner.clone())
    }

    /// Call before reading a session from the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire), Instant::now())
    }

    /// Remember a holder read from the store after `ticket` (nothing if a change was made
    /// since: the entry would already be stale).
    pub fn put(&self, ticket: Ticket, token_hash: &str, p: PractitionerRow, expires_at: i64) {
        if self.off() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            let ttl = self.switch.ttl();
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

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::PractitionerId;

    fn row() -> PractitionerRow {
        PractitionerRow {
            id: PractitionerId::new(),
            institution_id: medshare_model::InstitutionId::new(),
            details: medshare_model::api::NewEnrolment {
                handle: "dr.chan".parse().expect("valid handle"),
                name: "Chan".into(),
                profession: medshare_model::registration::Profession::Doctor,
                registration: "M00001".into(),
                specialty: None,
                roles: Vec::new(),
            },
            status: medshare_store::PractitionerStatus::Certified,
            enrolment_expires: None,
            creates_institution_keys: false,
            kdf: None,
            credential_hash: None,
            key_bundle: None,
            sign_public: None,
            recipient: None,
            cert: None,
            revocation: None,
            keyring_wrap: None,
            totp_secret: None,
            failed_logins: 0,
            locked_until: None,
        }
    }

    /// While the cross-replica feed is lost nothing is served or stored; back, nothing from
    /// before is served.
    #[test]
    fn a_suspended_cache_serves_nothing_and_forgets_on_resume() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let p = row();
        cache.put(cache.ticket(), "t", p.clone(), i64::MAX);
        assert!(cache.get("t", 0).is_some());
        let during = cache.ticket();
        cache.suspend();
        assert!(cache.get("t", 0).is_none());
        cache.put(cache.ticket(), "u", p.clone(), i64::MAX);
        assert!(cache.get("u", 0).is_none());
        cache.resume();
        assert!(cache.get("t", 0).is_none(), "an entry from before the loss");
        cache.put(during, "t", p.clone(), i64::MAX);
        assert!(
            cache.get("t", 0).is_none(),
            "a read from before the feed was back"
        );
        cache.put(cache.ticket(), "t", p, i64::MAX);
        assert!(cache.get("t", 0).is_some());
    }
}
