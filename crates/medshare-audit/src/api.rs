//! What the hub's audit endpoints return.

use crate::entry::LoggedEntry;
use crate::head::SignedTreeHead;
use crate::tree::Proof;
use medshare_model::{DocumentId, InstitutionId, PatientId, PractitionerId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/audit/head?from=N`: the current signed head, with a consistency proof from the
/// size the caller saw before.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HeadResponse {
    pub head: SignedTreeHead,
    pub consistency: Option<Proof>,
}

/// `GET /v1/audit/inclusion/{seq}`: an entry and the proof that the signed head includes it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionResponse {
    pub head: SignedTreeHead,
    pub entry: LoggedEntry,
    pub proof: Proof,
}

/// One document in a data access request export: what the hub holds about it (the content and
/// its description are end-to-end encrypted).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportedDocument {
    pub document_id: DocumentId,
    /// Unix seconds.
    pub uploaded_at: i64,
    pub uploader: PractitionerId,
    pub institution_id: InstitutionId,
    /// Ciphertext bytes.
    pub size: u64,
}

/// `GET /v1/audit/patients/{id}/export`: a patient's documents and full access history, for a
/// data access request under PDPO sections 18-19, with the signed head the history is part of.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DataAccessExport {
    pub patient_id: PatientId,
    /// Unix seconds.
    pub generated_at: i64,
    pub documents: Vec<ExportedDocument>,
    pub accesses: Vec<LoggedEntry>,
    pub head: SignedTreeHead,
}
