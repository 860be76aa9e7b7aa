//! The RFC 6962 Merkle tree over the log's leaves (leaf hash `SHA-256(0x00 || leaf)`, node hash
//! `SHA-256(0x01 || left || right)`), built on `ct-merkle`; proofs travel as lists of hex hashes.

use crate::entry::Leaf;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, HashableLeaf, InclusionProof, RootHash};
use serde::{Deserialize, Serialize};
use sha2_digest11::Sha256;
use utoipa::ToSchema;

/// Why a proof or a root does not check out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("a proof hash is not 32 bytes of hex")]
    /// A proof hash is malformed.
    Malformed,
    #[error("the inclusion proof does not lead to the signed root")]
    /// The inclusion proof fails.
    Inclusion,
    #[error("the newer tree does not extend the older one")]
    /// The consistency proof fails.
    Consistency,
    #[error("the log shrank: the newer tree is smaller than the one seen before")]
    /// The newer tree is smaller.
    Shrank,
}

/// The root of a tree of `size` leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    /// Number of leaves.
    pub size: u64,
    /// Root hash (RFC 6962).
    pub hash: [u8; 32],
}

impl Root {
    /// The root hash as lowercase hex.
    pub fn hash_hex(&self) -> String {
        hex::encode(self.hash)
    }

    /// A root from its size and hex hash; `None` if the hash is not 32 bytes of hex.
    pub fn from_hex(size: u64, hash: &str) -> Option<Self> {
        let bytes: [u8; 32] = hex::decode(hash).ok()?.try_into().ok()?;
        Some(Self { size, hash: bytes })
    }

    fn ct(&self) -> RootHash<Sha256> {
        RootHash::new(self.hash.into(), self.size)
    }
}

/// A proof as it travels: the hashes, hex-encoded, in RFC 6962 order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Proof(pub Vec<String>);

impl Proof {
    fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.chunks(32).map(hex::encode).collect())
    }

    fn to_bytes(&self) -> Result<Vec<u8>, ProofError> {
        let mut out = Vec::with_capacity(self.0.len() * 32);
        for h in &self.0 {
            let b = hex::decode(h).map_err(|_| ProofError::Malformed)?;
            if b.len() != 32 {
                return Err(ProofError::Malformed);
            }
            out.extend_from_slice(&b);
        }
        Ok(out)
    }
}

/// An append-only Merkle tree held in memory (about 96 bytes per entry for the hub's tree of
/// 32-byte leaves).
pub struct MerkleTree<T: HashableLeaf = Leaf> {
    tree: MemoryBackedTree<Sha256, T>,
}

impl<T: HashableLeaf> Default for MerkleTree<T> {
    fn default() -> Self {
        Self {
            tree: MemoryBackedTree::new(),
        }
    }
}

impl<T: HashableLeaf> MerkleTree<T> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a leaf.
    pub fn push(&mut self, leaf: T) {
        self.tree.push(leaf);
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.tree.len()
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The current root (for an empty tree, SHA-256 of the empty string as RFC 6962 defines).
    pub fn root(&self) -> Root {
        let r = self.tree.root();
        Root {
            size: r.num_leaves(),
            hash: (*r.as_bytes()).into(),
        }
    }

    /// Proof that leaf `index` is in the current tree.
    pub fn prove_inclusion(&self, index: u64) -> Option<Proof> {
        if index >= self.len() {
            return None;
        }
        let p: InclusionProof<Sha256> = self.tree.prove_inclusion(index as usize);
        Some(Proof::from_bytes(p.as_bytes()))
    }

    /// Proof that the tree of the first `old_size` leaves is a prefix of the current tree.
    pub fn prove_consistency(&self, old_size: u64) -> Option<Proof> {
        if old_size == 0 || old_size > self.len() {
            return None;
        }
        if old_size == self.len() {
            return Some(Proof::default());
        }
        let p: ConsistencyProof<Sha256> = self
            .tree
            .prove_consistency((self.len() - old_size) as usize);
        Some(Proof::from_bytes(p.as_bytes()))
    }
}

/// Check that `leaf` sits at `index` in the tree with root `root`.
pub fn verify_inclusion<T: HashableLeaf>(
    root: &Root,
    index: u64,
    leaf: &T,
    proof: &Proof,
) -> Result<(), ProofError> {
    let p = InclusionProof::<Sha256>::try_from_bytes(proof.to_bytes()?)
        .map_err(|_| ProofError::Malformed)?;
    root.ct()
        .verify_inclusion(leaf, index, &p)
        .map_err(|_| ProofError::Inclusion)
}

/// Check that `new` extends `old` (an append-only history): the hub cannot have rewritten,
/// removed or reordered anything `old` committed to.
pub fn verify_consistency(old: &Root, new: &Root, proof: &Proof) -> Result<(), ProofError> {
    if new.size < old.size {
        return Err(ProofError::Shrank);
    }
    if old.size == 0 {
        return Ok(());
    }
    if old.size == new.size {
        return if old.hash == new.hash && proof.0.is_empty() {
            Ok(())
        } else {
            Err(ProofError::Consistency)
        };
    }
    let p = ConsistencyProof::<Sha256>::try_from_bytes(proof.to_bytes()?)
        .map_err(|_| ProofError::Malformed)?;
    new.ct()
        .verify_consistency(&old.ct(), &p)
        .map_err(|_| ProofError::Consistency)
}
