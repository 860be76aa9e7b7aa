//! `cargo bench -p medshare-crypto --bench stream [-- SIZE_MIB RUNS]`: the client's per-byte work
//! on a download and an upload, file to file, in one run: the previous client path (SHA-256 of
//! the ciphertext, age decryption, SHA-256 of the plaintext and the write, in sequence on one
//! thread), the pipelined path (`stream::open_hashed`/`seal_hashed`, whose decryption runs on all
//! cores), the download of a document whose binding commits to its key
//! (`stream::open_ciphertext_hashed`: no plaintext hash), plain `open_stream`/`seal_stream` (age's one-thread reader and writer, no hashing),
//! `parallel::open` (all cores, no hashing) and Go `age` when installed. Input and output files live in the
//! system temp folder; dirty pages are flushed (`sync`, untimed) before each measurement; the
//! median of RUNS is printed in MiB/s. No HTTP and no hub: see `medshare-bench transfer` for
//! those.

use medshare_crypto::parallel;
use medshare_crypto::seal::{SealWriter, open_reader, open_stream, seal_stream};
use medshare_crypto::stream::{open_ciphertext_hashed, open_hashed, seal_hashed};
use medshare_crypto::{DigestAlgorithm, EncryptionKey, HashingReader, HashingWriter};
use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: usize = 1024 * 1024;
/// The previous client's buffer (64 KiB, age's chunk).
const CHUNK: usize = 64 * 1024;

fn settle() {
    let _ = std::process::Command::new("sync").status();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What `Client::download` did before: one thread, hash the ciphertext, decrypt, hash the
/// plaintext, write.
fn open_sequential(key: &EncryptionKey, input: &Path, output: &Path) {
    let mut hashed = HashingReader::new(std::fs::File::open(input).unwrap());
    let mut plain = HashingWriter::new(std::fs::File::create(output).unwrap());
    {
        let mut reader = open_reader(key, &mut hashed).unwrap();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            plain.write_all(&buf[..n]).unwrap();
        }
    }
    std::io::copy(&mut hashed, &mut std::io::sink()).unwrap();
    plain.flush().unwrap();
    std::hint::black_box((hashed.finalize(), plain.finalize()));
}

/// What `Client::upload` did before: one thread, hash the plaintext, seal, hash the ciphertext.
fn seal_sequential(recipient: &str, input: &Path, output: &Path) {
    let mut reader = HashingReader::new(std::fs::File::open(input).unwrap());
    let mut sealed = SealWriter::new(
        &[recipient.to_string()],
        HashingWriter::new(std::fs::File::create(output).unwrap()),
    )
    .unwrap();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        sealed.write_all(&buf[..n]).unwrap();
    }
    let mut hashed = sealed.finish().unwrap();
    hashed.flush().unwrap();
    std::hint::black_box((reader.finalize(), hashed.finalize()));
}

/// CPU seconds used so far by this process (all threads) and its waited-for children, from
/// `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14-17 of the file (utime, stime, cutime, cstime) are 11-14 after the name.
    f.get(11..15).map_or(0.0, |v| v.iter().sum::<f64>() / 100.0)
}

/// Wall time and CPU time of one call.
fn timed(f: impl FnOnce()) -> (Duration, f64) {
    settle();
    let c = cpu_secs();
    let t = Instant::now();
    f();
    (t.elapsed(), cpu_secs() - c)
}

/// One thread, in memory: the primitives of the per-byte work, each implementation the client
/// could use (`sha2` and `ring` SHA-256; RustCrypto and `ring` ChaCha20-Poly1305 opening 64 KiB
/// STREAM chunks), MiB/s, median of `runs`.
fn primitives(runs: usize) {
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
    use sha2::Digest;
    const TOTAL: usize = 256 * MIB;
    let data: Vec<u8> = (0..4 * MIB).map(|i| (i * 31 % 251) as u8).collect();
    let key = [7u8; 32];
    let rc = ChaCha20Poly1305::new((&key).into());
    let rk = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &key).unwrap(),
    );
    let nonce = |i: usize| {
        let mut n = [0u8; 12];
        n[3..11].copy_from_slice(&(i as u64).to_be_bytes());
        n
    };
    // 64 KiB chunks sealed once (with their tags), opened again and again.
    let chunks: Vec<Vec<u8>> = data
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, c)| {
            let mut v = c.to_vec();
            let tag = rc
                .encrypt_in_place_detached(&nonce(i).into(), b"", &mut v)
                .unwrap();
            v.extend_from_slice(&tag);
            v
        })
        .collect();
    let (mut work, mut work2) = (chunks.clone(), chunks.clone());
    type Prim<'a> = (&'a str, Box<dyn FnMut() + 'a>);
    let mut prims: Vec<Prim> = vec![
        (
            "SHA-256, sha2",
            Box::new(|| {
                let mut h = sha2::Sha256::new();
                for _ in 0..TOTAL / data.len() {
                    for c in data.chunks(256 * 1024) {
                        h.update(c);
                    }
                }
                std::hint::black_box(h.finalize());
            }),
        ),
        (
            "SHA-256, ring::digest",
            Box::new(|| {
                let mut h = ring::digest::Context::new(&ring::digest::SHA256);
                for _ in 0..TOTAL / data.len() {
                    for c in data.chunks(256 * 1024) {
                        h.update(c);
                    }
                }
                std::hint::black_box(h.finish());
            }),
        ),
        (
            "BLAKE3, blake3 (one thread, SIMD)",
            Box::new(|| {
                let mut h = blake3::Hasher::new();
                for _ in 0..TOTAL / data.len() {
                    for c in data.chunks(256 * 1024) {
                        h.update(c);
                    }
                }
                std::hint::black_box(h.finalize());
            }),
        ),
        (
            "ChaCha20-Poly1305 open, RustCrypto",
            Box::new(|| {
                for _ in 0..TOTAL / data.len() {
                    for (i, (w, c)) in work.iter_mut().zip(&chunks).enumerate() {
                        w.copy_from_slice(c);
                        let (d, t) = w.split_at_mut(CHUNK);
                        rc.decrypt_in_place_detached(&nonce(i).into(), b"", d, (&*t).into())
                            .unwrap();
                    }
                }
            }),
        ),
        (
            "ChaCha20-Poly1305 open, ring",
            Box::new(|| {
                for _ in 0..TOTAL / data.len() {
                    for (i, (w, c)) in work2.iter_mut().zip(&chunks).enumerate() {
                        w.copy_from_slice(c);
                        let n = ring::aead::Nonce::assume_unique_for_key(nonce(i));
                        rk.open_in_place(n, ring::aead::Aad::empty(), w).unwrap();
                    }
                }
            }),
        ),
    ];
    let mut rates = vec![Vec::new(); prims.len()];
    for _ in 0..runs {
        for (i, (_, f)) in prims.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            rates[i].push((TOTAL / MIB) as f64 / t.elapsed().as_secs_f64());
        }
    }
    println!("primitives, one thread, in memory (ChaCha20 cases include a 64 KiB copy per chunk):");
    for ((name, _), r) in prims.iter().zip(rates) {
        println!("  {name:<50} {:>8.1} MiB/s", median(r));
    }
}

fn main() {
    // `cargo bench` passes `--bench`; numbers are ours.
    let nums: Vec<usize> = std::env::args().filter_map(|a| a.parse().ok()).collect();
    let size_mib = nums.first().copied().unwrap_or(256);
    let runs = nums.get(1).copied().unwrap_or(5).max(1);
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.bin");
    let sealed = dir.path().join("sealed.age");
    let out = dir.path().join("out.bin");
    {
        let mut f = std::fs::File::create(&plain).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut block = vec![0u8; MIB];
        for _ in 0..size_mib {
            for b in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&block).unwrap();
        }
    }
    let key = EncryptionKey::generate();
    let recipient = key.recipient();
    seal_stream(
        std::slice::from_ref(&recipient),
        BufReader::new(std::fs::File::open(&plain).unwrap()),
        std::fs::File::create(&sealed).unwrap(),
    )
    .unwrap();
    let key_file = dir.path().join("key.txt");
    std::fs::write(&key_file, format!("{}\n", key.to_secret_string().as_str())).unwrap();
    let go_age = std::process::Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());

    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Case> = vec![
        (
            "open: previous client path (sequential, hashing)",
            Box::new(|| open_sequential(&key, &sealed, &out)),
        ),
        (
            "open: pipelined client path (open_hashed)",
            Box::new(|| {
                let r = std::fs::File::open(&sealed).unwrap();
                let w = std::fs::File::create(&out).unwrap();
                std::hint::black_box(
                    open_hashed(&key, r, w, DigestAlgorithm::Blake3, |_| {}).unwrap(),
                );
            }),
        ),
        (
            "open: committed-key client path, SHA-256 binding (open_ciphertext_hashed)",
            Box::new(|| {
                let r = std::fs::File::open(&sealed).unwrap();
                let w = std::fs::File::create(&out).unwrap();
                std::hint::black_box(
                    open_ciphertext_hashed(&key, r, w, DigestAlgorithm::Sha256, |_| {}).unwrap(),
                );
            }),
        ),
        (
            "open: committed-key client path, BLAKE3 binding (open_ciphertext_hashed)",
            Box::new(|| {
                let r = std::fs::File::open(&sealed).unwrap();
                let w = std::fs::File::create(&out).unwrap();
                std::hint::black_box(
                    open_ciphertext_hashed(&key, r, w, DigestAlgorithm::Blake3, |_| {}).unwrap(),
                );
            }),
        ),
        (
            "open: open_stream (no hashing)",
            Box::new(|| {
                let r = BufReader::with_capacity(CHUNK, std::fs::File::open(&sealed).unwrap());
                let w = std::fs::File::create(&out).unwrap();
                open_stream(&[&key], r, w).unwrap();
            }),
        ),
        (
            "open: parallel::open (all cores, no hashing)",
            Box::new(|| {
                let r = std::fs::File::open(&sealed).unwrap();
                let w = std::fs::File::create(&out).unwrap();
                parallel::open(&key, r, w).unwrap();
            }),
        ),
        (
            "seal: previous client path (sequential, hashing)",
            Box::new(|| seal_sequential(&recipient, &plain, &out)),
        ),
        (
            "seal: pipelined client path (seal_hashed)",
            Box::new(|| {
                let r = std::fs::File::open(&plain).unwrap();
                let w = std::fs::File::create(&out).unwrap();
                std::hint::black_box(
                    seal_hashed(std::slice::from_ref(&recipient), r, w, |_| {}).unwrap(),
                );
            }),
        ),
        (
            "seal: seal_stream (no hashing)",
            Box::new(|| {
                let r = BufReader::with_capacity(CHUNK, std::fs::File::open(&plain).unwrap());
                let w = std::fs::File::create(&out).unwrap();
                seal_stream(std::slice::from_ref(&recipient), r, w).unwrap();
            }),
        ),
    ];
    let mut cases = cases;
    if go_age {
        let age = |args: Vec<std::ffi::OsString>| {
            move || {
                let ok = std::process::Command::new("age")
                    .args(&args)
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        };
        cases.push((
            "open: Go age -d (reference, no hashing)",
            Box::new(age(vec![
                "-d".into(),
                "-i".into(),
                key_file.clone().into(),
                "-o".into(),
                out.clone().into(),
                sealed.clone().into(),
            ])),
        ));
        cases.push((
            "seal: Go age -e (reference, no hashing)",
            Box::new(age(vec![
                "-e".into(),
                "-r".into(),
                recipient.clone().into(),
                "-o".into(),
                out.clone().into(),
                plain.clone().into(),
            ])),
        ));
    }
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before the primitives: {}", loadavg().trim());
    primitives(runs);
    println!(
        "{size_mib} MiB, median of {runs} runs (cases interleaved run by run), file to file: \
         MiB/s, and CPU seconds per GiB (all threads); load average at start: {}",
        loadavg().trim()
    );
    let (mut rates, mut cpu) = (vec![Vec::new(); cases.len()], vec![Vec::new(); cases.len()]);
    for _ in 0..runs {
        for (i, (_, f)) in cases.iter().enumerate() {
            let _ = std::fs::remove_file(&out);
            let (wall, c) = timed(f);
            rates[i].push(size_mib as f64 / wall.as_secs_f64());
            cpu[i].push(c * 1024.0 / size_mib as f64);
        }
    }
    for (((name, _), rates), cpu) in cases.iter().zip(rates).zip(cpu) {
        let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "{name:<52} {:>8.1} MiB/s  {:>5.2} CPU s/GiB  (runs: {})",
            median(rates),
            median(cpu),
            all.join(", ")
        );
    }
    println!("load average at the end: {}", loadavg().trim());
}
