//! Opening an age file with its payload decrypted on all cores.
//!
//! age's payload is the STREAM construction (C2SP age.md): 64 KiB plaintext chunks, each sealed
//! with ChaCha20-Poly1305 under the payload key = HKDF-SHA256(salt = the 16-byte payload nonce,
//! ikm = file key, info "payload"), nonce = 11-byte big-endian chunk counter || last-chunk flag.
//! Once the payload key is known the chunks are independent, so a batch of them is decrypted in
//! parallel (rayon) and released in order. The chunk AEAD is `ring`'s ChaCha20-Poly1305
//! (BoringSSL's assembly, about 2.5 times RustCrypto's on the benchmark machine: see
//! docs/dependencies.md); the tests seal with RustCrypto's and compare against age's own reader. The `age` crate does not expose the file key through
//! its streaming API, so the header is read here, with maintained code doing the parts that
//! matter: `age-core`'s stanza parser, and `age::Identity::unwrap_stanzas` (the X25519 unwrap).
//! Before any plaintext is released the header MAC (HMAC-SHA256 under HKDF(file key,
//! "header")) is verified, exactly as age does.
//!
//! Refused exactly as age's `StreamReader` refuses them ([`CryptoError::Decrypt`]): a header
//! that does not parse or whose MAC does not verify, a passphrase (scrypt) stanza beside others,
//! a missing payload nonce, no payload at all, a payload cut off or extended (the final chunk is
//! the one that ends the input: anything appended makes it fail its tag), chunks reordered,
//! repeated, dropped or altered, a final chunk sealed as a middle one or a middle one sealed as
//! final, and an empty final chunk after other chunks. As with age, a streaming open writes
//! plaintext before it has seen the end: on any error, discard what was written.
//!
//! Not for wasm32 (no threads there): the browser uses [`crate::seal::open_async_reader`].

use crate::CryptoError;
use crate::keys::EncryptionKey;
use crate::seal::{decrypt_error, read_error};
use age_core::format::{Stanza, read::legacy_age_stanza};
use age_core::primitives::hkdf;
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use rayon::prelude::*;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use std::io::{self, BufRead, BufReader, Read, Write};
use zeroize::{Zeroize, Zeroizing};

/// Plaintext bytes in one STREAM chunk.
pub const PLAIN_CHUNK: usize = 64 * 1024;
/// Poly1305 tag bytes after each chunk's ciphertext.
pub const TAG: usize = 16;
/// One chunk on the wire.
pub const WIRE_CHUNK: usize = PLAIN_CHUNK + TAG;
/// Chunks decrypted together (about 1 MiB: enough to share between cores, small enough to stay
/// in cache on its way to the next stage).
pub const BATCH_CHUNKS: usize = 16;
/// Ciphertext bytes of a full batch.
pub const BATCH_BYTES: usize = BATCH_CHUNKS * WIRE_CHUNK;

const MAGIC_LINE: &[u8] = b"age-encryption.org/v1\n";
/// age's header ends with `--- ` and the base64 of the 32-byte MAC.
const ENCODED_MAC_LENGTH: usize = 43;
/// The largest header read (age sets no limit; medshare's have one or a few X25519 stanzas of
/// about 150 bytes each, so this only stops a hostile file from filling memory).
const MAX_HEADER: usize = 1024 * 1024;
const SCRYPT_TAG: &str = "scrypt";

/// Parse a complete v1 header (magic line to MAC line) into its stanzas and MAC, with the
/// grammar age uses (`legacy_age_stanza`, at least one stanza, canonical base64 MAC).
fn parse_header(bytes: &[u8]) -> Option<(Vec<Stanza>, [u8; 32])> {
    let mut rest = bytes.strip_prefix(MAGIC_LINE)?;
    let mut stanzas = Vec::new();
    while !rest.starts_with(b"---") {
        let (after, stanza) = legacy_age_stanza(rest).ok()?;
        stanzas.push(Stanza::from(stanza));
        rest = after;
    }
    if stanzas.is_empty() {
        return None;
    }
    let encoded = rest.strip_prefix(b"--- ")?.strip_suffix(b"\n")?;
    if encoded.len() != ENCODED_MAC_LENGTH {
        return None;
    }
    let mut mac = [0u8; 33];
    match STANDARD_NO_PAD.decode_slice(encoded, &mut mac) {
        Ok(32) => Some((stanzas, mac[..32].try_into().ok()?)),
        _ => None,
    }
}

/// Read the header bytes (magic line through MAC line) without reading past them.
fn read_header(input: &mut impl BufRead) -> Result<Vec<u8>, CryptoError> {
    let mut header = Vec::new();
    let mut line_start = 0;
    loop {
        let room = (MAX_HEADER - header.len()) as u64;
        let n = input
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut header)
            .map_err(read_error)?;
        if n == 0 || !header.ends_with(b"\n") {
            // The input (or the size limit) ended inside the header.
            return Err(CryptoError::Decrypt);
        }
        if line_start == 0 && header != MAGIC_LINE {
            // Another format or version (age: "unknown format").
            return Err(CryptoError::Decrypt);
        }
        if header[line_start..].starts_with(b"---") {
            return Ok(header);
        }
        line_start = header.len();
    }
}

/// Read and check an age header from `input` (left at the first payload chunk) and derive the
/// payload key. Wrong keys give [`CryptoError::NoMatchingKey`]; anything malformed or altered
/// [`CryptoError::Decrypt`].
fn open_header(
    identity: &EncryptionKey,
    input: &mut impl BufRead,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let header = read_header(input)?;
    let (stanzas, mac) = parse_header(&header).ok_or(CryptoError::Decrypt)?;
    let mut nonce = [0u8; 16];
    input.read_exact(&mut nonce).map_err(read_error)?;
    // age's structural rule: a passphrase stanza must be alone.
    if stanzas.iter().any(|s| s.tag == SCRYPT_TAG) && stanzas.len() != 1 {
        return Err(CryptoError::Decrypt);
    }
    let file_key = match age::Identity::unwrap_stanzas(identity.identity(), &stanzas) {
        None => return Err(CryptoError::NoMatchingKey),
        Some(r) => r.map_err(decrypt_error)?,
    };
    // The header MAC covers everything up to and including "---" (not the space, the MAC and
    // the newline). Compared in constant time by `verify_slice`.
    let mac_key = Zeroizing::new(hkdf(&[], b"header", file_key.expose_secret()));
    let mut hmac =
        <Hmac<Sha256> as Mac>::new_from_slice(&mac_key[..]).map_err(|_| CryptoError::Decrypt)?;
    hmac.update(&header[..header.len() - ENCODED_MAC_LENGTH - 2]);
    hmac.verify_slice(&mac).map_err(|_| CryptoError::Decrypt)?;
    Ok(Zeroizing::new(hkdf(
        &nonce,
        b"payload",
        file_key.expose_secret(),
    )))
}

/// The payload's AEAD under `payload_key`.
fn payload_aead(payload_key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, payload_key)
            .expect("32 bytes is a ChaCha20-Poly1305 key"),
    )
}

/// STREAM nonce: 11-byte big-endian counter, then the last-chunk flag.
fn chunk_nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Decrypt one wire chunk in place. `ring` authenticates and decrypts in one pass and
/// overwrites the chunk with zeros if its tag does not verify; either way nothing of a batch
/// that failed is released.
fn decrypt_chunk(
    aead: &LessSafeKey,
    chunk: &mut [u8],
    counter: u64,
    last: bool,
) -> Result<(), CryptoError> {
    if chunk.len() < TAG || (last && chunk.len() == TAG && counter != 0) {
        // Too short to hold a tag, or an empty final chunk after other chunks (age refuses
        // both).
        return Err(CryptoError::Decrypt);
    }
    // Each (payload key, nonce) pair is used once: the counter only grows.
    let nonce = Nonce::assume_unique_for_key(chunk_nonce(counter, last));
    aead.open_in_place(nonce, Aad::empty(), chunk)
        .map(|_| ())
        .map_err(|_| CryptoError::Decrypt)
}

/// The plaintext of each chunk of a batch decrypted by [`Payload::next_batch`], in order.
pub fn plaintext_chunks(batch: &[u8]) -> impl Iterator<Item = &[u8]> {
    batch.chunks(WIRE_CHUNK).map(|c| &c[..c.len() - TAG])
}

/// Plaintext bytes in a batch decrypted by [`Payload::next_batch`].
pub fn plaintext_len(batch: &[u8]) -> usize {
    batch.len() - batch.len().div_ceil(WIRE_CHUNK) * TAG
}

/// An age payload being decrypted a batch at a time.
pub struct Payload<R> {
    input: R,
    /// `ring` keeps the payload key in this value and does not wipe it when dropped (see
    /// docs/security.md); the derived key itself is wiped.
    aead: LessSafeKey,
    counter: u64,
    finished: bool,
    /// Chunks per batch ([`BATCH_CHUNKS`]; smaller in tests, to cross batches cheaply).
    batch_chunks: usize,
}

impl<R: BufRead> Payload<R> {
    /// Read and check the header of an age file on `input` (see [`open_header`]).
    pub fn open(identity: &EncryptionKey, mut input: R) -> Result<Self, CryptoError> {
        let payload_key = open_header(identity, &mut input)?;
        let aead = payload_aead(&payload_key);
        Ok(Self {
            input,
            aead,
            counter: 0,
            finished: false,
            batch_chunks: BATCH_CHUNKS,
        })
    }

    /// Read up to [`BATCH_CHUNKS`] chunks into `batch` (cleared first) and decrypt them on all
    /// cores, in place: each chunk's plaintext stands where its ciphertext was, tags left in
    /// between ([`plaintext_chunks`]). `Ok(false)` (and an empty batch) once the final chunk was
    /// returned. On an error the batch may hold some plaintext: keep it in wiped memory (as
    /// [`Zeroizing`] does) and release none of it.
    pub fn next_batch(&mut self, batch: &mut Vec<u8>) -> Result<bool, CryptoError> {
        let full = self.batch_chunks * WIRE_CHUNK;
        if batch.capacity() < full {
            // About to reallocate: wipe what the old allocation held first.
            batch.zeroize();
            batch.reserve(full);
        } else {
            batch.clear();
        }
        if self.finished {
            return Ok(false);
        }
        loop {
            match self
                .input
                .by_ref()
                .take((full - batch.len()) as u64)
                .read_to_end(batch)
            {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(read_error(e)),
            }
        }
        if batch.is_empty() {
            // No chunk where one was due: the payload is missing or was cut at a chunk boundary
            // after a chunk that was not final.
            return Err(CryptoError::Decrypt);
        }
        // The chunk that ends the input is the final one.
        let at_end = batch.len() < full || self.input.fill_buf().map_err(read_error)?.is_empty();
        let chunks = batch.len().div_ceil(WIRE_CHUNK);
        let (aead, first) = (&self.aead, self.counter);
        let one = |(i, chunk): (usize, &mut [u8])| {
            decrypt_chunk(aead, chunk, first + i as u64, at_end && i + 1 == chunks)
        };
        if chunks == 1 {
            one((0, &mut batch[..]))?;
        } else {
            batch
                .par_chunks_mut(WIRE_CHUNK)
                .enumerate()
                .try_for_each(one)?;
        }
        self.counter += chunks as u64;
        self.finished = at_end;
        Ok(true)
    }
}

/// Open an age file from `input` with `identity`, writing the plaintext to `output` (one
/// `write` per 64 KiB chunk) with the payload decrypted on all cores; returns the plaintext
/// size. Errors as for [`crate::seal::open_stream`]: on any error, discard what was written.
/// `output` is flushed, not synced.
pub fn open<R: Read, W: Write>(
    identity: &EncryptionKey,
    input: R,
    output: W,
) -> Result<u64, CryptoError> {
    open_batched(identity, input, output, BATCH_CHUNKS)
}

fn open_batched<R: Read, W: Write>(
    identity: &EncryptionKey,
    input: R,
    mut output: W,
    batch_chunks: usize,
) -> Result<u64, CryptoError> {
    let mut payload = Payload::open(identity, BufReader::with_capacity(256 * 1024, input))?;
    payload.batch_chunks = batch_chunks;
    let mut batch = Zeroizing::new(Vec::with_capacity(batch_chunks * WIRE_CHUNK));
    let mut total = 0u64;
    while payload.next_batch(&mut batch)? {
        for plain in plaintext_chunks(&batch) {
            output.write_all(plain)?;
        }
        total += plaintext_len(&batch) as u64;
    }
    output.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{open_bytes, seal_bytes};
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit};
    use std::fmt::Write as _;

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        crate::test_bytes(len, seed)
    }

    /// What an opener made of a file: its plaintext, or the class of error.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Plain(Vec<u8>),
        NoMatchingKey,
        Decrypt,
    }

    fn outcome(r: Result<Vec<u8>, CryptoError>) -> Outcome {
        match r {
            Ok(p) => Outcome::Plain(p),
            Err(CryptoError::NoMatchingKey) => Outcome::NoMatchingKey,
            Err(CryptoError::Decrypt) => Outcome::Decrypt,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }

    fn parallel(key: &EncryptionKey, file: &[u8], batch_chunks: usize) -> Outcome {
        let mut out = Vec::new();
        outcome(open_batched(key, file, &mut out, batch_chunks).map(|n| {
            assert_eq!(n, out.len() as u64);
            out
        }))
    }

    /// Batches of this many chunks in the refusal tests (small files still cross batches).
    const TEST_BATCH: usize = 2;

    /// The parallel opener (batches of [`TEST_BATCH`] and of [`BATCH_CHUNKS`] chunks) and age's
    /// own `StreamReader` agree on `file`; returns the outcome.
    fn agree(key: &EncryptionKey, file: &[u8], what: &str) -> Outcome {
        let ours = parallel(key, file, TEST_BATCH);
        assert_eq!(
            ours,
            parallel(key, file, BATCH_CHUNKS),
            "{what}: batch sizes"
        );
        let age = outcome(open_bytes(key, file).map(|p| p.to_vec()));
        assert_eq!(ours, age, "{what}: parallel vs age");
        ours
    }

    /// Offset of the payload nonce (just after the header's MAC line).
    fn header_end(file: &[u8]) -> usize {
        let mac = file.windows(4).position(|w| w == b"--- ").unwrap();
        mac + file[mac..].iter().position(|&b| b == b'\n').unwrap() + 1
    }

    #[test]
    fn round_trips_at_every_chunk_and_batch_boundary() {
        let key = EncryptionKey::generate();
        let c = PLAIN_CHUNK;
        for len in [
            0,
            1,
            c - 1,
            c,
            c + 1,
            BATCH_CHUNKS * c - 1,
            BATCH_CHUNKS * c,
            BATCH_CHUNKS * c + 1,
        ] {
            let data = pattern(len, len as u32);
            let file = seal_bytes(&[key.recipient()], &data).unwrap();
            assert_eq!(
                agree(&key, &file, "round trip"),
                Outcome::Plain(data),
                "{len}"
            );
        }
        // Several recipients: whichever stanza is ours.
        let other = EncryptionKey::generate();
        let data = pattern(3 * c, 7);
        let file = seal_bytes(&[other.recipient(), key.recipient()], &data).unwrap();
        assert_eq!(agree(&key, &file, "second stanza"), Outcome::Plain(data));
        assert_eq!(
            agree(&EncryptionKey::generate(), &file, "wrong key"),
            Outcome::NoMatchingKey
        );
    }

    /// Payloads cut, reordered, repeated, extended or re-flagged, within and across batches,
    /// are refused, as age refuses them.
    #[test]
    fn altered_payloads_are_refused_like_age() {
        let key = EncryptionKey::generate();
        let n = 2 * TEST_BATCH + 1; // 5 chunks: 4 full, 1 short final
        let data = pattern((n - 1) * PLAIN_CHUNK + 100, 3);
        let file = seal_bytes(&[key.recipient()], &data).unwrap();
        let start = header_end(&file) + 16;
        assert_eq!(file.len(), start + (n - 1) * WIRE_CHUNK + 100 + TAG);
        let chunk = |i: usize| {
            &file[start + i * WIRE_CHUNK..(start + (i + 1) * WIRE_CHUNK).min(file.len())]
        };
        let build = |order: &[usize]| {
            let mut v = file[..start].to_vec();
            for &i in order {
                v.extend_from_slice(chunk(i));
            }
            v
        };
        let all: Vec<usize> = (0..n).collect();
        assert_eq!(agree(&key, &build(&all), "intact"), Outcome::Plain(data));
        let mut swapped = all.clone();
        swapped.swap(1, 2); // across two batches
        let mut cases = vec![
            ("final chunk dropped", build(&all[..n - 1])),
            ("a batch's worth only", build(&all[..TEST_BATCH])),
            ("swapped within a batch", build(&[0, 1, 3, 2, 4])),
            ("no chunk at all", build(&[])),
            ("chunks swapped across batches", build(&swapped)),
            ("chunk repeated", build(&[0, 1, 2, 2, 3, 4])),
            ("chunk dropped", build(&[0, 1, 2, 4])),
            (
                "final chunk moved",
                build(&[&[n - 1][..], &all[..n - 1]].concat()),
            ),
        ];
        for extra in [1, 40, WIRE_CHUNK] {
            let mut v = file.clone();
            v.extend_from_slice(&vec![0u8; extra]);
            cases.push(("bytes after the final chunk", v));
        }
        for pos in [start, start + 3 * WIRE_CHUNK + 5, file.len() - 1] {
            let mut v = file.clone();
            v[pos] ^= 0x01;
            cases.push(("a bit flipped", v));
        }
        for i in 1..n {
            for delta in [-1i64, 0, 1] {
                let cut = (start + i * WIRE_CHUNK) as i64 + delta;
                cases.push(("cut near a chunk boundary", file[..cut as usize].to_vec()));
            }
        }
        for (what, bad) in cases {
            assert_eq!(agree(&key, &bad, what), Outcome::Decrypt, "{what}");
        }
    }

    /// Chunks re-sealed under the real payload key, to reach the rules a bit flip cannot: an
    /// empty final chunk after a full one, a full final chunk sealed as a middle one, a middle
    /// one sealed as final. The well-formed re-sealing opens (so the refusals are the rules',
    /// not the test's).
    #[test]
    fn chunk_flags_and_empty_final_chunks_follow_age() {
        let key = EncryptionKey::generate();
        let data = pattern(2 * PLAIN_CHUNK, 5);
        let file = seal_bytes(&[key.recipient()], &data).unwrap();
        let start = header_end(&file) + 16;
        let mut header = &file[..];
        let payload_key = open_header(&key, &mut header).unwrap();
        // Sealed with RustCrypto's implementation, opened with ring's (and by age).
        let aead = ChaCha20Poly1305::new(Key::from_slice(&payload_key[..]));
        let seal = |plain: &[u8], counter: u64, last: bool| {
            let mut v = plain.to_vec();
            let tag = aead
                .encrypt_in_place_detached(&chunk_nonce(counter, last).into(), b"", &mut v)
                .unwrap();
            v.extend_from_slice(&tag);
            v
        };
        let (a, b) = data.split_at(PLAIN_CHUNK);
        let with = |chunks: &[Vec<u8>]| [&[file[..start].to_vec()][..], chunks].concat().concat();
        let cases = [
            (
                "as written",
                with(&[seal(a, 0, false), seal(b, 1, true)]),
                true,
            ),
            (
                "final chunk sealed as a middle one",
                with(&[seal(a, 0, false), seal(b, 1, false)]),
                false,
            ),
            (
                "middle chunk sealed as final",
                with(&[seal(a, 0, true), seal(b, 1, true)]),
                false,
            ),
            (
                "empty final chunk after full ones",
                with(&[seal(a, 0, false), seal(b, 1, false), seal(b"", 2, true)]),
                false,
            ),
            ("one short chunk, final", with(&[seal(b"x", 0, true)]), true),
            ("empty only chunk", with(&[seal(b"", 0, true)]), true),
            ("empty chunk not final", with(&[seal(b"", 0, false)]), false),
            (
                "counter skips",
                with(&[seal(a, 0, false), seal(b, 2, true)]),
                false,
            ),
        ];
        for (what, bytes, opens) in cases {
            let r = agree(&key, &bytes, what);
            assert_eq!(matches!(r, Outcome::Plain(_)), opens, "{what}: {r:?}");
        }
    }

    /// Headers: a MAC that does not verify, an extra stanza after sealing, a passphrase stanza
    /// beside a recipient, another version, cut-offs, and input that is not age at all.
    #[test]
    fn altered_headers_are_refused_like_age() {
        let key = EncryptionKey::generate();
        let data = pattern(PLAIN_CHUNK + 9, 11);
        let file = seal_bytes(&[key.recipient()], &data).unwrap();
        let end = header_end(&file);
        let mac_line = end - ENCODED_MAC_LENGTH - 5;
        let (head, tail) = file.split_at(mac_line);
        let insert = |stanza: &str| [head, stanza.as_bytes(), tail].concat();
        let mut mac = [0u8; 33];
        STANDARD_NO_PAD
            .decode_slice(&file[end - 1 - ENCODED_MAC_LENGTH..end - 1], &mut mac)
            .unwrap();
        mac[31] ^= 0x01;
        let mut flipped_mac = file[..end - 1 - ENCODED_MAC_LENGTH].to_vec();
        flipped_mac.extend_from_slice(STANDARD_NO_PAD.encode(&mac[..32]).as_bytes());
        flipped_mac.extend_from_slice(&file[end - 1..]);
        let mut long_body = String::from("-> unknown-tag arg\n");
        for _ in 0..3 {
            long_body.push_str(&"A".repeat(64));
            long_body.push('\n');
        }
        let _ = writeln!(long_body);
        let cases = vec![
            ("header MAC flipped", flipped_mac),
            ("unknown stanza added", insert("-> grease-x\nAAAA\n")),
            ("long unknown stanza added", insert(&long_body)),
            (
                "scrypt stanza beside X25519",
                insert("-> scrypt c2FsdHNhbHRzYWx0c2FsdA 10\nAAAA\n"),
            ),
            (
                "other version",
                [b"age-encryption.org/v2\n".as_slice(), &file[22..]].concat(),
            ),
            ("not age", b"PK\x03\x04 something else entirely\n".to_vec()),
            ("no newline at all", vec![b'a'; 2 * MAX_HEADER]),
            ("header cut in a stanza", file[..mac_line - 3].to_vec()),
            ("header cut in the MAC", file[..end - 5].to_vec()),
            ("no payload nonce", file[..end].to_vec()),
            ("payload nonce cut", file[..end + 8].to_vec()),
            (
                "MAC line with a bad length",
                [&file[..end - 1], b"A\n".as_slice(), &file[end..]].concat(),
            ),
            ("empty", Vec::new()),
        ];
        for (what, bad) in cases {
            assert_eq!(agree(&key, &bad, what), Outcome::Decrypt, "{what}");
        }
        // A well-formed unknown stanza *before* sealing is fine (age ignores unknown types):
        // covered by files from other tools in the interop test; here the control is that the
        // untouched file opens.
        assert_eq!(agree(&key, &file, "intact"), Outcome::Plain(data));
    }

    /// Random cuts, bit flips and insertions anywhere in a small file: the parallel opener and
    /// age agree on every one (a differential check of the header and payload rules).
    #[test]
    fn random_damage_is_judged_as_age_judges_it() {
        let key = EncryptionKey::generate();
        let data = pattern(2 * PLAIN_CHUNK + 300, 13);
        let file = seal_bytes(&[key.recipient()], &data).unwrap();
        let mut x = 0x1234_5678_u64;
        let mut next = |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        let end = header_end(&file) + 16;
        for round in 0..120 {
            let mut bad = file.clone();
            // Half the damage in the header, half anywhere.
            let pos = if round % 2 == 0 {
                next(end)
            } else {
                next(bad.len())
            };
            match round % 3 {
                0 => bad.truncate(pos),
                1 => bad[pos] ^= 1 << next(8),
                _ => bad.insert(pos, next(256) as u8),
            }
            let r = agree(&key, &bad, &format!("round {round} at {pos}"));
            assert_ne!(
                r,
                Outcome::Plain(data.clone()),
                "round {round}: damage unnoticed"
            );
        }
    }
}
