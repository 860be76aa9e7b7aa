//! The audit trail for the people who watch it: signed heads and proofs for every client,
//! raw entries for auditors (privacy officers and institution administrators) who rebuild the
//! tree, scoped queries and data access request exports for privacy officers, sealed
//! break-glass reasons for the practitioner's own privacy officers, and patients' contacts for
//! access notices. Reading the trail is itself recorded.

use crate::audit::{self, Action, Entry, log_failed};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, Who};
use crate::state::{AppState, at};
use medshare_audit::api::{DataAccessExport, ExportedDocument, HeadResponse, InclusionResponse};
use medshare_audit::{LoggedEntry, SignedTreeHead, VisibleEntry};
use medshare_model::api::{BreakGlassRecord, PatientContact};
use medshare_model::{ErrorCode, PatientId, PractitionerId};
use medshare_store::{AuditQuery, PatientContactRow};

/// Most entries per page.
pub const MAX_PAGE: i64 = 5000;

fn page(limit: Option<i64>) -> i64 {
    limit.unwrap_or(1000).clamp(1, MAX_PAGE)
}

/// Record a refused request for the audit trail, then refuse it.
async fn refuse<T>(
    state: &AppState,
    caller: &Caller,
    action: Action,
    basis: &'static str,
    e: ApiError,
) -> ApiResult<T> {
    audit::record(
        state,
        Entry::new(action, false, basis).by(&caller.practitioner),
    )
    .await?;
    Err(e)
}

/// Certified privacy officer or institution administrator.
fn require_auditor(caller: &Caller) -> ApiResult<()> {
    super::allow(policy::audit_rebuild(&Who::from(caller)))
}

/// The current signed head (signed now if the log grew), with a consistency proof from `from`.
pub async fn head(state: &AppState, from: Option<u64>) -> ApiResult<HeadResponse> {
    let (head, consistency) = state.audit.head(from).await.map_err(log_failed)?;
    Ok(HeadResponse { head, consistency })
}

pub async fn heads(
    state: &AppState,
    caller: &Caller,
    after: u64,
    limit: Option<i64>,
) -> ApiResult<Vec<SignedTreeHead>> {
    require_auditor(caller)?;
    Ok(state.store.audit_heads(after, page(limit)).await?)
}

/// Which entries an auditor sees in full: those by their institution's members or touching
/// patients their institution filed records for (the same scope as their log queries).
fn scope(caller: &Caller) -> medshare_model::InstitutionId {
    caller.practitioner.institution_id
}

/// Every position of the log for rebuilding the tree: entries in the auditor's scope in full,
/// the others as their leaf only (a rebuild needs every leaf, not every entry).
pub async fn entries(
    state: &AppState,
    caller: &Caller,
    after: i64,
    limit: Option<i64>,
) -> ApiResult<Vec<VisibleEntry>> {
    if let Err(e) = require_auditor(caller) {
        return refuse(state, caller, Action::AuditRead, "not-an-auditor", e).await;
    }
    let receipt = audit::submit(
        state,
        Entry::new(Action::AuditRead, true, "verify").by(&caller.practitioner),
    )
    .await;
    let after = after.max(0);
    let limit = page(limit);
    let rows = state.store.audit_entries(after, limit).await?;
    // In-scope entries of the same range: never more than the page holds.
    let visible: std::collections::BTreeSet<i64> = state
        .store
        .audit_search(&AuditQuery {
            scope: Some(scope(caller)),
            after_seq: after,
            limit,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|e| e.seq)
        .collect();
    receipt.durable().await.map_err(log_failed)?;
    Ok(rows
        .into_iter()
        .map(|e| {
            if visible.contains(&e.seq) {
                VisibleEntry::Full(e)
            } else {
                VisibleEntry::hide(&e)
            }
        })
        .collect())
}

/// One entry of the auditor's scope with its inclusion proof in the current signed head.
pub async fn inclusion(
    state: &AppState,
    caller: &Caller,
    seq: i64,
) -> ApiResult<InclusionResponse> {
    if let Err(e) = require_auditor(caller) {
        return refuse(state, caller, Action::AuditRead, "not-an-auditor", e).await;
    }
    // Positions start at 1; anything below names no entry (and `seq - 1` must not overflow).
    if seq < 1 {
        return Err(ApiError::not_found());
    }
    let entry = state
        .store
        .audit_search(&AuditQuery {
            scope: Some(scope(caller)),
            after_seq: seq - 1,
            limit: 1,
            ..Default::default()
        })
        .await?
        .pop()
        .filter(|e| e.seq == seq)
        .ok_or_else(ApiError::not_found)?;
    let (head, proof) = state
        .audit
        .inclusion(seq)
        .await
        .map_err(log_failed)?
        .ok_or_else(ApiError::not_found)?;
    Ok(InclusionResponse { head, entry, proof })
}

fn require_privacy_officer(caller: &Caller) -> ApiResult<()> {
    super::allow(policy::audit_review(&Who::from(caller)))
}

/// A privacy officer's view of the log: entries by their institution's members or touching
/// patients their institution has filed records for.
pub async fn search(
    state: &AppState,
    caller: &Caller,
    patient: Option<PatientId>,
    practitioner: Option<PractitionerId>,
    since: Option<i64>,
    after: i64,
    limit: Option<i64>,
) -> ApiResult<Vec<LoggedEntry>> {
    let mut entry = Entry::new(Action::AuditRead, true, "review").by(&caller.practitioner);
    if let Some(p) = patient {
        entry = entry.patient(p);
    }
    if let Err(e) = require_privacy_officer(caller) {
        entry.allowed = false;
        entry.basis = "not-a-privacy-officer";
        audit::record(state, entry).await?;
        return Err(e);
    }
    let receipt = audit::submit(state, entry).await;
    let rows = state
        .store
        .audit_search(&AuditQuery {
            scope: Some(caller.practitioner.institution_id),
            patient,
            actor: practitioner,
            since,
            after_seq: after.max(0),
            limit: page(limit),
        })
        .await?;
    receipt.durable().await.map_err(log_failed)?;
    Ok(rows)
}

/// A data access request export for one patient.
pub async fn export(
    state: &AppState,
    caller: &Caller,
    patient: PatientId,
) -> ApiResult<DataAccessExport> {
    let entry = Entry::new(Action::AuditExport, true, "data-access-request")
        .by(&caller.practitioner)
        .patient(patient);
    if let Err(e) = require_privacy_officer(caller) {
        audit::record(
            state,
            Entry {
                allowed: false,
                basis: "not-a-privacy-officer",
                ..entry
            },
        )
        .await?;
        return Err(e);
    }
    state
        .store
        .patient(patient)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // A data access request is answered by the institution for what it holds: the documents it
    // filed about the patient and its scope of the access log (its staff's accesses, and every
    // access to records it filed). Another institution's documents are not even listed.
    let mine = scope(caller);
    let documents: Vec<ExportedDocument> = state
        .store
        .documents_of_patient(patient)
        .await?
        .into_iter()
        .filter(|d| d.institution_id == mine)
        .map(|d| ExportedDocument {
            document_id: d.id,
            uploaded_at: d.created_at,
            uploader: d.uploader,
            institution_id: d.institution_id,
            size: d.size,
        })
        .collect();
    let mut accesses = Vec::new();
    let mut after = 0;
    loop {
        let rows = state
            .store
            .audit_search(&AuditQuery {
                scope: Some(mine),
                patient: Some(patient),
                after_seq: after,
                limit: MAX_PAGE,
                ..Default::default()
            })
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        accesses.extend(rows);
    }
    let consented = state
        .store
        .consents(patient)
        .await?
        .contains(&medshare_model::api::ConsentHolder::Institution { id: mine });
    if documents.is_empty() && accesses.is_empty() && !consented {
        // Nothing of this patient is held by the institution: indistinguishable from unknown.
        audit::record(
            state,
            Entry {
                allowed: false,
                basis: "nothing-held-for-this-patient",
                ..entry
            },
        )
        .await?;
        return Err(ApiError::not_found());
    }
    audit::record(state, entry).await?;
    let (head, _) = state.audit.head(None).await.map_err(log_failed)?;
    Ok(DataAccessExport {
        patient_id: patient,
        generated_at: state.now(),
        documents,
        accesses,
        head,
    })
}

/// A break-glass record, for privacy officers of the practitioner's institution.
pub async fn break_glass(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<BreakGlassRecord> {
    if let Err(e) = require_privacy_officer(caller) {
        return refuse(
            state,
            caller,
            Action::BreakGlassReview,
            "not-a-privacy-officer",
            e,
        )
        .await;
    }
    let row = state
        .store
        .break_glass_record(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let by = state
        .store
        .practitioner(row.practitioner_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let decision = policy::break_glass_review(&Who::from(caller), &Who::from(&by));
    let allowed = decision.is_ok();
    audit::record(
        state,
        Entry::new(
            Action::BreakGlassReview,
            allowed,
            decision.unwrap_or_else(|why| why),
        )
        .by(&caller.practitioner)
        .patient(row.patient_id)
        .detail(format!("break-glass:{id}")),
    )
    .await?;
    if !allowed {
        // Indistinguishable from a missing record.
        return Err(ApiError::not_found());
    }
    Ok(BreakGlassRecord {
        id: row.id,
        patient_id: row.patient_id,
        practitioner_id: row.practitioner_id,
        reason: row.reason,
        reason_epoch: row.reason_epoch,
        opened_at: at(row.opened_at),
        expires_at: at(row.expires_at),
    })
}

/// Who may register or clear a patient's contact is the policy's decision
/// ([`policy::contact_change`]); the decision is recorded as `action` either way.
async fn authorize_contact(
    state: &AppState,
    caller: &Caller,
    patient: PatientId,
    action: Action,
) -> ApiResult<()> {
    state
        .store
        .patient(patient)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let who = Who::from(caller);
    let facts = policy::patient_facts(state, &who, patient).await?;
    let decision = policy::contact_change(&who, &facts);
    let (ok, why) = match decision {
        Ok(b) => (true, b),
        Err(b) => (false, b),
    };
    audit::record(
        state,
        Entry::new(action, ok, why)
            .by(&caller.practitioner)
            .patient(patient),
    )
    .await?;
    match decision {
        Ok(_) => Ok(()),
        Err("not-certified") => Err(super::refused("not-certified")),
        Err(_) => Err(ApiError::with(
            ErrorCode::Forbidden,
            "only a privacy officer or a clinician caring for the patient at an institution holding their consent may change this",
        )),
    }
}

pub async fn set_contact(
    state: &AppState,
    caller: &Caller,
    patient: PatientId,
    contact: PatientContact,
) -> ApiResult<()> {
    let PatientContact::Webhook { url } = contact;
    state
        .outbound
        .check_url(&url)
        .map_err(ApiError::bad_request)?;
    authorize_contact(state, caller, patient, Action::ContactSet).await?;
    state
        .store
        .set_patient_contact(&PatientContactRow {
            patient_id: patient,
            kind: "webhook".into(),
            address: url,
            set_by: caller.id(),
            set_at: state.now(),
        })
        .await?;
    Ok(())
}

pub async fn clear_contact(state: &AppState, caller: &Caller, patient: PatientId) -> ApiResult<()> {
    authorize_contact(state, caller, patient, Action::ContactClear).await?;
    state.store.clear_patient_contact(patient).await?;
    Ok(())
}
