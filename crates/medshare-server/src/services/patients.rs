//! Patients: creation under a keyed-hash reference, lookup, the one-round-trip search, consent,
//! care relationships and break-glass.

use super::{MAX_MANIFEST, MAX_WRAP, check_recipient, decode_b64, verify};
use crate::audit::{self, Action, Entry};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::policy::{self, Basis, Who};
use crate::state::{AppState, at};
use medshare_model::api::*;
use medshare_model::registration::Role;
use medshare_model::statements::PatientKeyEpoch;
use medshare_model::{ErrorCode, InstitutionId, PatientId, PatientRef, PractitionerId};
use medshare_store::{PatientKeyWrapRow, PractitionerStatus};
use std::collections::BTreeSet;

/// Clinical actions need a certified clinician (the policy's [`policy::clinical`]).
pub fn require_clinician(caller: &Caller) -> ApiResult<()> {
    super::allow(policy::clinical(&Who::from(caller)))
}

/// A patient key wrap as stored; a wrap to an institution must be to its current epoch key
/// (an older one may be held by a removed member).
async fn to_row(state: &AppState, w: &PatientKeyWrap) -> ApiResult<PatientKeyWrapRow> {
    decode_b64(&w.wrap, MAX_WRAP, "key wrap is not base64 or too large")?;
    let institution = match &w.holder {
        Holder::Institution { id, epoch } => {
            if *epoch != current_epoch(state, *id).await? {
                return Err(ApiError::with(
                    ErrorCode::Conflict,
                    "a patient key must be sealed to the institution's current key",
                ));
            }
            Some((*id, *epoch))
        }
        Holder::Alliance => None,
        _ => {
            return Err(ApiError::bad_request(
                "a patient key can only be sealed to an institution or the alliance",
            ));
        }
    };
    Ok(PatientKeyWrapRow {
        patient_epoch: w.patient_epoch,
        institution,
        wrap: w.wrap.clone(),
    })
}

fn from_row(w: PatientKeyWrapRow) -> PatientKeyWrap {
    PatientKeyWrap {
        patient_epoch: w.patient_epoch,
        holder: match w.institution {
            Some((id, epoch)) => Holder::Institution { id, epoch },
            None => Holder::Alliance,
        },
        wrap: w.wrap,
    }
}

fn holder_of(w: &PatientKeyWrap) -> Option<ConsentHolder> {
    match w.holder {
        Holder::Institution { id, .. } => Some(ConsentHolder::Institution { id }),
        Holder::Alliance => Some(ConsentHolder::Alliance),
        _ => None,
    }
}

async fn current_epoch(state: &AppState, inst: InstitutionId) -> ApiResult<u32> {
    Ok(state.store.institution_epochs(inst).await?.len() as u32)
}

/// The patient as this caller may see it: key wraps only with patient-wide access.
pub async fn view(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    basis: Basis,
) -> ApiResult<PatientView> {
    let p = state
        .store
        .patient(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let consent = state.store.consents(id).await?;
    let wraps = if basis.allowed() {
        let alliance = consent.contains(&ConsentHolder::Alliance);
        state
            .store
            .patient_key_wraps(id, &[caller.practitioner.institution_id], alliance)
            .await?
            .into_iter()
            .map(from_row)
            .collect()
    } else {
        Vec::new()
    };
    Ok(PatientView {
        patient_id: id,
        key_epochs: state.store.patient_key_epochs(id).await?,
        wraps,
        card: p.card,
        consent,
    })
}

pub async fn create(state: &AppState, caller: &Caller, req: NewPatient) -> ApiResult<PatientView> {
    require_clinician(caller)?;
    let me = &caller.practitioner;
    let sign_public = me.sign_public.as_deref().ok_or_else(ApiError::internal)?;
    let key: PatientKeyEpoch = verify(&req.key_epoch, sign_public)?;
    if key.patient_id != req.patient_id
        || key.epoch != 1
        || key.previous.is_some()
        || key.signed_by != me.id
        || key.institution_id != me.institution_id
        || key.service != me.details.profession.is_service()
    {
        return Err(ApiError::bad_request(
            "the first patient key must be epoch 1 of this patient, signed for your institution",
        ));
    }
    check_recipient(&key.recipient)?;
    let refs: BTreeSet<PatientRef> = req.refs.iter().cloned().collect();
    if refs.is_empty() || refs.len() > 16 {
        return Err(ApiError::bad_request(
            "between 1 and 16 patient references are required",
        ));
    }
    if key.refs.iter().cloned().collect::<BTreeSet<_>>() != refs {
        return Err(ApiError::bad_request(
            "the patient key must name exactly the patient's references",
        ));
    }
    decode_b64(
        &req.card,
        MAX_MANIFEST,
        "patient card is not base64 or too large",
    )?;
    let epoch = current_epoch(state, me.institution_id).await?;
    let mut consents = Vec::new();
    let mut rows = Vec::new();
    for w in &req.wraps {
        if w.patient_epoch != 1 {
            return Err(ApiError::bad_request(
                "new patient key wraps must be for epoch 1",
            ));
        }
        match w.holder {
            Holder::Institution { id, epoch: e } if id == me.institution_id && e == epoch => {}
            Holder::Alliance => {}
            _ => {
                return Err(ApiError::bad_request(
                    "a new patient's key is sealed to your institution's current key and optionally the alliance",
                ));
            }
        }
        rows.push(to_row(state, w).await?);
        let h = holder_of(w).ok_or_else(ApiError::internal)?;
        if !consents.contains(&h) {
            consents.push(h);
        }
    }
    if !consents.contains(&ConsentHolder::Institution {
        id: me.institution_id,
    }) {
        return Err(ApiError::bad_request(
            "the patient key must be sealed to your institution",
        ));
    }
    if key.holders.iter().collect::<BTreeSet<_>>() != consents.iter().collect::<BTreeSet<_>>() {
        return Err(ApiError::bad_request(
            "the patient key must name exactly the holders it is sealed to",
        ));
    }
    let created = state
        .store
        .create_patient(&medshare_store::NewPatientRow {
            id: req.patient_id,
            refs: refs.into_iter().collect(),
            card: req.card,
            key_epoch: req.key_epoch,
            wraps: rows,
            consents,
            created_by: me.id,
            created_at: state.now(),
        })
        .await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(req.patient_id).await;
    created?;
    audit::record(
        state,
        Entry::new(Action::PatientCreate, true, "care-relationship")
            .by(me)
            .patient(req.patient_id),
    )
    .await?;
    view(state, caller, req.patient_id, Basis::Care).await
}

pub async fn lookup(
    state: &AppState,
    caller: &Caller,
    req: PatientLookup,
) -> ApiResult<PatientView> {
    // Privacy officers find patients too (for access histories); they get no key wraps.
    super::allow(policy::lookup_patient(&Who::from(caller)))?;
    if req.refs.is_empty() || req.refs.len() > 16 {
        return Err(ApiError::bad_request(
            "between 1 and 16 patient references are required",
        ));
    }
    let Some(id) = state.store.patient_by_refs(&req.refs).await? else {
        audit::record(
            state,
            Entry::new(Action::PatientLookup, true, "not-found").by(&caller.practitioner),
        )
        .await?;
        return Err(ApiError::not_found());
    };
    let basis = policy::patient_basis(state, caller, id).await?;
    audit::record(
        state,
        Entry::new(Action::PatientLookup, true, basis.as_str())
            .by(&caller.practitioner)
            .patient(id),
    )
    .await?;
    view(state, caller, id, basis).await
}

/// Consent changes: only a clinician of an institution that itself holds the patient's consent,
/// with a care relationship (never break-glass, never through alliance-wide consent). The
/// decision and its refusal are the policy's; this records a refusal.
async fn require_consent_change(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    action: Action,
) -> ApiResult<(Basis, Vec<ConsentHolder>)> {
    require_clinician(caller)?;
    state
        .store
        .patient(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let who = Who::from(caller);
    let facts = policy::patient_facts(state, &who, id).await?;
    let basis = policy::patient_access(&who, &facts);
    let consents = facts.consents.clone();
    if let Err(why) = policy::consent_change(&who, &facts) {
        audit::record(
            state,
            Entry::new(action, false, why)
                .by(&caller.practitioner)
                .patient(id),
        )
        .await?;
        return Err(ApiError::with(
            ErrorCode::Forbidden,
            "only clinicians caring for the patient at an institution holding their consent may change it",
        ));
    }
    Ok((basis, consents))
}

async fn check_target(state: &AppState, h: &ConsentHolder) -> ApiResult<()> {
    if let ConsentHolder::Institution { id } = h {
        let inst = state
            .store
            .institution(*id)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if inst.cert.is_none() {
            return Err(ApiError::with(
                ErrorCode::Conflict,
                "that institution is not certified by the alliance",
            ));
        }
    }
    Ok(())
}

/// The next epoch of a patient's key chain, as the caller signed it: number, previous digest,
/// signer and institution, references kept, and exactly `holders`.
async fn check_next_epoch(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    statement: &medshare_model::statements::Signed,
    holders: &BTreeSet<ConsentHolder>,
) -> ApiResult<u32> {
    let sign_public = caller
        .practitioner
        .sign_public
        .as_deref()
        .ok_or_else(ApiError::internal)?;
    let key: PatientKeyEpoch = verify(statement, sign_public)?;
    let chain = state.store.patient_key_epochs(id).await?;
    let last = chain.last().ok_or_else(ApiError::internal)?;
    let previous: PatientKeyEpoch = last.payload_as().map_err(|_| ApiError::internal())?;
    let next = chain.len() as u32 + 1;
    let ok = key.patient_id == id
        && key.epoch == next
        && key.previous.as_deref() == Some(last.digest().as_str())
        && key.signed_by == caller.id()
        && key.institution_id == caller.practitioner.institution_id
        && previous.refs.iter().all(|r| key.refs.contains(r))
        && key.refs.len() <= 16
        && key.holders.iter().collect::<BTreeSet<_>>() == holders.iter().collect();
    if !ok {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the new patient key must be the next epoch of this patient, naming the previous one and the new holders",
        ));
    }
    check_recipient(&key.recipient)?;
    Ok(next)
}

pub async fn grant_consent(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    req: ConsentGrant,
) -> ApiResult<()> {
    let (basis, consents) = require_consent_change(state, caller, id, Action::ConsentGrant).await?;
    check_target(state, &req.to).await?;
    if consents.contains(&req.to) {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the patient already consents to share with them",
        ));
    }
    let mut holders: BTreeSet<ConsentHolder> = consents.iter().cloned().collect();
    holders.insert(req.to.clone());
    let next = check_next_epoch(state, caller, id, &req.new_epoch, &holders).await?;
    // Every earlier epoch sealed to the new holder, the new epoch to every holder.
    let mut past = BTreeSet::new();
    let mut sealed_to = BTreeSet::new();
    let mut rows = Vec::new();
    for w in &req.wraps {
        let h = holder_of(w).ok_or(ApiError::bad_request(
            "wraps must go to institutions or the alliance",
        ))?;
        if w.patient_epoch == next && holders.contains(&h) {
            sealed_to.insert(h);
        } else if (1..next).contains(&w.patient_epoch) && h == req.to {
            past.insert(w.patient_epoch);
        } else {
            return Err(ApiError::bad_request(
                "wraps must seal earlier epochs to the new holder and the new epoch to every holder",
            ));
        }
        rows.push(to_row(state, w).await?);
    }
    if past.len() as u32 != next - 1 || sealed_to != holders {
        return Err(ApiError::bad_request(
            "every earlier epoch must be sealed to the new holder and the new epoch to every holder",
        ));
    }
    let granted = state
        .store
        .grant_consent(
            id,
            &req.to,
            next,
            &req.new_epoch,
            &rows,
            caller.id(),
            state.now(),
        )
        .await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(id).await;
    granted?;
    audit::record(
        state,
        Entry::new(Action::ConsentGrant, true, basis.as_str())
            .by(&caller.practitioner)
            .patient(id),
    )
    .await
}

pub async fn revoke_consent(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    req: ConsentRevoke,
) -> ApiResult<()> {
    let (basis, consents) =
        require_consent_change(state, caller, id, Action::ConsentRevoke).await?;
    if !consents.contains(&req.from) {
        return Err(ApiError::not_found());
    }
    let remaining: BTreeSet<ConsentHolder> = consents
        .iter()
        .filter(|c| **c != req.from)
        .cloned()
        .collect();
    if !remaining
        .iter()
        .any(|h| matches!(h, ConsentHolder::Institution { .. }))
    {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "at least one institution must keep the patient's consent",
        ));
    }
    let next = check_next_epoch(state, caller, id, &req.new_epoch, &remaining).await?;
    let mut covered = BTreeSet::new();
    let mut rows = Vec::new();
    for w in &req.wraps {
        let h = holder_of(w).ok_or(ApiError::bad_request(
            "wraps must go to institutions or the alliance",
        ))?;
        if w.patient_epoch != next || !remaining.contains(&h) {
            return Err(ApiError::bad_request(
                "wraps must seal the new epoch to the remaining holders",
            ));
        }
        covered.insert(h);
        rows.push(to_row(state, w).await?);
    }
    if covered != remaining {
        return Err(ApiError::bad_request(
            "every remaining holder needs the new epoch",
        ));
    }
    let revoked = state
        .store
        .revoke_consent(id, &req.from, next, &req.new_epoch, &rows, state.now())
        .await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(id).await;
    revoked?;
    audit::record(
        state,
        Entry::new(Action::ConsentRevoke, true, basis.as_str())
            .by(&caller.practitioner)
            .patient(id),
    )
    .await
}

pub async fn declare_care(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    req: CareRequest,
) -> ApiResult<()> {
    require_clinician(caller)?;
    state
        .store
        .patient(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let who = Who::from(caller);
    let facts = policy::patient_facts(state, &who, id).await?;
    let target: PractitionerId = req.practitioner.unwrap_or(caller.id());
    let t = state
        .store
        .practitioner(target)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if let Err(why) = policy::declare_care(&who, &facts, &Who::from(&t)) {
        audit::record(
            state,
            Entry::new(Action::CareDeclare, false, why)
                .by(&caller.practitioner)
                .patient(id),
        )
        .await?;
        return Err(if why == "no-consent" {
            ApiError::with(
                ErrorCode::Forbidden,
                "the patient has not consented to share with your institution",
            )
        } else if why == "service-identity" {
            ApiError::with(
                ErrorCode::Forbidden,
                "a service identity cannot declare care relationships",
            )
        } else {
            ApiError::bad_request(
                "care can be declared only for certified clinicians of your institution",
            )
        });
    }
    let declared = state
        .store
        .add_care(id, target, caller.id(), state.now())
        .await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(id).await;
    declared?;
    audit::record(
        state,
        Entry::new(Action::CareDeclare, true, "declared")
            .by(&caller.practitioner)
            .patient(id),
    )
    .await
}

pub async fn break_glass(
    state: &AppState,
    caller: &Caller,
    id: PatientId,
    req: BreakGlassRequest,
) -> ApiResult<BreakGlassGranted> {
    require_clinician(caller)?;
    state
        .store
        .patient(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let reason = decode_b64(
        &req.reason,
        8 * 1024,
        "the reason is not base64 or too long",
    )?;
    if reason.is_empty() {
        return Err(ApiError::bad_request("a reason is required"));
    }
    let who = Who::from(caller);
    let facts = policy::patient_facts(state, &who, id).await?;
    if let Err(why) = policy::break_glass(&who, &facts) {
        audit::record(
            state,
            Entry::new(Action::BreakGlass, false, why)
                .by(&caller.practitioner)
                .patient(id),
        )
        .await?;
        return Err(ApiError::with(
            ErrorCode::Forbidden,
            "the patient has not consented to share with your institution",
        ));
    }
    let n = state.now();
    let expires = n + state.config.policy.break_glass_secs;
    let window = state
        .store
        .open_break_glass(id, caller.id(), &req.reason, req.reason_epoch, n, expires)
        .await;
    // Whatever the outcome: a write may have landed even if its answer was lost.
    state.invalidate_patient(id).await;
    let window = window?;
    audit::record(
        state,
        Entry::new(Action::BreakGlass, true, "break-glass")
            .by(&caller.practitioner)
            .patient(id)
            .detail(format!("break-glass:{window}")),
    )
    .await?;
    // Told: the institution's privacy officers and everyone caring for the patient.
    let mut told: BTreeSet<PractitionerId> = state
        .store
        .practitioners_of(
            caller.practitioner.institution_id,
            Some(PractitionerStatus::Certified),
        )
        .await?
        .into_iter()
        .filter(|o| o.details.roles.contains(&Role::PrivacyOfficer))
        .map(|o| o.id)
        .collect();
    told.extend(state.store.care_team(id).await?);
    told.remove(&caller.id());
    for to in told {
        state
            .notifier
            .publish(
                &state.store,
                to,
                EventKind::BreakGlass {
                    patient_id: id,
                    by: caller.id(),
                },
            )
            .await;
    }
    Ok(BreakGlassGranted {
        expires_at: at(expires),
    })
}
