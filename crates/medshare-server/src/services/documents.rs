//! Documents: staging ciphertext, committing it with its signed binding, serving it to readers
//! the policy allows, sharing and revoking.

use super::identity::public_of;
use super::patients::require_clinician;
use super::{MAX_MANIFEST, MAX_WRAP, decode_b64, verify};
use crate::audit::{self, Action, Entry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, Basis, Who};
use crate::state::{AppState, at};
use futures::{StreamExt, TryStreamExt};
use medshare_blob::{BlobRead, ByteRange, ByteStream};
use medshare_model::api::*;
use medshare_model::statements::{DocumentBinding, decode_key, key_id};
use medshare_model::{DocumentId, ErrorCode, PractitionerId, UploadId};
use medshare_store::{DocumentRow, StagedUploadRow};
use sha2::{Digest, Sha256};

/// Stream ciphertext into staging. Nothing is visible until [`commit`].
pub async fn stage(
    state: &AppState,
    caller: &Caller,
    id: UploadId,
    body: ByteStream,
) -> ApiResult<Uploaded> {
    require_clinician(caller)?;
    if state.store.staged_upload(id).await?.is_some() {
        return Err(ApiError::new(ErrorCode::Conflict));
    }
    // A quota on what one practitioner may leave staged: uploads streamed and never committed
    // cannot fill the hub's disk.
    let limits = &state.config.limits;
    let (count, bytes) = state.store.staged_usage(caller.id()).await?;
    if count >= limits.max_staged_uploads || bytes >= limits.max_staged_bytes {
        return Err(ApiError::with(
            ErrorCode::TooManyRequests,
            "too many uploads in progress: commit them or wait until they expire",
        ));
    }
    let room = limits.max_staged_bytes - bytes;
    let staged = state
        .blobs
        .stage(id.0, body, limits.max_upload_bytes.min(room))
        .await?;
    let row = record_staged(state, caller, id, &staged).await?;
    Ok(Uploaded {
        upload_id: id,
        size: row.size,
        sha256: row.sha256,
        blake3: row.blake3,
    })
}

/// Largest part of an upload sent in parts (browsers cannot stream a request body over
/// HTTP/1.1, so they send the ciphertext in parts of at most this size).
pub const MAX_PART_BYTES: u64 = 16 * 1024 * 1024;

/// The staging id of the part of `upload` starting at `offset`: derived, so the parts of an
/// upload are found again without another table.
fn part_id(upload: UploadId, offset: u64) -> UploadId {
    let mut h = Sha256::new();
    h.update(b"medshare upload part\0");
    h.update(upload.0.as_bytes());
    h.update(offset.to_be_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80; // UUID version 8 (custom), RFC 9562 variant
    b[8] = (b[8] & 0x3f) | 0x80;
    UploadId(uuid::Uuid::from_bytes(b))
}

/// The parts of `upload` the caller has staged, in order, ending at the first gap.
async fn staged_parts(
    state: &AppState,
    caller: &Caller,
    upload: UploadId,
) -> ApiResult<Vec<StagedUploadRow>> {
    let mut parts = Vec::new();
    let mut offset = 0u64;
    while let Some(row) = state.store.staged_upload(part_id(upload, offset)).await? {
        if row.practitioner_id != caller.id() || row.size == 0 {
            break;
        }
        offset += row.size;
        parts.push(row);
    }
    Ok(parts)
}

/// How much of an upload sent in parts the hub holds: the offset of the next part.
pub async fn upload_progress(
    state: &AppState,
    caller: &Caller,
    id: UploadId,
) -> ApiResult<UploadProgress> {
    require_clinician(caller)?;
    let parts = staged_parts(state, caller, id).await?;
    Ok(UploadProgress {
        upload_id: id,
        received: parts.iter().map(|p| p.size).sum(),
    })
}

/// Stage the part of upload `id` that starts at `offset` (which must be exactly what the hub
/// holds so far: parts arrive in order, and a part sent twice is refused, not appended twice).
/// The parts of one upload count as one upload against the staging quota.
pub async fn stage_part(
    state: &AppState,
    caller: &Caller,
    id: UploadId,
    offset: u64,
    body: ByteStream,
) -> ApiResult<UploadProgress> {
    require_clinician(caller)?;
    if state.store.staged_upload(id).await?.is_some() {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "this upload is already complete",
        ));
    }
    let parts = staged_parts(state, caller, id).await?;
    let received: u64 = parts.iter().map(|p| p.size).sum();
    if offset != received {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the part does not start where the upload stands: ask for the upload's progress",
        ));
    }
    let limits = &state.config.limits;
    if received >= limits.max_upload_bytes {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge));
    }
    let (count, bytes) = state.store.staged_usage(caller.id()).await?;
    let others = count - parts.len() as i64;
    if others >= limits.max_staged_uploads || bytes >= limits.max_staged_bytes {
        return Err(ApiError::with(
            ErrorCode::TooManyRequests,
            "too many uploads in progress: commit them or wait until they expire",
        ));
    }
    let max = MAX_PART_BYTES
        .min(limits.max_upload_bytes - received)
        .min(limits.max_staged_bytes - bytes);
    let part = part_id(id, offset);
    let staged = state.blobs.stage(part.0, body, max).await?;
    if staged.size == 0 {
        let _ = state.blobs.discard(part.0).await;
        return Err(ApiError::bad_request("an upload part cannot be empty"));
    }
    record_staged(state, caller, part, &staged).await?;
    Ok(UploadProgress {
        upload_id: id,
        received: received + staged.size,
    })
}

/// Join the staged parts of upload `id` into one staged upload (hashing it whole, as a
/// streamed upload is), ready for [`commit`]; the parts are dropped.
pub async fn complete_parts(
    state: &AppState,
    caller: &Caller,
    id: UploadId,
) -> ApiResult<Uploaded> {
    require_clinician(caller)?;
    if state.store.staged_upload(id).await?.is_some() {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "this upload is already complete",
        ));
    }
    let parts = staged_parts(state, caller, id).await?;
    if parts.is_empty() {
        return Err(ApiError::with(
            ErrorCode::NotFound,
            "no such upload: send its parts first",
        ));
    }
    let blobs = state.blobs.clone();
    let ids: Vec<uuid::Uuid> = parts.iter().map(|p| p.id.0).collect();
    let joined = futures::stream::iter(ids)
        .then(move |part| {
            let blobs = blobs.clone();
            async move { blobs.read_staged(part).await.map_err(std::io::Error::other) }
        })
        .try_flatten()
        .boxed();
    let staged = state
        .blobs
        .stage(id.0, joined, state.config.limits.max_upload_bytes)
        .await?;
    let row = record_staged(state, caller, id, &staged).await?;
    for p in &parts {
        state.blobs.discard(p.id.0).await?;
        state.store.delete_staged_upload(p.id).await?;
    }
    Ok(Uploaded {
        upload_id: id,
        size: row.size,
        sha256: row.sha256,
        blake3: row.blake3,
    })
}

async fn check_grantee(state: &AppState, g: &NewGrant, uploader: PractitionerId) -> ApiResult<()> {
    if g.grantee == uploader {
        return Err(ApiError::bad_request(
            "the uploader always holds the document key",
        ));
    }
    decode_b64(&g.wrap, MAX_WRAP, "key wrap is not base64 or too large")?;
    let p = state
        .store
        .practitioner(g.grantee)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if policy::receive_share(&Who::from(&p)).is_err() {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "documents can only be shared with certified clinicians",
        ));
    }
    if g.expires_at
        .is_some_and(|e| e.unix_timestamp() <= state.now())
    {
        return Err(ApiError::bad_request(
            "the share would already have expired",
        ));
    }
    Ok(())
}

/// Commit a staged upload: check the uploader's signed binding against what the hub received,
/// make the ciphertext durable, then record the metadata in one transaction.
pub async fn commit(
    state: &AppState,
    caller: &Caller,
    req: CommitDocument,
) -> ApiResult<DocumentView> {
    require_clinician(caller)?;
    let me = &caller.practitioner;
    let staged = state
        .store
        .staged_upload(req.upload_id)
        .await?
        .filter(|s| s.practitioner_id == me.id)
        .ok_or(ApiError::with(
            ErrorCode::NotFound,
            "no such upload: stream the ciphertext first",
        ))?;
    let sign_public = me.sign_public.as_deref().ok_or_else(ApiError::internal)?;
    let b: DocumentBinding = verify(&req.binding, sign_public)?;
    let manifest = decode_b64(
        &req.manifest,
        MAX_MANIFEST,
        "manifest is not base64 or too large",
    )?;
    let public = decode_key(sign_public).ok_or_else(ApiError::internal)?;
    let bound = b.document_id == req.document_id
        && b.patient_id == req.patient_id
        && b.names_ciphertext(&staged.sha256, staged.blake3.as_deref())
        && b.ciphertext_size == staged.size
        && b.manifest_sha256 == hex::encode(Sha256::digest(&manifest))
        && b.uploader == me.id
        && b.uploader_key == key_id(&public)
        && b.service == me.details.profession.is_service();
    if !bound {
        return Err(ApiError::with(
            ErrorCode::BadSignature,
            "the binding does not match the uploaded ciphertext",
        ));
    }
    if state
        .store
        .patient_by_refs(std::slice::from_ref(&b.patient_ref))
        .await?
        != Some(req.patient_id)
    {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the patient reference does not belong to that patient",
        ));
    }
    let epochs = state.store.patient_key_epochs(req.patient_id).await?.len() as u32;
    let mut self_wrap = false;
    for w in &req.wraps {
        decode_b64(&w.wrap, MAX_WRAP, "key wrap is not base64 or too large")?;
        match w.holder {
            Holder::Practitioner { id } if id == me.id => self_wrap = true,
            Holder::Patient { epoch } if epoch >= 1 && epoch <= epochs => {}
            _ => {
                return Err(ApiError::bad_request(
                    "document keys are sealed to the uploader and the patient key; shares go in grants",
                ));
            }
        }
    }
    if !self_wrap {
        return Err(ApiError::bad_request(
            "the document key must also be sealed to the uploader",
        ));
    }
    if req.grants.len() > 100 {
        return Err(ApiError::bad_request("at most 100 shares at once"));
    }
    for g in &req.grants {
        check_grantee(state, g, me.id).await?;
    }
    let row = DocumentRow {
        id: req.document_id,
        patient_id: req.patient_id,
        uploader: me.id,
        institution_id: me.institution_id,
        size: staged.size,
        ciphertext_sha256: staged.sha256.clone(),
        manifest: req.manifest,
        binding: req.binding,
        created_at: state.now(),
    };
    // The upload's entries (and its shares') are written in the metadata's own transaction:
    // one durable commit records both, and neither exists without the other.
    let mut entries = vec![audit::stamped(
        state,
        Entry::new(Action::Upload, true, "uploader")
            .by(me)
            .document(row.id)
            .patient(row.patient_id),
    )];
    for _ in &req.grants {
        entries.push(audit::stamped(
            state,
            Entry::new(Action::Share, true, "uploader")
                .by(me)
                .document(row.id)
                .patient(row.patient_id),
        ));
    }
    // From the claim to the commit, finish what was started even if the client goes away: a
    // request dropped in between would leave the id claimed by an upload that is never
    // committed, and every retry under that id (a gateway files each item under an id chosen
    // beforehand) refused. The steps run in their own task; a failure releases the claim.
    let task = {
        let (state, row) = (state.clone(), row.clone());
        let (wraps, grants, upload) = (req.wraps.clone(), req.grants.clone(), req.upload_id);
        tokio::spawn(async move {
            let logged = claim_and_commit(&state, &row, &wraps, &grants, upload, &entries).await;
            // Here too, not only after the await below: the request may be dropped meanwhile.
            state.invalidate_patient(row.patient_id).await;
            let logged = logged?;
            state.audit.adopt(logged).await;
            Ok::<_, ApiError>(())
        })
    };
    let committed = task.await;
    // The upload's shares are policy inputs. Whatever the outcome: a write may have landed
    // even if its answer was lost.
    state.invalidate_patient(row.patient_id).await;
    committed.map_err(|_| ApiError::internal())??;
    let cared = state
        .store
        .add_care(row.patient_id, me.id, me.id, state.now())
        .await;
    state.invalidate_patient(row.patient_id).await;
    cared?;
    for g in &req.grants {
        state
            .notifier
            .publish(
                &state.store,
                g.grantee,
                EventKind::Shared {
                    document_id: row.id,
                    patient_id: row.patient_id,
                    by: me.id,
                },
            )
            .await;
    }
    let wraps = req
        .wraps
        .into_iter()
        .filter(|w| matches!(w.holder, Holder::Practitioner { .. }))
        .collect();
    Ok(to_view(row, wraps))
}

fn to_view(d: DocumentRow, wraps: Vec<KeyWrap>) -> DocumentView {
    DocumentView {
        document_id: d.id,
        patient_id: d.patient_id,
        uploader: d.uploader,
        institution_id: d.institution_id,
        size: d.size,
        created_at: at(d.created_at),
        manifest: d.manifest,
        binding: d.binding,
        wraps,
    }
}

/// Load a document and apply the policy, recording the decision. Returns the document, the
/// caller's patient-wide basis (which decides whether patient-key wraps are of use to them) and
/// the entry's receipt. Decide a read and log it. A refusal is durable before the error leaves; for an allowed read
/// the caller awaits the receipt after preparing its answer, so the log's commit overlaps it.
async fn authorize(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
    action: Action,
) -> ApiResult<(DocumentRow, Basis, audit::Receipt)> {
    let Some(doc) = state.store.document(id).await? else {
        audit::record(
            state,
            Entry::new(action, false, "no-such-document").by(&caller.practitioner),
        )
        .await?;
        return Err(ApiError::not_found());
    };
    let patient_basis = policy::patient_basis(state, caller, doc.patient_id).await?;
    let grant = policy::grant(state, &doc, caller.id()).await?;
    let facts = policy::DocumentFacts::of(&doc, grant.as_ref(), state.now());
    let basis = policy::document_access(&Who::from(caller), &facts, patient_basis);
    let receipt = audit::submit(
        state,
        Entry::new(action, basis.allowed(), basis.as_str())
            .by(&caller.practitioner)
            .document(id)
            .patient(doc.patient_id),
    )
    .await;
    if basis.allowed() {
        return Ok((doc, patient_basis, receipt));
    }
    receipt.durable().await.map_err(audit::log_failed)?;
    match basis {
        Basis::NotCertified => Err(ApiError::new(ErrorCode::NotCertified)),
        _ => Err(ApiError::forbidden()),
    }
}

/// The document's metadata, sealed manifest, binding, the key wraps this reader can use and the
/// uploader's certificates.
pub async fn view(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
) -> ApiResult<(DocumentView, PractitionerPublic)> {
    let (doc, patient_basis, receipt) = authorize(state, caller, id, Action::ManifestFetch).await?;
    let patient_wide = patient_basis.allowed();
    let wraps = state
        .store
        .document_key_wraps(&[id], caller.id())
        .await?
        .into_iter()
        .map(|(_, w)| w)
        .filter(|w| patient_wide || !matches!(w.holder, Holder::Patient { .. }))
        .collect();
    let uploader = state
        .store
        .practitioner(doc.uploader)
        .await?
        .ok_or_else(ApiError::internal)?;
    let public = public_of(state, &uploader).await?;
    receipt.durable().await.map_err(audit::log_failed)?;
    Ok((to_view(doc, wraps), public))
}

/// Stream the ciphertext (optionally a byte range).
pub async fn content(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
    range: Option<ByteRange>,
) -> ApiResult<BlobRead> {
    let (_, _, receipt) = authorize(state, caller, id, Action::BlobFetch).await?;
    let blob = state.blobs.get(id.0, range).await?;
    receipt.durable().await.map_err(audit::log_failed)?;
    Ok(blob)
}

/// Who may share or revoke: the uploader, or a clinician with patient-wide access.
async fn may_manage(state: &AppState, caller: &Caller, doc: &DocumentRow) -> ApiResult<Basis> {
    let who = Who::from(caller);
    let facts = policy::DocumentFacts::of(doc, None, state.now());
    let patient_basis = if doc.uploader == who.id {
        Basis::NoBasis
    } else {
        policy::patient_basis(state, caller, doc.patient_id).await?
    };
    let basis = policy::manage_document(&who, &facts, patient_basis);
    if basis == Basis::NotCertified {
        return Err(ApiError::new(ErrorCode::NotCertified));
    }
    Ok(basis)
}

/// Load a document for sharing or revoking; a refusal is recorded.
async fn managed(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
    action: Action,
) -> ApiResult<(DocumentRow, Basis)> {
    let doc = state
        .store
        .document(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let basis = may_manage(state, caller, &doc).await?;
    if !basis.allowed() {
        audit::record(
            state,
            Entry::new(action, false, basis.as_str())
                .by(&caller.practitioner)
                .document(id)
                .patient(doc.patient_id),
        )
        .await?;
        return Err(ApiError::forbidden());
    }
    Ok((doc, basis))
}

pub async fn share(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
    g: NewGrant,
) -> ApiResult<()> {
    let (doc, basis) = managed(state, caller, id, Action::Share).await?;
    check_grantee(state, &g, doc.uploader).await?;
    let granted = state
        .store
        .put_grant(id, &g, caller.id(), state.now())
        .await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(doc.patient_id).await;
    granted?;
    audit::record(
        state,
        Entry::new(Action::Share, true, basis.as_str())
            .by(&caller.practitioner)
            .document(id)
            .patient(doc.patient_id),
    )
    .await?;
    state
        .notifier
        .publish(
            &state.store,
            g.grantee,
            EventKind::Shared {
                document_id: id,
                patient_id: doc.patient_id,
                by: caller.id(),
            },
        )
        .await;
    Ok(())
}

pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
    grantee: PractitionerId,
) -> ApiResult<()> {
    let (doc, basis) = managed(state, caller, id, Action::Revoke).await?;
    let revoked = state.store.revoke_grant(id, grantee, state.now()).await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(doc.patient_id).await;
    if !revoked? {
        return Err(ApiError::not_found());
    }
    audit::record(
        state,
        Entry::new(Action::Revoke, true, basis.as_str())
            .by(&caller.practitioner)
            .document(id)
            .patient(doc.patient_id),
    )
    .await?;
    state
        .notifier
        .publish(
            &state.store,
            grantee,
            EventKind::Revoked {
                document_id: id,
                by: caller.id(),
            },
        )
        .await;
    Ok(())
}

pub async fn grants(
    state: &AppState,
    caller: &Caller,
    id: DocumentId,
) -> ApiResult<Vec<GrantInfo>> {
    let doc = state
        .store
        .document(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !may_manage(state, caller, &doc).await?.allowed() {
        return Err(ApiError::forbidden());
    }
    Ok(state
        .store
        .grants_of_document(id)
        .await?
        .into_iter()
        .map(|g| GrantInfo {
            grantee: g.grantee,
            granted_at: at(g.granted_at),
            expires_at: g.expires_at.map(at),
            revoked: g.revoked_at.is_some(),
        })
        .collect())
}

/// Delete staged uploads never committed within `limits.staging_ttl_secs` (rows and bytes).
pub async fn purge_stale_staging(state: &AppState) -> anyhow::Result<usize> {
    let cutoff = state.now() - state.config.limits.staging_ttl_secs;
    let stale = state.store.stale_staged_uploads(cutoff).await?;
    for id in &stale {
        state.blobs.discard(id.0).await?;
        state.store.delete_staged_upload(*id).await?;
    }
    if !stale.is_empty() {
        tracing::info!(count = stale.len(), "expired staged uploads deleted");
    }
    Ok(stale.len())
}

/// Start-up reconciliation: drop staged leftovers and blobs that no committed document or room
/// attachment names.
/// With `grace` > 0 (several replicas share the stores) only what is at least that old, so a
/// replica starting never removes another's upload in flight.
pub async fn reconcile(state: &AppState, grace: std::time::Duration) -> anyhow::Result<()> {
    let swept = state.blobs.sweep_staging(grace).await?;
    let before = state
        .now()
        .saturating_sub(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX));
    let cutoff = if grace.is_zero() { i64::MAX } else { before };
    for id in state.store.stale_staged_uploads(cutoff).await? {
        state.store.delete_staged_upload(id).await?;
    }
    // List blobs before reading the document ids: a blob promoted after the listing is not
    // considered, and one committed in between is in the ids.
    let candidates = state.blobs.list_older_than(grace).await?;
    let mut known: std::collections::BTreeSet<_> = state
        .store
        .document_ids()
        .await?
        .into_iter()
        .map(|d| d.0)
        .collect();
    // Room attachments (voice notes) are blobs too.
    known.extend(state.store.room_blob_ids().await?.into_iter().map(|b| b.0));
    let mut orphans = 0;
    for blob in candidates {
        if !known.contains(&blob) {
            state.blobs.delete(blob).await?;
            orphans += 1;
        }
    }
    tracing::info!(swept, orphans, "storage reconciled");
    Ok(())
}

/// Claim the document id for the staged upload, promote its bytes and commit the metadata; on
/// a failure after the claim, release it (and the promoted bytes) so a retry can proceed.
async fn claim_and_commit(
    state: &AppState,
    row: &DocumentRow,
    wraps: &[KeyWrap],
    grants: &[NewGrant],
    upload: UploadId,
    entries: &[medshare_audit::Entry],
) -> ApiResult<Vec<medshare_audit::LoggedEntry>> {
    // Claim the id for this upload first: of two commits naming one id, only one may promote
    // its bytes (the other would overwrite them, then delete them on its own failure).
    state
        .store
        .claim_document(upload, row.id)
        .await
        .map_err(|e| match e {
            medshare_store::StoreError::NotFound => ApiError::with(
                ErrorCode::Conflict,
                "this upload is already being committed as another document",
            ),
            e => e.into(),
        })?;
    let release = || async {
        if let Err(e) = state.store.release_claim(upload, row.id).await {
            tracing::warn!(error = %e, "a document id claim could not be released");
        }
    };
    match state.store.document(row.id).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            release().await;
            return Err(ApiError::new(ErrorCode::Conflict));
        }
        Err(e) => {
            release().await;
            return Err(e.into());
        }
    }
    // Durable bytes first, then metadata: a crash in between leaves an unreferenced blob that
    // start-up reconciliation removes, never a listed document without its bytes.
    if let Err(e) = state.blobs.promote(upload.0, row.id.0).await {
        release().await;
        return Err(e.into());
    }
    match state
        .store
        .commit_document_logged(row, wraps, grants, upload, row.created_at, entries)
        .await
    {
        Ok(logged) => Ok(logged),
        Err(e) => {
            let _ = state.blobs.delete(row.id.0).await;
            release().await;
            Err(e.into())
        }
    }
}

/// Record bytes just staged as the caller's upload `id`; if that fails, discard the bytes so
/// nothing unaccounted stays in staging.
async fn record_staged(
    state: &AppState,
    caller: &Caller,
    id: UploadId,
    staged: &medshare_blob::Staged,
) -> ApiResult<StagedUploadRow> {
    let row = StagedUploadRow {
        id,
        practitioner_id: caller.id(),
        size: staged.size,
        sha256: staged.sha256_hex(),
        blake3: Some(staged.blake3_hex()),
        created_at: state.now(),
    };
    if let Err(e) = state.store.stage_upload(&row).await {
        let _ = state.blobs.discard(id.0).await;
        return Err(e.into());
    }
    Ok(row)
}
