//! `cargo bench -p medshare-blob --bench local [-- SIZE_MIB RUNS]`: the hub's blob I/O on the
//! folder store, in one run: `LocalBlobStore::stage` (hash, write, fsync) of a body arriving in
//! 64 KiB chunks, and `get` read to the end, against the previous implementation of each
//! (per-chunk `tokio::fs` writes; 64 KiB `read_exact` into freshly zeroed buffers), on the same
//! blob, runtime (2 worker threads) and disk. The blob is in the page cache when read (as
//! nginx's file is in `medshare-bench transfer`). Median of RUNS, MiB/s. No HTTP: see
//! `medshare-bench transfer` for the whole download.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use medshare_blob::{BlobStore, ByteStream, LocalBlobStore};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const MIB: usize = 1024 * 1024;
const OLD_CHUNK: usize = 64 * 1024;

fn body(data: &Bytes) -> ByteStream {
    let chunks: Vec<std::io::Result<Bytes>> = (0..data.len())
        .step_by(OLD_CHUNK)
        .map(|i| Ok(data.slice(i..(i + OLD_CHUNK).min(data.len()))))
        .collect();
    futures::stream::iter(chunks).boxed()
}

/// The previous `stage`: hash and `tokio::fs` write per body chunk, then fsync.
async fn old_stage(path: &std::path::Path, mut body: ByteStream) -> [u8; 32] {
    let mut file = tokio::fs::File::create(path).await.unwrap();
    let mut hasher = Sha256::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        hasher.update(&chunk);
        file.write_all(&chunk).await.unwrap();
    }
    file.flush().await.unwrap();
    file.sync_all().await.unwrap();
    hasher.finalize().into()
}

/// The previous `get`: 64 KiB `read_exact` into a zeroed buffer per chunk.
async fn old_get(path: &std::path::Path, len: u64) -> u64 {
    let mut file = tokio::fs::File::open(path).await.unwrap();
    let mut remaining = len;
    let mut total = 0;
    while remaining > 0 {
        let want = remaining.min(OLD_CHUNK as u64) as usize;
        let mut buf = BytesMut::zeroed(want);
        file.read_exact(&mut buf).await.unwrap();
        let b = std::hint::black_box(buf.freeze());
        total += b.len() as u64;
        remaining -= want as u64;
    }
    total
}

async fn drain(mut s: ByteStream) -> u64 {
    let mut n = 0;
    while let Some(c) = s.next().await {
        n += c.unwrap().len() as u64;
    }
    n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let nums: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let size_mib = nums.first().copied().unwrap_or(256);
    let runs = nums.get(1).copied().unwrap_or(5).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path().join("store")).unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let data: Bytes = (0..size_mib * MIB / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect::<Vec<u8>>()
            .into();
        let size = data.len() as u64;
        let rate = |d: Duration| size_mib as f64 / d.as_secs_f64();
        let (mut new_stage, mut prev_stage, mut new_get, mut prev_get) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut blob = Uuid::nil();
        let old_path = dir.path().join("old.bin");
        for run in 0..runs {
            // Alternate which goes first (fsync latency on a shared disk drifts).
            let mut sha = None;
            if run % 2 == 1 {
                let t = Instant::now();
                sha = Some(old_stage(&old_path, body(&data)).await);
                prev_stage.push(rate(t.elapsed()));
            }
            let staging = Uuid::new_v4();
            let t = Instant::now();
            let staged = store.stage(staging, body(&data), u64::MAX).await.unwrap();
            new_stage.push(rate(t.elapsed()));
            if run % 2 == 0 {
                let t = Instant::now();
                sha = Some(old_stage(&old_path, body(&data)).await);
                prev_stage.push(rate(t.elapsed()));
            }
            assert_eq!(sha, Some(staged.sha256));
            if run == 0 {
                blob = Uuid::new_v4();
                store.promote(staging, blob).await.unwrap();
            } else {
                store.discard(staging).await.unwrap();
            }

            let t = Instant::now();
            let n = drain(store.get(blob, None).await.unwrap().body).await;
            new_get.push(rate(t.elapsed()));
            assert_eq!(n, size);
            let t = Instant::now();
            assert_eq!(old_get(&old_path, size).await, size);
            prev_get.push(rate(t.elapsed()));
        }
        println!("{size_mib} MiB, median of {runs} runs, MiB/s");
        for (name, v) in [
            ("stage (hash + write + fsync), previous", prev_stage),
            ("stage (hash + write + fsync), now", new_stage),
            ("get read to the end, previous", prev_get),
            ("get read to the end, now", new_get),
        ] {
            let all: Vec<String> = v.iter().map(|r| format!("{r:.0}")).collect();
            println!("{name:<42} {:>8.1}  (runs: {})", median(v), all.join(", "));
        }
    });
}
