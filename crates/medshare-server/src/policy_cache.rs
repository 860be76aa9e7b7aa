//! The policy cache: the access-policy inputs a search or a download reads for one practitioner
//! and one patient, without four database reads on every request when nothing changed. Two
//! kinds of entry, both keyed by (patient, practitioner):
//! - the patient facts ([`crate::policy::PatientFacts`]): the patient's consents, the
//!   practitioner's declared care relationship, and whether they have a break-glass window;
//! - the practitioner's grants on the patient's documents (every row, revoked and expired ones
//!   included: liveness is judged by the hub's clock on every use, as it is for rows just read).
//!
//! An entry is used only while all of these hold:
//! - it is younger than `auth.policy_cache_ms` (the backstop for a change made by *another*
//!   replica of a shared database that it never announced);
//! - the cross-replica invalidation feed is connected ([`PolicyCache::suspend`]; every
//!   invalidation below made by another replica arrives through it: [`crate::invalidate`]);
//! - no write to any policy input *of that patient* was made through this hub (or another
//!   replica) since it was read ([`PolicyCache::invalidate_patient`] after each: a share or a revocation, an upload
//!   (its shares), a consent granted or withdrawn, a care relationship declared, a break-glass
//!   window opened, a patient created), nor any write that concerns every patient
//!   ([`PolicyCache::invalidate`]: a member removed, a practitioner or an institution
//!   certified), so on a single hub such changes take effect at once. A write for one patient
//!   leaves every other patient's entries usable.
//!
//! An open break-glass window is never served from the cache (it is read again on each use, so
//! its expiry is judged at that moment); only "no window" is (a window only opens by a write).
//! The generations are read before the store is, so a write that lands while an entry is being
//! read makes that entry stale rather than cached past the write (as in [`crate::sessions`]).
//!
//! A third kind of entry, under exactly the same rules, holds whole encoded search pages
//! ([`PolicyCache::page`], used by [`crate::services::search`]): keyed by the reader, the
//! patient reference and the query, with the access basis they were computed under and the
//! hub time until which every grant they relied on stays live.

use crate::policy::{Basis, PatientFacts};
use bytes::Bytes;
use medshare_model::{InstitutionId, PatientId, PatientRef, PractitionerId};
use medshare_store::GrantRow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most entries of each kind; beyond, stale entries go, then all (the next requests re-read).
const CAPACITY: usize = 20_000;
/// Most bytes of cached search pages (a first page of 200 documents is about 100 KB).
const PAGE_BYTES: usize = 32 << 20;

type Key = (PatientId, PractitionerId);

/// A search as the hub answers it: who asks (and from which institution: the patient key wraps
/// sent are theirs), for which patient reference, and the query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub reader: PractitionerId,
    pub institution: InstitutionId,
    pub patient_ref: PatientRef,
    pub limit: u32,
    pub cursor: Option<String>,
    pub since: Option<String>,
}

/// An encoded search answer and what it was decided on.
#[derive(Clone, Debug)]
pub struct Page {
    pub patient: PatientId,
    /// The reader's access basis to the patient when the page was computed: a hit needs the
    /// same basis now.
    pub basis: Basis,
    /// The basis the access log recorded for the search (the patient-wide one, or "grant").
    pub logged_basis: &'static str,
    /// Hub time (Unix seconds) from which a grant the page relied on may have expired: the
    /// page is used only before it.
    pub valid_before: i64,
    /// The JSON body.
    pub body: Bytes,
}

/// Recently read policy inputs (see the module documentation).
pub struct PolicyCache {
    /// The age bound, and off while the cross-replica invalidation feed is lost
    /// ([`PolicyCache::suspend`]).
    switch: crate::invalidate::Switch,
    generations: Mutex<Generations>,
    facts: Mutex<HashMap<Key, Entry<PatientFacts>>>,
    grants: Mutex<HashMap<Key, Entry<Arc<Vec<GrantRow>>>>>,
    pages: Mutex<Pages>,
}

/// Write counters: one for writes that concern every patient, one per patient written to
/// (a patient never written to is at 0).
#[derive(Default)]
struct Generations {
    all: u64,
    patients: HashMap<PatientId, u64>,
}

impl Generations {
    fn of(&self, patient: PatientId) -> Generation {
        Generation(self.all, self.patients.get(&patient).copied().unwrap_or(0))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Generation(u64, u64);

#[derive(Default)]
struct Pages {
    entries: HashMap<PageKey, Entry<Arc<Page>>>,
    bytes: usize,
}

struct Entry<T> {
    value: T,
    read_at: Instant,
    generation: Generation,
}

/// Where a store read of one patient's policy inputs started: pass it back to the `put_*` call.
#[derive(Clone, Copy, Debug)]
// The generations, and when the read started: an entry's age counts from before the store was
// read, so the cross-replica bound holds however long the read took.
pub struct Ticket(Generation, Instant);

impl PolicyCache {
    /// A cache whose entries live at most `ttl` (zero: nothing is cached).
    pub fn new(ttl: Duration) -> Self {
        Self {
            switch: crate::invalidate::Switch::new(ttl),
            generations: Mutex::default(),
            facts: Mutex::default(),
            grants: Mutex::default(),
            pages: Mutex::default(),
        }
    }

    /// Whether nothing may be served or stored now.
    fn off(&self) -> bool {
        self.switch.off()
    }

    /// Serve and store nothing until [`PolicyCache::resume`] (the cross-replica invalidation
    /// feed is lost: [`crate::invalidate`]).
    pub fn suspend(&self) {
        self.switch.suspend();
    }

    /// Serve again, with everything cached before dropped.
    pub fn resume(&self) {
        self.invalidate();
        self.switch.resume();
    }

    fn generation(&self, patient: PatientId) -> Generation {
        self.generations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .of(patient)
    }

    /// Whether an entry for `patient` is still usable: young enough and no write since.
    fn fresh<T>(&self, e: &Entry<T>, patient: PatientId) -> bool {
        e.read_at.elapsed() < self.switch.ttl() && e.generation == self.generation(patient)
    }

    fn get<T: Clone>(&self, map: &Mutex<HashMap<Key, Entry<T>>>, key: &Key) -> Option<T> {
        if self.off() {
            return None;
        }
        let entries = map.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.get(key)?;
        self.fresh(e, key.0).then(|| e.value.clone())
    }

    fn put<T>(&self, map: &Mutex<HashMap<Key, Entry<T>>>, ticket: Ticket, key: Key, value: T) {
        if self.off() {
            return;
        }
        let mut entries = map.lock().unwrap_or_else(|e| e.into_inner());
        // A write since the ticket: the value may predate it. (A write after this check makes
        // the entry stale on its first use: `get` compares generations again.)
        if self.generation(key.0) != ticket.0 {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|k, e| self.fresh(e, k.0));
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

    /// Call before reading policy inputs of `patient` from the store.
    pub fn ticket(&self, patient: PatientId) -> Ticket {
        Ticket(self.generation(patient), Instant::now())
    }

    /// The patient facts of `practitioner` for `patient`, if a usable entry exists. Never holds
    /// an open break-glass window (see the module documentation).
    pub fn facts(&self, patient: PatientId, practitioner: PractitionerId) -> Option<PatientFacts> {
        self.get(&self.facts, &(patient, practitioner))
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
        self.put(&self.facts, ticket, (patient, practitioner), facts);
    }

    /// The grants of `grantee` on documents of `patient`, if a usable entry exists.
    pub fn grants(
        &self,
        patient: PatientId,
        grantee: PractitionerId,
    ) -> Option<Arc<Vec<GrantRow>>> {
        self.get(&self.grants, &(patient, grantee))
    }

    /// Remember grants read from the store after `ticket`.
    pub fn put_grants(
        &self,
        ticket: Ticket,
        patient: PatientId,
        grantee: PractitionerId,
        grants: Arc<Vec<GrantRow>>,
    ) {
        self.put(&self.grants, ticket, (patient, grantee), grants);
    }

    /// The search page answered for `key`, if a usable entry exists. The caller still checks
    /// that the reader's basis is the page's and that `now` is before
    /// [`Page::valid_before`].
    pub fn page(&self, key: &PageKey) -> Option<Arc<Page>> {
        if self.off() {
            return None;
        }
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let e = pages.entries.get(key)?;
        self.fresh(e, e.value.patient).then(|| e.value.clone())
    }

    /// Remember a search page computed from reads that started after `ticket` (taken for the
    /// page's patient).
    pub fn put_page(&self, ticket: Ticket, key: PageKey, page: Page) {
        if self.off() || page.body.len() > PAGE_BYTES / 4 {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation(page.patient) != ticket.0 {
            return;
        }
        let size = page.body.len();
        if pages.bytes + size > PAGE_BYTES || pages.entries.len() >= CAPACITY {
            pages.entries.retain(|_, e| self.fresh(e, e.value.patient));
            if pages.bytes + size > PAGE_BYTES / 2 || pages.entries.len() >= CAPACITY / 2 {
                pages.entries.clear();
            }
            pages.bytes = pages.entries.values().map(|e| e.value.body.len()).sum();
        }
        let old = pages.entries.insert(
            key,
            Entry {
                value: Arc::new(page),
                read_at: ticket.1,
                generation: ticket.0,
            },
        );
        pages.bytes = pages.bytes + size - old.map_or(0, |e| e.value.body.len());
    }

    /// A policy input of `patient` changed (or may have) through this hub: that patient's
    /// entries are stale, every other patient's stay usable.
    pub fn invalidate_patient(&self, patient: PatientId) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if g.patients.len() >= CAPACITY && !g.patients.contains_key(&patient) {
            // Forgetting the counters is safe only together with a bump of the global one.
            g.all += 1;
            g.patients.clear();
        }
        *g.patients.entry(patient).or_insert(0) += 1;
    }

    /// A change that may concern every patient (a member removed, a practitioner or an
    /// institution certified) was made through this hub: every entry is stale.
    pub fn invalidate(&self) {
        {
            let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
            g.all += 1;
            g.patients.clear();
        }
        self.facts.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages.entries.clear();
        pages.bytes = 0;
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
        cache.put_facts(cache.ticket(p), p, d, facts());
        cache.put_grants(cache.ticket(p), p, d, Arc::new(Vec::new()));
        assert_eq!(cache.facts(p, d), Some(facts()));
        assert!(cache.grants(p, d).is_some());
        assert_eq!(cache.facts(p, PractitionerId::new()), None);
        cache.invalidate();
        assert_eq!(cache.facts(p, d), None);
        assert!(cache.grants(p, d).is_none());

        // A read that started before a write is not cached after it.
        let before = cache.ticket(p);
        cache.invalidate();
        cache.put_facts(before, p, d, facts());
        assert_eq!(cache.facts(p, d), None);
        let before = cache.ticket(p);
        cache.invalidate_patient(p);
        cache.put_facts(before, p, d, facts());
        assert_eq!(cache.facts(p, d), None);

        // Too old; and a zero bound caches nothing.
        let short = PolicyCache::new(Duration::from_millis(20));
        short.put_facts(short.ticket(p), p, d, facts());
        assert!(short.facts(p, d).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(short.facts(p, d), None);
        let off = PolicyCache::new(Duration::ZERO);
        off.put_facts(off.ticket(p), p, d, facts());
        assert_eq!(off.facts(p, d), None);
    }

    #[test]
    fn a_write_for_one_patient_leaves_the_others() {
        let (p, q, d) = (PatientId::new(), PatientId::new(), PractitionerId::new());
        let cache = PolicyCache::new(Duration::from_secs(60));
        cache.put_facts(cache.ticket(p), p, d, facts());
        cache.put_facts(cache.ticket(q), q, d, facts());
        // A write to p after the ticket was taken but before the entry lands.
        let late = cache.ticket(p);
        cache.invalidate_patient(p);
        assert_eq!(cache.facts(p, d), None);
        assert_eq!(cache.facts(q, d), Some(facts()));
        cache.put_grants(late, p, d, Arc::new(Vec::new()));
        assert!(cache.grants(p, d).is_none());
        // Counters forgotten for capacity: only with every entry made stale.
        for _ in 0..CAPACITY {
            cache.invalidate_patient(PatientId::new());
        }
        assert_eq!(cache.facts(q, d), None);
    }

    /// While the cross-replica feed is lost nothing is served or stored; back, nothing from
    /// before is served.
    #[test]
    fn a_suspended_cache_serves_nothing_and_forgets_on_resume() {
        let (p, d) = (PatientId::new(), PractitionerId::new());
        let cache = PolicyCache::new(Duration::from_secs(60));
        cache.put_facts(cache.ticket(p), p, d, facts());
        let during = cache.ticket(p);
        cache.suspend();
        assert_eq!(cache.facts(p, d), None);
        cache.put_grants(cache.ticket(p), p, d, Arc::new(Vec::new()));
        assert!(cache.grants(p, d).is_none());
        cache.resume();
        assert_eq!(cache.facts(p, d), None, "an entry from before the loss");
        cache.put_facts(during, p, d, facts());
        assert_eq!(
            cache.facts(p, d),
            None,
            "a read from before the feed was back"
        );
        cache.put_facts(cache.ticket(p), p, d, facts());
        assert_eq!(cache.facts(p, d), Some(facts()));
    }

    fn page(patient: PatientId, body: &'static [u8]) -> Page {
        Page {
            patient,
            basis: Basis::Care,
            logged_basis: "care",
            valid_before: i64::MAX,
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn pages_follow_the_same_rules() {
        let (p, q, d) = (PatientId::new(), PatientId::new(), PractitionerId::new());
        let key = |patient_ref: &str| PageKey {
            reader: d,
            institution: InstitutionId::new(),
            patient_ref: PatientRef::try_from(patient_ref.to_owned()).unwrap(),
            limit: 50,
            cursor: None,
            since: None,
        };
        let (kp, kq) = (key(&"a".repeat(64)), key(&"b".repeat(64)));
        let cache = PolicyCache::new(Duration::from_secs(60));
        assert!(cache.page(&kp).is_none());
        cache.put_page(cache.ticket(p), kp.clone(), page(p, b"p"));
        cache.put_page(cache.ticket(q), kq.clone(), page(q, b"q"));
        assert_eq!(cache.page(&kp).unwrap().body, Bytes::from_static(b"p"));
        cache.invalidate_patient(p);
        assert!(cache.page(&kp).is_none());
        assert_eq!(cache.page(&kq).unwrap().body, Bytes::from_static(b"q"));
        let before = cache.ticket(q);
        cache.invalidate();
        assert!(cache.page(&kq).is_none());
        cache.put_page(before, kq.clone(), page(q, b"q"));
        assert!(cache.page(&kq).is_none());
        let off = PolicyCache::new(Duration::ZERO);
        off.put_page(off.ticket(p), kp.clone(), page(p, b"p"));
        assert!(off.page(&kp).is_none());
    }
}
