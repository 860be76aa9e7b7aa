//! A cache of verified timeline entries, so that re-opening a patient fetches only what changed
//! (`POST /v1/search` with `since`).
//!
//! What is cached is what this client verified and decrypted: each entry's manifest, uploader
//! certificate, filing time and a digest of exactly what the hub served. Each patient's entries
//! are one record, sealed (XChaCha20-Poly1305) under a key derived from this practitioner's own
//! X25519 identity and stored under a name derived from the same key: nothing in a store names a
//! patient or holds anything readable. Where records live is the caller's choice through
//! [`CacheStore`]: [`FolderCache`] (native: 0600 files in a 0700 folder; the CLI's config
//! folder); a browser can back the same trait with IndexedDB.
//!
//! A hub that later serves an entry this client cached with different content (another binding,
//! signature, filing time or institution) is refused; an entry the hub no longer lists as readable
//! (revoked, expired, removed) is dropped on the next view.
//!
//! The records a [`crate::Client`] opened or wrote are also kept in its memory, opened
//! ([`TimelineCaches`], the last [`OPENED`] patients), so re-opening a patient in the same
//! session costs the one `since` search and a merge, not opening and parsing the sealed record
//! again; the store stays what persists across processes. A record in memory is the one this
//! client last verified or wrote and is checked against the hub's list of readable documents
//! exactly as one read from the store.

use crate::error::{ClientError, Result};
use crate::records::TimelineEntry;
use medshare_crypto::EncryptionKey;
use medshare_crypto::chain::{VerifiedInstitution, VerifiedPractitioner};
use medshare_crypto::symmetric::{Purpose, derived_name, open, seal};
use medshare_model::records::{Manifest, PatientCard};
use medshare_model::statements::{InstitutionCert, PractitionerCert};
use medshare_model::{DocumentId, InstitutionId, PatientId, PatientRef, PractitionerId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where sealed cache records are kept, by opaque name (32 hex digits).
pub trait CacheStore: Send + Sync {
    /// The record saved under `name`, if any.
    fn load(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Replace the record under `name`.
    fn save(&self, name: &str, sealed: &[u8]) -> Result<()>;
}

/// Patients whose opened records a client keeps in memory.
pub const OPENED: usize = 16;

/// A client's timeline cache: the store, and the records opened or written last (at most
/// [`OPENED`], by patient reference, the most recently used last).
pub(crate) struct TimelineCaches {
    pub store: std::sync::Arc<dyn CacheStore>,
    opened: std::sync::Mutex<std::collections::VecDeque<std::sync::Arc<CachedTimeline>>>,
}

impl TimelineCaches {
    pub fn new(store: std::sync::Arc<dyn CacheStore>) -> Self {
        Self {
            store,
            opened: Default::default(),
        }
    }

    fn opened(&self, r: &PatientRef) -> Option<std::sync::Arc<CachedTimeline>> {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        let i = opened.iter().position(|c| c.patient_ref == *r)?;
        let c = opened.remove(i)?;
        opened.push_back(c.clone());
        Some(c)
    }

    fn keep(&self, c: std::sync::Arc<CachedTimeline>) {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        opened.retain(|o| o.patient_ref != c.patient_ref);
        if opened.len() >= OPENED {
            opened.pop_front();
        }
        opened.push_back(c);
    }
}

/// One cached entry.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct CachedEntry {
    pub document_id: DocumentId,
    pub manifest: Manifest,
    pub uploader_cert: PractitionerCert,
    pub uploader_key: [u8; 32],
    pub institution_id: InstitutionId,
    pub created_at: i64,
    pub size: u64,
    /// [`served_digest`] of the entry as the hub first served it.
    pub served: String,
}

impl CachedEntry {
    pub(crate) fn of(e: &TimelineEntry, served: String) -> Self {
        Self {
            document_id: e.document_id,
            manifest: e.manifest.clone(),
            uploader_cert: e.uploader.cert.clone(),
            uploader_key: e.uploader.sign_public,
            institution_id: e.institution_id,
            created_at: e.created_at.unix_timestamp(),
            size: e.size,
            served,
        }
    }

    pub(crate) fn entry(&self) -> Result<TimelineEntry> {
        Ok(TimelineEntry {
            document_id: self.document_id,
            manifest: self.manifest.clone(),
            uploader: VerifiedPractitioner {
                cert: self.uploader_cert.clone(),
                sign_public: self.uploader_key,
            },
            institution_id: self.institution_id,
            created_at: OffsetDateTime::from_unix_timestamp(self.created_at)
                .map_err(|_| ClientError::Invalid("the timeline cache is corrupt".into()))?,
            size: self.size,
        })
    }
}

/// The verified certificate of an uploader's institution, so that a view from the cache names
/// the institution without asking the hub.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedInstitution {
    pub cert: InstitutionCert,
    pub sign_public: [u8; 32],
}

impl From<&VerifiedInstitution> for CachedInstitution {
    fn from(v: &VerifiedInstitution) -> Self {
        Self {
            cert: v.cert.clone(),
            sign_public: v.sign_public,
        }
    }
}

impl From<&CachedInstitution> for VerifiedInstitution {
    fn from(c: &CachedInstitution) -> Self {
        Self {
            cert: c.cert.clone(),
            sign_public: c.sign_public,
        }
    }
}

/// A patient's cached timeline as this practitioner saw it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct CachedTimeline {
    pub practitioner: PractitionerId,
    pub patient_ref: PatientRef,
    /// The `as_of` of the view these entries come from: the next view's `since`.
    pub as_of: String,
    pub entries: Vec<CachedEntry>,
    /// The patient the view resolved to, and their card as it was readable then (records written
    /// before these were kept have neither; the next view that changes anything adds them).
    #[serde(default)]
    pub patient_id: Option<PatientId>,
    #[serde(default)]
    pub card: Option<PatientCard>,
    /// The uploaders' institutions, as verified when their entries were.
    #[serde(default)]
    pub institutions: Vec<CachedInstitution>,
}

/// A patient's timeline as this device last verified it, read from the cache alone (no hub
/// request): what an app shows at once while [`crate::Client::timeline`] asks what changed.
pub struct CachedView {
    /// The patient the cached view resolved to, if known.
    pub patient_id: Option<PatientId>,
    /// The patient's card as it was readable then.
    pub card: Option<PatientCard>,
    /// The cached documents, newest first.
    pub entries: Vec<crate::records::TimelineEntry>,
}

/// Digest of what the hub served for an entry (the signed binding's exact text, its signature,
/// and the unsigned filing time and institution): it never changes for a document.
pub(crate) fn served_digest(
    binding: &str,
    signature: &str,
    created_at: i64,
    institution: InstitutionId,
) -> String {
    let mut v = Vec::with_capacity(binding.len() + signature.len() + 64);
    for part in [
        binding.as_bytes(),
        signature.as_bytes(),
        created_at.to_string().as_bytes(),
        institution.to_string().as_bytes(),
    ] {
        v.extend_from_slice(&(part.len() as u64).to_be_bytes());
        v.extend_from_slice(part);
    }
    medshare_crypto::sha256_hex(&v)
}

/// A practitioner's view of a [`CacheStore`]: names and seals under their own key.
pub(crate) struct TimelineCache<'a> {
    pub caches: &'a TimelineCaches,
    pub key: &'a EncryptionKey,
    pub practitioner: PractitionerId,
}

impl TimelineCache<'_> {
    fn name(&self, r: &PatientRef) -> String {
        let what = format!("{}\0{}", self.practitioner, r);
        derived_name(self.key, Purpose::TimelineCache, what.as_bytes())
    }

    fn aad(&self, name: &str) -> Vec<u8> {
        format!("medshare/v1/timeline-cache\0{}\0{name}", self.practitioner).into_bytes()
    }

    /// The cached timeline of `r`: the one opened in memory, else the store's. A record that
    /// does not open or parse (tampered with, written under another key) is treated as absent:
    /// the next view searches in full and replaces it.
    pub fn load(&self, r: &PatientRef) -> Result<Option<std::sync::Arc<CachedTimeline>>> {
        if let Some(c) = self.caches.opened(r) {
            return Ok(Some(c));
        }
        let name = self.name(r);
        let Some(sealed) = self.caches.store.load(&name)? else {
            return Ok(None);
        };
        let Ok(plain) = open(self.key, Purpose::TimelineCache, &self.aad(&name), &sealed) else {
            return Ok(None);
        };
        let plain = zeroize::Zeroizing::new(plain);
        let c = serde_json::from_slice::<CachedTimeline>(&plain)
            .ok()
            .filter(|c| c.practitioner == self.practitioner && c.patient_ref == *r)
            .map(std::sync::Arc::new);
        if let Some(c) = &c {
            self.caches.keep(c.clone());
        }
        Ok(c)
    }

    pub fn save(&self, c: std::sync::Arc<CachedTimeline>) -> Result<()> {
        let name = self.name(&c.patient_ref);
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(&*c).map_err(|_| {
                ClientError::Invalid("the timeline cache cannot be written".into())
            })?);
        let sealed = seal(self.key, Purpose::TimelineCache, &self.aad(&name), &plain);
        self.caches.store.save(&name, &sealed)?;
        self.caches.keep(c);
        Ok(())
    }
}

impl crate::Client {
    /// `id`'s timeline as this device last verified it, from the cache alone: no hub request,
    /// nothing re-verified (the record is sealed under this practitioner's key and holds only what
    /// this client verified). None without a cache or a record. It may still list a document
    /// revoked since: show it only until [`crate::Client::timeline`] answers, whose view replaces
    /// it.
    pub async fn cached_timeline(
        &self,
        id: &medshare_model::identifiers::PatientIdentifier,
    ) -> Result<Option<CachedView>> {
        let Some((cache, r)) = self.timeline_cache_for(id).await? else {
            return Ok(None);
        };
        let Some(c) = cache.load(&r)? else {
            return Ok(None);
        };
        self.remember_institutions(&c);
        Ok(Some(CachedView {
            patient_id: c.patient_id,
            card: c.card.clone(),
            entries: c
                .entries
                .iter()
                .map(CachedEntry::entry)
                .collect::<Result<Vec<_>>>()?,
        }))
    }

    /// The institutions of a cached record's uploaders, back into this client's verified set
    /// (so views name them); one already verified in this session stays as it is.
    pub(crate) fn remember_institutions(&self, c: &CachedTimeline) {
        for i in &c.institutions {
            self.trust.remember_institution(i.into());
        }
    }

    /// The opaque name under which [`crate::Client::timeline`] keeps `id`'s cached timeline (none
    /// without a cache), so that a store that cannot answer synchronously (the browser's
    /// IndexedDB) can bring that one record into memory before the view.
    pub async fn timeline_cache_name(
        &self,
        id: &medshare_model::identifiers::PatientIdentifier,
    ) -> Result<Option<String>> {
        let Some((cache, r)) = self.timeline_cache_for(id).await? else {
            return Ok(None);
        };
        Ok(Some(cache.name(&r)))
    }

    /// This practitioner's timeline cache and `id`'s opaque reference in it (none without a
    /// cache).
    async fn timeline_cache_for(
        &self,
        id: &medshare_model::identifiers::PatientIdentifier,
    ) -> Result<Option<(TimelineCache<'_>, PatientRef)>> {
        let Some(caches) = self.cache.as_ref() else {
            return Ok(None);
        };
        let r = self.context().await?.patient_ref(id);
        let cache = TimelineCache {
            caches,
            key: &self.keys.encryption,
            practitioner: self.me,
        };
        Ok(Some((cache, r)))
    }
}

/// Native store: one file per record in a folder (created 0700), each written 0600 through a
/// temporary file renamed into place.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug)]
pub struct FolderCache {
    dir: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl FolderCache {
    /// Records under `dir` (created on first save).
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, name: &str) -> Result<std::path::PathBuf> {
        if name.len() != 32 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Invalid("bad timeline cache name".into()));
        }
        Ok(self.dir.join(format!("{name}.sealed")))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl CacheStore for FolderCache {
    fn load(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(name)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Io(e)),
        }
    }

    fn save(&self, name: &str, sealed: &[u8]) -> Result<()> {
        use std::io::Write;
        let path = self.path(name)?;
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&self.dir)?;
        let tmp = self.dir.join(format!("{name}.tmp{}", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        // No fsync: a record lost or torn in a crash does not open and is searched afresh.
        f.write_all(sealed)?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}
