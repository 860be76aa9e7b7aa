//! The patient timeline: `POST /v1/search` page by page, every binding verified against its
//! uploader's certificate, every manifest decrypted; and the changes since an earlier view
//! (what became readable, and what is still readable, so a cache drops the rest). With a
//! [`crate::cache`], [`Client::timeline`] keeps verified entries and asks only for changes.

use crate::cache::{CachedEntry, CachedInstitution, CachedTimeline, TimelineCache, served_digest};
use crate::error::{ClientError, Result};
use crate::patients::Patient;
use crate::records::{Timeline, TimelineEntry};
use crate::session::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::batch::verify_bindings;
use medshare_crypto::chain::VerifiedPractitioner;
use medshare_crypto::sha256_hex;
use medshare_crypto::symmetric::open_manifest;
use medshare_model::api::{SearchEntry, SearchRequest, SearchResult};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::{Manifest, PatientCard};
use medshare_model::statements::{DocumentBinding, Signed, StatementKind, key_id};
use medshare_model::{DocumentId, PatientRef};
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;

/// What changed in a patient's record since an earlier view ([`Timeline::as_of`]).
pub struct TimelineChanges {
    /// The patient, if found and their key chain verified.
    pub patient: Option<Patient>,
    /// The patient's card, if this practitioner may read it.
    pub card: Option<PatientCard>,
    /// Documents that became readable since (verified and decrypted), newest first.
    pub entries: Vec<TimelineEntry>,
    /// Every document readable now: anything else seen before is gone (revoked, expired,
    /// removed). One listed here but neither seen before nor in `entries` needs a full
    /// [`Client::timeline`].
    pub current: Vec<DocumentId>,
    /// The `since` of the next view.
    pub as_of: String,
}

/// Every page of one search, verified.
struct Searched {
    patient: Option<Patient>,
    card: Option<PatientCard>,
    /// Each entry with the digest of what the hub served for it.
    entries: Vec<(TimelineEntry, String)>,
    current: Option<Vec<DocumentId>>,
    as_of: String,
}

/// Fewer entries than this are not worth a thread of their own (an entry costs a share of one
/// Ed25519 batch verification and a SHA-256 of its manifest: tens of microseconds).
const MIN_CHECK_CHUNK: usize = 16;

/// Check search entries' bindings against the uploaders they name and the manifests they
/// carry: the signatures in one batch (each uploader's key decompressed once; a failed batch is
/// checked entry by entry, so the refusal is the one the bad entry earns alone). The binding
/// says which document, patient, uploader and size: nothing else is trusted.
fn checked_entries(
    docs: &[SearchEntry],
    uploaders: &[VerifiedPractitioner],
) -> Result<Vec<(DocumentBinding, Vec<u8>)>> {
    let key_ids: Vec<String> = uploaders.iter().map(|u| key_id(&u.sign_public)).collect();
    let signed = docs
        .iter()
        .map(|e| {
            let i = usize::try_from(e.uploader)
                .ok()
                .filter(|i| *i < uploaders.len())
                .ok_or(ClientError::Trust("a document's uploader is unknown"))?;
            let signed = Signed {
                kind: StatementKind::DocumentBinding,
                payload: e.binding.clone(),
                signer: key_ids[i].clone(),
                signature: e.signature.clone(),
            };
            Ok((&uploaders[i], signed))
        })
        .collect::<Result<Vec<_>>>()?;
    let items: Vec<_> = signed.iter().map(|(u, s)| (*u, s)).collect();
    let bindings = verify_bindings(&items)
        .map_err(|_| ClientError::Trust("a document's signature does not verify"))?;
    docs.iter()
        .zip(bindings)
        .map(|(e, b)| {
            let manifest = B64
                .decode(&e.manifest)
                .map_err(|_| ClientError::Trust("a manifest is malformed"))?;
            if b.manifest_sha256 != sha256_hex(&manifest) {
                return Err(ClientError::Trust(
                    "a document does not match its signed binding: the hub may have moved or altered it",
                ));
            }
            Ok((b, manifest))
        })
        .collect()
}

impl Client {
    /// Everything this practitioner may read about a patient, decrypted and verified, newest
    /// first (every page of the search). With a cache ([`Client::cache_timelines_in`]), a
    /// patient seen before costs one search for what changed since.
    pub async fn timeline(&self, id: &PatientIdentifier) -> Result<Timeline> {
        let Some(caches) = self.cache.as_ref() else {
            let s = self.search_pages(id, None).await?;
            return Ok(Timeline {
                patient: s.patient,
                card: s.card,
                entries: s.entries.into_iter().map(|(e, _)| e).collect(),
                as_of: s.as_of,
            });
        };
        let cache = TimelineCache {
            caches,
            key: &self.keys.encryption,
            practitioner: self.me,
        };
        let r = self.context().await?.patient_ref(id);
        let mut known: BTreeMap<DocumentId, CachedEntry> = BTreeMap::new();
        let mut cached_as_of = None;
        let mut cached_about = None;
        let mut searched = None;
        if let Some(c) = cache.load(&r)? {
            self.remember_institutions(&c);
            cached_about = Some((c.patient_id, c.card.clone(), c.institutions.clone()));
            let s = self.search_pages(id, Some(&c.as_of)).await?;
            let current = s.current.clone().ok_or(ClientError::Trust(
                "the hub did not list the documents still readable",
            ))?;
            known = c
                .entries
                .iter()
                .map(|e| (e.document_id, e.clone()))
                .collect();
            cached_as_of = Some((c.as_of.clone(), known.len()));
            // Whatever is no longer listed was revoked, expired or removed.
            let listed: HashSet<_> = current.iter().copied().collect();
            known.retain(|id, _| listed.contains(id));
            let sent: HashSet<_> = s.entries.iter().map(|(e, _)| e.document_id).collect();
            if sent.iter().any(|id| !listed.contains(id)) {
                return Err(ClientError::Trust(
                    "the hub sent a document it does not list as readable",
                ));
            }
            // Readable but neither cached nor sent (readable for a new reason, such as a new
            // care relationship): search in full.
            if current
                .iter()
                .all(|id| known.contains_key(id) || sent.contains(id))
            {
                searched = Some(s);
            }
        }
        let full = searched.is_none();
        let s = match searched {
            Some(s) => s,
            None => self.search_pages(id, None).await?,
        };
        let mut added = false;
        for (e, served) in &s.entries {
            match known.get(&e.document_id) {
                Some(c) if c.served != *served => {
                    return Err(ClientError::Trust(
                        "the hub changed a document it served before",
                    ));
                }
                // Filed in the second of the last view: sent again, unchanged.
                Some(_) => {}
                None => {
                    added = true;
                    known.insert(e.document_id, CachedEntry::of(e, served.clone()));
                }
            }
        }
        if full {
            // A full search lists everything readable itself.
            let all: HashSet<_> = s.entries.iter().map(|(e, _)| e.document_id).collect();
            known.retain(|id, _| all.contains(id));
        }
        let mut cached: Vec<CachedEntry> = known.into_values().collect();
        cached.sort_by_key(|e| {
            (
                std::cmp::Reverse(e.created_at),
                std::cmp::Reverse(e.document_id),
            )
        });
        let entries = cached
            .iter()
            .map(CachedEntry::entry)
            .collect::<Result<Vec<_>>>()?;
        // The institutions of the uploaders, for a view from the cache alone to name them.
        let mut institutions: Vec<CachedInstitution> = Vec::new();
        for e in &entries {
            if let Some(i) = self.trust.institution_cert_of(&e.uploader)
                && !institutions
                    .iter()
                    .any(|c| c.cert.institution_id == i.cert.institution_id)
            {
                institutions.push((&i).into());
            }
        }
        institutions.sort_by_key(|i| i.cert.institution_id);
        let about = (
            s.patient.as_ref().map(Patient::id),
            s.card.clone(),
            institutions,
        );
        // Nothing added or dropped, the same patient, card and institutions: the record and its
        // `since` stay as they are (the next view asks for the same changes, none), and nothing
        // is written.
        let unchanged = !full
            && !added
            && cached_about.as_ref() == Some(&about)
            && cached_as_of
                .as_ref()
                .is_some_and(|(_, n)| *n == cached.len());
        let as_of = match (unchanged, cached_as_of) {
            (true, Some((a, _))) => a,
            _ => {
                let (patient_id, card, institutions) = about;
                cache.save(std::sync::Arc::new(CachedTimeline {
                    practitioner: self.me,
                    patient_ref: r,
                    as_of: s.as_of.clone(),
                    entries: cached,
                    patient_id,
                    card,
                    institutions,
                }))?;
                s.as_of
            }
        };
        Ok(Timeline {
            patient: s.patient,
            card: s.card,
            entries,
            as_of,
        })
    }

    /// What changed since an earlier view: `since` is that view's [`Timeline::as_of`] (or
    /// [`TimelineChanges::as_of`]).
    pub async fn timeline_changes(
        &self,
        id: &PatientIdentifier,
        since: &str,
    ) -> Result<TimelineChanges> {
        let s = self.search_pages(id, Some(since)).await?;
        let current = s.current.ok_or(ClientError::Trust(
            "the hub did not list the documents still readable",
        ))?;
        let listed: HashSet<_> = current.iter().collect();
        if s.entries
            .iter()
            .any(|(e, _)| !listed.contains(&e.document_id))
        {
            return Err(ClientError::Trust(
                "the hub sent a document it does not list as readable",
            ));
        }
        Ok(TimelineChanges {
            patient: s.patient,
            card: s.card,
            entries: s.entries.into_iter().map(|(e, _)| e).collect(),
            current,
            as_of: s.as_of,
        })
    }

    async fn search_pages(&self, id: &PatientIdentifier, since: Option<&str>) -> Result<Searched> {
        let r = self.context().await?.patient_ref(id);
        // The whole timeline is wanted: the largest pages, so the fewest audited round trips.
        let mut req = SearchRequest {
            since: since.map(str::to_owned),
            limit: Some(SearchRequest::MAX_LIMIT),
            ..SearchRequest::first(r.clone())
        };
        let first: SearchResult = self.hub.post("/v1/search", &req).await?;
        let patient = match first.patient.clone() {
            Some(v) => Some(self.verify_patient(v, r.clone()).await?),
            None => None,
        };
        let (as_of, current) = (first.as_of.clone(), first.current.clone());
        let mut patient_keys = None;
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        let mut page = first;
        loop {
            self.verify_page(
                &page,
                &r,
                patient.as_ref(),
                &mut patient_keys,
                &mut seen,
                &mut entries,
            )
            .await?;
            let Some(next) = page.next else { break };
            if page.documents.is_empty() {
                return Err(ClientError::Trust(
                    "the hub sent an empty page with a cursor",
                ));
            }
            req.cursor = Some(next);
            page = self.hub.post("/v1/search", &req).await?;
        }
        let card = match (&patient, &patient_keys) {
            (Some(p), Some(keys)) => self.open_patient_card(p, keys).ok().flatten(),
            (Some(p), None) => self.patient_card(p).await.ok().flatten(),
            (None, _) => None,
        };
        Ok(Searched {
            patient,
            card,
            entries,
            current,
            as_of,
        })
    }

    /// Verify one page's entries and append them to `out`.
    async fn verify_page(
        &self,
        page: &SearchResult,
        r: &PatientRef,
        patient: Option<&Patient>,
        patient_keys: &mut Option<std::collections::BTreeMap<u32, medshare_crypto::EncryptionKey>>,
        seen: &mut HashSet<DocumentId>,
        out: &mut Vec<(TimelineEntry, String)>,
    ) -> Result<()> {
        let uploaders = page
            .practitioners
            .iter()
            .map(|p| self.trust.practitioner(p))
            .collect::<Result<Vec<_>>>()?;
        // Every signature and manifest hash of the page, checked off the async executor and
        // across cores: the page in one contiguous chunk per core, each on a blocking thread
        // (inline in the browser's worker, where there is one), results in page order.
        let checked = {
            let per_chunk = page
                .documents
                .len()
                .div_ceil(crate::platform::cores())
                .max(MIN_CHECK_CHUNK);
            let ups = std::sync::Arc::new(uploaders.clone());
            let chunks = page.documents.chunks(per_chunk).map(|chunk| {
                let (docs, ups) = (chunk.to_vec(), ups.clone());
                crate::platform::blocking(move || checked_entries(&docs, &ups))
            });
            let mut checked = Vec::with_capacity(page.documents.len());
            for part in futures::future::try_join_all(chunks).await? {
                checked.extend(part?);
            }
            checked
        };
        for (e, (binding, manifest_ct)) in page.documents.iter().zip(checked) {
            let uploader = usize::try_from(e.uploader)
                .ok()
                .and_then(|i| uploaders.get(i))
                .ok_or(ClientError::Trust("a document's uploader is unknown"))?;
            if !seen.insert(binding.document_id) {
                return Err(ClientError::Trust("the hub sent a document twice"));
            }
            // The document must be filed under the patient whose number was searched for: by
            // the patient's signed references, or (without patient-wide access) by the number
            // itself and the patient it resolved to before.
            let filed_here = match patient {
                Some(p) => p.id() == binding.patient_id && p.has_ref(&binding.patient_ref),
                None => {
                    binding.patient_ref == *r
                        && self
                            .trust
                            .memory()
                            .patient_of(r)
                            .is_none_or(|known| known == binding.patient_id)
                }
            };
            if !filed_here {
                return Err(ClientError::Trust(
                    "the hub returned another patient's document",
                ));
            }
            let key = self
                .document_key(&binding, &e.wraps, patient, patient_keys)
                .await?;
            let manifest: Manifest = serde_json::from_slice(&open_manifest(
                &key,
                &binding.document_id.to_string(),
                &manifest_ct,
            )?)
            .map_err(|_| ClientError::Trust("a manifest is malformed"))?;
            let served = served_digest(&e.binding, &e.signature, e.created_at, e.institution_id);
            let entry = TimelineEntry {
                document_id: binding.document_id,
                manifest,
                uploader: uploader.clone(),
                institution_id: e.institution_id,
                created_at: OffsetDateTime::from_unix_timestamp(e.created_at)
                    .map_err(|_| ClientError::Trust("a document's filing time is malformed"))?,
                size: binding.ciphertext_size,
            };
            out.push((entry, served));
        }
        Ok(())
    }
}
