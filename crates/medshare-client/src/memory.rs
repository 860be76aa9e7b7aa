//! What a client remembers between sessions so that a hub cannot roll anything back: the
//! highest patient key epoch seen per patient (with its digest, so a fork is caught too), which
//! patient each searched reference resolved to, the highest key epoch seen per institution and
//! the newest signed version of each on-call list. Monotonic, like the witnessed audit head: it only ever moves forward.
//!
//! The core keeps it in memory; where it persists is the caller's choice through
//! [`MemoryStore`] (the CLI: a 0600 file in its config folder; the browser: IndexedDB).

use crate::error::{ClientError, Result};
use medshare_model::{InstitutionId, PatientId, PatientRef, PractitionerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A patient key epoch this client verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenEpoch {
    /// The epoch number.
    pub epoch: u32,
    /// `Signed::digest` of that epoch's statement.
    pub digest: String,
}

/// The monotonic facts a client remembers about one hub.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(default)]
    /// The newest key epoch verified per patient (never goes back).
    pub patients: BTreeMap<PatientId, SeenEpoch>,
    #[serde(default)]
    /// Which patient each reference verified as naming (never changes).
    pub refs: BTreeMap<PatientRef, PatientId>,
    #[serde(default)]
    /// The newest key epoch seen per institution (never goes back).
    pub institution_epochs: BTreeMap<InstitutionId, u32>,
    /// Practitioners whose institution revoked them, and since when (from a verified,
    /// institution-signed revocation): never trusted again, even if a hub hides it later.
    #[serde(default)]
    pub revoked: BTreeMap<PractitionerId, i64>,
    /// The newest signed on-call list seen per `INSTITUTION/NAME` (never goes back).
    #[serde(default)]
    pub oncall_lists: BTreeMap<String, SeenVersion>,
}

/// A versioned statement this client verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenVersion {
    /// Its version.
    pub version: u64,
    /// `Signed::digest` of that version's statement.
    pub digest: String,
}

/// Where remembered facts are kept between runs. `save` is called after every change.
pub trait MemoryStore: Send + Sync {
    /// Persist `memory`.
    fn save(&self, memory: &Memory) -> Result<()>;
}

/// The live memory of a client, shared by its trust checks.
#[derive(Clone, Default)]
pub struct Remembered {
    inner: Arc<Mutex<Memory>>,
    store: Option<Arc<dyn MemoryStore>>,
}

impl std::fmt::Debug for Remembered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remembered").finish_non_exhaustive()
    }
}

impl Remembered {
    /// Start from what was saved, saving every change to `store`.
    pub fn new(memory: Memory, store: Option<Arc<dyn MemoryStore>>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(memory)),
            store,
        }
    }

    /// A copy of what is remembered now.
    pub fn snapshot(&self) -> Memory {
        self.inner.lock().expect("poisoned").clone()
    }

    fn update(&self, f: impl FnOnce(&mut Memory) -> Result<()>) -> Result<()> {
        let mut m = self.inner.lock().expect("poisoned");
        let before = m.clone();
        f(&mut m)?;
        if *m != before
            && let Some(s) = &self.store
        {
            s.save(&m)?;
        }
        Ok(())
    }

    /// Accept a verified patient chain whose newest epoch is `latest`: refused if it is older
    /// than one seen before, or if the epoch seen before is not the one in this chain.
    pub fn patient_chain(
        &self,
        patient: PatientId,
        digests: &[String],
        searched: Option<&PatientRef>,
    ) -> Result<()> {
        self.update(|m| {
            if let Some(r) = searched
                && let Some(known) = m.refs.get(r)
                && *known != patient
            {
                return Err(ClientError::Trust(
                    "the patient number now resolves to another patient than before",
                ));
            }
            if let Some(seen) = m.patients.get(&patient) {
                let i = seen.epoch as usize;
                if i > digests.len() {
                    return Err(ClientError::Trust(
                        "the hub served an older patient key than this client saw before (rollback)",
                    ));
                }
                if digests[i - 1] != seen.digest {
                    return Err(ClientError::Trust(
                        "the patient's key history differs from the one this client saw before (fork)",
                    ));
                }
            }
            let last = digests
                .last()
                .ok_or(ClientError::Trust("the patient has no key"))?;
            m.patients.insert(
                patient,
                SeenEpoch {
                    epoch: digests.len() as u32,
                    digest: last.clone(),
                },
            );
            if let Some(r) = searched {
                m.refs.insert(r.clone(), patient);
            }
            Ok(())
        })
    }

    /// The patient a reference resolved to before, if any.
    pub fn patient_of(&self, r: &PatientRef) -> Option<PatientId> {
        self.inner.lock().expect("poisoned").refs.get(r).copied()
    }

    /// Remember a verified revocation (the earliest time seen wins).
    pub fn revoked(&self, who: PractitionerId, at: i64) -> Result<()> {
        self.update(|m| {
            let t = m.revoked.entry(who).or_insert(at);
            *t = (*t).min(at);
            Ok(())
        })
    }

    /// Since when a practitioner is revoked, if this client ever saw it.
    pub fn revoked_at(&self, who: PractitionerId) -> Option<i64> {
        self.inner
            .lock()
            .expect("poisoned")
            .revoked
            .get(&who)
            .copied()
    }

    /// Accept `latest` as an institution's newest key epoch: refused if older than seen before.
    pub fn institution_epoch(&self, institution: InstitutionId, latest: u32) -> Result<()> {
        self.update(|m| {
            let seen = m.institution_epochs.entry(institution).or_insert(0);
            if latest < *seen {
                return Err(ClientError::Trust(
                    "the hub served an older institution key than this client saw before (rollback)",
                ));
            }
            *seen = latest;
            Ok(())
        })
    }
}

impl Remembered {
    /// Accept a verified on-call list of `institution` named `name` at `version` (statement
    /// digest `digest`): refused if older than one seen before, or if the same version was
    /// seen with other contents (a fork).
    pub fn oncall_list(
        &self,
        institution: InstitutionId,
        name: &str,
        version: u64,
        digest: &str,
    ) -> Result<()> {
        self.update(|m| {
            let key = format!("{institution}/{name}");
            if let Some(seen) = m.oncall_lists.get(&key) {
                if version < seen.version {
                    return Err(ClientError::Trust(
                        "the hub served an older on-call list than this client saw before (rollback)",
                    ));
                }
                if version == seen.version && digest != seen.digest {
                    return Err(ClientError::Trust(
                        "the hub served another on-call list under a version this client saw before (fork)",
                    ));
                }
            }
            m.oncall_lists.insert(
                key,
                SeenVersion {
                    version,
                    digest: digest.to_string(),
                },
            );
            Ok(())
        })
    }

    /// The newest version of an on-call list this client verified, if any.
    pub fn oncall_version(&self, institution: InstitutionId, name: &str) -> Option<u64> {
        self.inner
            .lock()
            .expect("poisoned")
            .oncall_lists
            .get(&format!("{institution}/{name}"))
            .map(|s| s.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Saved(Mutex<Vec<Memory>>);
    impl MemoryStore for Saved {
        fn save(&self, m: &Memory) -> Result<()> {
            self.0.lock().unwrap().push(m.clone());
            Ok(())
        }
    }

    #[test]
    fn patient_chains_only_grow() {
        let saved = Arc::new(Saved::default());
        let r = Remembered::new(Memory::default(), Some(saved.clone()));
        let p = PatientId::new();
        let d = |s: &str| s.to_string();
        r.patient_chain(p, &[d("a"), d("b")], None).unwrap();
        // The same again: nothing new to save.
        r.patient_chain(p, &[d("a"), d("b")], None).unwrap();
        assert_eq!(saved.0.lock().unwrap().len(), 1);
        r.patient_chain(p, &[d("a"), d("b"), d("c")], None).unwrap();
        assert!(
            r.patient_chain(p, &[d("a"), d("b")], None).is_err(),
            "rollback"
        );
        assert!(
            r.patient_chain(p, &[d("a"), d("x"), d("y")], None).is_err(),
            "fork"
        );
        assert!(
            r.patient_chain(p, &[d("a"), d("b"), d("c"), d("d")], None)
                .is_ok()
        );
        assert_eq!(r.snapshot().patients[&p].epoch, 4);
    }

    #[test]
    fn references_keep_their_patient() {
        let r = Remembered::default();
        let (p, q) = (PatientId::new(), PatientId::new());
        let reference = PatientRef::from_bytes(&[1; 32]);
        r.patient_chain(p, &["a".into()], Some(&reference)).unwrap();
        assert!(r.patient_chain(q, &["z".into()], Some(&reference)).is_err());
        assert_eq!(r.patient_of(&reference), Some(p));
    }

    #[test]
    fn institution_epochs_only_grow() {
        let r = Remembered::default();
        let i = InstitutionId::new();
        r.institution_epoch(i, 2).unwrap();
        r.institution_epoch(i, 3).unwrap();
        assert!(r.institution_epoch(i, 2).is_err());
    }

    #[test]
    fn oncall_lists_only_move_forward() {
        let r = Remembered::default();
        let (i, j) = (InstitutionId::new(), InstitutionId::new());
        r.oncall_list(i, "cardiology", 2, "b").unwrap();
        r.oncall_list(i, "cardiology", 2, "b").unwrap();
        assert!(r.oncall_list(i, "cardiology", 1, "a").is_err(), "rollback");
        assert!(r.oncall_list(i, "cardiology", 2, "x").is_err(), "fork");
        // Another list, or the same name at another institution, is its own history.
        r.oncall_list(i, "neurology", 1, "n").unwrap();
        r.oncall_list(j, "cardiology", 1, "c").unwrap();
        r.oncall_list(i, "cardiology", 3, "c").unwrap();
        assert_eq!(r.oncall_version(i, "cardiology"), Some(3));
        assert_eq!(r.oncall_version(j, "cardiology"), Some(1));
    }
}
