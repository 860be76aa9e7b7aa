//! One audit entry: who did what to which record, when, on what basis, and whether it was
//! allowed. Ids and fixed codes only: never a name, an identifier or any record content.

use medshare_model::{DocumentId, InstitutionId, PatientId, PractitionerId};
use serde::{Deserialize, Serialize};
use sha2_digest11::{Digest, Sha256};
use utoipa::ToSchema;

/// The leaf data of the Merkle tree: SHA-256 of an entry's canonical encoding.
pub type Leaf = [u8; 32];

/// What happened, as appended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// Unix seconds.
    pub at: i64,
    /// Who acted (none for the hub's own acts).
    pub actor: Option<PractitionerId>,
    /// The actor's institution.
    pub institution: Option<InstitutionId>,
    /// Fixed code, e.g. `document.fetch-content`.
    pub action: String,
    /// The document concerned, if any.
    pub document: Option<DocumentId>,
    /// The patient's pseudonymous hub id (never an identifier such as an HKID).
    pub patient: Option<PatientId>,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Fixed code: the policy basis (`uploader`, `grant`, `care-relationship`, `break-glass`)
    /// or the reason for a denial.
    pub purpose: String,
    /// A reference to more detail held elsewhere, e.g. `break-glass:17` (whose sealed reason
    /// only the institution's privacy officers can read).
    pub detail: Option<String>,
}

/// Domain tag of the canonical encoding; a new encoding gets a new tag.
const ENCODING: &str = "medshare.audit.entry.v1";

impl Entry {
    /// The canonical bytes: a JSON array of the encoding tag and the entry with its fields in
    /// declaration order (serde's struct order is fixed), no whitespace.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&(ENCODING, self)).expect("an entry always serialises")
    }

    /// The leaf this entry contributes to the tree.
    pub fn leaf(&self) -> Leaf {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// Whether the decision allowed the act.
    pub fn allowed(&self) -> bool {
        self.outcome == "allowed"
    }
}

/// An entry at its position in the log, as the hub stores and serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoggedEntry {
    /// 1-based sequence number: the entry's tree index is `seq - 1`.
    pub seq: i64,
    #[serde(flatten)]
    /// The entry as appended.
    pub entry: Entry,
    /// The leaf digest recorded when the entry was appended (hex), if any. Lets a verifier
    /// point at the exact entry that was edited afterwards.
    pub leaf: Option<String>,
}

impl LoggedEntry {
    /// The leaf recorded at append time, if present and well formed.
    pub fn recorded_leaf(&self) -> Option<Leaf> {
        let bytes = hex::decode(self.leaf.as_deref()?).ok()?;
        bytes.try_into().ok()
    }
}

/// One position of the log as an auditor may see it: the whole entry within their scope, only
/// its leaf digest outside it. A rebuild needs every leaf; it does not need every entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VisibleEntry {
    /// An entry within the auditor's scope.
    Full(LoggedEntry),
    /// An entry outside it: its position and the leaf recorded when it was appended (hex).
    Hidden(HiddenEntry),
}

/// A position of the log outside the auditor's scope. It admits no other field, so a whole
/// entry matches exactly one of [`VisibleEntry`]'s schemas (an OpenAPI `oneOf` must not match
/// both).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HiddenEntry {
    /// 1-based sequence number.
    pub seq: i64,
    /// Leaf digest, hex.
    pub leaf: String,
}

impl VisibleEntry {
    /// The entry's 1-based sequence number.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Full(e) => e.seq,
            Self::Hidden(h) => h.seq,
        }
    }

    /// Hide an entry, keeping only its position and the leaf of its content as stored now (not
    /// the leaf recorded at append time): an entry edited since no longer matches the signed
    /// heads, so an auditor who may not see it still finds that it changed.
    pub fn hide(e: &LoggedEntry) -> Self {
        Self::Hidden(HiddenEntry {
            seq: e.seq,
            leaf: hex::encode(e.entry.leaf()),
        })
    }
}

impl From<LoggedEntry> for VisibleEntry {
    fn from(e: LoggedEntry) -> Self {
        Self::Full(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Schemathesis found a whole entry valid under both alternatives of the `oneOf`: the
    /// hidden form must refuse other fields.
    #[test]
    fn a_whole_entry_matches_one_schema_only() {
        let schema =
            serde_json::to_value(<VisibleEntry as utoipa::PartialSchema>::schema()).unwrap();
        assert!(
            schema["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["$ref"] == "#/components/schemas/HiddenEntry"),
            "{schema}"
        );
        let hidden =
            serde_json::to_value(<HiddenEntry as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(hidden["additionalProperties"], false, "{hidden}");
    }

    fn sample() -> Entry {
        Entry {
            at: 1_790_000_000,
            actor: Some(PractitionerId(uuid_of(1))),
            institution: Some(InstitutionId(uuid_of(2))),
            action: "document.fetch-content".into(),
            document: Some(DocumentId(uuid_of(3))),
            patient: Some(PatientId(uuid_of(4))),
            outcome: "allowed".into(),
            purpose: "grant".into(),
            detail: None,
        }
    }

    fn uuid_of(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    #[test]
    fn canonical_encoding_is_stable() {
        let bytes = sample().canonical_bytes();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"["medshare.audit.entry.v1",{"at":1790000000,"actor":"00000000-0000-0000-0000-000000000001","institution":"00000000-0000-0000-0000-000000000002","action":"document.fetch-content","document":"00000000-0000-0000-0000-000000000003","patient":"00000000-0000-0000-0000-000000000004","outcome":"allowed","purpose":"grant","detail":null}]"#
        );
    }

    #[test]
    fn every_field_changes_the_leaf() {
        let base = sample().leaf();
        let mut variants = vec![];
        let mut e = sample();
        e.at += 1;
        variants.push(e);
        let mut e = sample();
        e.actor = None;
        variants.push(e);
        let mut e = sample();
        e.institution = Some(InstitutionId(uuid_of(9)));
        variants.push(e);
        let mut e = sample();
        e.action = "document.fetch-manifest".into();
        variants.push(e);
        let mut e = sample();
        e.document = None;
        variants.push(e);
        let mut e = sample();
        e.patient = Some(PatientId(uuid_of(5)));
        variants.push(e);
        let mut e = sample();
        e.outcome = "denied".into();
        variants.push(e);
        let mut e = sample();
        e.purpose = "care-relationship".into();
        variants.push(e);
        let mut e = sample();
        e.detail = Some("break-glass:1".into());
        variants.push(e);
        for v in variants {
            assert_ne!(v.leaf(), base, "{v:?}");
        }
    }
}
