//! Streaming seal and open with the per-byte work spread over cores: SHA-256 of the plaintext and
//! the ciphertext's digest (BLAKE3 for what is sealed now, either algorithm when opening: see
//! [`crate::digest`]) each run on their own thread, pipelined with the encryption or decryption
//! (chunks handed over by move, a few chunks in flight).
//!
//! Opening decrypts the payload's STREAM chunks in parallel ([`crate::parallel`]: the header is
//! read with `age-core`'s parser, the file key unwrapped by `age`'s X25519 identity, and the
//! header MAC verified before any plaintext is released). Sealing encrypts the chunks in
//! parallel too ([`crate::parallel_seal`]: age's header and STREAM payload, `ring`'s
//! ChaCha20-Poly1305). Output is an ordinary age file.
//!
//! Not for wasm32 (no threads there): the browser uses [`crate::seal::open_async_reader`].

use crate::CryptoError;
use crate::digest::DigestAlgorithm;
use crate::keys::EncryptionKey;
use crate::parallel::{BATCH_BYTES, Payload, plaintext_chunks, plaintext_len};
use crate::parallel_seal::Sealer;
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread;
use zeroize::Zeroizing;

/// Bytes handed from one stage to the next (small enough to stay in a core's L2 cache between
/// stages, large enough that hand-offs cost nothing).
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between two stages.
const AHEAD: usize = 4;

/// Sizes and digests of both sides of a sealed or opened stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256 of the plaintext.
    pub plaintext_sha256: [u8; 32],
    /// Plaintext bytes.
    pub plaintext_size: u64,
    /// Digest of the ciphertext (the whole age file) with [`Self::ciphertext_algorithm`].
    pub ciphertext_digest: [u8; 32],
    /// BLAKE3 for [`seal_hashed`]; what the caller asked for when opening.
    pub ciphertext_algorithm: DigestAlgorithm,
    /// Ciphertext bytes.
    pub ciphertext_size: u64,
}

/// The ciphertext's digest on the pipeline's threads: SHA-256 with `ring`, or BLAKE3 (the
/// `blake3` crate's SIMD code).
enum CipherHasher {
    Sha256(Box<Sha256>),
    Blake3(Box<blake3::Hasher>),
}

impl CipherHasher {
    fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha256 => Self::Sha256(Box::new(Sha256::new())),
            DigestAlgorithm::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Blake3(h) => {
                h.update(data);
            }
        }
    }
    fn finalize(self) -> [u8; 32] {
        match self {
            Self::Sha256(h) => h.finalize(),
            Self::Blake3(h) => *h.finalize().as_bytes(),
        }
    }
}

/// SHA-256 on the pipeline's threads: `ring`'s (BoringSSL's SHA-NI code, faster than `sha2`'s
/// on the benchmark machine: docs/dependencies.md). The tests check it against `sha2`.
struct Sha256(ring::digest::Context);

impl Sha256 {
    fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    fn finalize(self) -> [u8; 32] {
        self.0
            .finish()
            .as_ref()
            .try_into()
            .expect("SHA-256 digests are 32 bytes")
    }
}

/// Plaintext in flight: wiped when dropped.
type Plain = Zeroizing<Vec<u8>>;

/// Read up to [`CHUNK`] bytes into the spare capacity of an empty `buf` (never zeroed first);
/// the number read (0 at the end).
fn fill_vec(input: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    buf.reserve(CHUNK);
    let mut limited = input.take(CHUNK as u64);
    loop {
        match limited.read_to_end(buf) {
            Ok(_) => return Ok(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A `Read` over chunks arriving on a channel (ends when the sender is dropped).
struct ChunkReader<T> {
    rx: Receiver<T>,
    current: T,
    pos: usize,
}

impl<T: AsRef<[u8]> + Default> ChunkReader<T> {
    fn new(rx: Receiver<T>) -> Self {
        Self {
            rx,
            current: T::default(),
            pos: 0,
        }
    }
}

impl<T: AsRef<[u8]> + Default> Read for ChunkReader<T> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.as_ref().len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.current = next;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let rest = &self.current.as_ref()[self.pos..];
        let n = out.len().min(rest.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Join a stage's thread; a panic in a stage is re-raised.
fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Seal all of `input` to `recipients` (`age1...`) onto `output`, hashing the plaintext
/// (SHA-256) and the ciphertext (BLAKE3, what a document binding names now) on their own
/// threads; `progress` receives plaintext byte counts as they are read.
/// Memory stays flat (a few MiB whatever the size). `output` is flushed, not synced.
pub fn seal_hashed<R, W>(
    recipients: &[String],
    input: R,
    output: W,
    progress: impl FnMut(u64) + Send,
) -> Result<Digests, CryptoError>
where
    R: Read + Send,
    W: Write + Send,
{
    let (plain_tx, plain_rx) = sync_channel::<Plain>(AHEAD);
    let (back_tx, back_rx) = sync_channel::<Plain>(AHEAD + 2);
    let (sealed_tx, sealed_rx) = sync_channel::<Vec<u8>>(AHEAD);
    // Recipients are checked (and the header made) before any thread starts.
    let (mut sealer, header) = Sealer::start(recipients)?;
    thread::scope(|s| {
        // Stage 1: read and hash the plaintext.
        let reader = s.spawn(move || -> io::Result<([u8; 32], u64)> {
            let (mut input, mut progress) = (input, progress);
            let mut hasher = Sha256::new();
            let mut total = 0u64;
            loop {
                let mut buf = back_rx
                    .try_recv()
                    .unwrap_or_else(|_| Zeroizing::new(Vec::with_capacity(CHUNK)));
                let n = fill_vec(&mut input, &mut buf)?;
                if n == 0 {
                    return Ok((hasher.finalize(), total));
                }
                hasher.update(&buf[..]);
                total += n as u64;
                progress(n as u64);
                if plain_tx.send(buf).is_err() {
                    // The sealer stopped; its error is the one reported.
                    return Ok((hasher.finalize(), total));
                }
            }
        });
        // Stage 3: hash and write the ciphertext.
        let sink = s.spawn(move || -> io::Result<([u8; 32], u64)> {
            let mut output = output;
            let mut hasher = CipherHasher::new(DigestAlgorithm::Blake3);
            let mut total = 0u64;
            for chunk in sealed_rx {
                hasher.update(&chunk);
                output.write_all(&chunk)?;
                total += chunk.len() as u64;
            }
            output.flush()?;
            Ok((hasher.finalize(), total))
        });
        // Stage 2 (this thread): the STREAM chunks sealed on all cores
        // ([`crate::parallel_seal`]). A buffer is sealed once the next one (or the end) has
        // arrived, since only the last chunk is flagged final; every buffer but the last is
        // whole chunks (the reader fills each to `CHUNK`). The channels are dropped when it
        // returns, which stops the other stages if it failed.
        let sealed = (move || -> Result<(), CryptoError> {
            let send = |v: Vec<u8>| {
                sealed_tx.send(v).map_err(|_| {
                    CryptoError::Io(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the next stage stopped",
                    ))
                })
            };
            send(header)?;
            let mut held: Option<Plain> = None;
            for chunk in plain_rx {
                if let Some(prev) = held.replace(chunk) {
                    let mut out = Vec::with_capacity(prev.len() + CHUNK / 1024);
                    sealer.seal_batch(&prev, false, &mut out)?;
                    send(out)?;
                    // Plaintext buffers go back to the reader for reuse (wiped when dropped).
                    let _ = back_tx.try_send(prev);
                }
            }
            let last = held.as_deref().map_or(&[][..], |v| &v[..]);
            let mut out = Vec::with_capacity(last.len() + CHUNK / 1024 + 16);
            sealer.seal_batch(last, true, &mut out)?;
            send(out)
        })();
        let plain = join(reader);
        let cipher = join(sink);
        // An I/O error of a stage stopped the others: report it rather than what followed.
        // (A failed read ends the plaintext early; age then writes a well-formed but short file,
        // which the error tells the caller to discard.)
        let (plaintext_sha256, plaintext_size) = plain?;
        let (ciphertext_digest, ciphertext_size) = cipher?;
        sealed?;
        Ok(Digests {
            plaintext_sha256,
            plaintext_size,
            ciphertext_digest,
            ciphertext_algorithm: DigestAlgorithm::Blake3,
            ciphertext_size,
        })
    })
}

/// Open an age file from `input` with `identity`, writing the plaintext to `output`; the
/// ciphertext (every byte of `input`, including anything after the age payload, with
/// `algorithm`) and the plaintext (SHA-256) are hashed on their own threads. `progress` receives plaintext byte counts as they
/// are written. Errors as for [`crate::seal::open_stream`]: on any error, discard what was
/// written. `output` is flushed, not synced.
pub fn open_hashed<R, W>(
    identity: &EncryptionKey,
    input: R,
    output: W,
    algorithm: DigestAlgorithm,
    progress: impl FnMut(u64) + Send,
) -> Result<Digests, CryptoError>
where
    R: Read + Send,
    W: Write + Send,
{
    let (plain, opened) = open_pipelined(identity, input, output, algorithm, progress, true)?;
    Ok(Digests {
        plaintext_sha256: plain.expect("the plaintext was hashed"),
        plaintext_size: opened.plaintext_size,
        ciphertext_digest: opened.ciphertext_digest,
        ciphertext_algorithm: algorithm,
        ciphertext_size: opened.ciphertext_size,
    })
}

/// What [`open_ciphertext_hashed`] saw: the ciphertext's size and digest, the plaintext's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Plaintext bytes written.
    pub plaintext_size: u64,
    /// Digest of the ciphertext (every byte of the input) with the algorithm asked for.
    pub ciphertext_digest: [u8; 32],
    /// Ciphertext bytes.
    pub ciphertext_size: u64,
}

/// [`open_hashed`] without hashing the plaintext: for a document whose signed binding commits
/// to its key (`crate::commitment`), where the key and the ciphertext's digest already fix the
/// plaintext. A third less work per byte on the download path.
pub fn open_ciphertext_hashed<R, W>(
    identity: &EncryptionKey,
    input: R,
    output: W,
    algorithm: DigestAlgorithm,
    progress: impl FnMut(u64) + Send,
) -> Result<Opened, CryptoError>
where
    R: Read + Send,
    W: Write + Send,
{
    Ok(open_pipelined(identity, input, output, algorithm, progress, false)?.1)
}

/// The opening pipeline: ciphertext read and hashed on one thread, decrypted in batches on all
/// cores, written (and, with `hash_plain`, hashed) on another.
fn open_pipelined<R, W>(
    identity: &EncryptionKey,
    input: R,
    output: W,
    algorithm: DigestAlgorithm,
    progress: impl FnMut(u64) + Send,
    hash_plain: bool,
) -> Result<(Option<[u8; 32]>, Opened), CryptoError>
where
    R: Read + Send,
    W: Write + Send,
{
    let (cipher_tx, cipher_rx) = sync_channel::<Vec<u8>>(AHEAD);
    let (plain_tx, plain_rx) = sync_channel::<Plain>(AHEAD);
    let (back_tx, back_rx) = sync_channel::<Plain>(AHEAD + 2);
    // Set when decryption or writing failed: the reader stops instead of draining the input.
    let stop = AtomicBool::new(false);
    let stop = &stop;
    thread::scope(|s| {
        // Stage 1: read and hash the ciphertext.
        let reader = s.spawn(move || -> io::Result<([u8; 32], u64)> {
            let mut input = input;
            let mut hasher = CipherHasher::new(algorithm);
            let mut total = 0u64;
            let mut sending = true;
            while !stop.load(Ordering::Relaxed) {
                let mut buf = Vec::new();
                let n = fill_vec(&mut input, &mut buf)?;
                if n == 0 {
                    return Ok((hasher.finalize(), total));
                }
                hasher.update(&buf);
                total += n as u64;
                // Once the decryptor has stopped (done or failed), keep hashing to the end:
                // the digest covers every byte served.
                if sending && cipher_tx.send(buf).is_err() {
                    sending = false;
                }
            }
            Ok((hasher.finalize(), total))
        });
        // Stage 3: write (and hash) the plaintext.
        let sink = s.spawn(move || -> io::Result<(Option<[u8; 32]>, u64)> {
            let (mut output, mut progress) = (output, progress);
            let mut hasher = hash_plain.then(Sha256::new);
            let mut total = 0u64;
            for batch in plain_rx {
                for plain in plaintext_chunks(&batch) {
                    if let Some(h) = hasher.as_mut() {
                        h.update(plain);
                    }
                    output.write_all(plain)?;
                }
                let n = plaintext_len(&batch) as u64;
                total += n;
                progress(n);
                // Back to the decryptor for reuse (wiped when finally dropped).
                let _ = back_tx.try_send(batch);
            }
            output.flush()?;
            Ok((hasher.map(Sha256::finalize), total))
        });
        // Stage 2 (this thread): the header check, then batches of chunks decrypted on all
        // cores. Its channels are dropped when it returns: the writer finishes, the reader
        // drains the rest of the input (or stops, after a failure).
        let opened = (move || -> Result<(), CryptoError> {
            let input = BufReader::with_capacity(CHUNK, ChunkReader::<Vec<u8>>::new(cipher_rx));
            let mut payload = Payload::open(identity, input)?;
            loop {
                let mut batch = back_rx
                    .try_recv()
                    .unwrap_or_else(|_| Zeroizing::new(Vec::with_capacity(BATCH_BYTES)));
                if !payload.next_batch(&mut batch)? {
                    return Ok(());
                }
                if plain_tx.send(batch).is_err() {
                    // The writer failed: its error is reported below.
                    stop.store(true, Ordering::Relaxed);
                    return Ok(());
                }
            }
        })();
        if opened.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let written = join(sink);
        let read = join(reader);
        // The first failure in the pipeline is the one reported: a failed read of the input
        // shows downstream as a truncated file.
        let (ciphertext_digest, ciphertext_size) = read?;
        let (plaintext_sha256, plaintext_size) = written?;
        opened?;
        Ok((
            plaintext_sha256,
            Opened {
                plaintext_size,
                ciphertext_digest,
                ciphertext_size,
            },
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{open_bytes, seal_bytes};

    /// age's payload chunk on the wire: 64 KiB of plaintext + a 16-byte tag.
    const WIRE_CHUNK: usize = 64 * 1024 + 16;

    fn pattern(len: usize) -> Vec<u8> {
        crate::test_bytes(len, 0x9e37_79b9)
    }

    /// `sha2`'s SHA-256, to check the pipeline's (`ring`'s).
    fn sha(b: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(b).into()
    }

    /// Offset of the payload's first chunk (after the header and the 16-byte nonce).
    fn payload_start(sealed: &[u8]) -> usize {
        let mac = sealed.windows(4).position(|w| w == b"--- ").unwrap();
        mac + sealed[mac..].iter().position(|&b| b == b'\n').unwrap() + 1 + 16
    }

    /// Open with [`open_hashed`] (BLAKE3 of the ciphertext); [`open_ciphertext_hashed`] must
    /// agree on the outcome, the plaintext and the ciphertext's digest, and with SHA-256 (the
    /// digest of older bindings) give `sha2`'s digest of the input.
    fn open(key: &EncryptionKey, sealed: &[u8]) -> Result<(Vec<u8>, Digests), CryptoError> {
        let mut out = Vec::new();
        let hashed = open_hashed(key, sealed, &mut out, DigestAlgorithm::Blake3, |_| {});
        for alg in [DigestAlgorithm::Blake3, DigestAlgorithm::Sha256] {
            let mut out2 = Vec::new();
            let opened = open_ciphertext_hashed(key, sealed, &mut out2, alg, |_| {});
            match (&hashed, &opened) {
                (Ok(d), Ok(o)) => {
                    assert!(out == out2);
                    assert_eq!(
                        (d.plaintext_size, d.ciphertext_size),
                        (o.plaintext_size, o.ciphertext_size)
                    );
                    let expected = match alg {
                        DigestAlgorithm::Blake3 => d.ciphertext_digest,
                        DigestAlgorithm::Sha256 => sha(sealed),
                    };
                    assert_eq!(o.ciphertext_digest, expected, "{alg:?}");
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                _ => panic!("the openers disagree: {hashed:?} vs {opened:?}"),
            }
        }
        Ok((out, hashed?))
    }

    #[test]
    fn round_trips_with_digests_of_both_sides() {
        let key = EncryptionKey::generate();
        for len in [0, 1, 64 * 1024, CHUNK - 1, CHUNK, 3 * CHUNK + 17] {
            let data = pattern(len);
            let mut sealed = Vec::new();
            let mut seen = 0u64;
            let d = seal_hashed(&[key.recipient()], &data[..], &mut sealed, |n| seen += n).unwrap();
            assert_eq!(seen, len as u64);
            assert_eq!(
                d,
                Digests {
                    plaintext_sha256: sha(&data),
                    plaintext_size: len as u64,
                    ciphertext_digest: *blake3::hash(&sealed).as_bytes(),
                    ciphertext_algorithm: DigestAlgorithm::Blake3,
                    ciphertext_size: sealed.len() as u64,
                },
                "seal {len}"
            );
            // The ordinary (one-thread) opener reads it, and the pipelined one agrees.
            assert!(open_bytes(&key, &sealed).unwrap()[..] == data[..]);
            let (back, d2) = open(&key, &sealed).unwrap();
            assert!(back == data, "open {len}");
            assert_eq!(d2, d, "open digests {len}");
        }
        // A file sealed by the one-thread sealer opens too.
        let data = pattern(2 * CHUNK + 5);
        let sealed = seal_bytes(&[key.recipient()], &data).unwrap();
        assert!(open(&key, &sealed).unwrap().0 == data);
        // The wrong key.
        assert!(matches!(
            open(&EncryptionKey::generate(), &sealed),
            Err(CryptoError::NoMatchingKey)
        ));
    }

    /// STREAM's guarantees hold on the pipelined path: chunks cut off, swapped, repeated or
    /// added, a non-final chunk presented as the last one (its last-chunk flag would have to
    /// be set) and the final chunk presented as a middle one are all refused.
    #[test]
    fn truncated_reordered_or_extended_payloads_are_refused() {
        let key = EncryptionKey::generate();
        let data = pattern(4 * 64 * 1024 + 100); // 5 chunks: 4 full, 1 short final
        let sealed = seal_bytes(&[key.recipient()], &data).unwrap();
        let start = payload_start(&sealed);
        assert_eq!(sealed.len(), start + 4 * WIRE_CHUNK + 100 + 16);
        let chunk = |i: usize| {
            let from = start + i * WIRE_CHUNK;
            &sealed[from..(from + WIRE_CHUNK).min(sealed.len())]
        };
        let header = &sealed[..start];
        let build = |order: &[usize]| -> Vec<u8> {
            let mut v = header.to_vec();
            for &i in order {
                v.extend_from_slice(chunk(i));
            }
            v
        };
        assert!(open(&key, &build(&[0, 1, 2, 3, 4])).unwrap().0 == data);
        let cases: [(&str, Vec<u8>); 9] = [
            (
                "last chunk dropped: a non-final chunk ends the stream",
                build(&[0, 1, 2, 3]),
            ),
            ("only the first chunk", build(&[0])),
            ("no chunk at all", build(&[])),
            ("two chunks swapped", build(&[0, 2, 1, 3, 4])),
            ("a chunk repeated", build(&[0, 1, 1, 2, 3, 4])),
            ("a chunk dropped from the middle", build(&[0, 1, 3, 4])),
            ("final chunk moved to the middle", build(&[0, 4, 1, 2, 3])),
            ("bytes after the final chunk", {
                let mut v = sealed.clone();
                v.extend_from_slice(&[0u8; 40]);
                v
            }),
            ("a tag bit flipped in the final chunk", {
                let mut v = sealed.clone();
                let last = v.len() - 1;
                v[last] ^= 0x80;
                v
            }),
        ];
        for (what, bad) in cases {
            let r = open(&key, &bad);
            assert!(matches!(r, Err(CryptoError::Decrypt)), "{what}: {r:?}");
        }
        // Cut at every position around each chunk boundary.
        for i in 1..=4 {
            for delta in [-1i64, 0, 1] {
                let cut = (start + i * WIRE_CHUNK) as i64 + delta;
                let r = open(&key, &sealed[..cut as usize]);
                assert!(
                    matches!(r, Err(CryptoError::Decrypt)),
                    "cut at {cut}: {r:?}"
                );
            }
        }
    }

    struct Failing {
        after: usize,
    }
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.after == 0 {
                return Err(io::Error::other("disk gone"));
            }
            let n = buf.len().min(self.after);
            buf[..n].fill(7);
            self.after -= n;
            Ok(n)
        }
    }
    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.after == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.after);
            self.after -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A failing reader or writer at any stage ends the pipeline with that I/O error (no
    /// thread left waiting).
    #[test]
    fn io_errors_of_any_stage_are_reported() {
        let key = EncryptionKey::generate();
        let data = pattern(6 * CHUNK);
        let r = seal_hashed(
            &[key.recipient()],
            Failing { after: 3 * CHUNK },
            Vec::new(),
            |_| {},
        );
        assert!(matches!(r, Err(CryptoError::Io(e)) if e.to_string() == "disk gone"));
        let r = seal_hashed(
            &[key.recipient()],
            &data[..],
            Failing { after: CHUNK },
            |_| {},
        );
        assert!(matches!(r, Err(CryptoError::Io(e)) if e.to_string() == "disk full"));

        let sealed = seal_bytes(&[key.recipient()], &data).unwrap();
        let r = open_hashed(
            &key,
            &sealed[..],
            Failing { after: CHUNK + 5 },
            DigestAlgorithm::Blake3,
            |_| {},
        );
        assert!(matches!(r, Err(CryptoError::Io(e)) if e.to_string() == "disk full"));
        let input = (&sealed[..2 * CHUNK]).chain(Failing { after: 0 });
        let r = open_hashed(&key, input, Vec::new(), DigestAlgorithm::Sha256, |_| {});
        assert!(matches!(r, Err(CryptoError::Io(e)) if e.to_string() == "disk gone"));
    }

    /// Files from the pipelined sealer open with the standard tools, and theirs open here.
    #[test]
    fn interop_with_age_cli() {
        let Some(tool) = ["rage", "age"].into_iter().find(|t| {
            std::process::Command::new(t)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        }) else {
            println!("note: neither `rage` nor `age` is on PATH; skipping the interop test");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let key = EncryptionKey::generate();
        let key_file = dir.path().join("key.txt");
        std::fs::write(&key_file, format!("{}\n", key.to_secret_string().as_str())).unwrap();
        let data = pattern(2 * CHUNK + 64 * 1024 + 3);
        let sealed_file = dir.path().join("export.age");
        let file = std::fs::File::create(&sealed_file).unwrap();
        seal_hashed(&[key.recipient()], &data[..], file, |_| {}).unwrap();
        let out = std::process::Command::new(tool)
            .arg("-d")
            .arg("-i")
            .arg(&key_file)
            .arg(&sealed_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == data, "{tool} decrypted different bytes");

        let plain_file = dir.path().join("plain.bin");
        std::fs::write(&plain_file, &data).unwrap();
        let out = std::process::Command::new(tool)
            .arg("-e")
            .arg("-r")
            .arg(key.recipient())
            .arg(&plain_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (back, d) = open(&key, &out.stdout).unwrap();
        assert!(back == data);
        assert_eq!(d.ciphertext_digest, *blake3::hash(&out.stdout).as_bytes());
        println!("interop with {tool}: ok");
    }
}
