//! Verification of the certificate chain a client walks before it trusts a key or a document:
//! alliance root → institution → practitioner (and epoch keys) → document binding.

use crate::CryptoError;
use crate::keys::{check_sign_public, parse_recipient, verify_statement};
use medshare_model::api::ConsentHolder;
use medshare_model::registration::Role;
use medshare_model::statements::{
    AllianceKey, DocumentBinding, InstitutionCert, InstitutionEpochKey, PatientKeyEpoch,
    PractitionerCert, PractitionerRevocation, Signed, decode_key, key_id,
};
use medshare_model::{PatientId, PractitionerId};
use std::collections::BTreeSet;

pub use crate::hash::{HashingReader, HashingWriter, sha256_hex};

fn decode_sign_public(text: &str) -> Result<[u8; 32], CryptoError> {
    let key = decode_key(text).ok_or(CryptoError::BadKey)?;
    check_sign_public(&key)?;
    Ok(key)
}

/// An institution certificate that verified against the alliance root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedInstitution {
    /// The certificate as signed by the alliance root.
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
    /// The certificate as signed by the institution.
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

/// Check a revocation: signed by the practitioner's (verified) institution, naming them.
pub fn verify_revocation(
    inst: &VerifiedInstitution,
    practitioner: PractitionerId,
    s: &Signed,
) -> Result<PractitionerRevocation, CryptoError> {
    let r: PractitionerRevocation = verify_statement(s, &inst.sign_public)?;
    if r.institution_id != inst.cert.institution_id || r.practitioner_id != practitioner {
        return Err(CryptoError::ChainMismatch(
            "a revocation names someone else",
        ));
    }
    Ok(r)
}

/// Check a document binding: signed by the uploader's certified key and naming that uploader
/// and key.
pub fn verify_binding(
    uploader: &VerifiedPractitioner,
    s: &Signed,
) -> Result<DocumentBinding, CryptoError> {
    let binding: DocumentBinding = verify_statement(s, &uploader.sign_public)?;
    check_binding_names(uploader, &binding)?;
    Ok(binding)
}

/// A (signature-checked) binding names this uploader, their key and their service mark.
pub(crate) fn check_binding_names(
    uploader: &VerifiedPractitioner,
    binding: &DocumentBinding,
) -> Result<(), CryptoError> {
    if binding.uploader != uploader.cert.practitioner_id {
        return Err(CryptoError::ChainMismatch("binding names another uploader"));
    }
    if binding.uploader_key != key_id(&uploader.sign_public) {
        return Err(CryptoError::ChainMismatch(
            "binding names another uploader key",
        ));
    }
    if binding.service != uploader.cert.profession.is_service() {
        return Err(CryptoError::ChainMismatch(
            "binding's service mark disagrees with the uploader's certificate",
        ));
    }
    Ok(())
}

/// Check the alliance key statement against the pinned root, with a well-formed recipient.
pub fn verify_alliance_key(root_public: &[u8; 32], s: &Signed) -> Result<AllianceKey, CryptoError> {
    let key: AllianceKey = verify_statement(s, root_public)?;
    parse_recipient(&key.recipient)?;
    Ok(key)
}

/// Check one patient key epoch statement: signed by the certified clinician it names, of the
/// institution it names, with a well-formed recipient. Where it stands in the patient's chain
/// is [`verify_patient_chain`]'s business.
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
    if epoch.institution_id != signer.cert.institution_id {
        return Err(CryptoError::ChainMismatch(
            "patient key names another institution than its signer's",
        ));
    }
    if !signer.cert.roles.contains(&Role::Clinician) {
        return Err(CryptoError::ChainMismatch(
            "patient keys are signed by clinicians only",
        ));
    }
    if epoch.service != signer.cert.profession.is_service() {
        return Err(CryptoError::ChainMismatch(
            "patient key's service mark disagrees with its signer's certificate",
        ));
    }
    // A service (gateway) may register a patient for its institution; consent changes (every
    // later epoch) are a person's decision with the patient.
    if epoch.service && epoch.epoch > 1 {
        return Err(CryptoError::ChainMismatch(
            "a service cannot change a patient's consent",
        ));
    }
    parse_recipient(&epoch.recipient)?;
    Ok(epoch)
}

/// Check a patient's whole key chain, in any order the hub served it: epochs 1..n without gaps,
/// each signed by a clinician whose certificate `signer` returns (already verified against the
/// alliance root), epoch 1 holding the signer's institution, every later epoch naming the digest
/// of the one before and signed by a clinician of an institution the previous epoch names as a
/// holder, references never dropped. Returns the epochs in order.
pub fn verify_patient_chain(
    patient_id: PatientId,
    statements: &[Signed],
    signer: impl Fn(PractitionerId) -> Option<VerifiedPractitioner>,
) -> Result<Vec<PatientKeyEpoch>, CryptoError> {
    let mut chain: Vec<(PatientKeyEpoch, &Signed)> = Vec::with_capacity(statements.len());
    for s in statements {
        let claimed: PatientKeyEpoch = s.payload_as()?;
        let who = signer(claimed.signed_by).ok_or(CryptoError::ChainMismatch(
            "a patient key's signer is not a certified practitioner",
        ))?;
        chain.push((verify_patient_key_epoch(&who, s)?, s));
    }
    chain.sort_by_key(|(e, _)| e.epoch);
    if chain.is_empty() {
        return Err(CryptoError::ChainMismatch("the patient has no key"));
    }
    let mut out: Vec<PatientKeyEpoch> = Vec::with_capacity(chain.len());
    for (i, (e, _)) in chain.iter().enumerate() {
        if e.patient_id != patient_id {
            return Err(CryptoError::ChainMismatch(
                "a patient key belongs to another patient",
            ));
        }
        if e.epoch as usize != i + 1 {
            return Err(CryptoError::ChainMismatch(
                "the patient's key epochs are incomplete",
            ));
        }
        let holders: BTreeSet<&ConsentHolder> = e.holders.iter().collect();
        if holders.len() != e.holders.len()
            || !e
                .holders
                .iter()
                .any(|h| matches!(h, ConsentHolder::Institution { .. }))
        {
            return Err(CryptoError::ChainMismatch(
                "a patient key must be held by at least one institution, each named once",
            ));
        }
        if e.refs.is_empty() {
            return Err(CryptoError::ChainMismatch(
                "a patient key names no patient references",
            ));
        }
        match out.last() {
            None => {
                if e.previous.is_some() || !e.names_institution(e.institution_id) {
                    return Err(CryptoError::ChainMismatch(
                        "the first patient key must be held by the institution that registered the patient",
                    ));
                }
            }
            Some(prev) => {
                let prev_digest = chain[i - 1].1.digest();
                if e.previous.as_deref() != Some(prev_digest.as_str()) {
                    return Err(CryptoError::ChainMismatch(
                        "a patient key does not extend the previous one",
                    ));
                }
                if !prev.names_institution(e.institution_id) {
                    return Err(CryptoError::ChainMismatch(
                        "a patient key was signed by an institution that did not hold the patient's consent",
                    ));
                }
                if !prev.refs.iter().all(|r| e.refs.contains(r)) {
                    return Err(CryptoError::ChainMismatch(
                        "a patient key drops a patient reference",
                    ));
                }
            }
        }
        out.push(e.clone());
    }
    Ok(out)
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
            service: false,
            document_key_commitment: None,
            ciphertext_blake3: None,
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

        let pke = w.doctor.sign_statement(&epoch_payload(
            PatientId::new(),
            1,
            None,
            &doc.cert,
            vec![ConsentHolder::Institution { id: w.inst_id }],
        ));
        assert!(verify_patient_key_epoch(&doc, &pke).is_ok());
    }

    fn epoch_payload(
        patient_id: PatientId,
        epoch: u32,
        previous: Option<&Signed>,
        signer: &PractitionerCert,
        holders: Vec<ConsentHolder>,
    ) -> PatientKeyEpoch {
        PatientKeyEpoch {
            patient_id,
            epoch,
            previous: previous.map(Signed::digest),
            recipient: EncryptionKey::generate().recipient(),
            refs: vec![PatientRef::from_bytes(&[9; 32])],
            holders,
            signed_by: signer.practitioner_id,
            institution_id: signer.institution_id,
            issued_at: 1_700_000_300,
            service: false,
        }
    }

    /// Two institutions with one clinician each, and an administrator of the first.
    struct Two {
        a: VerifiedPractitioner,
        a_key: SigningKey,
        b: VerifiedPractitioner,
        b_key: SigningKey,
        admin: VerifiedPractitioner,
        admin_key: SigningKey,
    }

    fn two() -> Two {
        let w = world();
        let inst_a = verify_institution(&w.root.public(), &w.inst_cert).unwrap();
        let b_inst_key = SigningKey::generate();
        let b_id = InstitutionId::new();
        let inst_b =
            verify_institution(&w.root.public(), &inst_cert(&w.root, b_id, &b_inst_key)).unwrap();
        let member = |inst: &VerifiedInstitution, inst_key: &SigningKey, roles: Vec<Role>| {
            let k = SigningKey::generate();
            let mut c = practitioner_cert(inst.cert.institution_id, &k, &EncryptionKey::generate());
            c.roles = roles;
            (
                verify_practitioner(inst, &inst_key.sign_statement(&c)).unwrap(),
                k,
            )
        };
        let (a, a_key) = member(&inst_a, &w.inst, vec![Role::Clinician]);
        let (b, b_key) = member(&inst_b, &b_inst_key, vec![Role::Clinician]);
        let (admin, admin_key) = member(&inst_a, &w.inst, vec![Role::InstitutionAdmin]);
        Two {
            a,
            a_key,
            b,
            b_key,
            admin,
            admin_key,
        }
    }

    impl Two {
        fn signer(&self) -> impl Fn(PractitionerId) -> Option<VerifiedPractitioner> + '_ {
            move |id| {
                [&self.a, &self.b, &self.admin]
                    .into_iter()
                    .find(|p| p.cert.practitioner_id == id)
                    .cloned()
            }
        }
        fn inst(p: &VerifiedPractitioner) -> ConsentHolder {
            ConsentHolder::Institution {
                id: p.cert.institution_id,
            }
        }
    }

    #[test]
    fn patient_chain_follows_consent() {
        let t = two();
        let pid = PatientId::new();
        let (ha, hb) = (Two::inst(&t.a), Two::inst(&t.b));
        // A registers; A consents to B; B (now a holder) withdraws A.
        let e1 = t
            .a_key
            .sign_statement(&epoch_payload(pid, 1, None, &t.a.cert, vec![ha.clone()]));
        let e2 = t.a_key.sign_statement(&epoch_payload(
            pid,
            2,
            Some(&e1),
            &t.a.cert,
            vec![ha.clone(), hb.clone()],
        ));
        let e3 = t.b_key.sign_statement(&epoch_payload(
            pid,
            3,
            Some(&e2),
            &t.b.cert,
            vec![hb.clone()],
        ));
        // Served out of order: still one chain.
        let chain =
            verify_patient_chain(pid, &[e3.clone(), e1.clone(), e2.clone()], t.signer()).unwrap();
        assert_eq!(
            chain.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );

        let refused = |statements: &[Signed]| {
            assert!(
                matches!(
                    verify_patient_chain(pid, statements, t.signer()),
                    Err(CryptoError::ChainMismatch(_))
                ),
                "expected the chain to be refused"
            )
        };
        // B appends an epoch while only A holds the patient (the insider attack).
        let by_outsider = t.b_key.sign_statement(&epoch_payload(
            pid,
            2,
            Some(&e1),
            &t.b.cert,
            vec![ha.clone(), hb.clone()],
        ));
        refused(&[e1.clone(), by_outsider]);
        // ... even when the patient consented to the whole alliance.
        let e1_alliance = t.a_key.sign_statement(&epoch_payload(
            pid,
            1,
            None,
            &t.a.cert,
            vec![ha.clone(), ConsentHolder::Alliance],
        ));
        let via_alliance = t.b_key.sign_statement(&epoch_payload(
            pid,
            2,
            Some(&e1_alliance),
            &t.b.cert,
            vec![ha.clone(), hb.clone()],
        ));
        refused(&[e1_alliance, via_alliance]);
        // A fork: epoch 2 that does not name epoch 1.
        let forked = t.a_key.sign_statement(&epoch_payload(
            pid,
            2,
            Some(&e2),
            &t.a.cert,
            vec![ha.clone()],
        ));
        refused(&[e1.clone(), forked]);
        // Gaps, a missing first epoch, another patient.
        refused(&[e1.clone(), e3.clone()]);
        refused(&[e2.clone(), e3.clone()]);
        refused(&[]);
        assert!(
            verify_patient_chain(PatientId::new(), std::slice::from_ref(&e1), t.signer()).is_err()
        );
        // The registering institution must hold epoch 1.
        refused(&[t.a_key.sign_statement(&epoch_payload(
            pid,
            1,
            None,
            &t.a.cert,
            vec![hb.clone()],
        ))]);
        // Dropping a reference (to make the patient unfindable by it) is refused.
        let mut fewer = epoch_payload(pid, 2, Some(&e1), &t.a.cert, vec![ha.clone()]);
        fewer.refs = vec![PatientRef::from_bytes(&[8; 32])];
        refused(&[e1.clone(), t.a_key.sign_statement(&fewer)]);
        // A statement naming another institution than its signer's.
        let mut lying = epoch_payload(pid, 1, None, &t.a.cert, vec![hb.clone()]);
        lying.institution_id = t.b.cert.institution_id;
        refused(&[t.a_key.sign_statement(&lying)]);
        // Administrators are not clinicians.
        refused(&[t.admin_key.sign_statement(&epoch_payload(
            pid,
            1,
            None,
            &t.admin.cert,
            vec![Two::inst(&t.admin)],
        ))]);
        // An unknown signer.
        let stranger = SigningKey::generate();
        let mut c = t.a.cert.clone();
        c.practitioner_id = PractitionerId::new();
        assert!(
            verify_patient_chain(
                pid,
                &[stranger.sign_statement(&epoch_payload(pid, 1, None, &c, vec![ha]))],
                t.signer()
            )
            .is_err()
        );
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

    /// A binding without the document key commitment (as signed before it existed) has no
    /// trace of it in its signed text and still verifies; one with it cannot have it altered,
    /// removed or added without breaking the signature.
    #[test]
    fn the_document_key_commitment_is_signed() {
        let w = world();
        let inst = verify_institution(&w.root.public(), &w.inst_cert).unwrap();
        let doc = verify_practitioner(&inst, &w.doctor_cert).unwrap();
        assert!(!w.binding.payload.contains("document_key_commitment"));
        assert_eq!(
            verify_binding(&doc, &w.binding)
                .unwrap()
                .document_key_commitment,
            None
        );
        let key = EncryptionKey::generate();
        let mut p = w.binding_payload.clone();
        let id = p.document_id.to_string();
        let c = crate::commitment::document_key_commitment(&id, &key);
        p.document_key_commitment = Some(c.clone());
        let signed = w.doctor.sign_statement(&p);
        let back = verify_binding(&doc, &signed).unwrap();
        assert!(crate::commitment::commits_to(
            back.document_key_commitment.as_deref().unwrap(),
            &id,
            &key
        ));
        let other = crate::commitment::document_key_commitment(&id, &EncryptionKey::generate());
        let removed = format!(",\"document_key_commitment\":\"{c}\"");
        assert!(signed.payload.contains(&removed));
        for tampered in [
            signed.payload.replace(&c, &other),
            signed.payload.replace(&removed, ""),
        ] {
            let mut t = signed.clone();
            t.payload = tampered;
            assert!(matches!(
                verify_binding(&doc, &t),
                Err(CryptoError::BadSignature)
            ));
        }
        // Added to a binding signed without one.
        let mut added = w.binding.clone();
        added.payload = format!(
            "{},\"document_key_commitment\":\"{c}\"}}",
            added.payload.strip_suffix('}').unwrap()
        );
        assert!(matches!(
            verify_binding(&doc, &added),
            Err(CryptoError::BadSignature)
        ));
    }

    /// A binding naming BLAKE3 (what uploads sign now) cannot be turned by a hub into one
    /// naming SHA-256 (the older format, still accepted): the algorithm is in the signed text.
    #[test]
    fn the_ciphertext_digest_algorithm_is_signed() {
        use medshare_model::statements::CiphertextDigest;
        let w = world();
        let inst = verify_institution(&w.root.public(), &w.inst_cert).unwrap();
        let doc = verify_practitioner(&inst, &w.doctor_cert).unwrap();
        // The older format: SHA-256 only, no trace of BLAKE3 in the signed text.
        assert!(!w.binding.payload.contains("ciphertext_blake3"));
        let old = verify_binding(&doc, &w.binding).unwrap();
        assert_eq!(
            old.ciphertext_digest(),
            CiphertextDigest::Sha256(&sha256_hex(b"ciphertext"))
        );
        // The current format: BLAKE3 only.
        let blake = crate::blake3_hex(b"ciphertext");
        let mut p = w.binding_payload.clone();
        p.ciphertext_sha256 = String::new();
        p.ciphertext_blake3 = Some(blake.clone());
        let signed = w.doctor.sign_statement(&p);
        assert!(!signed.payload.contains("ciphertext_sha256"));
        let back = verify_binding(&doc, &signed).unwrap();
        assert_eq!(back.ciphertext_digest(), CiphertextDigest::Blake3(&blake));
        // Downgraded to SHA-256 (of the same bytes, or of others), or the digest swapped.
        let named = format!("\"ciphertext_blake3\":\"{blake}\"");
        assert!(signed.payload.contains(&named));
        let sha = sha256_hex(b"ciphertext");
        for tampered in [
            signed
                .payload
                .replace(&named, &format!("\"ciphertext_sha256\":\"{sha}\"")),
            signed.payload.replace(&format!(",{named}"), ""),
            signed
                .payload
                .replace(&blake, &crate::blake3_hex(b"other ciphertext")),
        ] {
            assert_ne!(tampered, signed.payload);
            let mut t = signed.clone();
            t.payload = tampered;
            assert!(matches!(
                verify_binding(&doc, &t),
                Err(CryptoError::BadSignature)
            ));
        }
    }

    #[test]
    fn the_service_mark_must_agree_with_the_certificate() {
        let w = world();
        let inst = verify_institution(&w.root.public(), &w.inst_cert).unwrap();
        let doc = verify_practitioner(&inst, &w.doctor_cert).unwrap();
        // A person's binding claiming to come from a service.
        let mut p = w.binding_payload.clone();
        p.service = true;
        assert!(matches!(
            verify_binding(&doc, &w.doctor.sign_statement(&p)),
            Err(CryptoError::ChainMismatch(_))
        ));
        // A service's certificate: its bindings must say so.
        let gw_key = SigningKey::generate();
        let mut gw_cert = practitioner_cert(w.inst_id, &gw_key, &EncryptionKey::generate());
        gw_cert.profession = medshare_model::registration::Profession::Service;
        let gw = verify_practitioner(&inst, &w.inst.sign_statement(&gw_cert)).unwrap();
        let mut b = binding(&gw_cert, &gw_key);
        assert!(matches!(
            verify_binding(&gw, &gw_key.sign_statement(&b)),
            Err(CryptoError::ChainMismatch(_))
        ));
        b.service = true;
        assert!(verify_binding(&gw, &gw_key.sign_statement(&b)).is_ok());
        // A service registers patients (epoch 1) but never signs a consent change.
        let holders = vec![ConsentHolder::Institution { id: w.inst_id }];
        let mut first = epoch_payload(PatientId::new(), 1, None, &gw_cert, holders.clone());
        first.service = true;
        let signed_first = gw_key.sign_statement(&first);
        assert!(verify_patient_key_epoch(&gw, &signed_first).is_ok());
        first.service = false;
        assert!(verify_patient_key_epoch(&gw, &gw_key.sign_statement(&first)).is_err());
        let mut next = epoch_payload(first.patient_id, 2, Some(&signed_first), &gw_cert, holders);
        next.service = true;
        assert!(matches!(
            verify_patient_key_epoch(&gw, &gw_key.sign_statement(&next)),
            Err(CryptoError::ChainMismatch(_))
        ));
    }
}
