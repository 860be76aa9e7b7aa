//! Signed statements and certificate chains. The fuzzer cannot forge Ed25519 signatures, so
//! the harness signs whatever payloads the input carries with fixed test keys: the checks
//! after the signature (ids named, keys well formed, epochs in order, holders kept) see
//! arbitrary payloads. A separate pass feeds the input as a served `Signed` statement, which
//! must be refused without panicking.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer;
use medshare_crypto::chain::{
    VerifiedPractitioner, verify_alliance_key, verify_binding, verify_epoch_key,
    verify_institution, verify_patient_chain, verify_practitioner, verify_revocation,
};
use medshare_model::PractitionerId;
use medshare_model::statements::{
    PatientKeyEpoch, PractitionerCert, Signed, StatementKind, decode_key, encode_key, key_id,
};

const ROOT: [u8; 32] = [1; 32];
const INSTITUTION: [u8; 32] = [2; 32];
const PRACTITIONER: [u8; 32] = [3; 32];

/// The separator between payloads in a `statements` input.
const SEP: u8 = 0;

fn public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}

fn sign(seed: &[u8; 32], kind: StatementKind, payload: &str) -> Signed {
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let signature = key.sign(&Signed::signing_input(kind, payload));
    Signed {
        kind,
        payload: payload.to_string(),
        signer: key_id(&key.verifying_key().to_bytes()),
        signature: B64.encode(signature.to_bytes()),
    }
}

/// Payloads separated by NUL: institution certificate (signed by the root), practitioner
/// certificate, institution epoch key and revocation (signed by the institution), document
/// binding, then patient key epochs (signed by the practitioner).
pub fn statements(data: &[u8]) {
    served(data);
    let parts: Vec<&str> = data
        .split(|b| *b == SEP)
        .map(|p| std::str::from_utf8(p).unwrap_or(""))
        .collect();
    let part = |i: usize| parts.get(i).copied().unwrap_or("");
    let root = public(&ROOT);
    let Ok(inst) = verify_institution(&root, &sign(&ROOT, StatementKind::InstitutionCert, part(0)))
    else {
        return;
    };
    let _ = verify_epoch_key(
        &inst,
        &sign(&INSTITUTION, StatementKind::InstitutionEpochKey, part(2)),
    );
    let Ok(practitioner) = verify_practitioner(
        &inst,
        &sign(&INSTITUTION, StatementKind::PractitionerCert, part(1)),
    ) else {
        return;
    };
    let _ = verify_revocation(
        &inst,
        practitioner.cert.practitioner_id,
        &sign(&INSTITUTION, StatementKind::PractitionerRevocation, part(3)),
    );
    if let Ok(b) = verify_binding(
        &practitioner,
        &sign(&PRACTITIONER, StatementKind::DocumentBinding, part(4)),
    ) {
        assert_eq!(b.uploader, practitioner.cert.practitioner_id);
    }
    let epochs: Vec<Signed> = parts
        .iter()
        .skip(5)
        .map(|p| sign(&PRACTITIONER, StatementKind::PatientKeyEpoch, p))
        .collect();
    let patient = epochs
        .first()
        .and_then(|s| s.payload_as::<PatientKeyEpoch>().ok())
        .map(|e| e.patient_id);
    if let Some(patient) = patient {
        let signer = |id: PractitionerId| -> Option<VerifiedPractitioner> {
            (id == practitioner.cert.practitioner_id).then(|| practitioner.clone())
        };
        if let Ok(chain) = verify_patient_chain(patient, &epochs, signer) {
            assert!(!chain.is_empty());
            for (i, e) in chain.iter().enumerate() {
                assert_eq!(e.epoch as usize, i + 1, "epochs come back in order");
                assert_eq!(e.patient_id, patient);
            }
        }
    }
}

/// The input as a statement served by a hub: refused unless validly signed by the root.
fn served(data: &[u8]) {
    let Ok(s) = serde_json::from_slice::<Signed>(data) else {
        return;
    };
    let root = public(&ROOT);
    let _ = s.signature_bytes();
    let _ = s.digest();
    let _ = s.payload_as::<PractitionerCert>();
    let _ = verify_institution(&root, &s);
    let _ = verify_alliance_key(&root, &s);
    if let Some(k) = decode_key(&s.signer) {
        assert_eq!(decode_key(&encode_key(&k)), Some(k));
    }
}

const INSTITUTION_ID: &str = "0b0f6d1e-7c53-4c0e-9d59-6f1f3c1a2b01";
const PRACTITIONER_ID: &str = "2f6b7a10-1d6e-4d39-8a4f-3c2e1b0a9f02";
const PATIENT_ID: &str = "5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c03";
const RECIPIENT: &str = "age1jcq9kd53drn2g64w8ws8l4nr7seku0f9sdsqgl6zmes3700way0sjzkgun";

/// Seeds that verify through the whole chain (checked by this crate's tests), one per
/// variant: a doctor with a binding and two patient key epochs, and a gateway service.
pub const CHAIN_SEEDS: [&str; 2] = ["doctor", "service"];

/// A seed input for [`statements`] whose every payload verifies.
pub fn chain_seed(variant: &str) -> Vec<u8> {
    use serde_json::json;
    let service = variant == "service";
    let (profession, registration, roles) = if service {
        ("service", "SYS1", json!(["clinician"]))
    } else {
        (
            "doctor",
            "M12345",
            json!(["clinician", "institution-admin"]),
        )
    };
    let inst_key = encode_key(&public(&INSTITUTION));
    let pract_key = encode_key(&public(&PRACTITIONER));
    let holders = json!([{"kind": "institution", "id": INSTITUTION_ID}]);
    const REF: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let epoch1 = json!({
        "patient_id": PATIENT_ID, "epoch": 1, "previous": null, "recipient": RECIPIENT,
        "refs": [REF], "holders": holders, "signed_by": PRACTITIONER_ID,
        "institution_id": INSTITUTION_ID, "issued_at": 1_700_000_000, "service": service,
    })
    .to_string();
    let mut parts = vec![
        json!({"institution_id": INSTITUTION_ID, "name": "Test Hospital", "code": "TST",
               "sign_public": inst_key, "issued_at": 1_700_000_000})
        .to_string(),
        json!({"practitioner_id": PRACTITIONER_ID, "institution_id": INSTITUTION_ID,
               "handle": "dr-test", "name": "Test", "profession": profession,
               "registration": registration, "specialty": null, "roles": roles,
               "sign_public": pract_key, "recipient": RECIPIENT, "issued_at": 1_700_000_000})
        .to_string(),
        json!({"institution_id": INSTITUTION_ID, "epoch": 1, "recipient": RECIPIENT,
               "issued_at": 1_700_000_000})
        .to_string(),
        json!({"practitioner_id": PRACTITIONER_ID, "institution_id": INSTITUTION_ID,
               "revoked_at": 1_700_000_100})
        .to_string(),
        json!({"document_id": "7d6c5b4a-3f2e-4d1c-9b0a-8f7e6d5c4b04", "patient_id": PATIENT_ID,
               "patient_ref": "00".repeat(32), "ciphertext_sha256": "ab".repeat(32),
               "ciphertext_size": 1024, "manifest_sha256": "cd".repeat(32),
               "uploader": PRACTITIONER_ID, "uploader_key": key_id(&public(&PRACTITIONER)),
               "signed_at": 1_700_000_050, "service": service})
        .to_string(),
        epoch1.clone(),
    ];
    if !service {
        let previous = sign(&PRACTITIONER, StatementKind::PatientKeyEpoch, &epoch1).digest();
        parts.push(
            json!({
                "patient_id": PATIENT_ID, "epoch": 2, "previous": previous,
                "recipient": RECIPIENT, "refs": [REF],
                "holders": [{"kind": "institution", "id": INSTITUTION_ID}, {"kind": "alliance"}],
                "signed_by": PRACTITIONER_ID, "institution_id": INSTITUTION_ID,
                "issued_at": 1_700_000_200,
            })
            .to_string(),
        );
    }
    parts.join("\0").into_bytes()
}

/// The seeds verify all the way (so fuzzing starts deep in the chain checks).
#[cfg(test)]
mod tests {
    use super::*;
    use medshare_model::PatientId;

    #[test]
    fn chain_seeds_verify_through_the_whole_chain() {
        for variant in CHAIN_SEEDS {
            let data = chain_seed(variant);
            let parts: Vec<&str> = std::str::from_utf8(&data).unwrap().split('\0').collect();
            let root = public(&ROOT);
            let inst = verify_institution(
                &root,
                &sign(&ROOT, StatementKind::InstitutionCert, parts[0]),
            )
            .unwrap();
            verify_epoch_key(
                &inst,
                &sign(&INSTITUTION, StatementKind::InstitutionEpochKey, parts[2]),
            )
            .unwrap();
            let p = verify_practitioner(
                &inst,
                &sign(&INSTITUTION, StatementKind::PractitionerCert, parts[1]),
            )
            .unwrap();
            verify_revocation(
                &inst,
                p.cert.practitioner_id,
                &sign(
                    &INSTITUTION,
                    StatementKind::PractitionerRevocation,
                    parts[3],
                ),
            )
            .unwrap();
            verify_binding(
                &p,
                &sign(&PRACTITIONER, StatementKind::DocumentBinding, parts[4]),
            )
            .unwrap();
            let epochs: Vec<Signed> = parts[5..]
                .iter()
                .map(|e| sign(&PRACTITIONER, StatementKind::PatientKeyEpoch, e))
                .collect();
            let patient: PatientId = PATIENT_ID.parse().unwrap();
            let chain = verify_patient_chain(patient, &epochs, |_| Some(p.clone())).unwrap();
            assert_eq!(chain.len(), parts.len() - 5, "{variant}");
            statements(&data);
        }
    }
}
