//! The access record: every decision, allowed or denied, appended to the store's append-only
//! log with who, what, when and on what basis. Ids and fixed codes only.

use crate::state::{AppState, now};
use medshare_model::{DocumentId, InstitutionId, PatientId, PractitionerId};
use medshare_store::AccessRow;

/// What was attempted.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    Bootstrap,
    RootCommand,
    Enrol,
    Certify,
    RemoveMember,
    LoginSucceeded,
    LoginFailed,
    Logout,
    Search,
    PatientCreate,
    PatientLookup,
    ConsentGrant,
    ConsentRevoke,
    CareDeclare,
    BreakGlass,
    Upload,
    ManifestFetch,
    BlobFetch,
    Share,
    Revoke,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Bootstrap => "alliance.bootstrap",
            Self::RootCommand => "alliance.command",
            Self::Enrol => "practitioner.enrol",
            Self::Certify => "practitioner.certify",
            Self::RemoveMember => "practitioner.remove",
            Self::LoginSucceeded => "login.success",
            Self::LoginFailed => "login.failure",
            Self::Logout => "logout",
            Self::Search => "patient.search",
            Self::PatientCreate => "patient.create",
            Self::PatientLookup => "patient.lookup",
            Self::ConsentGrant => "consent.grant",
            Self::ConsentRevoke => "consent.revoke",
            Self::CareDeclare => "care.declare",
            Self::BreakGlass => "break-glass",
            Self::Upload => "document.upload",
            Self::ManifestFetch => "document.fetch-manifest",
            Self::BlobFetch => "document.fetch-content",
            Self::Share => "document.share",
            Self::Revoke => "document.revoke",
        }
    }
}

/// One entry to append.
pub struct Entry {
    pub actor: Option<PractitionerId>,
    pub institution: Option<InstitutionId>,
    pub action: Action,
    pub document: Option<DocumentId>,
    pub patient: Option<PatientId>,
    pub allowed: bool,
    /// Fixed code: the policy basis (`uploader`, `grant`, `care`, `break-glass`) or the reason
    /// for a denial.
    pub basis: &'static str,
}

impl Entry {
    pub fn new(action: Action, allowed: bool, basis: &'static str) -> Self {
        Self {
            actor: None,
            institution: None,
            action,
            document: None,
            patient: None,
            allowed,
            basis,
        }
    }
    pub fn by(mut self, p: &medshare_store::PractitionerRow) -> Self {
        self.actor = Some(p.id);
        self.institution = Some(p.institution_id);
        self
    }
    pub fn document(mut self, d: DocumentId) -> Self {
        self.document = Some(d);
        self
    }
    pub fn patient(mut self, p: PatientId) -> Self {
        self.patient = Some(p);
        self
    }
}

/// Append an entry. The entry is written before the response leaves, so an acknowledged action
/// is always recorded; if the log cannot be written the request fails.
pub async fn record(state: &AppState, e: Entry) -> Result<(), crate::error::ApiError> {
    state
        .store
        .append_access(&AccessRow {
            seq: 0,
            at: now(),
            actor: e.actor,
            institution_id: e.institution,
            action: e.action.as_str().to_string(),
            document_id: e.document,
            patient_id: e.patient,
            outcome: if e.allowed { "allowed" } else { "denied" }.to_string(),
            basis: e.basis.to_string(),
        })
        .await?;
    Ok(())
}
