//! [`BlobStore`] on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...), through the
//! maintained `object_store` crate (SigV4 signing, retries, multipart uploads).
//!
//! Layout under the configured prefix:
//! - `staging/<uuid>`: uploads received and hashed, not yet committed;
//! - `blobs/<uuid>`: promoted blobs.
//!
//! Crash safety follows the folder store: an object only appears once a PUT or a multipart
//! upload completes (S3 never shows a partial object), promotion is a server-side copy into
//! `blobs/` (a whole object or nothing) followed by deleting the staged object, and start-up
//! sweeps `staging/`. Every request body is signed with its SHA-256 and carries an
//! `x-amz-checksum-sha256` the server verifies; the store also hashes the whole body itself,
//! which is what the hub compares with the uploader's signed binding.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, MultipartUpload, ObjectStore, ObjectStoreExt,
    PutPayload, RetryConfig,
};

use uuid::Uuid;

use crate::{BlobError, BlobRead, BlobStore, ByteRange, ByteStream, Staged};

/// Size of each multipart part (S3's minimum is 5 MiB for all but the last part). Bodies
/// smaller than one part go up in a single PUT.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight per upload: bounds memory to about `(PARTS_IN_FLIGHT + 1) * PART_SIZE`.
const PARTS_IN_FLIGHT: usize = 2;
/// Largest object S3's single-request CopyObject (used by `promote`) accepts.
pub const MAX_BLOB_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Where and how to reach the bucket. Credentials left empty are taken from the standard AWS
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, ...).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `https://s3.example.org` or, for MinIO-like servers, `http://minio:9000`.
    pub endpoint: String,
    /// The bucket holding the ciphertexts (created by the operator).
    pub bucket: String,
    /// The region the request signatures name (any value for most self-hosted servers).
    pub region: String,
    /// Key prefix inside the bucket (e.g. `medshare/`); may be empty.
    pub prefix: String,
    /// Access key; empty to take it from the environment.
    pub access_key_id: String,
    /// Secret key; empty to take it from the environment.
    pub secret_access_key: String,
    /// Allow a plain `http://` endpoint (a server on the same private network only).
    pub allow_http: bool,
    /// Address the bucket as `endpoint/bucket/key` (MinIO, s3s) instead of
    /// `bucket.endpoint/key`.
    pub path_style: bool,
    /// Retries of a request that failed with a server error or a broken connection (reads cut
    /// off mid-body resume from where they stopped, pinned to the same version); `None`:
    /// [`DEFAULT_MAX_RETRIES`].
    pub max_retries: Option<usize>,
    /// Stop retrying a request this long after it was first sent; `None`:
    /// [`DEFAULT_RETRY_TIMEOUT`]. Keep it under the hub's request time-out, so a dead bucket
    /// gives a prompt 503 rather than a hanging request.
    pub retry_timeout: Option<Duration>,
}

/// Retries of a failed request by default (object_store's own default is 10).
pub const DEFAULT_MAX_RETRIES: usize = 4;
/// How long a request is retried by default (object_store's own default is 3 minutes, longer
/// than any client waits for an answer).
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(15);

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &if self.secret_access_key.is_empty() {
                    "<unset>"
                } else {
                    "<redacted>"
                },
            )
            .field("allow_http", &self.allow_http)
            .field("path_style", &self.path_style)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .finish()
    }
}

/// A [`BlobStore`] on an S3-compatible bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    staging: Path,
    blobs: Path,
}

impl std::fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("blobs", &self.blobs.as_ref())
            .finish_non_exhaustive()
    }
}

fn backend(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        // object_store's messages name the bucket and key; keep them to the debug log.
        other => {
            tracing::debug!(error = %other, "object store request failed");
            BlobError::Io(std::io::Error::other("object storage request failed"))
        }
    }
}

impl S3BlobStore {
    /// Build the client. Does not contact the server; see [`S3BlobStore::check`].
    pub fn open(s: &S3Settings) -> Result<Self, BlobError> {
        // reqwest's rustls needs a process-wide crypto provider; the hub uses ring throughout.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&s.bucket)
            .with_virtual_hosted_style_request(!s.path_style)
            .with_allow_http(s.allow_http)
            .with_checksum_algorithm(Checksum::SHA256)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: s.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
                retry_timeout: s.retry_timeout.unwrap_or(DEFAULT_RETRY_TIMEOUT),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(s.allow_http)
                    .with_connect_timeout(Duration::from_secs(10)),
            );
        if !s.endpoint.is_empty() {
            b = b.with_endpoint(&s.endpoint);
        }
        if !s.region.is_empty() {
            b = b.with_region(&s.region);
        }
        if !s.access_key_id.is_empty() {
            b = b.with_access_key_id(&s.access_key_id);
        }
        if !s.secret_access_key.is_empty() {
            b = b.with_secret_access_key(&s.secret_access_key);
        }
        let store = b.build().map_err(|e| {
            tracing::debug!(error = %e, "invalid S3 settings");
            BlobError::Io(std::io::Error::other(
                "invalid S3 settings (endpoint, bucket, region or credentials)",
            ))
        })?;
        let prefix = s.prefix.trim_matches('/');
        let under = |p: &str| {
            if prefix.is_empty() {
                Path::from(p)
            } else {
                Path::from(format!("{prefix}/{p}"))
            }
        };
        Ok(Self {
            store: Arc::new(store),
            staging: under("staging"),
            blobs: under("blobs"),
        })
    }

    /// One signed request, so a wrong endpoint, bucket or key fails at start-up, not at the
    /// first upload.
    pub async fn check(&self) -> Result<(), BlobError> {
        let mut l = self.store.list(Some(&self.blobs));
        match l.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(backend(e)),
        }
    }

    fn staging_path(&self, id: Uuid) -> Path {
        self.staging.clone().join(id.hyphenated().to_string())
    }

    fn blob_path(&self, id: Uuid) -> Path {
        self.blobs.clone().join(id.hyphenated().to_string())
    }

    async fn exists(&self, p: &Path) -> Result<bool, BlobError> {
        match self.store.head(p).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    async fn ids_under(&self, prefix: &Path) -> Result<Vec<(Uuid, SystemTime)>, BlobError> {
        let mut out = Vec::new();
        let mut l = self.store.list(Some(prefix));
        while let Some(meta) = l.next().await {
            let meta = meta.map_err(backend)?;
            let name = meta.location.filename().unwrap_or_default();
            match Uuid::try_parse(name)
                .ok()
                .filter(|id| id.hyphenated().to_string() == name)
            {
                Some(id) => {
                    let modified = SystemTime::UNIX_EPOCH
                        + Duration::from_secs(meta.last_modified.timestamp().max(0) as u64);
                    out.push((id, modified));
                }
                None => tracing::warn!("unexpected object in the blob bucket"),
            }
        }
        Ok(out)
    }
}

/// Aborts a multipart upload that did not complete: on error paths explicitly, in the
/// background if the `stage` future is dropped midway.
struct AbortOnDrop(Option<Box<dyn MultipartUpload>>);

impl AbortOnDrop {
    fn upload(&mut self) -> &mut Box<dyn MultipartUpload> {
        self.0
            .as_mut()
            .expect("upload present until completed or aborted")
    }
    async fn abort(mut self) {
        if let Some(mut u) = self.0.take()
            && let Err(e) = u.abort().await
        {
            tracing::warn!(error = %e, "could not abort a multipart upload");
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(mut u) = self.0.take()
            && let Ok(h) = tokio::runtime::Handle::try_current()
        {
            h.spawn(async move {
                let _ = u.abort().await;
            });
        }
    }
}

/// Read the body into parts of [`PART_SIZE`], hashing and counting on the way.
struct Parts {
    body: ByteStream,
    buf: BytesMut,
    hasher: crate::StageHasher,
    size: u64,
    max_size: u64,
    done: bool,
}

impl Parts {
    /// The next full part, or the final short one; `None` when the body is exhausted.
    async fn next(&mut self) -> Result<Option<Bytes>, BlobError> {
        while !self.done && self.buf.len() < PART_SIZE {
            match self.body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(BlobError::Body)?;
                    self.size = self.size.saturating_add(chunk.len() as u64);
                    if self.size > self.max_size {
                        return Err(BlobError::TooLarge {
                            limit: self.max_size,
                        });
                    }
                    self.hasher.update(&chunk);
                    self.buf.extend_from_slice(&chunk);
                }
                None => self.done = true,
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let n = self.buf.len().min(PART_SIZE);
        Ok(Some(self.buf.split_to(n).freeze()))
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn stage(
        &self,
        staging_id: Uuid,
        body: ByteStream,
        max_size: u64,
    ) -> Result<Staged, BlobError> {
        let path = self.staging_path(staging_id);
        if self.exists(&path).await? {
            return Err(BlobError::AlreadyStaged);
        }
        let mut parts = Parts {
            body,
            buf: BytesMut::new(),
            hasher: crate::StageHasher::default(),
            size: 0,
            max_size,
            done: false,
        };
        let first = parts.next().await?;
        if parts.done && parts.buf.is_empty() {
            // Small body (or empty): one PUT.
            let payload = PutPayload::from(first.unwrap_or_default());
            self.store.put(&path, payload).await.map_err(backend)?;
        } else {
            let upload = self.store.put_multipart(&path).await.map_err(backend)?;
            let mut upload = AbortOnDrop(Some(upload));
            let mut in_flight = FuturesUnordered::new();
            let mut next = first;
            let result: Result<(), BlobError> = async {
                while let Some(part) = next {
                    while in_flight.len() >= PARTS_IN_FLIGHT {
                        in_flight.try_next().await.map_err(backend)?;
                    }
                    in_flight.push(upload.upload().put_part(PutPayload::from(part)));
                    next = parts.next().await?;
                }
                while in_flight.try_next().await.map_err(backend)?.is_some() {}
                upload.upload().complete().await.map_err(backend)?;
                Ok(())
            }
            .await;
            drop(in_flight);
            match result {
                Ok(()) => upload.0 = None,
                Err(e) => {
                    upload.abort().await;
                    return Err(e);
                }
            }
        }
        let (sha256, blake3) = parts.hasher.finalize();
        Ok(Staged {
            staging_id,
            size: parts.size,
            sha256,
            blake3,
        })
    }

    async fn promote(&self, staging_id: Uuid, blob_id: Uuid) -> Result<(), BlobError> {
        let from = self.staging_path(staging_id);
        // Server-side copy: the blob appears whole or not at all; then staging is dropped (a
        // crash in between leaves a staged copy the sweep removes).
        self.store
            .copy(&from, &self.blob_path(blob_id))
            .await
            .map_err(backend)?;
        match self.store.delete(&from).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn discard(&self, staging_id: Uuid) -> Result<(), BlobError> {
        match self.store.delete(&self.staging_path(staging_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn read_staged(&self, staging_id: Uuid) -> Result<ByteStream, BlobError> {
        let got = self
            .store
            .get(&self.staging_path(staging_id))
            .await
            .map_err(backend)?;
        Ok(got
            .into_stream()
            .map_err(|e| std::io::Error::other(backend(e)))
            .boxed())
    }

    async fn get(&self, blob_id: Uuid, range: Option<ByteRange>) -> Result<BlobRead, BlobError> {
        let path = self.blob_path(blob_id);
        let meta = self.store.head(&path).await.map_err(backend)?;
        let total_size = meta.size;
        let (start, len) = match range {
            Some(range) => range.resolve(total_size)?,
            None => (0, total_size),
        };
        if len == 0 {
            return Ok(BlobRead {
                total_size,
                start,
                len,
                body: futures::stream::empty().boxed(),
            });
        }
        // Pin the version read to the one measured, in case the key were ever rewritten.
        let opts = GetOptions::new()
            .with_range(Some(start..start + len))
            .with_if_match(meta.e_tag.clone());
        let got = self.store.get_opts(&path, opts).await.map_err(backend)?;
        let body = got
            .into_stream()
            .map_err(|e| std::io::Error::other(backend(e)))
            .boxed();
        Ok(BlobRead {
            total_size,
            start,
            len,
            body,
        })
    }

    async fn size(&self, blob_id: Uuid) -> Result<u64, BlobError> {
        Ok(self
            .store
            .head(&self.blob_path(blob_id))
            .await
            .map_err(backend)?
            .size)
    }

    async fn delete(&self, blob_id: Uuid) -> Result<(), BlobError> {
        match self.store.delete(&self.blob_path(blob_id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    async fn list(&self) -> Result<Vec<Uuid>, BlobError> {
        let mut ids: Vec<Uuid> = self
            .ids_under(&self.blobs)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn list_older_than(&self, age: Duration) -> Result<Vec<Uuid>, BlobError> {
        let now = SystemTime::now();
        let mut ids: Vec<Uuid> = self
            .ids_under(&self.blobs)
            .await?
            .into_iter()
            .filter(|(_, m)| now.duration_since(*m).unwrap_or(Duration::ZERO) >= age)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    async fn sweep_staging(&self, older_than: Duration) -> Result<usize, BlobError> {
        let now = SystemTime::now();
        let mut removed = 0;
        for (id, modified) in self.ids_under(&self.staging).await? {
            if now.duration_since(modified).unwrap_or(Duration::ZERO) >= older_than {
                self.discard(id).await?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "swept stale staged objects");
        }
        Ok(removed)
    }
}
