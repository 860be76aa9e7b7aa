//! S3 misbehaving: a fault-injecting proxy (`medshare_testsvc::FaultProxy`) between the store
//! and a real s3s-fs server answers with server errors, cuts responses off mid-body and slows
//! them down. Reads cut off resume where they stopped (same version, by Range); server errors
//! are retried; an upload that cannot get through fails within the retry time-out and leaves
//! nothing behind; a slow server is only slow.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use medshare_blob::*;
use medshare_testsvc::{Fault, FaultProxy, S3Server};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use uuid::Uuid;

static S3: OnceLock<S3Server> = OnceLock::new();

fn s3() -> &'static S3Server {
    S3.get_or_init(S3Server::start)
}

fn store(endpoint: &str, bucket: &str) -> S3BlobStore {
    let s = s3();
    S3BlobStore::open(&S3Settings {
        endpoint: endpoint.to_string(),
        bucket: bucket.to_string(),
        region: "us-east-1".into(),
        prefix: "medshare".into(),
        access_key_id: s.access_key().into(),
        secret_access_key: s.secret_key().into(),
        allow_http: true,
        path_style: true,
        max_retries: Some(4),
        retry_timeout: Some(Duration::from_secs(5)),
    })
    .unwrap()
}

/// A fresh bucket, a store straight to it, a proxy and a store through the proxy (its own
/// client, so no pooled connection slips past a fault).
fn setup() -> (S3BlobStore, FaultProxy, S3BlobStore) {
    let bucket = format!("f{}", Uuid::new_v4().simple());
    s3().create_bucket(&bucket);
    let proxy = FaultProxy::start(s3().endpoint());
    let faulty = store(&proxy.endpoint(), &bucket);
    (store(s3().endpoint(), &bucket), proxy, faulty)
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn body(bytes: &[u8]) -> ByteStream {
    let chunks: Vec<_> = bytes
        .chunks(256 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks).boxed()
}

async fn read_all(store: &S3BlobStore, id: Uuid, range: Option<ByteRange>) -> Vec<u8> {
    let read = store.get(id, range).await.unwrap();
    let chunks: Vec<Bytes> = read.body.try_collect().await.unwrap();
    chunks.concat()
}

async fn put(store: &S3BlobStore, bytes: &[u8]) -> Result<Uuid, BlobError> {
    let (s, b) = (Uuid::new_v4(), Uuid::new_v4());
    store.stage(s, body(bytes), u64::MAX).await?;
    store.promote(s, b).await?;
    Ok(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_cut_off_mid_body_resumes_where_it_stopped() {
    let (direct, proxy, faulty) = setup();
    let bytes = data(3 * 1024 * 1024 + 17, 1);
    let id = put(&direct, &bytes).await.unwrap();

    // The first two connections are cut after 300 kB of response (head and part of a body).
    proxy.inject(Fault::CutResponseAfter(300_000), 2);
    assert!(read_all(&faulty, id, None).await == bytes);
    proxy.inject(Fault::CutResponseAfter(200_000), 1);
    let range = ByteRange::parse_header("bytes=1000000-2500000")
        .unwrap()
        .unwrap();
    assert!(read_all(&faulty, id, Some(range)).await == bytes[1_000_000..=2_500_000]);
    assert!(
        proxy.faulted() >= 2,
        "the faults were not exercised: {} connections faulted",
        proxy.faulted()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let (direct, proxy, faulty) = setup();
    // A single PUT and a multipart upload (two parts and a bit), each meeting server errors.
    for len in [100_000, 2 * S3_PART_SIZE + 4099] {
        let bytes = data(len, len as u64);
        proxy.inject(Fault::ServerError, 2);
        let before = proxy.faulted();
        let id = put(&faulty, &bytes).await.unwrap();
        assert!(proxy.faulted() > before, "no server error was injected");
        assert!(read_all(&direct, id, None).await == bytes);
    }
    // Reads too.
    let bytes = data(500_000, 7);
    let id = put(&direct, &bytes).await.unwrap();
    proxy.inject(Fault::ServerError, 2);
    assert!(read_all(&faulty, id, None).await == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_cannot_get_through_fails_in_time_and_leaves_nothing() {
    let (direct, proxy, faulty) = setup();
    proxy.inject(Fault::ServerError, usize::MAX);
    for len in [100_000, S3_PART_SIZE + 1] {
        let started = Instant::now();
        let staging = Uuid::new_v4();
        let r = faulty.stage(staging, body(&data(len, 3)), u64::MAX).await;
        assert!(r.is_err(), "an upload through a failing S3 succeeded");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gave up only after {:?}",
            started.elapsed()
        );
        // The error says what failed without naming the bucket or key.
        let text = r.unwrap_err().to_string();
        assert!(!text.contains("medshare/") && !text.contains(&staging.to_string()));
    }
    proxy.clear();
    // Whatever was started is gone once the server answers again (the multipart upload is
    // aborted when the stage fails; a sweep finds no staged leftovers either).
    assert_eq!(direct.sweep_staging(Duration::ZERO).await.unwrap(), 0);
    assert!(direct.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_is_only_slow() {
    let (direct, proxy, faulty) = setup();
    let bytes = data(1024 * 1024, 9);
    proxy.inject(Fault::Delay(Duration::from_millis(15)), usize::MAX);
    let id = put(&faulty, &bytes).await.unwrap();
    assert!(read_all(&faulty, id, None).await == bytes);
    assert!(read_all(&direct, id, None).await == bytes);
}
