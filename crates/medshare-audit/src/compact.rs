//! The hub's RFC 6962 tree in bounded memory. [`MerkleTree`](crate::MerkleTree) keeps every
//! node (about 96 bytes per entry, forever); a hub that runs for months appends millions of
//! entries. This tree keeps only the complete subtrees of `2^chunk_bits` leaves and above (64
//! bytes per chunk: 0.06 bytes per entry with the default 1,024-leaf chunks) plus every node of
//! the open chunk. A proof that reaches inside a closed chunk is made from that chunk's leaves,
//! read back from the store by the caller and checked against the chunk's root first, so a
//! database changed behind the hub's back fails here instead of yielding a false proof.
//!
//! Roots and proofs are byte-for-byte those of RFC 9162 §2.1 (the same as `ct-merkle`'s, which
//! the tests compare against for every size and index up to several chunks).

use crate::entry::Leaf;
use crate::tree::{Proof, Root};
use sha2_digest11::{Digest, Sha256};

type Hash = [u8; 32];

/// Leaves per chunk as a power of two (1,024).
pub const DEFAULT_CHUNK_BITS: u32 = 10;

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompactError {
    /// The proof reaches inside a closed chunk whose leaves were not supplied.
    #[error("the leaves of chunk {0} are needed for this proof")]
    NeedChunk(u64),
    /// The leaves supplied for a chunk do not hash to the root the tree holds for it.
    #[error("the stored leaves of chunk {0} do not match the tree")]
    ChunkMismatch(u64),
    /// The index or size asked for is outside the tree.
    #[error("outside the tree")]
    OutOfRange,
}

/// An append-only RFC 6962 tree holding `O(n / chunk)` hashes; see the module documentation.
pub struct CompactTree {
    bits: u32,
    len: u64,
    /// `levels[j]`: the complete, aligned subtrees of `2^j` leaves, in order. Below `bits`
    /// only those of the open chunk (index 0 = the chunk's first); from `bits` up, all of them.
    levels: Vec<Vec<Hash>>,
}

impl Default for CompactTree {
    fn default() -> Self {
        Self::with_chunk_bits(DEFAULT_CHUNK_BITS)
    }
}

/// The leaves of one closed chunk, read back from the store.
pub struct ChunkLeaves<'a> {
    /// The chunk's index (its first leaf is `index << chunk_bits`).
    pub index: u64,
    /// Every leaf of the chunk, in order.
    pub leaves: &'a [Leaf],
}

/// The RFC 6962 hash of a leaf: `SHA-256(0x00 || leaf)`.
fn leaf_hash(leaf: &Leaf) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The RFC 6962 hash of an interior node: `SHA-256(0x01 || left || right)`.
fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// Nodes of one closed chunk, built from its leaves (`levels[j][i]` as in the tree).
struct Loaded {
    first: u64,
    levels: Vec<Vec<Hash>>,
}

impl Loaded {
    fn build(first: u64, leaves: &[Leaf]) -> Self {
        let mut levels = vec![leaves.iter().map(leaf_hash).collect::<Vec<_>>()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up = below.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(up);
        }
        Self { first, levels }
    }

    fn root(&self) -> Option<&Hash> {
        self.levels.last()?.first()
    }
}

impl CompactTree {
    /// An empty tree with the default chunk size.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree whose chunks hold `2^bits` leaves (`bits` at most 20; tests use small
    /// chunks to reach every case).
    pub fn with_chunk_bits(bits: u32) -> Self {
        let bits = bits.min(20);
        Self {
            bits,
            len: 0,
            levels: vec![Vec::new()],
        }
    }

    /// Leaves per chunk.
    pub fn chunk_len(&self) -> u64 {
        1 << self.bits
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// First leaf of the open chunk.
    fn open_start(&self) -> u64 {
        self.len >> self.bits << self.bits
    }

    /// Hashes held (for the memory figure in the docs and tests).
    pub fn hashes_held(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Append a leaf.
    pub fn push(&mut self, leaf: Leaf) {
        let mut hash = leaf_hash(&leaf);
        let mut index = self.len; // global index at the current level
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            if index & 1 == 0 {
                break;
            }
            let n = self.levels[level].len();
            hash = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            index >>= 1;
            level += 1;
        }
        self.len += 1;
        if self.len.is_multiple_of(self.chunk_len()) {
            // The chunk closed: its root is kept at level `bits`, its inner nodes go.
            for l in self.levels.iter_mut().take(self.bits as usize) {
                l.clear();
            }
        }
    }

    /// The chunk whose leaves [`prove_inclusion`](Self::prove_inclusion) needs for `index`, if
    /// that chunk is closed.
    pub fn chunk_for_inclusion(&self, index: u64) -> Option<u64> {
        (index < self.open_start()).then_some(index >> self.bits)
    }

    /// The chunk whose leaves [`prove_consistency`](Self::prove_consistency) needs for
    /// `old_size`, if the old tree ends inside a closed chunk.
    pub fn chunk_for_consistency(&self, old_size: u64) -> Option<u64> {
        let inside = !old_size.is_multiple_of(self.chunk_len());
        (inside && old_size < self.open_start()).then_some(old_size >> self.bits)
    }

    /// The current root (for an empty tree, SHA-256 of the empty string as RFC 6962 defines).
    pub fn root(&self) -> Root {
        let hash = if self.len == 0 {
            Sha256::digest(b"").into()
        } else {
            // The open chunk is in memory: no leaves needed.
            self.mth(0, self.len, None).unwrap_or_default()
        };
        Root {
            size: self.len,
            hash,
        }
    }

    /// Proof that leaf `index` is in the current tree; `chunk` must be the leaves of
    /// [`chunk_for_inclusion`](Self::chunk_for_inclusion) when it names one.
    pub fn prove_inclusion(
        &self,
        index: u64,
        chunk: Option<ChunkLeaves<'_>>,
    ) -> Result<Proof, CompactError> {
        if index >= self.len {
            return Err(CompactError::OutOfRange);
        }
        let loaded = self.load(chunk)?;
        let mut path = Vec::new();
        self.path(index, 0, self.len, loaded.as_ref(), &mut path)?;
        Ok(Proof(path.iter().map(hex::encode).collect()))
    }

    /// Proof that the tree of the first `old_size` leaves is a prefix of the current tree;
    /// `chunk` must be the leaves of [`chunk_for_consistency`](Self::chunk_for_consistency)
    /// when it names one.
    pub fn prove_consistency(
        &self,
        old_size: u64,
        chunk: Option<ChunkLeaves<'_>>,
    ) -> Result<Proof, CompactError> {
        if old_size == 0 || old_size > self.len {
            return Err(CompactError::OutOfRange);
        }
        if old_size == self.len {
            return Ok(Proof::default());
        }
        let loaded = self.load(chunk)?;
        let mut out = Vec::new();
        self.subproof(old_size, 0, self.len, true, loaded.as_ref(), &mut out)?;
        Ok(Proof(out.iter().map(hex::encode).collect()))
    }

    /// Build a closed chunk's nodes from its leaves and check them against its kept root.
    fn load(&self, chunk: Option<ChunkLeaves<'_>>) -> Result<Option<Loaded>, CompactError> {
        let Some(c) = chunk else { return Ok(None) };
        let kept = self
            .levels
            .get(self.bits as usize)
            .and_then(|l| l.get(usize::try_from(c.index).ok()?))
            .ok_or(CompactError::OutOfRange)?;
        if c.leaves.len() as u64 != self.chunk_len() {
            return Err(CompactError::ChunkMismatch(c.index));
        }
        let loaded = Loaded::build(c.index << self.bits, c.leaves);
        if loaded.root() != Some(kept) {
            return Err(CompactError::ChunkMismatch(c.index));
        }
        Ok(Some(loaded))
    }

    /// The complete, aligned subtree of `2^level` leaves starting at leaf `first`.
    fn node(&self, level: u32, first: u64, loaded: Option<&Loaded>) -> Result<Hash, CompactError> {
        let (levels, base) = if level >= self.bits || first >= self.open_start() {
            let base = if level >= self.bits {
                0
            } else {
                self.open_start()
            };
            (&self.levels, base)
        } else {
            let chunk = first >> self.bits;
            match loaded {
                Some(l) if l.first >> self.bits == chunk => (&l.levels, l.first),
                _ => return Err(CompactError::NeedChunk(chunk)),
            }
        };
        levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from((first - base) >> level).ok()?))
            .copied()
            .ok_or(CompactError::OutOfRange)
    }

    /// MTH(D[lo:hi]) of RFC 9162 §2.1.1.
    fn mth(&self, lo: u64, hi: u64, loaded: Option<&Loaded>) -> Result<Hash, CompactError> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros(), lo, loaded);
        }
        let k = split(n);
        Ok(node_hash(
            &self.mth(lo, lo + k, loaded)?,
            &self.mth(lo + k, hi, loaded)?,
        ))
    }

    /// PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, bottom-up.
    fn path(
        &self,
        m: u64,
        lo: u64,
        hi: u64,
        loaded: Option<&Loaded>,
        out: &mut Vec<Hash>,
    ) -> Result<(), CompactError> {
        let n = hi - lo;
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < lo + k {
            self.path(m, lo, lo + k, loaded, out)?;
            out.push(self.mth(lo + k, hi, loaded)?);
        } else {
            self.path(m, lo + k, hi, loaded, out)?;
            out.push(self.mth(lo, lo + k, loaded)?);
        }
        Ok(())
    }

    /// SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1 (`m` counted from `lo`).
    fn subproof(
        &self,
        m: u64,
        lo: u64,
        hi: u64,
        whole: bool,
        loaded: Option<&Loaded>,
        out: &mut Vec<Hash>,
    ) -> Result<(), CompactError> {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.mth(lo, hi, loaded)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, loaded, out)?;
            out.push(self.mth(lo + k, hi, loaded)?);
        } else {
            self.subproof(m - k, lo + k, hi, false, loaded, out)?;
            out.push(self.mth(lo, lo + k, loaded)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{MerkleTree, verify_consistency, verify_inclusion};

    fn leaf(i: u64) -> Leaf {
        Sha256::digest(i.to_be_bytes()).into()
    }

    fn chunk_of(leaves: &[Leaf], tree: &CompactTree, c: Option<u64>) -> Option<(u64, Vec<Leaf>)> {
        let c = c?;
        let n = tree.chunk_len() as usize;
        let start = c as usize * n;
        Some((c, leaves[start..start + n].to_vec()))
    }

    /// Every root, inclusion proof and consistency proof equals ct-merkle's, for every size
    /// up to nine chunks of four leaves and every index / old size in it.
    #[test]
    fn same_roots_and_proofs_as_ct_merkle() {
        let mut reference = MerkleTree::new();
        let mut tree = CompactTree::with_chunk_bits(2);
        let mut leaves = Vec::new();
        assert_eq!(tree.root(), reference.root());
        for size in 1..=37u64 {
            leaves.push(leaf(size));
            reference.push(leaf(size));
            tree.push(leaf(size));
            assert_eq!(tree.root(), reference.root(), "root at {size}");
            for i in 0..size {
                let c = chunk_of(&leaves, &tree, tree.chunk_for_inclusion(i));
                let chunk = c.as_ref().map(|(index, l)| ChunkLeaves {
                    index: *index,
                    leaves: l,
                });
                let p = tree.prove_inclusion(i, chunk).unwrap();
                assert_eq!(
                    Some(&p),
                    reference.prove_inclusion(i).as_ref(),
                    "{i} of {size}"
                );
                verify_inclusion(&tree.root(), i, &leaves[i as usize], &p).unwrap();
            }
            for old in 1..=size {
                let c = chunk_of(&leaves, &tree, tree.chunk_for_consistency(old));
                let chunk = c.as_ref().map(|(index, l)| ChunkLeaves {
                    index: *index,
                    leaves: l,
                });
                let p = tree.prove_consistency(old, chunk).unwrap();
                assert_eq!(Some(&p), reference.prove_consistency(old).as_ref());
                let mut old_tree = MerkleTree::new();
                leaves[..old as usize]
                    .iter()
                    .for_each(|l| old_tree.push(*l));
                verify_consistency(&old_tree.root(), &tree.root(), &p).unwrap();
            }
        }
    }

    /// With the default chunks: memory stays per chunk, and proofs across several chunks match.
    #[test]
    fn default_chunks_hold_little_and_agree() {
        let mut reference = MerkleTree::new();
        let mut tree = CompactTree::new();
        let leaves: Vec<Leaf> = (0..5_000).map(leaf).collect();
        for l in &leaves {
            reference.push(*l);
            tree.push(*l);
        }
        assert_eq!(tree.root(), reference.root());
        // 4 closed chunks (4 roots + 2 + 1 above) and the open chunk's 904 leaves' nodes.
        assert!(tree.hashes_held() < 2_000, "{}", tree.hashes_held());
        for i in [0, 1, 1023, 1024, 2047, 3000, 4095, 4096, 4999] {
            let c = chunk_of(&leaves, &tree, tree.chunk_for_inclusion(i));
            let chunk = c.as_ref().map(|(index, l)| ChunkLeaves {
                index: *index,
                leaves: l,
            });
            assert_eq!(
                tree.prove_inclusion(i, chunk).ok(),
                reference.prove_inclusion(i)
            );
        }
        for old in [1, 1000, 1024, 1025, 2048, 4097, 4999, 5000] {
            let c = chunk_of(&leaves, &tree, tree.chunk_for_consistency(old));
            let chunk = c.as_ref().map(|(index, l)| ChunkLeaves {
                index: *index,
                leaves: l,
            });
            assert_eq!(
                tree.prove_consistency(old, chunk).ok(),
                reference.prove_consistency(old)
            );
        }
    }

    /// Leaves that do not hash to the kept chunk root are refused, and a missing chunk is named.
    #[test]
    fn changed_or_missing_chunk_is_refused() {
        let mut tree = CompactTree::with_chunk_bits(2);
        let mut leaves: Vec<Leaf> = (0..10).map(leaf).collect();
        leaves.iter().for_each(|l| tree.push(*l));
        assert_eq!(tree.chunk_for_inclusion(5), Some(1));
        assert_eq!(tree.chunk_for_inclusion(9), None);
        assert_eq!(tree.chunk_for_consistency(4), None);
        assert_eq!(tree.chunk_for_consistency(6), Some(1));
        assert_eq!(
            tree.prove_inclusion(5, None),
            Err(CompactError::NeedChunk(1))
        );
        leaves[5][0] ^= 1;
        let changed = ChunkLeaves {
            index: 1,
            leaves: &leaves[4..8],
        };
        assert_eq!(
            tree.prove_inclusion(5, Some(changed)),
            Err(CompactError::ChunkMismatch(1))
        );
        assert_eq!(
            tree.prove_inclusion(10, None),
            Err(CompactError::OutOfRange)
        );
        assert_eq!(
            tree.prove_consistency(0, None),
            Err(CompactError::OutOfRange)
        );
    }
}
