//! Signed tree heads: the hub's Ed25519 signature over (size, root, time). Anyone holding one
//! can later demand proof that the log only grew.

use crate::tree::Root;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the hub signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TreeHead {
    /// Number of entries.
    pub size: u64,
    /// RFC 6962 root hash, hex.
    pub root: String,
    /// Unix seconds when signed.
    pub at: i64,
}

/// A tree head with the log key that signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedTreeHead {
    #[serde(flatten)]
    /// The head that was signed.
    pub head: TreeHead,
    /// The log's Ed25519 public key, hex.
    pub log_key: String,
    /// Ed25519 signature over the head's signing bytes, hex.
    pub signature: String,
}

/// Why a signed head is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("the tree head is malformed")]
    /// Not hex, or a key or signature of the wrong length.
    Malformed,
    #[error("the tree head is signed by another log key than the one pinned for this hub")]
    /// Signed by a key other than the pinned one.
    WrongKey,
    #[error("the tree head's signature does not verify")]
    /// The signature does not verify.
    BadSignature,
}

const CONTEXT: &[u8] = b"medshare.audit.tree-head.v1\n";

impl TreeHead {
    /// The head of `root`, signed at `at` (Unix seconds).
    pub fn new(root: Root, at: i64) -> Self {
        Self {
            size: root.size,
            root: root.hash_hex(),
            at,
        }
    }

    fn signing_bytes(&self) -> Vec<u8> {
        let mut out = CONTEXT.to_vec();
        out.extend_from_slice(&serde_json::to_vec(self).expect("a head always serialises"));
        out
    }

    /// The root this head names, if its hash is well formed.
    pub fn root(&self) -> Option<Root> {
        Root::from_hex(self.size, &self.root)
    }

    /// Sign the head with the log key.
    pub fn sign(self, key: &SigningKey) -> SignedTreeHead {
        let signature = key.sign(&self.signing_bytes());
        SignedTreeHead {
            log_key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
            head: self,
        }
    }
}

impl SignedTreeHead {
    /// The log key that claims to have signed this head.
    pub fn key(&self) -> Result<[u8; 32], HeadError> {
        hex::decode(&self.log_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(HeadError::Malformed)
    }

    /// Verify the signature with the pinned log key; returns the root it commits to.
    pub fn verify(&self, log_key: &[u8; 32]) -> Result<Root, HeadError> {
        if &self.key()? != log_key {
            return Err(HeadError::WrongKey);
        }
        let key = VerifyingKey::from_bytes(log_key).map_err(|_| HeadError::Malformed)?;
        let sig: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(HeadError::Malformed)?;
        key.verify(&self.head.signing_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| HeadError::BadSignature)?;
        self.head.root().ok_or(HeadError::Malformed)
    }
}

/// Human-comparable fingerprint of a log key (first 16 bytes of its hex, grouped).
pub fn log_key_fingerprint(key: &[u8; 32]) -> String {
    hex::encode(&key[..16])
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ascii"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_heads_verify_only_unaltered_and_with_the_pinned_key() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let other = SigningKey::generate(&mut rand::rngs::OsRng);
        let root = Root {
            size: 7,
            hash: [9; 32],
        };
        let signed = TreeHead::new(root, 1_790_000_000).sign(&key);
        let pinned = key.verifying_key().to_bytes();
        assert_eq!(signed.verify(&pinned), Ok(root));
        assert_eq!(
            signed.verify(&other.verifying_key().to_bytes()),
            Err(HeadError::WrongKey)
        );
        let mut bigger = signed.clone();
        bigger.head.size = 8;
        assert_eq!(bigger.verify(&pinned), Err(HeadError::BadSignature));
        let mut reroot = signed.clone();
        reroot.head.root = hex::encode([8u8; 32]);
        assert_eq!(reroot.verify(&pinned), Err(HeadError::BadSignature));
        // A head re-signed by another key but claiming the pinned one.
        let mut forged = TreeHead::new(root, 1).sign(&other);
        forged.log_key = hex::encode(pinned);
        assert_eq!(forged.verify(&pinned), Err(HeadError::BadSignature));
    }
}
