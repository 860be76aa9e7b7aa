//! One conformance suite for every `BlobStore`: the local folder and S3 (a real s3s-fs server,
//! started by the test, that checks every request's SigV4 signature). Covers the crash-safety
//! contract: nothing is visible before promotion, failed or dropped uploads leave nothing,
//! staging is swept, promoted blobs are whole.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use medshare_blob::*;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

static S3: OnceLock<medshare_testsvc::S3Server> = OnceLock::new();

fn s3() -> &'static medshare_testsvc::S3Server {
    S3.get_or_init(medshare_testsvc::S3Server::start)
}

struct Fixture {
    store: Arc<dyn BlobStore>,
    /// Counts every stored object or file (staged or promoted), for "leaves nothing" checks.
    files: Box<dyn Fn() -> usize + Send>,
    _dir: Option<tempfile::TempDir>,
}

fn count_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            n += count_files(&e.path());
        } else if !e.file_name().to_string_lossy().starts_with('.') {
            n += 1;
        }
    }
    n
}

fn local() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("store")).unwrap();
    let root = dir.path().join("store");
    Fixture {
        store: Arc::new(store),
        files: Box::new(move || count_files(&root)),
        _dir: Some(dir),
    }
}

fn settings(bucket: &str, prefix: &str) -> S3Settings {
    let s = s3();
    S3Settings {
        endpoint: s.endpoint().to_string(),
        bucket: bucket.to_string(),
        region: "us-east-1".into(),
        prefix: prefix.into(),
        access_key_id: s.access_key().into(),
        secret_access_key: s.secret_key().into(),
        allow_http: true,
        path_style: true,
        ..S3Settings::default()
    }
}

fn s3_store() -> Fixture {
    let bucket = format!("b{}", Uuid::new_v4().simple());
    s3().create_bucket(&bucket);
    let store = S3BlobStore::open(&settings(&bucket, "medshare")).unwrap();
    let root = s3().root().join(&bucket);
    Fixture {
        store: Arc::new(store),
        files: Box::new(move || count_files(&root)),
        _dir: None,
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod local_backend { $( #[tokio::test] async fn $name() { super::$name(super::local()).await } )* }
        mod s3_backend { $( #[tokio::test] async fn $name() { super::$name(super::s3_store()).await } )* }
    };
}

both!(
    roundtrip_large_and_small,
    empty_blob,
    ranges,
    too_large_leaves_nothing,
    body_error_leaves_nothing,
    dropped_stage_is_cleaned_up,
    duplicate_staging_id_is_rejected,
    promote_and_discard,
    list_delete_and_ages,
    sweep_staging_removes_unpromoted,
    staged_blobs_read_back_whole,
);

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

fn chunked(data: &[u8]) -> ByteStream {
    let sizes = [1usize, 7919, 65_537, 3, 1_048_573, 0, 4099];
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
    chunks.concat()
}

async fn put(store: &dyn BlobStore, bytes: &[u8]) -> Uuid {
    let (s, b) = (Uuid::new_v4(), Uuid::new_v4());
    store.stage(s, chunked(bytes), u64::MAX).await.unwrap();
    store.promote(s, b).await.unwrap();
    b
}

async fn roundtrip_large_and_small(f: Fixture) {
    use sha2::Digest;
    // Larger than two S3 parts and not a multiple of one: the multipart path.
    for len in [S3_PART_SIZE * 2 + 12_345, 100_000, 1] {
        let bytes = data(len);
        let (s, b) = (Uuid::new_v4(), Uuid::new_v4());
        let staged = f.store.stage(s, chunked(&bytes), u64::MAX).await.unwrap();
        assert_eq!(staged.size, len as u64);
        assert_eq!(
            staged.sha256_hex(),
            hex::encode(sha2::Sha256::digest(&bytes))
        );
        // Staged is not readable.
        assert!(matches!(
            f.store.get(s, None).await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            f.store.get(b, None).await,
            Err(BlobError::NotFound)
        ));
        f.store.promote(s, b).await.unwrap();
        assert_eq!(f.store.size(b).await.unwrap(), len as u64);
        let read = f.store.get(b, None).await.unwrap();
        assert_eq!(
            (read.start, read.len, read.total_size),
            (0, len as u64, len as u64)
        );
        assert!(
            collect(read).await == bytes,
            "whole blob round-trips ({len} bytes)"
        );
    }
}

async fn empty_blob(f: Fixture) {
    let b = put(&*f.store, b"").await;
    assert_eq!(f.store.size(b).await.unwrap(), 0);
    let read = f.store.get(b, None).await.unwrap();
    assert_eq!(read.len, 0);
    assert!(collect(read).await.is_empty());
    assert!(matches!(
        f.store.get(b, Some(ByteRange::Suffix(1))).await,
        Err(BlobError::RangeNotSatisfiable { size: 0 })
    ));
}

async fn ranges(f: Fixture) {
    let bytes = data(300_000);
    let b = put(&*f.store, &bytes).await;
    let cases = [
        (
            ByteRange::From {
                start: 0,
                end_inclusive: Some(0),
            },
            0,
            1,
        ),
        (
            ByteRange::From {
                start: 1000,
                end_inclusive: Some(199_999),
            },
            1000,
            199_000,
        ),
        (
            ByteRange::From {
                start: 299_999,
                end_inclusive: None,
            },
            299_999,
            1,
        ),
        (
            ByteRange::From {
                start: 5,
                end_inclusive: Some(10_000_000),
            },
            5,
            299_995,
        ),
        (ByteRange::Suffix(70_000), 230_000, 70_000),
        (ByteRange::Suffix(1_000_000), 0, 300_000),
    ];
    for (range, start, len) in cases {
        let read = f.store.get(b, Some(range)).await.unwrap();
        assert_eq!(
            (read.start, read.len, read.total_size),
            (start, len, 300_000),
            "{range:?}"
        );
        let got = collect(read).await;
        assert!(
            got == bytes[start as usize..(start + len) as usize],
            "{range:?}"
        );
    }
    assert!(matches!(
        f.store
            .get(
                b,
                Some(ByteRange::From {
                    start: 300_000,
                    end_inclusive: None
                })
            )
            .await,
        Err(BlobError::RangeNotSatisfiable { size: 300_000 })
    ));
    assert!(matches!(
        f.store
            .get(
                b,
                Some(ByteRange::From {
                    start: 9,
                    end_inclusive: Some(3)
                })
            )
            .await,
        Err(BlobError::InvalidRange)
    ));
}

async fn too_large_leaves_nothing(f: Fixture) {
    // Past the limit in the first part and after several parts (S3 multipart is aborted).
    for (len, limit) in [
        (10_000, 9_999u64),
        (S3_PART_SIZE * 2 + 10, (S3_PART_SIZE * 2) as u64),
    ] {
        let s = Uuid::new_v4();
        let err = f
            .store
            .stage(s, chunked(&data(len)), limit)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { limit: l } if l == limit));
        assert!(matches!(
            f.store.promote(s, Uuid::new_v4()).await,
            Err(BlobError::NotFound)
        ));
        assert_eq!((f.files)(), 0);
    }
}

async fn body_error_leaves_nothing(f: Fixture) {
    let mut chunks: Vec<std::io::Result<Bytes>> = (0..3)
        .map(|_| Ok(Bytes::from(vec![7u8; S3_PART_SIZE])))
        .collect();
    chunks.push(Err(std::io::Error::other("client went away")));
    let s = Uuid::new_v4();
    let err = f
        .store
        .stage(s, futures::stream::iter(chunks).boxed(), u64::MAX)
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::Body(_)));
    assert!(matches!(
        f.store.promote(s, Uuid::new_v4()).await,
        Err(BlobError::NotFound)
    ));
    assert_eq!((f.files)(), 0);
}

async fn dropped_stage_is_cleaned_up(f: Fixture) {
    // A body that sends two parts' worth, then never ends: the upload is in progress.
    let first = futures::stream::iter(
        (0..2).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; S3_PART_SIZE]))),
    );
    let body = first.chain(futures::stream::pending()).boxed();
    let s = Uuid::new_v4();
    let store = f.store.clone();
    let task = tokio::spawn(async move { store.stage(s, body, u64::MAX).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    task.abort();
    let _ = task.await;
    // The cleanup runs in the background: wait for it, bounded.
    let start = std::time::Instant::now();
    while (f.files)() != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "partial upload left behind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(
        f.store.promote(s, Uuid::new_v4()).await,
        Err(BlobError::NotFound)
    ));
}

async fn duplicate_staging_id_is_rejected(f: Fixture) {
    let s = Uuid::new_v4();
    f.store.stage(s, chunked(b"one"), 100).await.unwrap();
    assert!(matches!(
        f.store.stage(s, chunked(b"two"), 100).await,
        Err(BlobError::AlreadyStaged)
    ));
    let b = Uuid::new_v4();
    f.store.promote(s, b).await.unwrap();
    assert_eq!(collect(f.store.get(b, None).await.unwrap()).await, b"one");
}

async fn promote_and_discard(f: Fixture) {
    let s = Uuid::new_v4();
    f.store.stage(s, chunked(b"abc"), 100).await.unwrap();
    let b = Uuid::new_v4();
    f.store.promote(s, b).await.unwrap();
    // Already promoted: nothing staged any more.
    assert!(matches!(
        f.store.promote(s, Uuid::new_v4()).await,
        Err(BlobError::NotFound)
    ));
    assert!(matches!(
        f.store.promote(Uuid::new_v4(), Uuid::new_v4()).await,
        Err(BlobError::NotFound)
    ));
    let d = Uuid::new_v4();
    f.store.stage(d, chunked(b"drop me"), 100).await.unwrap();
    f.store.discard(d).await.unwrap();
    f.store.discard(d).await.unwrap();
    assert!(matches!(
        f.store.promote(d, Uuid::new_v4()).await,
        Err(BlobError::NotFound)
    ));
    assert_eq!((f.files)(), 1);
    assert!(matches!(
        f.store.size(Uuid::new_v4()).await,
        Err(BlobError::NotFound)
    ));
}

async fn staged_blobs_read_back_whole(f: Fixture) {
    let s = Uuid::new_v4();
    let bytes = data(3 * 1024 * 1024 + 17);
    f.store.stage(s, chunked(&bytes), u64::MAX).await.unwrap();
    let chunks: Vec<Bytes> = f
        .store
        .read_staged(s)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(chunks.concat(), bytes);
    // Reading does not consume: it can still be promoted.
    f.store.promote(s, Uuid::new_v4()).await.unwrap();
    assert!(matches!(
        f.store.read_staged(s).await,
        Err(BlobError::NotFound)
    ));
}

async fn list_delete_and_ages(f: Fixture) {
    let mut ids = vec![
        put(&*f.store, b"a").await,
        put(&*f.store, b"b").await,
        put(&*f.store, b"c").await,
    ];
    // Staged blobs are not listed.
    f.store
        .stage(Uuid::new_v4(), chunked(b"staged"), 100)
        .await
        .unwrap();
    ids.sort();
    assert_eq!(f.store.list().await.unwrap(), ids);
    assert_eq!(f.store.list_older_than(Duration::ZERO).await.unwrap(), ids);
    assert!(
        f.store
            .list_older_than(Duration::from_secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
    f.store.delete(ids[1]).await.unwrap();
    f.store.delete(ids[1]).await.unwrap();
    assert_eq!(f.store.list().await.unwrap(), [ids[0], ids[2]]);
    assert!(matches!(
        f.store.get(ids[1], None).await,
        Err(BlobError::NotFound)
    ));
}

async fn sweep_staging_removes_unpromoted(f: Fixture) {
    let kept = put(&*f.store, b"kept").await;
    for _ in 0..3 {
        f.store
            .stage(Uuid::new_v4(), chunked(b"left over"), 100)
            .await
            .unwrap();
    }
    // Young staged uploads survive an aged sweep (another replica may still commit them).
    assert_eq!(
        f.store
            .sweep_staging(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(f.store.sweep_staging(Duration::ZERO).await.unwrap(), 3);
    assert_eq!(f.store.list().await.unwrap(), [kept]);
    assert_eq!((f.files)(), 1);
}

#[tokio::test]
async fn s3_requests_are_signed_and_checked() {
    let bucket = format!("b{}", Uuid::new_v4().simple());
    s3().create_bucket(&bucket);
    let mut wrong = settings(&bucket, "");
    wrong.secret_access_key = "not-the-secret".into();
    let store = S3BlobStore::open(&wrong).unwrap();
    assert!(
        store.check().await.is_err(),
        "s3s-fs must refuse a bad signature"
    );
    let err = store
        .stage(Uuid::new_v4(), chunked(b"x"), 10)
        .await
        .unwrap_err();
    // The error names neither the bucket nor the key.
    assert!(!err.to_string().contains(&bucket), "{err}");
    let good = S3BlobStore::open(&settings(&bucket, "")).unwrap();
    good.check().await.unwrap();
    let dbg = format!("{:?}", settings(&bucket, ""));
    assert!(!dbg.contains(s3().secret_key()) && dbg.contains("<redacted>"));
}
