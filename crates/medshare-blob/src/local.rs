//! [`BlobStore`] on a local folder.
//!
//! Layout under the root:
//! - `staging/<uuid>`: uploads in progress or awaiting promotion;
//! - `blobs/<first two hex chars>/<uuid>`: promoted blobs.
//!
//! Crash safety: a blob is written and `fsync`ed in staging, then renamed into
//! `blobs/` (an atomic step) and the target directory is `fsync`ed, so after a
//! crash `blobs/` holds either the whole blob or nothing under its id.

use std::io::{self, Read, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use tokio::fs;
use tokio::io::AsyncSeekExt;
use uuid::Uuid;

use crate::{
    BlobError, BlobRead, BlobStore, ByteRange, ByteStream, READ_CHUNK_SIZE, StageHasher, Staged,
};

const STAGING_DIR: &str = "staging";
const BLOBS_DIR: &str = "blobs";
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// A [`BlobStore`] keeping blobs as files under a root folder.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
    staging: PathBuf,
    blobs: PathBuf,
}

impl LocalBlobStore {
    /// Open (creating if needed) a store at `root`. Creates `root/staging` and
    /// `root/blobs` with mode 0700 on unix (tightening existing ones).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        let staging = root.join(STAGING_DIR);
        let blobs = root.join(BLOBS_DIR);
        create_dir_all_private(&root)?;
        for dir in [&staging, &blobs] {
            create_dir_all_private(dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))?;
            }
        }
        #[cfg(unix)]
        std::fs::File::open(&root)?.sync_all()?;
        Ok(Self {
            root,
            staging,
            blobs,
        })
    }

    /// The root folder of this store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn staging_path(&self, staging_id: Uuid) -> PathBuf {
        self.staging.join(staging_id.hyphenated().to_string())
    }

    fn shard_dir(&self, blob_id: Uuid) -> PathBuf {
        let name = blob_id.hyphenated().to_string();
        self.blobs.join(&name[..2])
    }

    fn blob_path(&self, blob_id: Uuid) -> PathBuf {
        self.shard_dir(blob_id)
            .join(blob_id.hyphenated().to_string())
    }
}

fn create_dir_all_private(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Make changes to the entries of `dir` (creations, renames, removals) durable.
async fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir).await?.sync_all().await?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn not_found_as_blob_error(err: io::Error) -> BlobError {
    if err.kind() == io::ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        BlobError::Io(err)
    }
}

async fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// Removes a partial staging file unless disarmed: explicitly on error paths,
/// in the background if the `stage` future is dropped midway.
struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    fn disarm(mut self) {
        self.path = None;
    }

    async fn remove(mut self) {
        if let Some(path) = self.path.take()
            && let Err(err) = remove_if_exists(&path).await
        {
            tracing::warn!(error = %err, "failed to remove partial staging file");
        }
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = remove_if_exists(&path).await;
                });
            }
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Chunks read from and written to the disk (see [`READ_CHUNK_SIZE`]).
const IO_CHUNK: usize = READ_CHUNK_SIZE;

fn join_error(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(e)
}

/// Hash and write one chunk on the blocking pool; the file and the hasher come back.
fn spawn_write(
    mut file: std::fs::File,
    mut hasher: StageHasher,
    chunk: Bytes,
) -> tokio::task::JoinHandle<io::Result<(std::fs::File, StageHasher)>> {
    tokio::task::spawn_blocking(move || {
        hasher.update(&chunk);
        file.write_all(&chunk)?;
        Ok((file, hasher))
    })
}

/// Write an upload's body to `file` and `fsync` it. The body is gathered into 1 MiB chunks;
/// each is hashed and written by one blocking-pool task (one `write` per chunk) while the next
/// chunk arrives. At most one chunk is in flight and no thread waits on a slow client.
async fn write_body(
    file: fs::File,
    mut body: ByteStream,
    max_size: u64,
) -> Result<(u64, ([u8; 32], [u8; 32])), BlobError> {
    let mut idle = Some((file.into_std().await, StageHasher::default()));
    let mut inflight: Option<tokio::task::JoinHandle<io::Result<(std::fs::File, StageHasher)>>> =
        None;
    let mut size: u64 = 0;
    let mut pending = BytesMut::new();
    let received: Result<(), BlobError> = async {
        loop {
            let next = body.next().await;
            let ready = match next {
                Some(chunk) => {
                    let chunk = chunk.map_err(BlobError::Body)?;
                    size = size.saturating_add(chunk.len() as u64);
                    if size > max_size {
                        return Err(BlobError::TooLarge { limit: max_size });
                    }
                    if pending.is_empty() && chunk.len() >= IO_CHUNK {
                        chunk
                    } else {
                        pending.extend_from_slice(&chunk);
                        if pending.len() < IO_CHUNK {
                            continue;
                        }
                        pending.split().freeze()
                    }
                }
                None if pending.is_empty() => return Ok(()),
                None => pending.split().freeze(),
            };
            if let Some(h) = inflight.take() {
                idle = Some(h.await.map_err(join_error)??);
            }
            let (file, hasher) = idle
                .take()
                .ok_or(BlobError::Io(io::ErrorKind::Other.into()))?;
            inflight = Some(spawn_write(file, hasher, ready));
        }
    }
    .await;
    // Always finish the write in flight, so the file is closed before a failed upload removes it.
    let finished = match inflight.take() {
        Some(h) => Some(h.await.map_err(join_error).and_then(|r| r)),
        None => None,
    };
    received?;
    if let Some(done) = finished {
        idle = Some(done?);
    }
    let (file, hasher) = idle.ok_or(BlobError::Io(io::ErrorKind::Other.into()))?;
    let digests = tokio::task::spawn_blocking(move || -> io::Result<([u8; 32], [u8; 32])> {
        file.sync_all()?;
        Ok(hasher.finalize())
    })
    .await
    .map_err(join_error)??;
    Ok((size, digests))
}

/// Read `want` bytes of `file` from its position on the blocking pool, into a fresh buffer that
/// is never zeroed and goes to the body without a copy; the file comes back.
fn spawn_read(
    mut file: std::fs::File,
    want: u64,
) -> tokio::task::JoinHandle<(std::fs::File, io::Result<Bytes>)> {
    tokio::task::spawn_blocking(move || {
        let mut buf = Vec::with_capacity(want as usize);
        let read = (&mut file).take(want).read_to_end(&mut buf);
        let item = match read {
            Ok(n) if n as u64 == want => Ok(Bytes::from(buf)),
            // A blob shrinking under us (it never should) ends in UnexpectedEof.
            Ok(_) => Err(io::ErrorKind::UnexpectedEof.into()),
            Err(e) => Err(e),
        };
        (file, item)
    })
}

struct Reader {
    remaining: u64,
    next: Option<tokio::task::JoinHandle<(std::fs::File, io::Result<Bytes>)>>,
}

/// Stream `len` bytes of `file` from its current position, 1 MiB at a time: while the body
/// sends one chunk, the next is read on the blocking pool (one chunk ahead, so at most ~2 MiB
/// per transfer; no thread waits on a slow client). Dropping the stream stops it.
async fn read_stream(file: fs::File, len: u64) -> ByteStream {
    let file = file.into_std().await;
    let next = (len > 0).then(|| spawn_read(file, len.min(IO_CHUNK as u64)));
    futures::stream::unfold(
        Reader {
            remaining: len,
            next,
        },
        |mut r| async move {
            let (file, item) = match r.next.take()?.await {
                Ok(done) => done,
                Err(e) => return Some((Err(join_error(e)), r)),
            };
            if let Ok(chunk) = &item {
                r.remaining -= chunk.len() as u64;
                if r.remaining > 0 {
                    r.next = Some(spawn_read(file, r.remaining.min(IO_CHUNK as u64)));
                }
            }
            Some((item, r))
        },
    )
    .boxed()
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn stage(
        &self,
        staging_id: Uuid,
        body: ByteStream,
        max_size: u64,
    ) -> Result<Staged, BlobError> {
        let path = self.staging_path(staging_id);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(FILE_MODE);
        let file = options.open(&path).await.map_err(|err| {
            if err.kind() == io::ErrorKind::AlreadyExists {
                BlobError::AlreadyStaged
            } else {
                BlobError::Io(err)
            }
        })?;
        let partial = PartialFile { path: Some(path) };
        let result = write_body(file, body, max_size).await;
        match result {
            Ok((size, (sha256, blake3))) => {
                partial.disarm();
                Ok(Staged {
                    staging_id,
                    size,
                    sha256,
                    blake3,
                })
            }
            Err(err) => {
                partial.remove().await;
                Err(err)
            }
        }
    }

    async fn promote(&self, staging_id: Uuid, blob_id: Uuid) -> Result<(), BlobError> {
        let from = self.staging_path(staging_id);
        fs::metadata(&from).await.map_err(not_found_as_blob_error)?;
        let shard = self.shard_dir(blob_id);
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        builder.mode(DIR_MODE);
        match builder.create(&shard).await {
            // A new shard directory must itself be durable in `blobs/`.
            Ok(()) => sync_dir(&self.blobs).await?,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err.into()),
        }
        fs::rename(&from, self.blob_path(blob_id))
            .await
            .map_err(not_found_as_blob_error)?;
        sync_dir(&shard).await?;
        Ok(())
    }

    async fn discard(&self, staging_id: Uuid) -> Result<(), BlobError> {
        remove_if_exists(&self.staging_path(staging_id)).await?;
        Ok(())
    }

    async fn read_staged(&self, staging_id: Uuid) -> Result<ByteStream, BlobError> {
        let file = fs::File::open(self.staging_path(staging_id))
            .await
            .map_err(not_found_as_blob_error)?;
        let len = file.metadata().await?.len();
        Ok(read_stream(file, len).await)
    }

    async fn get(&self, blob_id: Uuid, range: Option<ByteRange>) -> Result<BlobRead, BlobError> {
        let mut file = fs::File::open(self.blob_path(blob_id))
            .await
            .map_err(not_found_as_blob_error)?;
        let total_size = file.metadata().await?.len();
        let (start, len) = match range {
            Some(range) => range.resolve(total_size)?,
            None => (0, total_size),
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        Ok(BlobRead {
            total_size,
            start,
            len,
            body: read_stream(file, len).await,
        })
    }

    async fn size(&self, blob_id: Uuid) -> Result<u64, BlobError> {
        let meta = fs::metadata(self.blob_path(blob_id))
            .await
            .map_err(not_found_as_blob_error)?;
        Ok(meta.len())
    }

    async fn delete(&self, blob_id: Uuid) -> Result<(), BlobError> {
        if remove_if_exists(&self.blob_path(blob_id)).await? {
            sync_dir(&self.shard_dir(blob_id)).await?;
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Uuid>, BlobError> {
        let mut ids = Vec::new();
        let mut shards = fs::read_dir(&self.blobs).await?;
        while let Some(shard) = shards.next_entry().await? {
            let shard_name = shard.file_name();
            let Some(shard_name) = shard_name.to_str().filter(|n| is_shard_name(n)) else {
                tracing::warn!(entry = ?shard.file_name(), "unexpected entry in blob store");
                continue;
            };
            if !shard.file_type().await?.is_dir() {
                tracing::warn!(entry = shard_name, "unexpected entry in blob store");
                continue;
            }
            let mut entries = fs::read_dir(shard.path()).await?;
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name();
                let id = name
                    .to_str()
                    .and_then(|n| Uuid::try_parse(n).ok().filter(|id| canonical(id, n)))
                    .filter(|id| id.hyphenated().to_string().starts_with(shard_name));
                match id {
                    Some(id) if entry.file_type().await?.is_file() => ids.push(id),
                    _ => {
                        tracing::warn!(entry = ?name, shard = shard_name, "unexpected entry in blob store");
                    }
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    async fn list_older_than(&self, age: Duration) -> Result<Vec<Uuid>, BlobError> {
        let now = SystemTime::now();
        let mut old = Vec::new();
        for id in self.list().await? {
            let modified = match fs::metadata(self.blob_path(id)).await {
                Ok(meta) => meta.modified()?,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err.into()),
            };
            if now.duration_since(modified).unwrap_or(Duration::ZERO) >= age {
                old.push(id);
            }
        }
        Ok(old)
    }

    async fn sweep_staging(&self, older_than: Duration) -> Result<usize, BlobError> {
        let now = SystemTime::now();
        let mut removed = 0;
        let mut entries = fs::read_dir(&self.staging).await?;
        while let Some(entry) = entries.next_entry().await? {
            let meta = match entry.metadata().await {
                Ok(meta) => meta,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err.into()),
            };
            if !meta.is_file() {
                continue;
            }
            // A modification time in the future counts as age zero.
            let age = meta
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .unwrap_or(Duration::ZERO);
            if age >= older_than && remove_if_exists(&entry.path()).await? {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "swept stale staging files");
        }
        Ok(removed)
    }
}

fn is_shard_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn canonical(id: &Uuid, name: &str) -> bool {
    id.hyphenated().to_string() == name
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::TryStreamExt;

    fn store() -> (tempfile::TempDir, LocalBlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path().join("store")).unwrap();
        (dir, store)
    }

    /// Deterministic pseudo-random bytes.
    fn data(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Feed `data` in chunks cycling through odd sizes.
    fn chunked(data: &[u8]) -> ByteStream {
        let sizes = [1usize, 7919, 65_537, 3, 131_071, 0, 4099];
        let mut chunks = Vec::new();
        let mut offset = 0;
        for size in sizes.iter().cycle() {
            if offset >= data.len() {
                break;
            }
            let end = (offset + size).min(data.len());
            chunks.push(Ok(Bytes::copy_from_slice(&data[offset..end])));
            offset = end;
        }
        futures::stream::iter(chunks).boxed()
    }

    async fn collect(read: BlobRead) -> Vec<u8> {
        let chunks: Vec<Bytes> = read.body.try_collect().await.unwrap();
        assert!(chunks.iter().all(|c| c.len() <= READ_CHUNK_SIZE));
        chunks.concat()
    }

    async fn put(store: &LocalBlobStore, bytes: &[u8]) -> Uuid {
        let (staging_id, blob_id) = (Uuid::new_v4(), Uuid::new_v4());
        store
            .stage(staging_id, chunked(bytes), u64::MAX)
            .await
            .unwrap();
        store.promote(staging_id, blob_id).await.unwrap();
        blob_id
    }

    fn dir_entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn roundtrip_multi_mb() {
        let (_dir, store) = store();
        let bytes = data(5 * 1024 * 1024 + 12_345);
        let (staging_id, blob_id) = (Uuid::new_v4(), Uuid::new_v4());

        let staged = store
            .stage(staging_id, chunked(&bytes), 8 * 1024 * 1024)
            .await
            .unwrap();
        assert_eq!(staged.staging_id, staging_id);
        assert_eq!(staged.size, bytes.len() as u64);
        let expected: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            &bytes,
        ))
        .into();
        assert_eq!(staged.sha256, expected);
        assert_eq!(staged.sha256_hex(), hex::encode(expected));
        assert_eq!(staged.blake3, *blake3::hash(&bytes).as_bytes());
        assert_eq!(staged.blake3_hex(), blake3::hash(&bytes).to_hex().as_str());

        // Not visible before promotion.
        assert!(matches!(
            store.size(blob_id).await,
            Err(BlobError::NotFound)
        ));
        assert!(store.list().await.unwrap().is_empty());

        store.promote(staging_id, blob_id).await.unwrap();
        let name = blob_id.to_string();
        assert!(store.blobs.join(&name[..2]).join(&name).is_file());
        assert_eq!(dir_entries(&store.staging), 0);
        assert_eq!(store.size(blob_id).await.unwrap(), bytes.len() as u64);

        let read = store.get(blob_id, None).await.unwrap();
        assert_eq!(
            (read.total_size, read.start, read.len),
            (bytes.len() as u64, 0, bytes.len() as u64)
        );
        let got = collect(read).await;
        assert_eq!(got.len(), bytes.len());
        assert!(got == bytes);

        // Promoting again: staging is gone.
        assert!(matches!(
            store.promote(staging_id, blob_id).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn empty_blob() {
        let (_dir, store) = store();
        let id = put(&store, b"").await;
        assert_eq!(store.size(id).await.unwrap(), 0);
        let read = store.get(id, None).await.unwrap();
        assert_eq!((read.total_size, read.len), (0, 0));
        assert!(collect(read).await.is_empty());
        assert!(matches!(
            store.get(id, Some(ByteRange::Suffix(1))).await,
            Err(BlobError::RangeNotSatisfiable { size: 0 })
        ));
    }

    /// Ranges that start and end inside different 1 MiB read chunks come back exact, and a
    /// reader dropped half-way leaves the store usable.
    #[tokio::test]
    async fn ranges_across_read_chunks() {
        let (_dir, store) = store();
        let bytes = data(3 * READ_CHUNK_SIZE + 777);
        let id = put(&store, &bytes).await;
        for (start, end) in [
            (READ_CHUNK_SIZE - 1, 2 * READ_CHUNK_SIZE + 1),
            (1, bytes.len()),
            (2 * READ_CHUNK_SIZE, 3 * READ_CHUNK_SIZE),
        ] {
            let range = ByteRange::From {
                start: start as u64,
                end_inclusive: Some(end as u64 - 1),
            };
            let read = store.get(id, Some(range)).await.unwrap();
            assert_eq!((read.start, read.len), (start as u64, (end - start) as u64));
            assert!(collect(read).await == bytes[start..end], "{start}..{end}");
        }
        let mut partial = store.get(id, None).await.unwrap();
        let first = partial.body.next().await.unwrap().unwrap();
        assert_eq!(first.len(), READ_CHUNK_SIZE);
        drop(partial);
        assert!(collect(store.get(id, None).await.unwrap()).await == bytes);
    }

    #[tokio::test]
    async fn ranges() {
        let (_dir, store) = store();
        let bytes = data(200_000);
        let id = put(&store, &bytes).await;
        let size = bytes.len() as u64;

        let cases = [
            (
                ByteRange::From {
                    start: 70_000,
                    end_inclusive: None,
                },
                70_000usize,
                bytes.len(),
            ),
            (
                ByteRange::From {
                    start: 10,
                    end_inclusive: Some(150_009),
                },
                10,
                150_010,
            ),
            (
                ByteRange::From {
                    start: 199_999,
                    end_inclusive: Some(10_000_000),
                },
                199_999,
                200_000,
            ),
            (ByteRange::Suffix(65_537), bytes.len() - 65_537, bytes.len()),
            (ByteRange::Suffix(1_000_000), 0, bytes.len()),
        ];
        for (range, start, end) in cases {
            let read = store.get(id, Some(range)).await.unwrap();
            assert_eq!(read.total_size, size, "{range:?}");
            assert_eq!(read.start, start as u64, "{range:?}");
            assert_eq!(read.len, (end - start) as u64, "{range:?}");
            assert!(collect(read).await == bytes[start..end], "{range:?}");
        }

        for range in [
            ByteRange::From {
                start: size,
                end_inclusive: None,
            },
            ByteRange::From {
                start: size + 5,
                end_inclusive: Some(size + 10),
            },
            ByteRange::Suffix(0),
        ] {
            assert!(
                matches!(
                    store.get(id, Some(range)).await,
                    Err(BlobError::RangeNotSatisfiable { size: s }) if s == size
                ),
                "{range:?}"
            );
        }
        assert!(matches!(
            store
                .get(
                    id,
                    Some(ByteRange::From {
                        start: 5,
                        end_inclusive: Some(4)
                    })
                )
                .await,
            Err(BlobError::InvalidRange)
        ));
    }

    #[tokio::test]
    async fn too_large_leaves_nothing() {
        let (_dir, store) = store();
        let bytes = data(300_000);
        let id = Uuid::new_v4();
        let err = store.stage(id, chunked(&bytes), 299_999).await.unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { limit: 299_999 }));
        assert_eq!(dir_entries(&store.staging), 0);
        assert!(matches!(
            store.promote(id, Uuid::new_v4()).await,
            Err(BlobError::NotFound)
        ));

        // Exactly at the limit is fine.
        let staged = store
            .stage(Uuid::new_v4(), chunked(&bytes), 300_000)
            .await
            .unwrap();
        assert_eq!(staged.size, 300_000);
    }

    #[tokio::test]
    async fn body_error_leaves_nothing() {
        let (_dir, store) = store();
        let body = futures::stream::iter([
            Ok(Bytes::from(data(100_000))),
            Ok(Bytes::from(data(100_000))),
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            )),
            Ok(Bytes::from_static(b"never")),
        ])
        .boxed();
        let id = Uuid::new_v4();
        let err = store.stage(id, body, u64::MAX).await.unwrap_err();
        assert!(matches!(&err, BlobError::Body(e) if e.kind() == io::ErrorKind::ConnectionReset));
        assert_eq!(dir_entries(&store.staging), 0);
        assert!(matches!(
            store.promote(id, Uuid::new_v4()).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn dropped_stage_is_cleaned_up() {
        let (_dir, store) = store();
        let body = futures::stream::iter([Ok(Bytes::from(data(1000)))])
            .chain(futures::stream::pending())
            .boxed();
        let res = tokio::time::timeout(
            Duration::from_millis(100),
            store.stage(Uuid::new_v4(), body, u64::MAX),
        )
        .await;
        assert!(res.is_err(), "stage should still be pending");
        for _ in 0..200 {
            if dir_entries(&store.staging) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("partial staging file was not removed");
    }

    #[tokio::test]
    async fn duplicate_staging_id_is_rejected() {
        let (_dir, store) = store();
        let id = Uuid::new_v4();
        store.stage(id, chunked(b"one"), 100).await.unwrap();
        assert!(matches!(
            store.stage(id, chunked(b"two"), 100).await,
            Err(BlobError::AlreadyStaged)
        ));
        store.promote(id, id).await.unwrap();
        assert!(collect(store.get(id, None).await.unwrap()).await == b"one");
    }

    #[tokio::test]
    async fn discard() {
        let (_dir, store) = store();
        let id = Uuid::new_v4();
        store.stage(id, chunked(b"abc"), 100).await.unwrap();
        assert_eq!(dir_entries(&store.staging), 1);
        store.discard(id).await.unwrap();
        assert_eq!(dir_entries(&store.staging), 0);
        // Missing is fine.
        store.discard(id).await.unwrap();
        assert!(matches!(
            store.promote(id, Uuid::new_v4()).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn list_and_delete() {
        let (_dir, store) = store();
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(put(&store, &data(i * 100)).await);
        }
        // Staged-only blobs are not listed; stray files are ignored.
        store
            .stage(Uuid::new_v4(), chunked(b"x"), 10)
            .await
            .unwrap();
        std::fs::write(store.blobs.join("junk"), b"").unwrap();
        std::fs::create_dir(store.blobs.join("zz")).unwrap();
        let shard = store.shard_dir(ids[0]);
        std::fs::write(shard.join("not-a-uuid"), b"").unwrap();
        std::fs::write(shard.join(Uuid::new_v4().simple().to_string()), b"").unwrap();

        ids.sort();
        assert_eq!(store.list().await.unwrap(), ids);

        let gone = ids.remove(3);
        store.delete(gone).await.unwrap();
        store.delete(gone).await.unwrap();
        assert!(matches!(
            store.get(gone, None).await,
            Err(BlobError::NotFound)
        ));
        assert_eq!(store.list().await.unwrap(), ids);

        // Reopening sees the same blobs.
        let reopened = LocalBlobStore::open(store.root().to_path_buf()).unwrap();
        assert_eq!(reopened.list().await.unwrap(), ids);
    }

    #[tokio::test]
    async fn sweep_staging_removes_unpromoted() {
        let (_dir, store) = store();
        let kept = put(&store, b"promoted").await;
        for _ in 0..3 {
            store
                .stage(Uuid::new_v4(), chunked(b"orphan"), 100)
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .sweep_staging(Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert_eq!(dir_entries(&store.staging), 3);
        assert_eq!(store.sweep_staging(Duration::ZERO).await.unwrap(), 3);
        assert_eq!(dir_entries(&store.staging), 0);
        assert_eq!(store.list().await.unwrap(), vec![kept]);
        assert_eq!(store.sweep_staging(Duration::ZERO).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn missing_blob_is_not_found() {
        let (_dir, store) = store();
        let id = Uuid::new_v4();
        assert!(matches!(
            store.get(id, None).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.get(id, Some(ByteRange::Suffix(1))).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(store.size(id).await, Err(BlobError::NotFound)));
        store.delete(id).await.unwrap();
    }

    #[test]
    fn error_display_has_no_paths() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"").unwrap();
        let err = LocalBlobStore::open(file.join("store")).unwrap_err();
        assert!(matches!(err, BlobError::Io(_)));
        let shown = err.to_string();
        assert!(!shown.contains(dir.path().to_str().unwrap()), "{shown}");
        assert!(!shown.contains("not-a-dir"), "{shown}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn permissions() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.staging), 0o700);
        assert_eq!(mode(&store.blobs), 0o700);

        let staging_id = Uuid::new_v4();
        store
            .stage(staging_id, chunked(b"secret"), 100)
            .await
            .unwrap();
        assert_eq!(mode(&store.staging_path(staging_id)), 0o600);

        let id = Uuid::new_v4();
        store.promote(staging_id, id).await.unwrap();
        assert_eq!(mode(&store.blob_path(id)), 0o600);
        assert_eq!(mode(&store.shard_dir(id)), 0o700);
    }
}
