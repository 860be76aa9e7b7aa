//! Owns storage of opaque ciphertext blobs: the [`BlobStore`] trait, its crash-safe
//! local-folder implementation [`LocalBlobStore`] and its S3-compatible implementation
//! [`S3BlobStore`] (for several hub replicas).
//!
//! Uploads are streamed into *staging* (hashed and size-limited on the way),
//! then *promoted* under their final id once the metadata store has accepted
//! them. Readers only ever see promoted blobs, and always whole ones.
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use futures::{StreamExt, TryStreamExt};
//! use medshare_blob::{BlobStore, ByteRange, LocalBlobStore};
//! use uuid::Uuid;
//!
//! # async fn demo() -> Result<(), medshare_blob::BlobError> {
//! let dir = tempfile::tempdir()?;
//! let store: Arc<dyn BlobStore> = Arc::new(LocalBlobStore::open(dir.path())?);
//!
//! let body = futures::stream::iter([Ok(Bytes::from_static(b"ciphertext"))]).boxed();
//! let (staging_id, blob_id) = (Uuid::new_v4(), Uuid::new_v4());
//! let staged = store.stage(staging_id, body, 1024).await?;
//! assert_eq!(staged.size, 10);
//! store.promote(staging_id, blob_id).await?;
//!
//! let read = store.get(blob_id, Some(ByteRange::Suffix(4))).await?;
//! assert_eq!((read.start, read.len, read.total_size), (6, 4, 10));
//! let bytes: Vec<Bytes> = read.body.try_collect().await?;
//! assert_eq!(bytes.concat(), b"text");
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```
#![forbid(unsafe_code)]

mod local;
mod s3;

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

pub use local::LocalBlobStore;
pub use s3::{
    MAX_BLOB_BYTES as S3_MAX_BLOB_BYTES, PART_SIZE as S3_PART_SIZE, S3BlobStore, S3Settings,
};

/// A stream of body chunks, as produced by an HTTP body or consumed by a response.
pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// Size of the chunks that [`BlobStore::get`] streams (the local store reads and writes the disk
/// in chunks of this size too): large enough that per-chunk costs (a thread hand-off, a system
/// call, an HTTP frame) vanish next to moving the bytes, small enough to keep a hub's memory
/// flat with many transfers at once.
pub const READ_CHUNK_SIZE: usize = 1024 * 1024;

/// A blob written to staging: not visible to readers until promoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The staging slot, named in `promote` or `discard`.
    pub staging_id: Uuid,
    /// Number of bytes written.
    pub size: u64,
    /// SHA-256 of the bytes written.
    pub sha256: [u8; 32],
    /// BLAKE3 of the bytes written (the digest document bindings name since the seventh
    /// session; SHA-256 stays for older bindings, room blobs and the hub's own records).
    pub blake3: [u8; 32],
}

impl Staged {
    /// The SHA-256 digest as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
    /// The BLAKE3 digest as lowercase hex.
    pub fn blake3_hex(&self) -> String {
        hex::encode(self.blake3)
    }
}

/// The two digests of a blob being staged, updated together.
#[derive(Clone, Debug, Default)]
pub(crate) struct StageHasher {
    sha256: sha2::Sha256,
    blake3: blake3::Hasher,
}

impl StageHasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.sha256.update(bytes);
        self.blake3.update(bytes);
    }
    /// SHA-256 and BLAKE3 of everything hashed.
    pub(crate) fn finalize(self) -> ([u8; 32], [u8; 32]) {
        use sha2::Digest;
        (
            self.sha256.finalize().into(),
            *self.blake3.finalize().as_bytes(),
        )
    }
}

/// The result of [`BlobStore::get`]: the selected bytes `start..start + len`
/// of a blob of `total_size` bytes, as a stream.
pub struct BlobRead {
    /// Size of the whole blob.
    pub total_size: u64,
    /// Offset of the first selected byte.
    pub start: u64,
    /// Number of selected bytes.
    pub len: u64,
    /// The selected bytes.
    pub body: ByteStream,
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead")
            .field("total_size", &self.total_size)
            .field("start", &self.start)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// A single byte range, as in an HTTP `Range: bytes=...` header (RFC 9110 §14.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=start-` (`end_inclusive: None`) or `bytes=start-end`.
    From {
        /// First byte selected.
        start: u64,
        /// Last byte selected, or to the end.
        end_inclusive: Option<u64>,
    },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parse the value of an HTTP `Range` header. `Ok(None)` when it asks for several ranges
    /// (RFC 9110 lets a server ignore those and serve the whole representation);
    /// [`BlobError::InvalidRange`] when it is malformed. `bytes=-0` is well formed but selects
    /// nothing: it parses to `Suffix(0)`, which [`ByteRange::resolve`] answers as unsatisfiable.
    pub fn parse_header(text: &str) -> Result<Option<ByteRange>, BlobError> {
        use http_range_header::{EndPosition, RangeUnsatisfiableError, StartPosition};
        let parsed = match http_range_header::parse_range_header(text) {
            Ok(p) => p,
            Err(RangeUnsatisfiableError::ZeroSuffix) => return Ok(Some(ByteRange::Suffix(0))),
            Err(_) => return Err(BlobError::InvalidRange),
        };
        let [only] = parsed.ranges.as_slice() else {
            return Ok(None);
        };
        Ok(Some(match (only.start, only.end) {
            (StartPosition::FromLast(n), _) => ByteRange::Suffix(n),
            (StartPosition::Index(start), EndPosition::LastByte) => ByteRange::From {
                start,
                end_inclusive: None,
            },
            (StartPosition::Index(start), EndPosition::Index(end)) => ByteRange::From {
                start,
                end_inclusive: Some(end),
            },
        }))
    }

    /// Resolve against a representation of `size` bytes, returning `(start, len)`
    /// with `len >= 1`.
    ///
    /// Follows RFC 9110: a first position at or beyond `size` is unsatisfiable,
    /// a last position beyond the end is clamped, a suffix longer than the blob
    /// selects the whole blob, and a zero-length suffix is unsatisfiable.
    /// An empty blob has no satisfiable range. A range whose end lies before its
    /// start is syntactically invalid ([`BlobError::InvalidRange`]); HTTP servers
    /// should ignore such a `Range` header and serve the whole blob.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), BlobError> {
        match self {
            ByteRange::From {
                start,
                end_inclusive,
            } => {
                if end_inclusive.is_some_and(|end| end < start) {
                    return Err(BlobError::InvalidRange);
                }
                if start >= size {
                    return Err(BlobError::RangeNotSatisfiable { size });
                }
                let end = end_inclusive.map_or(size - 1, |end| end.min(size - 1));
                Ok((start, end - start + 1))
            }
            ByteRange::Suffix(n) => {
                if n == 0 || size == 0 {
                    return Err(BlobError::RangeNotSatisfiable { size });
                }
                let len = n.min(size);
                Ok((size - len, len))
            }
        }
    }
}

/// Errors from a [`BlobStore`]. Display strings never contain file paths.
#[derive(thiserror::Error, Debug)]
pub enum BlobError {
    /// The blob (or, for `promote`, the staged upload) does not exist.
    #[error("blob not found")]
    NotFound,
    /// The upload body exceeded the size limit; nothing was kept.
    #[error("blob exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The requested range lies outside a blob of `size` bytes (HTTP 416).
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size, in bytes.
        size: u64,
    },
    /// The requested range's end lies before its start.
    #[error("invalid byte range")]
    InvalidRange,
    /// `stage` was called with a staging id that is already in use.
    #[error("staging id already in use")]
    AlreadyStaged,
    /// The upload body stream yielded an error; nothing was kept.
    #[error("upload body failed: {0}")]
    Body(#[source] std::io::Error),
    /// The storage backend failed.
    #[error("blob storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Storage of opaque blobs addressed by UUID. Object-store friendly: no
/// operation needs more than whole-object put/rename/get-range/delete/list.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stream `body` into staging under `staging_id`. Stops with
    /// [`BlobError::TooLarge`] (removing the partial data) once more than
    /// `max_size` bytes arrive, and with [`BlobError::Body`] (likewise) if the
    /// stream yields an error. Computes SHA-256 and size while writing and
    /// makes the data durable before returning. If the returned future is
    /// dropped midway, the partial data is removed in the background.
    async fn stage(
        &self,
        staging_id: Uuid,
        body: ByteStream,
        max_size: u64,
    ) -> Result<Staged, BlobError>;

    /// Atomically make a staged blob visible and durable under `blob_id`.
    /// [`BlobError::NotFound`] if nothing is staged under `staging_id`
    /// (e.g. because it was already promoted).
    async fn promote(&self, staging_id: Uuid, blob_id: Uuid) -> Result<(), BlobError>;

    /// Drop a staged blob. Succeeds if it does not exist.
    async fn discard(&self, staging_id: Uuid) -> Result<(), BlobError>;

    /// Read a staged (not yet promoted) blob whole, streamed in chunks: an upload sent in parts
    /// is joined by staging its parts' concatenation. [`BlobError::NotFound`] if nothing is
    /// staged under `staging_id`.
    async fn read_staged(&self, staging_id: Uuid) -> Result<ByteStream, BlobError>;

    /// Read a promoted blob, whole or a byte range, streamed in
    /// [`READ_CHUNK_SIZE`] chunks (memory use does not grow with blob size).
    async fn get(&self, blob_id: Uuid, range: Option<ByteRange>) -> Result<BlobRead, BlobError>;

    /// Size in bytes of a promoted blob.
    async fn size(&self, blob_id: Uuid) -> Result<u64, BlobError>;

    /// Delete a promoted blob. Succeeds if it does not exist.
    async fn delete(&self, blob_id: Uuid) -> Result<(), BlobError>;

    /// Ids of all promoted blobs, sorted (for start-up reconciliation against
    /// the metadata store).
    async fn list(&self) -> Result<Vec<Uuid>, BlobError>;

    /// Ids of promoted blobs last written at least `age` ago, sorted. With several hub
    /// replicas, reconciliation only considers these, so a blob another replica promoted a
    /// moment ago (its metadata commit still in flight) is never taken for an orphan.
    async fn list_older_than(&self, age: Duration) -> Result<Vec<Uuid>, BlobError>;

    /// Remove staged blobs last modified at least `older_than` ago; returns how
    /// many were removed. With `Duration::ZERO` everything staged is removed,
    /// which is only safe when no upload is in flight (at start-up).
    async fn sweep_staging(&self, older_than: Duration) -> Result<usize, BlobError>;
}

#[cfg(test)]
mod range_tests {
    use super::*;

    fn from(start: u64, end: Option<u64>) -> ByteRange {
        ByteRange::From {
            start,
            end_inclusive: end,
        }
    }

    #[test]
    fn resolve_follows_rfc9110() {
        assert_eq!(from(0, None).resolve(10).unwrap(), (0, 10));
        assert_eq!(from(3, None).resolve(10).unwrap(), (3, 7));
        assert_eq!(from(3, Some(5)).resolve(10).unwrap(), (3, 3));
        assert_eq!(from(9, Some(9)).resolve(10).unwrap(), (9, 1));
        assert_eq!(from(3, Some(500)).resolve(10).unwrap(), (3, 7));
        assert_eq!(from(0, Some(u64::MAX)).resolve(10).unwrap(), (0, 10));
        assert_eq!(ByteRange::Suffix(4).resolve(10).unwrap(), (6, 4));
        assert_eq!(ByteRange::Suffix(40).resolve(10).unwrap(), (0, 10));
        assert!(matches!(
            from(10, None).resolve(10),
            Err(BlobError::RangeNotSatisfiable { size: 10 })
        ));
        assert!(matches!(
            from(0, None).resolve(0),
            Err(BlobError::RangeNotSatisfiable { size: 0 })
        ));
        assert!(matches!(
            ByteRange::Suffix(0).resolve(10),
            Err(BlobError::RangeNotSatisfiable { size: 10 })
        ));
        assert!(matches!(
            ByteRange::Suffix(5).resolve(0),
            Err(BlobError::RangeNotSatisfiable { size: 0 })
        ));
        assert!(matches!(
            from(5, Some(4)).resolve(10),
            Err(BlobError::InvalidRange)
        ));
    }
}
