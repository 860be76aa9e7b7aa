//! The access policy, in one place. Cryptography bounds who could ever read a record; this
//! module decides who may read it now:
//!
//! a certified practitioner may read a document if they uploaded it, hold an unexpired and
//! unrevoked grant on it, or belong to an institution holding the patient's consent (for that
//! institution or the whole alliance) and have a declared care relationship or an active
//! break-glass window for the patient.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;
use medshare_model::PatientId;
use medshare_model::api::ConsentHolder;
use medshare_store::{DocumentRow, GrantRow};

/// Why access was allowed or denied (recorded in the access log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Uploader,
    Grant,
    Care,
    BreakGlass,
    /// Denied: the practitioner is not certified.
    NotCertified,
    /// Denied: nothing in the policy allows it.
    NoBasis,
}

impl Basis {
    pub fn allowed(self) -> bool {
        matches!(
            self,
            Self::Uploader | Self::Grant | Self::Care | Self::BreakGlass
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploader => "uploader",
            Self::Grant => "grant",
            Self::Care => "care-relationship",
            Self::BreakGlass => "break-glass",
            Self::NotCertified => "not-certified",
            Self::NoBasis => "no-basis",
        }
    }
}

/// Whether the caller's institution holds the patient's consent.
pub fn institution_has_consent(caller: &Caller, consents: &[ConsentHolder]) -> bool {
    consents.iter().any(|c| match c {
        ConsentHolder::Alliance => true,
        ConsentHolder::Institution { id } => *id == caller.practitioner.institution_id,
    })
}

/// Who may change a patient's consent (and so sign the patient key's next epoch): a clinician
/// with a declared care relationship (never break-glass) at an institution that itself holds
/// the consent (alliance-wide consent lets an institution read, not decide). The refusal is
/// the reason the audit log records.
pub fn consent_change(
    caller: &Caller,
    basis: Basis,
    consents: &[ConsentHolder],
) -> Result<(), &'static str> {
    if basis == Basis::NotCertified {
        return Err("not-certified");
    }
    if !caller.has_role(medshare_model::registration::Role::Clinician) {
        return Err("not-a-clinician");
    }
    if caller.is_service() {
        return Err("service-identity");
    }
    let named = consents.iter().any(|c| {
        matches!(c, ConsentHolder::Institution { id } if *id == caller.practitioner.institution_id)
    });
    if !named {
        return Err("institution-not-a-consent-holder");
    }
    match basis {
        Basis::Care => Ok(()),
        Basis::BreakGlass => Err("break-glass-cannot-change-consent"),
        _ => Err("no-care-relationship"),
    }
}

/// Who may register or clear where a patient is told of reads of their records: a privacy
/// officer of an institution that itself holds the patient's consent, or a clinician of such an
/// institution with a care relationship (not break-glass). Alliance-wide consent does not make
/// every privacy officer of the alliance able to redirect a patient's notices.
pub fn contact_change(
    caller: &Caller,
    basis: Basis,
    consents: &[ConsentHolder],
) -> Result<&'static str, &'static str> {
    use medshare_model::registration::Role;
    if caller.require_certified().is_err() {
        return Err("not-certified");
    }
    let named = consents.iter().any(|c| {
        matches!(c, ConsentHolder::Institution { id } if *id == caller.practitioner.institution_id)
    });
    if !named {
        return Err("institution-not-a-consent-holder");
    }
    if caller.has_role(Role::PrivacyOfficer) {
        return Ok("privacy-officer");
    }
    consent_change(caller, basis, consents).map(|()| "care-relationship")
}

/// What only a person may do, never a service identity (an institution gateway): open
/// break-glass, declare care relationships, change consent or a patient's contact. A gateway
/// files records and reads what its uploads and the care relationships clinicians declare for
/// it allow.
pub fn person_only(caller: &Caller) -> Result<(), &'static str> {
    if caller.is_service() {
        Err("service-identity")
    } else {
        Ok(())
    }
}

/// Patient-wide access: consent held by the caller's institution plus care or break-glass.
pub async fn patient_access(
    state: &AppState,
    caller: &Caller,
    patient: PatientId,
) -> ApiResult<Basis> {
    if caller.require_certified().is_err() {
        return Ok(Basis::NotCertified);
    }
    // Records are for clinicians: administrators and privacy officers never read them.
    if !caller.has_role(medshare_model::registration::Role::Clinician) {
        return Ok(Basis::NoBasis);
    }
    let consents = state.store.consents(patient).await?;
    if !institution_has_consent(caller, &consents) {
        return Ok(Basis::NoBasis);
    }
    if state.store.has_care(patient, caller.id()).await? {
        return Ok(Basis::Care);
    }
    if state
        .store
        .break_glass_active(patient, caller.id(), crate::state::now())
        .await?
    {
        return Ok(Basis::BreakGlass);
    }
    Ok(Basis::NoBasis)
}

/// Access to one document, given the caller's patient-wide basis and their grant (if any).
pub fn document_access(
    caller: &Caller,
    doc: &DocumentRow,
    patient_basis: Basis,
    grant: Option<&GrantRow>,
    now: i64,
) -> Basis {
    if patient_basis == Basis::NotCertified {
        return Basis::NotCertified;
    }
    if !caller.has_role(medshare_model::registration::Role::Clinician) {
        return Basis::NoBasis;
    }
    if doc.uploader == caller.id() {
        return Basis::Uploader;
    }
    if grant.is_some_and(|g| g.is_live(now)) {
        return Basis::Grant;
    }
    patient_basis
}
