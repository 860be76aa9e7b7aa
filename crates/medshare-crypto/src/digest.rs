//! The collision-resistant digest a signed document binding names for the document's
//! ciphertext: BLAKE3 for everything uploaded since the seventh session, SHA-256 for documents
//! written before (which keep opening).
//!
//! The digest must stay collision resistant even though every chunk carries a Poly1305 tag:
//! an insider who knows a document's key can forge chunks whose tags verify, so only a hash of
//! the whole ciphertext, signed by the uploader, fixes the bytes every reader opens. BLAKE3 is
//! as strong for that as SHA-256 and several times cheaper per byte, which is what the download
//! path pays on the same cores that decrypt it.
//!
//! ```
//! use medshare_crypto::digest::{CiphertextHasher, DigestAlgorithm, blake3_hex};
//!
//! let mut h = CiphertextHasher::new(DigestAlgorithm::Blake3);
//! h.update(b"age-encryption.org/v1");
//! assert_eq!(h.finalize_hex(), blake3_hex(b"age-encryption.org/v1"));
//! ```

use sha2::{Digest, Sha256};

/// Which hash a binding names for a document's ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-256: bindings signed before the seventh session (`ciphertext_sha256`).
    Sha256,
    /// BLAKE3 (32-byte output): what uploads sign now (`ciphertext_blake3`).
    Blake3,
}

impl DigestAlgorithm {
    /// The algorithm of a binding's [`medshare_model::statements::CiphertextDigest`].
    pub fn of(d: &medshare_model::statements::CiphertextDigest<'_>) -> Self {
        match d {
            medshare_model::statements::CiphertextDigest::Sha256(_) => Self::Sha256,
            medshare_model::statements::CiphertextDigest::Blake3(_) => Self::Blake3,
        }
    }
}

/// Lowercase hex BLAKE3 of `bytes`.
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// A running hash of a ciphertext with either [`DigestAlgorithm`].
#[derive(Clone)]
pub enum CiphertextHasher {
    /// SHA-256.
    Sha256(Sha256),
    /// BLAKE3 (boxed: its state is about 2 KiB).
    Blake3(Box<blake3::Hasher>),
}

impl std::fmt::Debug for CiphertextHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CiphertextHasher")
            .field(&self.algorithm())
            .finish()
    }
}

impl CiphertextHasher {
    /// An empty hash with `algorithm`.
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            DigestAlgorithm::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
        }
    }
    /// The algorithm hashed with.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Self::Sha256(_) => DigestAlgorithm::Sha256,
            Self::Blake3(_) => DigestAlgorithm::Blake3,
        }
    }
    /// Hash `bytes` next.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Blake3(h) => {
                h.update(bytes);
            }
        }
    }
    /// The digest of everything hashed (the hasher is consumed).
    pub fn finalize(self) -> [u8; 32] {
        match self {
            Self::Sha256(h) => h.finalize().into(),
            Self::Blake3(h) => *h.finalize().as_bytes(),
        }
    }
    /// Lowercase hex of [`Self::finalize`].
    pub fn finalize_hex(self) -> String {
        hex::encode(self.finalize())
    }
}

/// A writer that hashes (with a [`DigestAlgorithm`]) and counts every byte written through it:
/// the ciphertext of an upload sealed piece by piece.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: CiphertextHasher,
    bytes: u64,
}

impl<W> DigestWriter<W> {
    /// Wrap `inner`, hashing with `algorithm`.
    pub fn new(inner: W, algorithm: DigestAlgorithm) -> Self {
        Self {
            inner,
            hasher: CiphertextHasher::new(algorithm),
            bytes: 0,
        }
    }
    /// Lowercase hex digest of everything written so far.
    pub fn finalize_hex(&self) -> String {
        self.hasher.clone().finalize_hex()
    }
    /// Number of bytes written so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }
    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: std::io::Write> std::io::Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // BLAKE3 and SHA-256 of the empty input (the algorithms' published test vectors).
        assert_eq!(
            CiphertextHasher::new(DigestAlgorithm::Blake3).finalize_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            CiphertextHasher::new(DigestAlgorithm::Sha256).finalize_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn pieces_hash_as_the_whole() {
        let data = crate::test_bytes(200_000, 7);
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Blake3] {
            let mut h = CiphertextHasher::new(alg);
            for piece in data.chunks(65_537) {
                h.update(piece);
            }
            let whole = match alg {
                DigestAlgorithm::Sha256 => crate::sha256_hex(&data),
                DigestAlgorithm::Blake3 => blake3_hex(&data),
            };
            assert_eq!(h.finalize_hex(), whole, "{alg:?}");
        }
        assert_ne!(blake3_hex(&data), crate::sha256_hex(&data));
        let mut w = DigestWriter::new(Vec::new(), DigestAlgorithm::Blake3);
        std::io::Write::write_all(&mut w, &data).unwrap();
        assert_eq!(
            (w.finalize_hex(), w.byte_count()),
            (blake3_hex(&data), data.len() as u64)
        );
        assert!(w.get_ref()[..] == data[..]);
    }
}
