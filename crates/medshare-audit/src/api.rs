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
    /// The current signed head.
    pub head: SignedTreeHead,
    /// Proof that it extends the head of the size asked about (`from`), if one was asked for.
    pub consistency: Option<Proof>,
}

/// `GET /v1/audit/inclusion/{seq}`: an entry and the proof that the signed head includes it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionResponse {
    /// The signed head the proof leads to.
    pub head: SignedTreeHead,
    /// The entry.
    pub entry: LoggedEntry,
    /// Audit path from the entry's leaf to that head's root.
    pub proof: Proof,
}

/// One document in a data access request export: what the hub holds about it (the content and
/// its description are end-to-end encrypted).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportedDocument {
    /// The document.
    pub document_id: DocumentId,
    /// Unix seconds.
    pub uploaded_at: i64,
    /// Who filed it.
    pub uploader: PractitionerId,
    /// The institution that filed it.
    pub institution_id: InstitutionId,
    /// Ciphertext bytes.
    pub size: u64,
}

/// `GET /v1/audit/patients/{id}/export`: a patient's documents and full access history, for a
/// data access request under PDPO sections 18-19, with the signed head the history is part of.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DataAccessExport {
    /// The patient's pseudonymous hub id.
    pub patient_id: PatientId,
    /// Unix seconds.
    pub generated_at: i64,
    /// Their documents.
    pub documents: Vec<ExportedDocument>,
    /// Every logged access to their records.
    pub accesses: Vec<LoggedEntry>,
    /// The signed head every listed access is part of.
    pub head: SignedTreeHead,
}
