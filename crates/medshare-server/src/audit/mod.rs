//! The access record: every decision, allowed or denied, appended to the verifiable Merkle log
//! with who, what, when and on what basis. Ids and fixed codes only.
//!
//! - `log`: batching appender, in-memory RFC 6962 tree, signed tree heads;
//! - `watch`: after each batch, patient access notices and privacy-officer alerts;
//! - `contact`: delivery of access notices to patients' registered contacts.

pub mod contact;
pub mod log;
pub mod watch;

pub use log::{AuditLog, LogError, Receipt};

use crate::error::ApiError;
use crate::state::AppState;
use medshare_model::{DocumentId, InstitutionId, PatientId, PractitionerId};

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
    ContactSet,
    ContactClear,
    AuditRead,
    AuditExport,
    BreakGlassReview,
    RoomCreate,
    RoomAdd,
    RoomRemove,
    RoomRefused,
    OncallSet,
    ConsultRequest,
    ConsultEscalate,
    ConsultUnanswered,
    ConsultAck,
    ConsultAnswer,
    ConsultRefused,
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
            Self::ContactSet => "patient.contact-set",
            Self::ContactClear => "patient.contact-clear",
            Self::AuditRead => "audit.read",
            Self::AuditExport => "audit.export",
            Self::BreakGlassReview => "break-glass.review",
            Self::RoomCreate => "room.create",
            Self::RoomAdd => "room.add-member",
            Self::RoomRemove => "room.remove-member",
            Self::RoomRefused => "room.refused",
            Self::OncallSet => "oncall.set",
            Self::ConsultRequest => "consult.request",
            Self::ConsultEscalate => "consult.escalate",
            Self::ConsultUnanswered => "consult.unanswered",
            Self::ConsultAck => "consult.acknowledge",
            Self::ConsultAnswer => "consult.answer",
            Self::ConsultRefused => "consult.refused",
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
    /// Reference to more detail, e.g. `break-glass:17`.
    pub detail: Option<String>,
    /// The actor is a service identity (an institution gateway): recorded as `service` in the
    /// entry's detail, before any other detail (`service;...`).
    pub service: bool,
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
            detail: None,
            service: false,
        }
    }
    pub fn by(mut self, p: &medshare_store::PractitionerRow) -> Self {
        self.actor = Some(p.id);
        self.institution = Some(p.institution_id);
        self.service = p.details.profession.is_service();
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
    pub fn detail(mut self, d: String) -> Self {
        self.detail = Some(d);
        self
    }

    fn into_entry(self, at: i64) -> medshare_audit::Entry {
        medshare_audit::Entry {
            at,
            actor: self.actor,
            institution: self.institution,
            action: self.action.as_str().to_string(),
            document: self.document,
            patient: self.patient,
            outcome: if self.allowed { "allowed" } else { "denied" }.to_string(),
            purpose: self.basis.to_string(),
            detail: match (self.service, self.detail) {
                (true, Some(d)) => Some(format!("service;{d}")),
                (true, None) => Some("service".into()),
                (false, d) => d,
            },
        }
    }
}

/// Append an entry and wait until it is durable: an acknowledged action is always recorded;
/// if the log cannot be written the request fails.
pub async fn record(state: &AppState, e: Entry) -> Result<(), ApiError> {
    submit(state, e).await.durable().await.map_err(log_failed)?;
    Ok(())
}

/// Queue an entry now and await its receipt just before answering, so the request's own work
/// overlaps the log's commit.
pub async fn submit(state: &AppState, e: Entry) -> Receipt {
    state.audit.submit(e.into_entry(state.now())).await
}

/// An entry stamped now, for a store transaction that appends it itself
/// ([`medshare_store::DocumentStore::commit_document_logged`]); hand what it returns to
/// [`AuditLog::adopt`].
pub fn stamped(state: &AppState, e: Entry) -> medshare_audit::Entry {
    e.into_entry(state.now())
}

/// A log failure as the caller sees it (details go to the hub's own log).
pub fn log_failed(e: LogError) -> ApiError {
    tracing::error!(error = %e, "audit log unavailable");
    match e {
        // The database is away (an outage, a restart): temporary, answered 503 like every
        // other store failure, so clients retry instead of reporting a bug.
        LogError::Store(ref s) if s.is_disk_full() => {
            ApiError::new(medshare_model::ErrorCode::InsufficientStorage)
        }
        LogError::Write { disk_full: true } => {
            ApiError::new(medshare_model::ErrorCode::InsufficientStorage)
        }
        LogError::Store(_) | LogError::Write { disk_full: false } => {
            ApiError::new(medshare_model::ErrorCode::Unavailable)
        }
        _ => ApiError::internal(),
    }
}
