//! The record pipelines: upload (seal while streaming, sign the binding, commit), the patient
//! timeline's types (the search itself is [`crate::timeline`]), download (stream, decrypt, verify), share
//! and revoke.

use crate::error::{ClientError, Result};
#[cfg(not(target_arch = "wasm32"))]
use crate::hub::Hub;
use crate::patients::Patient;
#[cfg(not(target_arch = "wasm32"))]
use crate::pipe::{ChannelReader, ChannelWriter};
use crate::session::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
#[cfg(not(target_arch = "wasm32"))]
use futures::StreamExt;
use medshare_crypto::chain::{VerifiedPractitioner, verify_binding};
use medshare_crypto::commitment::{commits_to, document_key_commitment};
use medshare_crypto::seal::{unwrap_key, wrap_key};
#[cfg(not(target_arch = "wasm32"))]
use medshare_crypto::stream::{open_ciphertext_hashed, open_hashed, seal_hashed};
use medshare_crypto::symmetric::{
    open_manifest, patient_wrap_aad, seal_manifest, unwrap_key_any, wrap_key_symmetric,
};
use medshare_crypto::{EncryptionKey, sha256_hex};
use medshare_model::api::*;
use medshare_model::records::{Manifest, PatientCard};
use medshare_model::statements::{DocumentBinding, key_id};
use medshare_model::{DocumentId, Handle, InstitutionId, UploadId};
#[cfg(not(target_arch = "wasm32"))]
use std::io::{Read, Write};
use time::OffsetDateTime;
#[cfg(not(target_arch = "wasm32"))]
use tokio::sync::mpsc;

/// What the uploader says about a document (size and hash are computed while sealing). Built
/// from a document's classification by [`crate::intake::Intake`].
#[derive(Clone, Debug, Default)]
pub struct DocumentMeta {
    /// Title shown on the timeline.
    pub title: String,
    /// Original file name.
    pub file_name: String,
    /// Media type, e.g. `application/pdf`.
    pub media_type: String,
    /// Document class (one of the known categories).
    pub category: String,
    /// Date of service, `YYYY-MM-DD`.
    pub date_of_service: Option<String>,
    /// The classification result, sealed with the manifest.
    pub classification: Option<serde_json::Value>,
    /// Flag the document urgent in its sealed manifest.
    pub urgent: bool,
}

/// A share to give: who, and until when.
#[derive(Clone, Debug)]
pub struct Share {
    /// The colleague's handle.
    pub with: Handle,
    /// The code of the institution the colleague must belong to (`dr.wong@PPH`), checked
    /// against their certificate chain: a handle alone is only as unique as the hub says.
    pub institution: Option<String>,
    /// When the share ends (none: until revoked).
    pub expires_at: Option<OffsetDateTime>,
}

impl Share {
    /// Parse `handle` or `handle@INSTITUTION-CODE`.
    pub fn parse(text: &str, expires_at: Option<OffsetDateTime>) -> Result<Self> {
        let (h, inst) = match text.split_once('@') {
            Some((h, i)) if !i.is_empty() => (h, Some(i.to_string())),
            Some(_) => return Err(ClientError::Invalid("expected handle@INSTITUTION".into())),
            None => (text, None),
        };
        Ok(Self {
            with: h
                .parse()
                .map_err(|e: &str| ClientError::Invalid(e.to_string()))?,
            institution: inst,
            expires_at,
        })
    }
}

static EMPTY_KEYS: std::collections::BTreeMap<u32, EncryptionKey> =
    std::collections::BTreeMap::new();

/// One readable entry of a patient's timeline.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    /// The document.
    pub document_id: DocumentId,
    /// Its decrypted manifest.
    pub manifest: Manifest,
    /// Who filed it (chain verified).
    pub uploader: VerifiedPractitioner,
    /// The institution that filed it.
    pub institution_id: InstitutionId,
    /// When it was filed.
    pub created_at: OffsetDateTime,
    /// Ciphertext size in bytes.
    pub size: u64,
}

/// A patient's record as this practitioner may see it.
pub struct Timeline {
    /// The patient, if found and their key chain verified.
    pub patient: Option<Patient>,
    /// The patient's card, if this practitioner may read it.
    pub card: Option<PatientCard>,
    /// The documents this practitioner may read, newest first.
    pub entries: Vec<TimelineEntry>,
    /// The hub's time of this view: the `since` of [`Client::timeline_changes`].
    pub as_of: String,
}

/// A document whose binding verified and whose key is unwrapped, ready to download.
pub struct OpenedDocument {
    /// What the hub serves about the document.
    pub view: DocumentView,
    /// Its decrypted manifest.
    pub manifest: Manifest,
    /// The uploader's signed binding (checked).
    pub binding: DocumentBinding,
    /// Who filed it (chain verified).
    pub uploader: VerifiedPractitioner,
    key: EncryptionKey,
}

impl std::fmt::Debug for OpenedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedDocument")
            .field("document_id", &self.view.document_id)
            .finish_non_exhaustive()
    }
}

/// What sealing a file produced: the hashes and sizes the binding and manifest commit to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// BLAKE3 of the ciphertext, hex (what the binding names).
    pub ciphertext_blake3: String,
    /// Ciphertext size in bytes.
    pub ciphertext_size: u64,
    /// SHA-256 of the plaintext, hex.
    pub plaintext_sha256: String,
    /// Plaintext size in bytes.
    pub plaintext_size: u64,
}

/// A failed read or write of the caller's files stays an I/O error.
#[cfg(not(target_arch = "wasm32"))]
fn io_as_client(e: medshare_crypto::CryptoError) -> ClientError {
    match e {
        medshare_crypto::CryptoError::Io(e) => ClientError::Io(e),
        e => ClientError::Crypto(e),
    }
}

/// An upload between its first step (key made, grantees verified) and its commit.
pub(crate) struct PreparedUpload {
    document_id: DocumentId,
    pub(crate) key: EncryptionKey,
    grants: Vec<NewGrant>,
    patient_id: medshare_model::PatientId,
    patient_ref: medshare_model::PatientRef,
    patient_epoch: u32,
    patient_recipient: String,
    /// The patient key of `patient_epoch`, when this uploader holds it: the document key is
    /// then wrapped for the record symmetrically (see `medshare_crypto::symmetric`).
    patient_key: Option<EncryptionKey>,
    pub(crate) upload_id: UploadId,
}

impl OpenedDocument {
    /// The document key as an age identity, for exporting to the standard `age`/`rage` tools.
    pub fn key(&self) -> &EncryptionKey {
        &self.key
    }

    /// Whether the signed binding commits to the document key (checked when it was
    /// unwrapped): the key and the signed ciphertext digest then fix the plaintext, and a
    /// download need not hash it. False for documents filed before the commitment existed.
    pub fn plaintext_fixed(&self) -> bool {
        self.binding.document_key_commitment.is_some()
    }
}

/// What a reader is told when a wrap opens to a key the signed binding does not commit to.
pub(crate) const KEY_NOT_COMMITTED: &str = "a key you were given is not the document key its uploader signed: \
     the uploader or the hub gave you another key";

/// `key` if the verified `binding` commits to it, or carries no commitment (documents filed
/// before it existed: their readers check the plaintext hash instead). With the key committed,
/// every grantee opens the same manifest and content (docs/security.md).
pub(crate) fn accept_key(binding: &DocumentBinding, key: EncryptionKey) -> Option<EncryptionKey> {
    match &binding.document_key_commitment {
        None => Some(key),
        Some(c) => commits_to(c, &binding.document_id.to_string(), &key).then_some(key),
    }
}

fn checked_binding(
    doc: &DocumentView,
    uploader: &VerifiedPractitioner,
) -> Result<(DocumentBinding, Vec<u8>)> {
    let b = verify_binding(uploader, &doc.binding)
        .map_err(|_| ClientError::Trust("a document's signature does not verify"))?;
    let manifest = B64
        .decode(&doc.manifest)
        .map_err(|_| ClientError::Trust("a manifest is malformed"))?;
    let ok = b.document_id == doc.document_id
        && b.patient_id == doc.patient_id
        && b.uploader == doc.uploader
        && b.ciphertext_size == doc.size
        && b.manifest_sha256 == sha256_hex(&manifest);
    if !ok {
        return Err(ClientError::Trust(
            "a document does not match its signed binding: the hub may have moved or altered it",
        ));
    }
    Ok((b, manifest))
}

impl Client {
    /// Every institution with its public keys (unverified listing; keys are verified on use).
    pub async fn institutions(&self) -> Result<Vec<InstitutionKeys>> {
        self.hub.get("/v1/institutions").await
    }

    /// "Name (CODE)" of an institution, from its root-signed certificate.
    pub async fn institution_label(&self, id: InstitutionId) -> Result<String> {
        let (v, _) = self.trust.institution(&self.hub, id).await?;
        Ok(format!("{} ({})", v.cert.name, v.cert.code))
    }

    /// Who registered a patient and who holds their consent, as the signed key chain says:
    /// what a clinician should see before filing a record there.
    pub async fn patient_holders(&self, p: &crate::Patient) -> Result<(String, Vec<String>)> {
        let first = p
            .epochs
            .get(&1)
            .ok_or(ClientError::Trust("the patient has no key"))?;
        let registered = self.institution_label(first.institution_id).await?;
        let mut holders = Vec::new();
        for h in p.holders()? {
            holders.push(match h {
                medshare_model::api::ConsentHolder::Institution { id } => {
                    self.institution_label(*id).await?
                }
                medshare_model::api::ConsentHolder::Alliance => "the whole alliance".to_string(),
            });
        }
        Ok((registered, holders))
    }

    /// "Name (handle), profession registration, institution" from a verified certificate
    /// chain: what a user must see before trusting that a share reached the right person.
    pub fn describe(&self, p: &VerifiedPractitioner) -> String {
        let inst = self
            .trust
            .institution_cert_of(p)
            .map(|i| format!("{} ({})", i.cert.name, i.cert.code))
            .unwrap_or_else(|| "an unverified institution".into());
        format!(
            "{} ({}), registration {}, {}",
            p.cert.name, p.cert.handle, p.cert.registration, inst
        )
    }

    /// Resolve a handle to a verified practitioner: the certificate must verify against the
    /// pinned root *and* name the handle asked for, so a hub cannot answer with someone else.
    pub async fn practitioner_by_handle(&self, h: &Handle) -> Result<VerifiedPractitioner> {
        let p: PractitionerPublic = self
            .hub
            .get(&format!("/v1/practitioners/by-handle/{h}"))
            .await?;
        let v = self.trust.practitioner(&p)?;
        if v.cert.handle != *h {
            return Err(ClientError::Trust(
                "the hub answered with another practitioner than the one asked for",
            ));
        }
        Ok(v)
    }

    /// [`Client::practitioner_by_handle`] for someone to seal a key to: refused if their
    /// institution revoked them.
    async fn grantee_by_handle(&self, h: &Handle) -> Result<VerifiedPractitioner> {
        let v = self.practitioner_by_handle(h).await?;
        self.trust.require_current(&v)?;
        Ok(v)
    }

    async fn grant_for(
        &self,
        key: &EncryptionKey,
        s: &Share,
    ) -> Result<(NewGrant, VerifiedPractitioner)> {
        let p = self.grantee_by_handle(&s.with).await?;
        if let Some(code) = &s.institution
            && !self
                .trust
                .institution_cert_of(&p)
                .is_some_and(|i| i.cert.code.eq_ignore_ascii_case(code))
        {
            return Err(ClientError::Trust(
                "that handle belongs to a practitioner of another institution than the one named",
            ));
        }
        Ok((
            NewGrant {
                grantee: p.cert.practitioner_id,
                wrap: wrap_key(&p.cert.recipient, key)?,
                expires_at: s.expires_at,
            },
            p,
        ))
    }

    /// Seal `source` with a new document key while streaming it to the hub, then commit it
    /// with a signed binding, key wraps (self, patient key) and shares. `progress` receives
    /// plaintext bytes as they are sealed.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn upload(
        &self,
        source: impl Read + Send + 'static,
        patient: &Patient,
        meta: DocumentMeta,
        shares: &[Share],
        progress: impl Fn(u64) + Send + 'static,
    ) -> Result<DocumentView> {
        self.upload_as(DocumentId::new(), source, patient, meta, shares, progress)
            .await
    }

    /// [`Client::upload`] under a document id chosen beforehand. The hub refuses a second
    /// commit of one id (`Conflict`), so a queue that may retry after an unknown outcome (an
    /// institution gateway) uploads each item exactly once: it keeps the id with the item and,
    /// on a retry, first asks whether the document is already there.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn upload_as(
        &self,
        document_id: DocumentId,
        source: impl Read + Send + 'static,
        patient: &Patient,
        meta: DocumentMeta,
        shares: &[Share],
        progress: impl Fn(u64) + Send + 'static,
    ) -> Result<DocumentView> {
        let prepared = self.prepare_upload(document_id, patient, shares).await?;
        let recipients = vec![prepared.key.recipient()];
        let (tx, rx) = mpsc::channel(8);
        // Reading and hashing the plaintext, sealing, and hashing the ciphertext run on three
        // threads, pipelined (see `medshare_crypto::stream`).
        let sealer = tokio::task::spawn_blocking(move || -> Result<Sealed> {
            let d = seal_hashed(&recipients, source, ChannelWriter::new(tx), progress)
                .map_err(io_as_client)?;
            Ok(Sealed {
                ciphertext_blake3: hex::encode(d.ciphertext_digest),
                ciphertext_size: d.ciphertext_size,
                plaintext_sha256: hex::encode(d.plaintext_sha256),
                plaintext_size: d.plaintext_size,
            })
        });
        let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
        let sent = self
            .hub
            .request(
                reqwest::Method::PUT,
                &format!("/v1/uploads/{}", prepared.upload_id),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await;
        let sealed = sealer
            .await
            .map_err(|_| ClientError::Invalid("sealing was interrupted".into()))?;
        let uploaded: Uploaded = Hub::check(sent?).await?.json().await?;
        self.commit_upload(prepared, sealed?, &uploaded, meta).await
    }

    /// The first step of every upload: unlock and check our own certificate, make the
    /// document key, resolve and verify grantees before anything is sent.
    pub(crate) async fn prepare_upload(
        &self,
        document_id: DocumentId,
        patient: &Patient,
        shares: &[Share],
    ) -> Result<PreparedUpload> {
        self.context().await?;
        let key = EncryptionKey::generate();
        let mut grants = Vec::new();
        for s in shares {
            grants.push(self.grant_for(&key, s).await?.0);
        }
        let (patient_epoch, patient_recipient) = patient.current()?;
        // One X25519 agreement here saves every later reader with patient-wide access one per
        // document. Not holding the key (no consent at our institution) is not an error.
        let patient_key = self
            .patient_keys(patient)
            .await
            .ok()
            .and_then(|mut keys| keys.remove(&patient_epoch));
        Ok(PreparedUpload {
            document_id,
            key,
            grants,
            patient_id: patient.id(),
            patient_ref: patient.patient_ref.clone(),
            patient_epoch,
            patient_recipient: patient_recipient.to_string(),
            patient_key,
            upload_id: UploadId::new(),
        })
    }

    /// The last step of every upload: check that the hub staged exactly the sealed bytes, then
    /// seal the manifest, sign the binding and commit with key wraps and grants.
    pub(crate) async fn commit_upload(
        &self,
        prepared: PreparedUpload,
        sealed: Sealed,
        uploaded: &Uploaded,
        meta: DocumentMeta,
    ) -> Result<DocumentView> {
        let PreparedUpload {
            document_id,
            key,
            grants,
            patient_id,
            patient_ref,
            patient_epoch,
            patient_recipient,
            patient_key,
            upload_id,
        } = prepared;
        if uploaded.upload_id != upload_id
            || uploaded.blake3.as_deref() != Some(sealed.ciphertext_blake3.as_str())
            || uploaded.size != sealed.ciphertext_size
        {
            return Err(ClientError::Trust(
                "the hub received different bytes than were sent",
            ));
        }
        let manifest = Manifest {
            title: meta.title,
            file_name: meta.file_name,
            media_type: meta.media_type,
            category: meta.category,
            date_of_service: meta.date_of_service,
            size: sealed.plaintext_size,
            sha256: sealed.plaintext_sha256,
            classification: meta.classification,
            urgent: meta.urgent,
        };
        let manifest_json =
            serde_json::to_vec(&manifest).map_err(|_| ClientError::Invalid("manifest".into()))?;
        let manifest_ct = seal_manifest(&key, &document_id.to_string(), &manifest_json);
        let binding = self.keys.signing.sign_statement(&DocumentBinding {
            document_id,
            patient_id,
            patient_ref,
            ciphertext_sha256: String::new(),
            ciphertext_blake3: Some(sealed.ciphertext_blake3),
            ciphertext_size: sealed.ciphertext_size,
            manifest_sha256: sha256_hex(&manifest_ct),
            uploader: self.me,
            uploader_key: key_id(&self.keys.signing.public()),
            signed_at: OffsetDateTime::now_utc().unix_timestamp(),
            service: self.service,
            document_key_commitment: Some(document_key_commitment(&document_id.to_string(), &key)),
        });
        let wraps = vec![
            KeyWrap {
                holder: Holder::Practitioner { id: self.me },
                wrap: wrap_key(&self.recipient(), &key)?,
            },
            KeyWrap {
                holder: Holder::Patient {
                    epoch: patient_epoch,
                },
                wrap: match &patient_key {
                    Some(pk) => wrap_key_symmetric(
                        pk,
                        &patient_wrap_aad(
                            &patient_id.to_string(),
                            patient_epoch,
                            &document_id.to_string(),
                        ),
                        &key,
                    ),
                    None => wrap_key(&patient_recipient, &key)?,
                },
            },
        ];
        self.hub
            .post(
                "/v1/documents",
                &CommitDocument {
                    document_id,
                    upload_id,
                    patient_id,
                    binding,
                    manifest: B64.encode(manifest_ct),
                    wraps,
                    grants,
                },
            )
            .await
    }

    /// Unwrap a document key from the wraps this practitioner was given. With the patient's
    /// keys at hand (patient-wide access), a symmetric patient wrap opens without an X25519
    /// agreement, so it is tried first; then our own wrap, then age patient wraps. A key the
    /// verified `binding` does not commit to is refused (see [`accept_key`]).
    pub(crate) async fn document_key(
        &self,
        binding: &DocumentBinding,
        wraps: &[KeyWrap],
        patient: Option<&Patient>,
        patient_keys: &mut Option<std::collections::BTreeMap<u32, EncryptionKey>>,
    ) -> Result<EncryptionKey> {
        let document = binding.document_id;
        let mut mismatch = false;
        let mut refused = None;
        if let Some(p) = patient {
            if patient_keys.is_none() {
                match self.patient_keys(p).await {
                    Ok(keys) => *patient_keys = Some(keys),
                    // Reported only if our own wrap does not open the document either.
                    Err(e) => refused = Some(e),
                }
            }
            let keys = patient_keys.as_ref().map_or(&EMPTY_KEYS, |k| k);
            let (pid, doc) = (p.id().to_string(), document.to_string());
            for w in wraps {
                if let Holder::Patient { epoch } = w.holder
                    && let Some(pk) = keys.get(&epoch)
                    && let Ok(k) = unwrap_key_any(pk, &patient_wrap_aad(&pid, epoch, &doc), &w.wrap)
                {
                    match accept_key(binding, k) {
                        Some(k) => return Ok(k),
                        None => mismatch = true,
                    }
                }
            }
        }
        for w in wraps {
            if let Holder::Practitioner { id } = w.holder
                && id == self.me
                && let Ok(k) = unwrap_key(&self.keys.encryption, &w.wrap)
            {
                match accept_key(binding, k) {
                    Some(k) => return Ok(k),
                    None => mismatch = true,
                }
            }
        }
        if mismatch {
            return Err(ClientError::Trust(KEY_NOT_COMMITTED));
        }
        Err(refused.unwrap_or(ClientError::Trust("no key you hold opens this document")))
    }

    /// Fetch a document's metadata, verify its binding and unwrap its key.
    pub async fn open_document(&self, id: DocumentId) -> Result<OpenedDocument> {
        let d: DocumentDetail = self.hub.get(&format!("/v1/documents/{id}")).await?;
        if d.document.document_id != id || d.uploader.practitioner_id != d.document.uploader {
            return Err(ClientError::Trust("the hub returned another document"));
        }
        let uploader = self.trust.practitioner(&d.uploader)?;
        let (binding, manifest_ct) = checked_binding(&d.document, &uploader)?;
        let has_direct = d
            .document
            .wraps
            .iter()
            .any(|w| matches!(w.holder, Holder::Practitioner { id } if id == self.me));
        let patient = if has_direct {
            None
        } else {
            let v: PatientView = self
                .hub
                .post(
                    "/v1/patients/lookup",
                    &PatientLookup {
                        refs: vec![binding.patient_ref.clone()],
                    },
                )
                .await?;
            if v.patient_id != binding.patient_id {
                return Err(ClientError::Trust(
                    "the patient reference resolves to another patient",
                ));
            }
            Some(self.verify_patient(v, binding.patient_ref.clone()).await?)
        };
        let key = self
            .document_key(&binding, &d.document.wraps, patient.as_ref(), &mut None)
            .await?;
        let manifest: Manifest =
            serde_json::from_slice(&open_manifest(&key, &id.to_string(), &manifest_ct)?)
                .map_err(|_| ClientError::Trust("a manifest is malformed"))?;
        Ok(OpenedDocument {
            view: d.document,
            manifest,
            binding,
            uploader,
            key,
        })
    }

    /// Stream the ciphertext, decrypting into `out`; fails if the bytes do not match the signed
    /// binding (the caller must then discard what was written).
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn download(
        &self,
        doc: &OpenedDocument,
        out: impl Write + Send + 'static,
        progress: impl Fn(u64) + Send + 'static,
    ) -> Result<u64> {
        let res = self
            .hub
            .request(
                reqwest::Method::GET,
                &format!("/v1/documents/{}/content", doc.view.document_id),
            )
            .send()
            .await?;
        let res = Hub::check(res).await?;
        let (tx, rx) = mpsc::channel(8);
        let key = doc.key.clone();
        // The digest the signed binding names: BLAKE3, or SHA-256 for older documents.
        let digest = doc.binding.ciphertext_digest();
        let (algorithm, expected_ct) = (
            medshare_crypto::DigestAlgorithm::of(&digest),
            digest.hex().to_owned(),
        );
        // With the key committed in the signed binding (checked when it was unwrapped), the key
        // and the ciphertext's digest fix the plaintext: hashing it again adds nothing. Older
        // documents keep the manifest's plaintext hash check.
        let expected_pt = (!doc.plaintext_fixed()).then(|| doc.manifest.sha256.clone());
        // Hashing the ciphertext, decrypting (on all cores), and writing (and hashing) the
        // plaintext run on their own threads, pipelined (see `medshare_crypto::stream`).
        let opener = tokio::task::spawn_blocking(move || -> Result<u64> {
            let corrupt = |e| match e {
                medshare_crypto::CryptoError::Io(e) => ClientError::Io(e),
                _ => ClientError::Trust("the ciphertext is corrupt, truncated or was altered"),
            };
            let input = ChannelReader::new(rx);
            let (ct, pt, size) = match &expected_pt {
                Some(_) => {
                    let d = open_hashed(&key, input, out, algorithm, progress).map_err(corrupt)?;
                    (
                        d.ciphertext_digest,
                        Some(d.plaintext_sha256),
                        d.plaintext_size,
                    )
                }
                None => {
                    let d = open_ciphertext_hashed(&key, input, out, algorithm, progress)
                        .map_err(corrupt)?;
                    (d.ciphertext_digest, None, d.plaintext_size)
                }
            };
            // Every byte served is hashed, including anything after the age payload.
            if hex::encode(ct) != expected_ct {
                return Err(ClientError::Trust(
                    "the downloaded bytes do not match the signed document",
                ));
            }
            if expected_pt.is_some() && pt.map(hex::encode) != expected_pt {
                return Err(ClientError::Trust(
                    "the decrypted content does not match its manifest",
                ));
            }
            Ok(size)
        });
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            let item = chunk.map_err(std::io::Error::other);
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
        drop(tx);
        opener
            .await
            .map_err(|_| ClientError::Invalid("decryption was interrupted".into()))?
    }

    /// Share a document with a colleague: its key is sealed to their verified key. Returns who
    /// it was shared with, as their certificate says (name, registration, institution).
    pub async fn share(&self, id: DocumentId, s: &Share) -> Result<VerifiedPractitioner> {
        let doc = self.open_document(id).await?;
        let (g, grantee) = self.grant_for(&doc.key, s).await?;
        self.hub
            .post_unit(&format!("/v1/documents/{id}/grants"), &g)
            .await?;
        Ok(grantee)
    }

    /// Revoke a share (the colleague is resolved and verified like a share's).
    pub async fn revoke(&self, id: DocumentId, with: &Handle) -> Result<VerifiedPractitioner> {
        let p = self.practitioner_by_handle(with).await?;
        self.hub
            .delete(&format!(
                "/v1/documents/{id}/grants/{}",
                p.cert.practitioner_id
            ))
            .await?;
        Ok(p)
    }

    /// The shares of a document.
    pub async fn grants(&self, id: DocumentId) -> Result<Vec<GrantInfo>> {
        self.hub.get(&format!("/v1/documents/{id}/grants")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::{PatientId, PatientRef, PractitionerId};

    fn binding(commitment: Option<String>, document_id: DocumentId) -> DocumentBinding {
        DocumentBinding {
            document_id,
            patient_id: PatientId::new(),
            patient_ref: PatientRef::from_bytes(&[7; 32]),
            ciphertext_sha256: sha256_hex(b"ciphertext"),
            ciphertext_size: 10,
            manifest_sha256: sha256_hex(b"manifest"),
            uploader: PractitionerId::new(),
            uploader_key: "key".into(),
            signed_at: 1_700_000_000,
            service: false,
            document_key_commitment: commitment,
            ciphertext_blake3: None,
        }
    }

    /// A key that would open the manifest but is not the committed one is refused; without a
    /// commitment (documents filed before it) any unwrapped key is tried, as before.
    #[test]
    fn only_the_committed_key_is_accepted() {
        let id = DocumentId::new();
        let (key, other) = (EncryptionKey::generate(), EncryptionKey::generate());
        let committed = binding(Some(document_key_commitment(&id.to_string(), &key)), id);
        assert!(accept_key(&committed, key.clone()).is_some());
        assert!(accept_key(&committed, other.clone()).is_none());
        // The commitment names its document: the same key committed for another is refused.
        let elsewhere = binding(
            Some(document_key_commitment(
                &DocumentId::new().to_string(),
                &key,
            )),
            id,
        );
        assert!(accept_key(&elsewhere, key.clone()).is_none());
        let old = binding(None, id);
        assert!(accept_key(&old, key).is_some());
        assert!(accept_key(&old, other).is_some());
    }
}
