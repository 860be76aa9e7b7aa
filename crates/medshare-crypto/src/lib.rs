//! All of medshare's cryptography: age keys and streaming seal/open, key wraps, Ed25519 statements and certificate chains, the passphrase KDF and the patient-number blind index (no I/O beyond `Read`/`Write`).
//!
//! ```
//! use medshare_crypto::{keys::EncryptionKey, seal};
//!
//! let key = EncryptionKey::generate();
//! let sealed = seal::seal_bytes(&[key.recipient()], b"discharge summary").unwrap();
//! assert!(sealed.starts_with(b"age-encryption.org/v1"));
//! assert_eq!(&seal::open_bytes(&key, &sealed).unwrap()[..], b"discharge summary");
//! ```
#![forbid(unsafe_code)]

pub mod batch;
pub mod blind;
pub mod chain;
pub mod commitment;
pub mod digest;
pub mod error;
pub mod hash;
pub mod keys;
#[cfg(not(target_arch = "wasm32"))]
pub mod parallel;
#[cfg(not(target_arch = "wasm32"))]
pub mod parallel_seal;
pub mod passphrase;
pub mod seal;
#[cfg(not(target_arch = "wasm32"))]
pub mod stream;
pub mod symmetric;

pub use digest::{CiphertextHasher, DigestAlgorithm, DigestWriter, blake3_hex};
pub use error::CryptoError;
pub use hash::{HashingReader, HashingWriter, sha256_hex};
pub use keys::{EncryptionKey, SigningKey, parse_recipient, verify_statement};

/// Deterministic test bytes that do not repeat within a chunk (xorshift32 from `seed`), for the
/// sealing and streaming tests.
#[cfg(test)]
pub(crate) fn test_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
