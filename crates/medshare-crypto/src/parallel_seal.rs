//! Sealing an age file with its payload encrypted on all cores: the mirror of
//! [`crate::parallel`].
//!
//! The header is what age writes (C2SP age.md): the magic line, one X25519 stanza per recipient
//! made by `age`'s own `Recipient::wrap_file_key` around a fresh random 16-byte file key, and
//! the header MAC (HMAC-SHA256 under HKDF(file key, "header") over the header up to and
//! including `---`). Then a random 16-byte payload nonce and the STREAM payload under
//! HKDF(salt = nonce, ikm = file key, "payload"): 64 KiB chunks sealed with `ring`'s
//! ChaCha20-Poly1305, nonce = 11-byte big-endian counter || last-chunk flag. The chunks are
//! independent once the payload key is known, so each batch is sealed in parallel (rayon). As
//! age's writer does, the last chunk is the one flagged final (full if the plaintext is a
//! non-zero multiple of 64 KiB; empty only for an empty plaintext). The output opens with age,
//! rage and `age::Decryptor` (tests here and in `stream.rs`).
//!
//! The file key and the payload key are wiped when dropped (the key schedule inside `ring`'s
//! `LessSafeKey` is not: docs/security.md, as for opening). Not for wasm32 (no threads there).

use crate::CryptoError;
use crate::keys::parse_recipient;
use crate::parallel::{PLAIN_CHUNK, TAG, WIRE_CHUNK};
use age_core::format::FileKey;
use age_core::primitives::hkdf;
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use rayon::prelude::*;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// An age payload being sealed: the payload key and the next chunk's counter.
pub struct Sealer {
    aead: LessSafeKey,
    counter: u64,
    finished: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// One stanza as age writes it: `-> tag args...`, then the body in base64 (no padding) in
/// lines of 64 columns, the last line always shorter (empty if need be).
fn write_stanza(out: &mut Vec<u8>, tag: &str, args: &[String], body: &[u8]) {
    out.extend_from_slice(b"-> ");
    out.extend_from_slice(tag.as_bytes());
    for a in args {
        out.push(b' ');
        out.extend_from_slice(a.as_bytes());
    }
    out.push(b'\n');
    let encoded = STANDARD_NO_PAD.encode(body);
    let mut rest = encoded.as_bytes();
    while rest.len() >= 64 {
        out.extend_from_slice(&rest[..64]);
        out.push(b'\n');
        rest = &rest[64..];
    }
    out.extend_from_slice(rest);
    out.push(b'\n');
}

impl Sealer {
    /// Start an age file to `recipients` (`age1...`): the header and the payload nonce, to be
    /// written before the payload.
    pub fn start(recipients: &[String]) -> Result<(Self, Vec<u8>), CryptoError> {
        if recipients.is_empty() {
            return Err(CryptoError::NoRecipients);
        }
        let parsed = recipients
            .iter()
            .map(|r| parse_recipient(r))
            .collect::<Result<Vec<_>, _>>()?;
        let file_key = FileKey::init_with_mut(|k| OsRng.fill_bytes(k));
        let mut header = b"age-encryption.org/v1\n".to_vec();
        for r in &parsed {
            let (stanzas, _) =
                age::Recipient::wrap_file_key(r, &file_key).map_err(|_| CryptoError::Encrypt)?;
            for s in stanzas {
                write_stanza(&mut header, &s.tag, &s.args, &s.body);
            }
        }
        header.extend_from_slice(b"---");
        let mac_key = Zeroizing::new(hkdf(&[], b"header", file_key.expose_secret()));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key[..])
            .map_err(|_| CryptoError::Encrypt)?;
        mac.update(&header);
        header.push(b' ');
        header.extend_from_slice(
            STANDARD_NO_PAD
                .encode(mac.finalize().into_bytes())
                .as_bytes(),
        );
        header.push(b'\n');
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        header.extend_from_slice(&nonce);
        let payload_key = Zeroizing::new(hkdf(&nonce, b"payload", file_key.expose_secret()));
        let aead = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &payload_key[..])
                .map_err(|_| CryptoError::Encrypt)?,
        );
        Ok((
            Self {
                aead,
                counter: 0,
                finished: false,
            },
            header,
        ))
    }

    /// Seal the next `plain` bytes onto the end of `out`, its chunks on all cores. Every call
    /// but the last (`last`) must bring a whole number of 64 KiB chunks (and at least one);
    /// the last may bring any length, including none when nothing came before.
    pub fn seal_batch(
        &mut self,
        plain: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let whole = !plain.is_empty() && plain.len().is_multiple_of(PLAIN_CHUNK);
        if self.finished || (!last && !whole) || (last && plain.is_empty() && self.counter != 0) {
            return Err(CryptoError::Encrypt);
        }
        let chunks = plain.len().div_ceil(PLAIN_CHUNK).max(1);
        let start = out.len();
        out.resize(start + plain.len() + chunks * TAG, 0);
        let base = self.counter;
        let aead = &self.aead;
        let sealed: Result<(), ring::error::Unspecified> = out[start..]
            .par_chunks_mut(WIRE_CHUNK)
            .zip(
                plain
                    .par_chunks(PLAIN_CHUNK.max(1))
                    .chain(rayon::iter::once(&[][..])),
            )
            .enumerate()
            .try_for_each(|(i, (wire, p))| {
                let counter = base + i as u64;
                let mut n = [0u8; 12];
                n[3..11].copy_from_slice(&counter.to_be_bytes());
                n[11] = u8::from(last && i + 1 == chunks);
                let (body, tag_out) = wire.split_at_mut(p.len());
                body.copy_from_slice(p);
                let tag = aead.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(n),
                    Aad::empty(),
                    body,
                )?;
                tag_out.copy_from_slice(tag.as_ref());
                Ok(())
            });
        sealed.map_err(|_| CryptoError::Encrypt)?;
        self.counter += chunks as u64;
        self.finished = last;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::EncryptionKey;
    use crate::seal::{open_bytes, seal_bytes};

    fn seal_all(recipients: &[String], data: &[u8], batch_chunks: usize) -> Vec<u8> {
        let (mut s, mut out) = Sealer::start(recipients).unwrap();
        let batch = batch_chunks * PLAIN_CHUNK;
        let mut rest = data;
        // As the pipeline does: a batch is final only once it is known that nothing follows.
        while rest.len() > batch {
            s.seal_batch(&rest[..batch], false, &mut out).unwrap();
            rest = &rest[batch..];
        }
        s.seal_batch(rest, true, &mut out).unwrap();
        out
    }

    /// Every length around chunk and batch boundaries opens with age's own reader (and the
    /// parallel opener), to the same bytes, at the same size as age's writer produces.
    #[test]
    fn age_opens_what_is_sealed_at_every_boundary() {
        let key = EncryptionKey::generate();
        let other = EncryptionKey::generate();
        let recipients = [key.recipient(), other.recipient()];
        let data = crate::test_bytes(5 * PLAIN_CHUNK + 3, 11);
        for len in [
            0,
            1,
            PLAIN_CHUNK - 1,
            PLAIN_CHUNK,
            PLAIN_CHUNK + 1,
            2 * PLAIN_CHUNK,
            4 * PLAIN_CHUNK,
            5 * PLAIN_CHUNK + 3,
        ] {
            for batch in [1, 2, 4] {
                let sealed = seal_all(&recipients, &data[..len], batch);
                let reference = seal_bytes(&recipients, &data[..len]).unwrap();
                // age adds a random "grease" stanza; the payload is the same size.
                let payload = |f: &[u8]| {
                    let mac = f.windows(4).position(|w| w == b"--- ").unwrap();
                    f.len() - (mac + f[mac..].iter().position(|&b| b == b'\n').unwrap() + 1)
                };
                assert_eq!(payload(&sealed), payload(&reference), "{len}/{batch}");
                for k in [&key, &other] {
                    assert!(open_bytes(k, &sealed).unwrap()[..] == data[..len], "{len}");
                    let mut out = Vec::new();
                    crate::parallel::open(k, &sealed[..], &mut out).unwrap();
                    assert!(out[..] == data[..len], "{len}/{batch} parallel");
                }
                assert!(open_bytes(&EncryptionKey::generate(), &sealed).is_err());
            }
        }
    }

    #[test]
    fn misuse_is_refused() {
        assert!(matches!(Sealer::start(&[]), Err(CryptoError::NoRecipients)));
        assert!(matches!(
            Sealer::start(&["age1nope".into()]),
            Err(CryptoError::BadKey)
        ));
        let key = EncryptionKey::generate();
        let (mut s, mut out) = Sealer::start(&[key.recipient()]).unwrap();
        // A middle batch that is not whole chunks, or empty.
        assert!(s.seal_batch(&[1; 100], false, &mut out).is_err());
        assert!(s.seal_batch(&[], false, &mut out).is_err());
        s.seal_batch(&[1; PLAIN_CHUNK], false, &mut out).unwrap();
        // An empty final chunk after others (age refuses to open that).
        assert!(s.seal_batch(&[], true, &mut out).is_err());
        s.seal_batch(&[2; 5], true, &mut out).unwrap();
        // Nothing after the final chunk.
        assert!(s.seal_batch(&[3; 5], true, &mut out).is_err());
        let mut expected = vec![1; PLAIN_CHUNK];
        expected.extend([2; 5]);
        assert_eq!(*open_bytes(&key, &out).unwrap(), expected);
    }
}
