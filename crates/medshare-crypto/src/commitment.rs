//! The document key commitment a signed [`DocumentBinding`] carries.
//!
//! age and the manifest seal use ChaCha20-Poly1305, which does not commit to its key: an
//! uploader who wraps two different document keys for two grantees could show each a different
//! manifest and content under the same signed ciphertext hashes. The binding therefore commits
//! to the key: SHA-256 over a domain-separation label, the document id and the key's canonical
//! secret text (age's `AGE-SECRET-KEY-1...`, which encodes exactly its 32 secret bytes). A key
//! that does not match is refused wherever a document key is unwrapped. With the key fixed, the
//! signed ciphertext and manifest hashes fix the age file key (the header is hashed and its
//! unwrap deterministic), the payload and the manifest: every grantee opens the same bytes. See
//! docs/security.md ("Document key commitment").
//!
//! A hash, not an X25519 public key: checking costs one SHA-256 of about 100 bytes, cheap
//! enough for every timeline entry.
//!
//! [`DocumentBinding`]: medshare_model::statements::DocumentBinding

use crate::keys::EncryptionKey;
use sha2::{Digest, Sha256};

/// Domain separation: no other SHA-256 in medshare starts with these bytes.
const LABEL: &[u8] = b"medshare.document-key-commitment.v1\0";

/// The commitment to `key` as the document key of `document` (its id's text form): 64 hex
/// digits.
pub fn document_key_commitment(document: &str, key: &EncryptionKey) -> String {
    let secret = key.to_secret_string();
    let mut h = Sha256::new();
    h.update(LABEL);
    h.update(document.as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `key` is the document key `commitment` (from a verified binding) commits to for
/// `document`.
pub fn commits_to(commitment: &str, document: &str, key: &EncryptionKey) -> bool {
    // The commitment is public and the key is the caller's own: no secret to time.
    document_key_commitment(document, key) == commitment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commitment_names_one_key_for_one_document() {
        let (k, other) = (EncryptionKey::generate(), EncryptionKey::generate());
        let c = document_key_commitment("doc-a", &k);
        assert_eq!(c.len(), 64);
        assert!(commits_to(&c, "doc-a", &k));
        // The same key again (parsed back from its text) matches: the commitment is
        // deterministic.
        let again = EncryptionKey::from_secret_str(&k.to_secret_string()).unwrap();
        assert!(commits_to(&c, "doc-a", &again));
        assert!(!commits_to(&c, "doc-a", &other), "another key");
        assert!(!commits_to(&c, "doc-b", &k), "another document");
        assert!(!commits_to(&c.to_uppercase(), "doc-a", &k), "not canonical");
        assert_ne!(c, document_key_commitment("doc-b", &k));
    }
}
