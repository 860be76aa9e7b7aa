//! Verification of the certificate chain a client walks before it trusts a key or a document:
//! alliance root → institution → practitioner (and epoch keys) → document binding.

use crate::CryptoError;
use crate::keys::{check_sign_public, parse_recipient, verify_statement};
use medshare_model::statements::{
    AllianceKey, DocumentBinding, InstitutionCert, InstitutionEpochKey, PatientKeyEpoch,
    PractitionerCert, Signed, decode_key, key_id,
};

pub use crate::hash::{HashingReader, HashingWriter, sha256_hex};

fn decode_sign_public(text: &str) -> Result<[u8; 32], CryptoError> {
    let key = decode_key(text).ok_or(CryptoError::BadKey)?;
    check_sign_public(&key)?;
    Ok(key)
}

/// An institution certificate that verified against the alliance root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedInstitution {
    pub cert: InstitutionCert,
    /// The institution's Ed25519 public key, decoded from the certificate.
    pub sign_public: [u8; 32],
}

/// Check an institution certificate against the pinned alliance root key.
pub fn verify_institution(
    root_public: &[u8; 32],
    cert: &Signed,
) -> Result<VerifiedInstitution, CryptoError> {
    let cert: InstitutionCert = verify_statement(cert, root_public)?;
    let sign_public = decode_sign_public(&cert.sign_public)?;
    Ok(VerifiedInstitution { cert, sign_public })
}

/// Check an institution epoch key statement: signed by the institution, about the institution,
/// with a well-formed recipient.
pub fn verify_epoch_key(
    inst: &VerifiedInstitution,
    s: &Signed,
) -> Result<InstitutionEpochKey, CryptoError> {
    let epoch: InstitutionEpochKey = verify_statement(s, &inst.sign_public)?;
    if epoch.institution_id != inst.cert.institution_id {
        return Err(CryptoError::ChainMismatch(
            "epoch key names another institution",
        ));
    }
    parse_recipient(&epoch.recipient)?;
    Ok(epoch)
}

/// A practitioner certificate that verified against a verified institution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPractitioner {
    pub cert: PractitionerCert,
    /// The practitioner's Ed25519 public key, decoded from the certificate.
    pub sign_public: [u8; 32],
}

/// Check a practitioner certificate: signed by the institution, naming that institution, with
/// a well-formed recipient and signing key.
pub fn verify_practitioner(
    inst: &VerifiedInstitution,
    cert: &Signed,
) -> Result<VerifiedPractitioner, CryptoError> {
    let cert: PractitionerCert = verify_statement(cert, &inst.sign_public)?;
    if cert.institution_id != inst.cert.institution_id {
        return Err(CryptoError::ChainMismatch(
            "practitioner certificate names another institution",
        ));
    }
    parse_recipient(&cert.recipient)?;
    let sign_public = decode_sign_public(&cert.sign_public)?;
    Ok(VerifiedPractitioner { cert, sign_public })
}

/// Check a document binding: signed by the uploader's certified key and naming that uploader
/// and key.
pub fn verify_binding(
    uploader: &VerifiedPractitioner,
    s: &Signed,
) -> Result<DocumentBinding, CryptoError> {
    let binding: DocumentBinding = verify_statement(s, &uploader.sign_public)?;
    if binding.uploader != uploader.cert.practitioner_id {
        return Err(CryptoError::ChainMismatch("binding names another uploader"));
    }
    if binding.uploader_key != key_id(&uploader.sign_public) {
        return Err(CryptoError::ChainMismatch(
            "binding names another uploader key",
        ));
    }
    Ok(binding)
}

/// Check the alliance key statement against the pinned root, with a well-formed recipient.
pub fn verify_alliance_key(root_public: &[u8; 32], s: &Signed) -> Result<AllianceKey, CryptoError> {
    let key: AllianceKey = verify_statement(s, root_public)?;
    parse_recipient(&key.recipient)?;
    Ok(key)
}

/// Check a patient key epoch statement: signed by a certified practitioner, with a
/// well-formed recipient.
pub fn verify_patient_key_epoch(
    signer: &VerifiedPractitioner,
    s: &Signed,
) -> Result<PatientKeyEpoch, CryptoError> {
    let epoch: PatientKeyEpoch = verify_statement(s, &signer.sign_public)?;
    if epoch.signed_by != signer.cert.practitioner_id {
        return Err(CryptoError::ChainMismatch(
            "patient key signed by someone else",
        ));
    }
    parse_recipient(&epoch.recipient)?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{EncryptionKey, SigningKey};
    use medshare_model::registration::{Profession, Role};
    use medshare_model::statements::encode_key;
    use medshare_model::{DocumentId, InstitutionId, PatientId, PatientRef, PractitionerId};

    struct World {
        root: SigningKey,
        inst_id: InstitutionId,
        inst: SigningKey,
        inst_cert: Signed,
        doctor: SigningKey,
        doctor_enc: EncryptionKey,
        doctor_cert_payload: PractitionerCert,
        doctor_cert: Signed,
        binding_payload: DocumentBinding,
        binding: Signed,
    }

    fn inst_cert(root: &SigningKey, id: InstitutionId, key: &SigningKey) -> Signed {
        root.sign_statement(&InstitutionCert {
            institution_id: id,
            name: "Queen Mary Hospital".into(),
            code: "QMH".into(),
            sign_public: encode_key(&key.public()),
            issued_at: 1_700_000_000,
        })
    }

    fn practitioner_cert(
        inst_id: InstitutionId,
        key: &SigningKey,
        enc: &EncryptionKey,
    ) -> PractitionerCert {
        PractitionerCert {
            practitioner_id: PractitionerId::new(),
            institution_id: inst_id,
            handle: "dr.chan".parse().unwrap(),
            name: "Chan Tai Man".into(),
            profession: Profession::Doctor,
            registration: "M12345".into(),
            specialty: Some("Cardiology".into()),
            roles: vec![Role::Clinician],
            sign_public: encode_key(&key.public()),
            recipient: enc.recipient(),
            issued_at: 1_700_000_100,
        }
    }

    fn binding(uploader: &PractitionerCert, key: &SigningKey) -> DocumentBinding {
        DocumentBinding {
            document_id: DocumentId::new(),
            patient_id: PatientId::new(),
            patient_ref: PatientRef::from_bytes(&[7; 32]),
            ciphertext_sha256: sha256_hex(b"ciphertext"),
            ciphertext_size: 10,
            manifest_sha256: sha256_hex(b"manifest"),
            uploader: uploader.practitioner_id,
            uploader_key: key.key_id(),
            signed_at: 1_700_000_200,
        }
    }

    fn world() -> World {
        let root = SigningKey::generate();
        let inst_id = InstitutionId::new();
        let inst = SigningKey::generate();
        let inst_cert = inst_cert(&root, inst_id, &inst);
        let doctor = SigningKey::generate();
        let doctor_enc = EncryptionKey::generate();
        let doctor_cert_payload = practitioner_cert(inst_id, &doctor, &doctor_enc);
        let doctor_cert = inst.sign_statement(&doctor_cert_payload);
        let binding_payload = binding(&doctor_cert_payload, &doctor);
        let binding = doctor.sign_statement(&binding_payload);
        World {
            root,
            inst_id,
            inst,
            inst_cert,
            doctor,
            doctor_enc,
            doctor_cert_payload,
            doctor_cert,
            binding_payload,
            binding,
        }
    }

    #[test]
    fn full_chain_verifies() {
        let w = world();
        let inst = verify_institution(&w.root.public(), &w.inst_cert).unwrap();
        assert_eq!(inst.sign_public, w.inst.public());
        let doc = verify_practitioner(&inst, &w.doctor_cert).unwrap();
        assert_eq!(doc.cert, w.doctor_cert_payload);
        assert_eq!(doc.sign_public, w.doctor.public());
        assert_eq!(doc.cert.recipient, w.doctor_enc.recipient());
        assert_eq!(verify_binding(&doc, &w.binding).unwrap(), w.binding_payload);

        let epoch = w.inst.sign_statement(&InstitutionEpochKey {
            institution_id: w.inst_id,
            epoch: 1,
            recipient: EncryptionKey::generate().recipient(),
            issued_at: 1,
        });
        assert_eq!(verify_epoch_key(&inst, &epoch).unwrap().epoch, 1);

        let alliance = w.root.sign_statement(&AllianceKey {
            recipient: EncryptionKey::generate().recipient(),
            issued_at: 1,
        });
        assert!(verify_alliance_key(&w.root.public(), &alliance).is_ok());
        assert!(verify_alliance_key(&w.inst.public(), &alliance).is_err());

        let pke = w.doctor.sign_statement(&PatientKeyEpoch {
            patient_id: PatientId::new(),
            epoch: 1,
            recipient: EncryptionKey::generate().recipient(),
            signed_by: doc.cert.practitioner_id,
            issued_at: 1,
        });
        assert!(verify_patient_key_epoch(&doc, &pke).is_ok());
    }

    #[test]
    fn institution_cert_substitutions_fail() {
        let w = world();
        // Self-signed by the institution instead of the root.
        let forged = inst_cert(&w.inst, w.inst_id, &w.inst);
        assert!(matches!(
            verify_institution(&w.root.public(), &forged),
            Err(CryptoError::WrongSigner)
        ));
        // Signed by the root, but the key swapped in the payload afterwards.
        let mut swapped = w.inst_cert.clone();
        swapped.payload = swapped.payload.replace(
            &encode_key(&w.inst.public()),
            &encode_key(&SigningKey::generate().public()),
        );
        assert!(matches!(
            verify_institution(&w.root.public(), &swapped),
            Err(CryptoError::BadSignature)
        ));
        // A practitioner cert passed off as an institution cert.
        assert!(matches!(
            verify_institution(&w.root.public(), &w.doctor_cert),
            Err(CryptoError::WrongKind)
        ));
        // An undecodable or weak key in a genuinely signed cert.
        let bad = w.root.sign_statement(&InstitutionCert {
            institution_id: w.inst_id,
            name: "X".into(),
            code: "X".into(),
            sign_public: encode_key(&[0u8; 32]),
            issued_at: 0,
        });
        assert!(matches!(
            verify_institution(&w.root.public(), &bad),
            Err(CryptoError::BadKey)
        ));
    }

    #[test]
    fn practitioner_cert_substitutions_fail() {
        let w = world();
        let inst = verify_institution(&w.root.public(), &w.inst_cert).unwrap();

        // Signed by another (even certified) institution's key.
        let other_key = SigningKey::generate();
        let other_id = InstitutionId::new();
        let other = verify_institution(&w.root.public(), &inst_cert(&w.root, other_id, &other_key))
            .unwrap();
        let by_other = other_key.sign_statement(&w.doctor_cert_payload);
        assert!(matches!(
            verify_practitioner(&inst, &by_other),
            Err(CryptoError::WrongSigner)
        ));
        // ... and the other institution cannot certify members of this one either.
        assert!(matches!(
            verify_practitioner(&other, &by_other),
            Err(CryptoError::ChainMismatch(_))
        ));
        // The hub claims the signer is the right institution: the signature gives it away.
        let mut relabelled = by_other.clone();
        relabelled.signer = w.inst.key_id();
        assert!(matches!(
            verify_practitioner(&inst, &relabelled),
            Err(CryptoError::BadSignature)
        ));

        // The hub swaps the recipient (to a key it holds) in the signed payload.
        let hub_key = EncryptionKey::generate();
        let mut swapped = w.doctor_cert.clone();
        swapped.payload = swapped
            .payload
            .replace(&w.doctor_enc.recipient(), &hub_key.recipient());
        assert_ne!(swapped.payload, w.doctor_cert.payload);
        assert!(matches!(
            verify_practitioner(&inst, &swapped),
            Err(CryptoError::BadSignature)
        ));

        // A malformed recipient, even genuinely signed, is refused.
        let mut bad = w.doctor_cert_payload.clone();
        bad.recipient = "age1notakey".into();
        assert!(matches!(
            verify_practitioner(&inst, &w.inst.sign_statement(&bad)),
            Err(CryptoError::BadKey)
        ));

        // Epoch keys of another institution are refused.
        let foreign_epoch = w.inst.sign_statement(&InstitutionEpochKey {
            institution_id: other_id,
            epoch: 1,
            recipient: hub_key.recipient(),
            issued_at: 1,
        });
        assert!(matches!(
            verify_epoch_key(&inst, &foreign_epoch),
            Err(CryptoError::ChainMismatch(_))
        ));
    }

    #[test]
    fn binding_substitutions_fail() {
        let w = world();
        let inst = verify_institution(&w.root.public(), &w.inst_cert).unwrap();
        let doc = verify_practitioner(&inst, &w.doctor_cert).unwrap();

        // A colleague (certified by the same institution) signs a binding naming the doctor.
        let colleague_key = SigningKey::generate();
        let colleague_cert =
            practitioner_cert(w.inst_id, &colleague_key, &EncryptionKey::generate());
        let colleague =
            verify_practitioner(&inst, &w.inst.sign_statement(&colleague_cert)).unwrap();
        let by_colleague = colleague_key.sign_statement(&w.binding_payload);
        assert!(matches!(
            verify_binding(&doc, &by_colleague),
            Err(CryptoError::WrongSigner)
        ));
        // Verified against the colleague, the binding names someone else.
        assert!(matches!(
            verify_binding(&colleague, &by_colleague),
            Err(CryptoError::ChainMismatch(_))
        ));
        // Right uploader id, wrong key id.
        let mut p = binding(&colleague_cert, &w.doctor);
        p.uploader = colleague_cert.practitioner_id;
        assert!(matches!(
            verify_binding(&colleague, &colleague_key.sign_statement(&p)),
            Err(CryptoError::ChainMismatch(_))
        ));
        // The hub moves the document to another patient.
        let mut moved = w.binding.clone();
        moved.payload = moved.payload.replace(
            &w.binding_payload.patient_id.to_string(),
            &PatientId::new().to_string(),
        );
        assert!(matches!(
            verify_binding(&doc, &moved),
            Err(CryptoError::BadSignature)
        ));
    }
}
