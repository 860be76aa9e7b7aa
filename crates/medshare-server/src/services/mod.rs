//! Services: the hub's logic, called by thin route handlers. SQL lives in the store, policy in
//! [`crate::policy`], and signatures are checked here with the public keys the hub holds. The hub
//! never decrypts anything.

pub mod alliance;
pub mod audit;
pub mod channels;
pub mod consults;
pub mod documents;
pub mod identity;
pub mod patients;
pub mod rooms;
pub mod search;

use crate::error::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_model::ErrorCode;
use medshare_model::statements::{Signed, Statement, decode_key, key_id};

/// Check a statement's signature against a base64 Ed25519 public key and parse its payload.
pub fn verify<T: Statement>(signed: &Signed, public_b64: &str) -> ApiResult<T> {
    let bad = || ApiError::new(ErrorCode::BadSignature);
    let public = decode_key(public_b64).ok_or_else(bad)?;
    if signed.signer != key_id(&public) {
        return Err(bad());
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| bad())?;
    let sig = ed25519_dalek::Signature::from_bytes(&signed.signature_bytes().map_err(|_| bad())?);
    key.verify_strict(&Signed::signing_input(signed.kind, &signed.payload), &sig)
        .map_err(|_| bad())?;
    signed.payload_as::<T>().map_err(|_| bad())
}

/// A policy refusal as the API reports it: not certified, or forbidden.
pub fn refused(why: crate::policy::Refusal) -> ApiError {
    match why {
        "not-certified" => ApiError::new(ErrorCode::NotCertified),
        _ => ApiError::forbidden(),
    }
}

/// Ask the policy; a refusal becomes the API's error.
pub fn allow(decision: Result<(), crate::policy::Refusal>) -> ApiResult<()> {
    decision.map_err(refused)
}

/// Decode a base64 field, refusing anything larger than `max` bytes.
pub fn decode_b64(text: &str, max: usize, what: &'static str) -> ApiResult<Vec<u8>> {
    if text.len() > max.div_ceil(3) * 4 + 4 {
        return Err(ApiError::bad_request(what));
    }
    B64.decode(text).map_err(|_| ApiError::bad_request(what))
}

/// Syntactic check of an age X25519 recipient (`age1` + 58 bech32 characters).
pub fn check_recipient(r: &str) -> ApiResult<()> {
    let ok = r.len() == 62
        && r.starts_with("age1")
        && r[4..]
            .bytes()
            .all(|b| b"qpzry9x8gf2tvdw0s3jn54khce6mua7l".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("not an age X25519 recipient"))
    }
}

/// Largest sealed key wrap, manifest and card accepted (bytes after base64 decoding).
pub const MAX_WRAP: usize = 4 * 1024;
pub const MAX_MANIFEST: usize = 64 * 1024;
