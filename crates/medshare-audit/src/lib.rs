//! The audit log shared by the hub and every client (builds for wasm): entries and their
//! canonical encoding, the RFC 6962 Merkle tree over them, signed tree heads, and the checks a
//! client runs: inclusion, consistency, and a full rebuild that points at any rewritten entry.
//!
//! ```
//! use medshare_audit::{MerkleTree, TreeHead, verify_consistency};
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let mut tree = MerkleTree::new();
//! tree.push([1u8; 32]);
//! let old = TreeHead::new(tree.root(), 0).sign(&key);
//! tree.push([2u8; 32]);
//! let proof = tree.prove_consistency(1).unwrap();
//! let pinned = key.verifying_key().to_bytes();
//! let old_root = old.verify(&pinned).unwrap();
//! verify_consistency(&old_root, &tree.root(), &proof).unwrap();
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod compact;
pub mod entry;
pub mod head;
pub mod tree;
pub mod verify;

pub use compact::{ChunkLeaves, CompactError, CompactTree};
pub use entry::{Entry, HiddenEntry, Leaf, LoggedEntry, VisibleEntry};
pub use head::{HeadError, SignedTreeHead, TreeHead, log_key_fingerprint};
pub use tree::{MerkleTree, Proof, ProofError, Root, verify_consistency, verify_inclusion};
pub use verify::{Finding, Problem, Report, audit_log};
