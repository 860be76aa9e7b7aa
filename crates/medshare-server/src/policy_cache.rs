//! The policy cache: the access-policy inputs a search or a download reads for one practitioner
//! and one patient, without four database reads on every request when nothing changed. Two
//! kinds of entry, both keyed by (patient, practitioner):
//! - the patient facts ([`crate::policy::PatientFacts`]): the patient's consents, the
//!   practitioner's declared care relationship, and whether they have a break-glass window;
//! - the practitioner's grants on the patient's documents (every row, revoked and expired ones
//!   included: liveness is judged by the hub's clock on every use, as it is for rows just read).
//!
//! An entry is used only while all of these hold:
//! - it is younger than `auth.policy_cache_ms` (the bound for changes made by *another* replica
//!   of a shared database: a share revoked or a consent withdrawn there is refused here at most
//!   that long after);
//! - no write to any policy input was made through *this* hub since it was read
//!   ([`PolicyCache::invalidate`] after each: a share or a revocation, an upload (its shares),
//!   a consent granted or withdrawn, a care relationship declared, a break-glass window opened,
//!   a patient created, a member removed), so on a single hub such changes take effect at once.
//!
//! An open break-glass window is never served from the cache (it is read again on each use, so
//! its expiry is judged at that moment); only "no window" is (a window only opens by a write). The generation is read before the
//! store is, so a write that lands while an entry is being read makes that entry stale rather
//! than cached past the write (as in [`crate::sessions`]).

use crate::policy::PatientFacts;
use medshare_model::{PatientId, PractitionerId};
use medshare_store::GrantRow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most entries of each kind; beyond, stale entries go, then all (the next requests re-read).
const CAPACITY: usize = 20_000;

type Key = (PatientId, PractitionerId);

/// Recently read policy inputs (see the module documentation).
pub struct PolicyCache {
    ttl: Duration,
    generation: AtomicU64,
    facts: Mutex<HashMap<Key, Entry<PatientFacts>>>,
    grants: Mutex<HashMap<Key, Entry<Arc<Vec<GrantRow>>>>>,
}

struct Entry<T> {
    value: T,
    read_at: Instant,
    generation: u64,
}

/// Where a store read of policy inputs started: pass it back to the `put_*` call.
#[derive(Clone, Copy, Debug)]
// The generation, and when the read started: an entry's age counts from before the store was
// read, so the cross-replica bound holds however long the read took.
pub struct Ticket(u64, Instant);

fn get<T: Clone>(
    map: &Mutex<HashMap<Key, Entry<T>>>,
    ttl: Duration,
    generation: u64,
    key: &Key,
) -> Option<T> {
    let entries = map.lock().unwrap_or_else(|e| e.into_inner());
    let e = entries.get(key)?;
    (e.generation == generation && e.read_at.elapsed() < ttl).then(|| e.value.clone())
}

fn put<K: Eq + Hash, T>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    cache: &PolicyCache,
    ticket: Ticket,
    key: K,
    value: T,
) {
    if cache.ttl.is_zero() {
        return;
    }
    let mut entries = map.lock().unwrap_or_else(|e| e.into_inner());
    // Checked under the lock `invalidate` also takes: no entry of an older generation lands
    // after an invalidation cleared the map.
    if cache.generation.load(Ordering::Acquire) != ticket.0 {
        return;
    }
    if entries.len() >= CAPACITY {
        let ttl = cache.ttl;
        entries.retain(|_, e| e.generation == ticket.0 && e.read_at.elapsed() < ttl);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
    }
    entries.insert(
        key,
        Entry {
            value,
            read_at: ticket.1,
            generation: ticket.0,
        },
    );
}

impl PolicyCache {
    /// A cache whose entries live at most `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            generation: AtomicU64::new(0),
            facts: Mutex::default(),
            grants: Mutex::default(),
        }
    }

    fn usable(&self) -> Option<u64> {
        (!self.ttl.is_zero()).then(|| self.generation.load(Ordering::Acquire))
    }

    /// Call before reading policy inputs from the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire), Instant::now())
    }

    /// The patient facts of `practitioner` for `patient`, if a usable entry exists. Never holds
    /// an open break-glass window (see the module documentation).
    pub fn facts(&self, patient: PatientId, practitioner: PractitionerId) -> Option<PatientFacts> {
        let generation = self.usable()?;
        get(&self.facts, self.ttl, generation, &(patient, practitioner))
    }

    /// Remember facts read from the store after `ticket`. While an entry says a break-glass
    /// window was open, the caller reads the window again on every use
    /// ([`crate::policy::patient_facts`]).
    pub fn put_facts(
        &self,
        ticket: Ticket,
        patient: PatientId,
        practitioner: PractitionerId,
        facts: PatientFacts,
    ) {
        put(&self.facts, self, ticket, (patient, practitioner), facts);
    }

    /// The grants of `grantee` on documents of `patient`, if a usable entry exists.
    pub fn grants(
        &self,
        patient: PatientId,
        grantee: PractitionerId,
    ) -> Option<Arc<Vec<GrantRow>>> {
        let generation = self.usable()?;
        get(&self.grants, self.ttl, generation, &(patient, grantee))
    }

    /// Remember grants read from the store after `ticket`.
    pub fn put_grants(
        &self,
        ticket: Ticket,
        patient: PatientId,
        grantee: PractitionerId,
        grants: Arc<Vec<GrantRow>>,
    ) {
        put(&self.grants, self, ticket, (patient, grantee), grants);
    }

    /// A policy input changed (or may have) through this hub: every entry is stale.
    pub fn invalidate(&self) {
        let mut facts = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        facts.clear();
        grants.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::api::ConsentHolder;

    fn facts() -> PatientFacts {
        PatientFacts {
            consents: vec![ConsentHolder::Alliance],
            care: true,
            break_glass: false,
        }
    }

    #[test]
    fn entries_are_used_until_invalidated_or_old() {
        let (p, d) = (PatientId::new(), PractitionerId::new());
        let cache = PolicyCache::new(Duration::from_secs(60));
        assert_eq!(cache.facts(p, d), None);
        cache.put_facts(cache.ticket(), p, d, facts());
        cache.put_grants(cache.ticket(), p, d, Arc::new(Vec::new()));
        assert_eq!(cache.facts(p, d), Some(facts()));
        assert!(cache.grants(p, d).is_some());
        assert_eq!(cache.facts(p, PractitionerId::new()), None);
        cache.invalidate();
        assert_eq!(cache.facts(p, d), None);
        assert!(cache.grants(p, d).is_none());

        // A read that started before a write is not cached after it.
        let before = cache.ticket();
        cache.invalidate();
        cache.put_facts(before, p, d, facts());
        assert_eq!(cache.facts(p, d), None);

        // Too old; and a zero bound caches nothing.
        let short = PolicyCache::new(Duration::from_millis(20));
        short.put_facts(short.ticket(), p, d, facts());
        assert!(short.facts(p, d).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(short.facts(p, d), None);
        let off = PolicyCache::new(Duration::ZERO);
        off.put_facts(off.ticket(), p, d, facts());
        assert_eq!(off.facts(p, d), None);
    }
}
