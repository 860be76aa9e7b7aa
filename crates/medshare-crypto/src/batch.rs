//! Many document bindings checked at once: one Ed25519 batch verification for a page of
//! timeline entries instead of one verification each, every uploader's key decompressed once.
//!
//! A batch either proves every signature or says nothing about which one failed, so a failed
//! batch falls back to checking each statement alone ([`verify_binding`]): the error names the
//! first bad statement's position, exactly as checking one by one would.
//!
//! What is checked is what [`verify_binding`] checks (kind, signer id, signature, uploader, key
//! and service mark), with one difference in the signature equation that docs/security.md
//! describes: `verify_strict`'s explicit refusals (a non-canonical `s`, a non-canonical,
//! undecodable or small-order `R`, a weak key) are all made here before the batch, and the batch
//! equation is the same cofactorless one weighted by random 128-bit factors; it can accept a
//! signature whose equation is off by a small-order point, which only the holder of the signing
//! key can make (the point is inside the hash that binds the signature to its message).

use crate::CryptoError;
use crate::chain::{VerifiedPractitioner, check_binding_names, verify_binding};
use ed25519_dalek::{Signature, VerifyingKey};
use medshare_model::statements::{DocumentBinding, Signed, Statement, key_id};

/// Fewer statements than this are checked one by one: a batch of one or two saves nothing.
const MIN_BATCH: usize = 3;

/// Why a batch was refused: the position (in the slice given) of the first statement that does
/// not check out, and why.
#[derive(Debug, thiserror::Error)]
#[error("statement {index} of the batch: {error}")]
pub struct BatchError {
    /// Position of the first bad statement in the slice given.
    pub index: usize,
    /// What [`verify_binding`] says about it.
    pub error: CryptoError,
}

/// Check every `(uploader, signed binding)` pair as [`verify_binding`] does and return the
/// bindings in the same order. One batch verification for all the signatures; if it fails,
/// each is checked alone to name the first bad one.
pub fn verify_bindings(
    items: &[(&VerifiedPractitioner, &Signed)],
) -> Result<Vec<DocumentBinding>, BatchError> {
    if items.len() < MIN_BATCH {
        return one_by_one(items);
    }
    match batch(items) {
        Ok(bindings) => Ok(bindings),
        // Which one: exactly what checking one by one says.
        Err(_) => one_by_one(items),
    }
}

fn one_by_one(
    items: &[(&VerifiedPractitioner, &Signed)],
) -> Result<Vec<DocumentBinding>, BatchError> {
    items
        .iter()
        .enumerate()
        .map(|(index, (uploader, s))| {
            verify_binding(uploader, s).map_err(|error| BatchError { index, error })
        })
        .collect()
}

/// The `y` coordinates (little-endian, sign bit clear) of the eight points of small order: the
/// identity (1), the point of order 2 (p - 1), those of order 4 (0) and of order 8. A point
/// shares its `y` only with its negation, so these `y`s, with either sign bit, are exactly the
/// encodings of small-order points with `y < p` (checked against curve25519-dalek below).
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [0; 32],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// What `verify_strict` requires of a signature's `R` besides decoding, from its bytes alone
/// (no square root): the canonical encoding of its point (`y < p`; the one other non-canonical
/// form, `x = 0` with the sign bit set, has `y = ±1`, of small order) and not of small order.
/// The batch decodes `R` itself; decoding it here too would cost a fifth of a verification.
fn r_acceptable(r: &[u8; 32]) -> bool {
    let mut y = *r;
    y[31] &= 0x7f;
    // y >= p = 2^255 - 19: 0x7f, thirty 0xff, then a low byte >= 0xed.
    let at_least_p = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    !at_least_p && !SMALL_ORDER_Y.contains(&y)
}

/// The whole batch, or an error that says nothing about which statement failed.
fn batch(items: &[(&VerifiedPractitioner, &Signed)]) -> Result<Vec<DocumentBinding>, CryptoError> {
    // Each distinct uploader key decompressed once (a page has few uploaders: a linear scan).
    let mut keys: Vec<([u8; 32], String, VerifyingKey)> = Vec::new();
    let mut messages = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut verifying = Vec::with_capacity(items.len());
    for (uploader, s) in items {
        if s.kind != DocumentBinding::KIND {
            return Err(CryptoError::WrongKind);
        }
        let public = &uploader.sign_public;
        let i = match keys.iter().position(|(k, _, _)| k == public) {
            Some(i) => i,
            None => {
                let key = VerifyingKey::from_bytes(public).map_err(|_| CryptoError::BadKey)?;
                if key.is_weak() {
                    return Err(CryptoError::BadKey);
                }
                keys.push((*public, key_id(public), key));
                keys.len() - 1
            }
        };
        let (_, id, key) = &keys[i];
        if s.signer != *id {
            return Err(CryptoError::WrongSigner);
        }
        let key = *key;
        let signature = Signature::from_bytes(&s.signature_bytes()?);
        // `verify_strict`'s refusals of `R` (`s` must be canonical: the batch checks it; an `R`
        // that does not decode fails the batch).
        if !r_acceptable(signature.r_bytes()) {
            return Err(CryptoError::BadSignature);
        }
        messages.push(Signed::signing_input(DocumentBinding::KIND, &s.payload));
        signatures.push(signature);
        verifying.push(key);
    }
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &verifying)
        .map_err(|_| CryptoError::BadSignature)?;
    items
        .iter()
        .map(|(uploader, s)| {
            let binding: DocumentBinding = s.payload_as()?;
            check_binding_names(uploader, &binding)?;
            Ok(binding)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{EncryptionKey, SigningKey};
    use crate::sha256_hex;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;
    use medshare_model::registration::{Profession, Role};
    use medshare_model::statements::{PractitionerCert, encode_key};
    use medshare_model::{DocumentId, InstitutionId, PatientId, PatientRef, PractitionerId};

    struct Uploader {
        key: SigningKey,
        verified: VerifiedPractitioner,
    }

    fn uploader(institution: InstitutionId) -> Uploader {
        let key = SigningKey::generate();
        let cert = PractitionerCert {
            practitioner_id: PractitionerId::new(),
            institution_id: institution,
            handle: "dr.chan".parse().unwrap(),
            name: "Chan Tai Man".into(),
            profession: Profession::Doctor,
            registration: "M12345".into(),
            specialty: None,
            roles: vec![Role::Clinician],
            sign_public: encode_key(&key.public()),
            recipient: EncryptionKey::generate().recipient(),
            issued_at: 1_700_000_100,
        };
        let sign_public = key.public();
        Uploader {
            key,
            verified: VerifiedPractitioner { cert, sign_public },
        }
    }

    fn binding(u: &Uploader, n: u64) -> DocumentBinding {
        DocumentBinding {
            document_id: DocumentId::new(),
            patient_id: PatientId::new(),
            patient_ref: PatientRef::from_bytes(&[7; 32]),
            ciphertext_sha256: sha256_hex(b"ciphertext"),
            ciphertext_size: n,
            manifest_sha256: sha256_hex(&n.to_le_bytes()),
            uploader: u.verified.cert.practitioner_id,
            uploader_key: u.key.key_id(),
            signed_at: 1_700_000_200,
            service: false,
            document_key_commitment: None,
            ciphertext_blake3: None,
        }
    }

    /// A page of 40 bindings by two uploaders, interleaved.
    fn page() -> (Uploader, Uploader, Vec<(usize, DocumentBinding, Signed)>) {
        let inst = InstitutionId::new();
        let (a, b) = (uploader(inst), uploader(inst));
        let page = (0..40)
            .map(|n| {
                let (who, u) = if n % 3 == 0 { (1, &b) } else { (0, &a) };
                let p = binding(u, n);
                let s = u.key.sign_statement(&p);
                (who, p, s)
            })
            .collect();
        (a, b, page)
    }

    fn check(
        a: &Uploader,
        b: &Uploader,
        page: &[(usize, DocumentBinding, Signed)],
    ) -> Result<Vec<DocumentBinding>, BatchError> {
        let items: Vec<_> = page
            .iter()
            .map(|(who, _, s)| (if *who == 0 { &a.verified } else { &b.verified }, s))
            .collect();
        verify_bindings(&items)
    }

    #[test]
    fn a_good_page_verifies_in_order() {
        let (a, b, page) = page();
        let got = check(&a, &b, &page).unwrap();
        let want: Vec<_> = page.iter().map(|(_, p, _)| p.clone()).collect();
        assert_eq!(got, want);
        // Short pages are checked one by one, with the same answer.
        assert_eq!(check(&a, &b, &page[..2]).unwrap(), want[..2]);
    }

    #[test]
    fn one_altered_binding_among_good_ones_is_named() {
        let (a, b, mut page) = page();
        // The hub moves document 17 to another patient.
        let patient = page[17].1.patient_id.to_string();
        let s = &mut page[17].2;
        s.payload = s.payload.replace(&patient, &PatientId::new().to_string());
        let e = check(&a, &b, &page).unwrap_err();
        assert_eq!(e.index, 17);
        assert!(matches!(e.error, CryptoError::BadSignature), "{e}");
    }

    #[test]
    fn a_substituted_uploader_key_is_named() {
        let (a, b, mut page) = page();
        // Entry 5 (by `a`) re-signed by `b`'s key, still listed as `a`'s.
        page[5].2 = b.key.sign_statement(&page[5].1);
        let e = check(&a, &b, &page).unwrap_err();
        assert_eq!(e.index, 5);
        assert!(matches!(e.error, CryptoError::WrongSigner), "{e}");
        // Listed as `b`'s: signed by `b`, but it names `a` as uploader.
        page[5].0 = 1;
        let e = check(&a, &b, &page).unwrap_err();
        assert_eq!(e.index, 5);
        assert!(matches!(e.error, CryptoError::ChainMismatch(_)), "{e}");
    }

    /// The byte check of `R` says what decoding it does: canonical and not of small order.
    #[test]
    fn r_check_agrees_with_decoding() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let by_decoding = |r: &[u8; 32]| {
            let c = CompressedEdwardsY(*r);
            c.decompress()
                .map(|p| p.compress() == c && !p.is_small_order())
        };
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for y in SMALL_ORDER_Y {
            for sign in [0, 0x80] {
                let mut r = y;
                r[31] |= sign;
                // Every listed y decodes to a point of small order, with either sign.
                let p = CompressedEdwardsY(r)
                    .decompress()
                    .expect("a small-order y decodes");
                assert!(p.is_small_order());
                cases.push(r);
            }
        }
        // y = p .. 2^255 - 1 (non-canonical), either sign; and y + p for y = 0, 1.
        for low in 0xed..=0xff_u8 {
            for sign in [0x7f, 0xff] {
                let mut r = [0xff; 32];
                r[0] = low;
                r[31] = sign;
                cases.push(r);
            }
        }
        // Real nonces and public keys.
        for n in 0..200u64 {
            let k = SigningKey::generate();
            let s = k.sign_statement(&binding(&uploader(InstitutionId::new()), n));
            let b = B64.decode(&s.signature).unwrap();
            cases.push(b[..32].try_into().unwrap());
            cases.push(k.public());
        }
        for r in cases {
            if let Some(want) = by_decoding(&r) {
                assert_eq!(r_acceptable(&r), want, "{}", hex::encode(r));
            } else {
                // Not a point: the batch itself refuses it.
                assert!(CompressedEdwardsY(r).decompress().is_none());
            }
        }
    }

    /// `verify_strict`'s explicit refusals hold in a batch: a small-order `R`, a non-canonical
    /// `s` (s + l verifies under a lax check), a signature of another kind.
    #[test]
    fn strict_refusals_hold_in_a_batch() {
        let (a, b, page) = page();
        let sig = |s: &Signed| B64.decode(&s.signature).unwrap();

        let mut small_r = page.clone();
        let mut bytes = sig(&small_r[9].2);
        // The identity point's encoding: of small order.
        bytes[..32].fill(0);
        bytes[0] = 1;
        small_r[9].2.signature = B64.encode(&bytes);
        let e = check(&a, &b, &small_r).unwrap_err();
        assert_eq!(e.index, 9);

        let mut big_s = page.clone();
        let mut bytes = sig(&big_s[30].2);
        let s = curve25519_dalek::Scalar::from_canonical_bytes(bytes[32..].try_into().unwrap())
            .unwrap();
        // s + l as 32 little-endian bytes (fits: l < 2^253).
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let (mut carry, mut sum) = (0u16, [0u8; 32]);
        for (i, out) in sum.iter_mut().enumerate() {
            let v = u16::from(s.as_bytes()[i]) + u16::from(l[i]) + carry;
            *out = v as u8;
            carry = v >> 8;
        }
        bytes[32..].copy_from_slice(&sum);
        big_s[30].2.signature = B64.encode(&bytes);
        let e = check(&a, &b, &big_s).unwrap_err();
        assert_eq!(e.index, 30);

        let mut kind = page.clone();
        kind[2].2.kind = medshare_model::statements::StatementKind::PractitionerCert;
        let e = check(&a, &b, &kind).unwrap_err();
        assert_eq!(e.index, 2);
        assert!(matches!(e.error, CryptoError::WrongKind), "{e}");
    }
}
