//! age encryption (so exports open with the standard `age`/`rage` tools): streaming seal and
//! open with flat memory, small in-memory forms, and key wraps.
//!
//! age authenticates each 64 KiB chunk separately: a streaming open writes plaintext before it
//! has seen the end, so on any error the caller must discard what was already written.

use crate::CryptoError;
use crate::keys::{EncryptionKey, parse_recipient};
use age::{DecryptError, Decryptor, Encryptor};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// Copy buffer size (also age's chunk size).
const BUF_SIZE: usize = 64 * 1024;

fn encryptor(recipients: &[String]) -> Result<Encryptor, CryptoError> {
    if recipients.is_empty() {
        return Err(CryptoError::NoRecipients);
    }
    let parsed = recipients
        .iter()
        .map(|r| parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()?;
    Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|_| CryptoError::Encrypt)
}

pub(crate) fn decrypt_error(e: DecryptError) -> CryptoError {
    match e {
        DecryptError::NoMatchingKeys => CryptoError::NoMatchingKey,
        DecryptError::Io(e) => read_error(e),
        _ => CryptoError::Decrypt,
    }
}

/// age reports bad or missing ciphertext as `InvalidData` / `UnexpectedEof`.
pub(crate) fn read_error(e: io::Error) -> CryptoError {
    match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => CryptoError::Decrypt,
        _ => CryptoError::Io(e),
    }
}

/// Copy `input` to `output` through one wiped 64 KiB buffer; read errors go through `on_read`.
fn copy(
    input: &mut impl Read,
    output: &mut impl Write,
    on_read: fn(io::Error) -> CryptoError,
) -> Result<u64, CryptoError> {
    let mut buf = Zeroizing::new(vec![0u8; BUF_SIZE]);
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(on_read(e)),
        };
        output.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// A writer that seals everything written to it to a set of age recipients.
///
/// [`SealWriter::finish`] must be called, or the output is a truncated file that will not open.
pub struct SealWriter<W: Write> {
    inner: age::stream::StreamWriter<W>,
}

impl<W: Write> SealWriter<W> {
    /// Start an age file to `recipients` (`age1...`) on `out`, writing the header at once.
    pub fn new(recipients: &[String], out: W) -> Result<Self, CryptoError> {
        let inner = encryptor(recipients)?.wrap_output(out)?;
        Ok(Self { inner })
    }

    /// Write the final chunk and return the underlying writer (not flushed).
    pub fn finish(self) -> Result<W, CryptoError> {
        Ok(self.inner.finish()?)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealWriter { .. }")
    }
}

/// Seal all of `input` to `recipients` (`age1...`) onto `output`; returns the plaintext size.
/// Memory use is flat in the size of the input.
pub fn seal_stream<R: Read, W: Write>(
    recipients: &[String],
    mut input: R,
    output: W,
) -> Result<u64, CryptoError> {
    let mut writer = SealWriter::new(recipients, output)?;
    let n = copy(&mut input, &mut writer, CryptoError::Io)?;
    writer.finish()?;
    Ok(n)
}

fn decryptor<'a, R: Read + 'a>(
    identities: &'a [&'a EncryptionKey],
    input: R,
) -> Result<age::stream::StreamReader<R>, CryptoError> {
    if identities.is_empty() {
        return Err(CryptoError::NoMatchingKey);
    }
    Decryptor::new(input)
        .map_err(decrypt_error)?
        .decrypt(
            identities
                .iter()
                .map(|k| k.identity() as &dyn age::Identity),
        )
        .map_err(decrypt_error)
}

/// Open an age file with any of `identities`, writing the plaintext to `output`; returns the
/// plaintext size. Wrong keys give [`CryptoError::NoMatchingKey`], truncated or altered
/// ciphertext [`CryptoError::Decrypt`] (discard whatever was written by then).
pub fn open_stream<R: Read, W: Write>(
    identities: &[&EncryptionKey],
    input: R,
    mut output: W,
) -> Result<u64, CryptoError> {
    let mut reader = decryptor(identities, input)?;
    copy(&mut reader, &mut output, read_error)
}

/// Open an age file as a reader of its plaintext. The header is checked now; altered or
/// truncated ciphertext shows later as a read error of kind `InvalidData` or `UnexpectedEof`.
pub fn open_reader<R: Read>(
    identity: &EncryptionKey,
    input: R,
) -> Result<impl Read + use<R>, CryptoError> {
    decryptor(&[identity], input)
}

/// Open an age file arriving asynchronously (a browser's fetch body) as an async reader of its
/// plaintext; errors as for [`open_reader`]. Decryption runs on the caller's task, one 64 KiB
/// chunk at a time, so memory stays flat.
pub async fn open_async_reader<R: futures::io::AsyncBufRead + Unpin>(
    identity: &EncryptionKey,
    input: R,
) -> Result<impl futures::io::AsyncRead + Unpin + use<R>, CryptoError> {
    Decryptor::new_async_buffered(input)
        .await
        .map_err(decrypt_error)?
        .decrypt_async(std::iter::once(identity.identity() as &dyn age::Identity))
        .map_err(decrypt_error)
}

/// Seal a small plaintext held in memory.
pub fn seal_bytes(recipients: &[String], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut writer = SealWriter::new(recipients, Vec::with_capacity(plaintext.len() + 512))?;
    writer.write_all(plaintext)?;
    writer.finish()
}

/// Open a small ciphertext held in memory; the plaintext is wiped when dropped.
pub fn open_bytes(
    identity: &EncryptionKey,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_bytes_any(&[identity], ciphertext)
}

/// [`open_bytes`] with any of several identities.
pub fn open_bytes_any(
    identities: &[&EncryptionKey],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    // The plaintext is never longer than the ciphertext: no reallocation leaves copies behind.
    let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    open_stream(identities, ciphertext, &mut *out)?;
    Ok(out)
}

pub(crate) fn decode_wrap(wrap_b64: &str) -> Result<Vec<u8>, CryptoError> {
    B64.decode(wrap_b64.trim())
        .map_err(|_| CryptoError::Malformed("key wrap (not base64)"))
}

/// Seal an encryption key to `recipient`: base64 of an age file of its secret string.
pub fn wrap_key(recipient: &str, key: &EncryptionKey) -> Result<String, CryptoError> {
    let secret = key.to_secret_string();
    let sealed = seal_bytes(&[recipient.to_owned()], secret.as_bytes())?;
    Ok(B64.encode(sealed))
}

/// Inverse of [`wrap_key`].
pub fn unwrap_key(identity: &EncryptionKey, wrap_b64: &str) -> Result<EncryptionKey, CryptoError> {
    let plain = open_bytes(identity, &decode_wrap(wrap_b64)?)?;
    let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::BadKey)?;
    EncryptionKey::from_secret_str(text)
}

/// Seal a secret value as JSON to `recipient`: base64 of an age file. The JSON is streamed
/// straight into the encryptor and never held in a buffer of its own.
pub fn wrap_secret_json<T: Serialize>(recipient: &str, value: &T) -> Result<String, CryptoError> {
    let mut writer = SealWriter::new(&[recipient.to_owned()], Vec::new())?;
    serde_json::to_writer(&mut writer, value).map_err(|e| match e.io_error_kind() {
        Some(kind) => CryptoError::Io(kind.into()),
        None => CryptoError::Malformed("value to wrap (does not serialise)"),
    })?;
    Ok(B64.encode(writer.finish()?))
}

/// Inverse of [`wrap_secret_json`]; the decrypted JSON is wiped after parsing.
pub fn unwrap_secret_json<T: DeserializeOwned>(
    identity: &EncryptionKey,
    wrap_b64: &str,
) -> Result<T, CryptoError> {
    let plain = open_bytes(identity, &decode_wrap(wrap_b64)?)?;
    // serde_json's error text may quote the input: never pass it on.
    serde_json::from_slice(&plain).map_err(|_| CryptoError::Malformed("wrapped secret JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        crate::test_bytes(len, 0x2545_f491)
    }

    /// A reader that hands out at most `step` bytes at a time (odd-sized reads).
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// The async open (the browser's path) reads what the blocking seal wrote, fed in odd
    /// pieces as a network body arrives, and refuses a flipped byte.
    #[test]
    fn async_open_reads_streamed_pieces_and_refuses_tampering() {
        use futures::io::AsyncReadExt;
        use futures::stream::{self, TryStreamExt};
        let key = EncryptionKey::generate();
        let plain = pattern(3 * BUF_SIZE + 17);
        let sealed = seal_bytes(&[key.recipient()], &plain).unwrap();
        let open = |ct: Vec<u8>| {
            let pieces: Vec<io::Result<Vec<u8>>> =
                ct.chunks(7919).map(|c| Ok(c.to_vec())).collect();
            let body = stream::iter(pieces).into_async_read();
            futures::executor::block_on(async {
                let mut r = open_async_reader(&key, body).await?;
                let mut out = Vec::new();
                r.read_to_end(&mut out).await.map_err(read_error)?;
                Ok::<_, CryptoError>(out)
            })
        };
        assert_eq!(open(sealed.clone()).unwrap(), plain);
        let mut bad = sealed;
        let at = bad.len() - 100;
        bad[at] ^= 1;
        assert!(matches!(open(bad), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn round_trips_at_chunk_edges() {
        let key = EncryptionKey::generate();
        let other = EncryptionKey::generate();
        let recipients = [key.recipient(), other.recipient()];
        for len in [0, 1, BUF_SIZE - 1, BUF_SIZE, BUF_SIZE + 1, 3 * BUF_SIZE] {
            let data = pattern(len);
            let mut sealed = Vec::new();
            assert_eq!(
                seal_stream(&recipients, &data[..], &mut sealed).unwrap(),
                len as u64
            );
            assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
            let mut out = Vec::new();
            assert_eq!(
                open_stream(&[&key], &sealed[..], &mut out).unwrap(),
                len as u64
            );
            assert_eq!(out, data, "len {len}");
            assert_eq!(&open_bytes(&other, &sealed).unwrap()[..], &data[..]);
        }
    }

    #[test]
    fn large_streams_in_odd_sized_writes_and_reads() {
        let key = EncryptionKey::generate();
        let data = pattern(5 * 1024 * 1024 + 12_345);

        // Writer form, odd-sized writes.
        let mut w = SealWriter::new(&[key.recipient()], Vec::new()).unwrap();
        for chunk in data.chunks(9_973) {
            w.write_all(chunk).unwrap();
        }
        let sealed = w.finish().unwrap();

        // Reader form, odd-sized reads.
        let mut r = open_reader(&key, &sealed[..]).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; 7_919];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, data);

        // Stream form fed by a trickling reader.
        let mut sealed2 = Vec::new();
        let input = Trickle {
            data: &data,
            step: 4_099,
        };
        seal_stream(&[key.recipient()], input, &mut sealed2).unwrap();
        let mut out2 = Vec::new();
        open_stream(
            &[&key],
            Trickle {
                data: &sealed2,
                step: 65_539,
            },
            &mut out2,
        )
        .unwrap();
        assert_eq!(out2, data);
    }

    #[test]
    fn wrong_key_is_no_matching_key() {
        let key = EncryptionKey::generate();
        let sealed = seal_bytes(&[key.recipient()], b"x-ray report").unwrap();
        let other = EncryptionKey::generate();
        assert!(matches!(
            open_bytes(&other, &sealed),
            Err(CryptoError::NoMatchingKey)
        ));
        assert!(matches!(
            open_bytes_any(&[], &sealed),
            Err(CryptoError::NoMatchingKey)
        ));
        assert!(matches!(
            open_bytes_any(&[&other, &key], &sealed).map(|p| p.to_vec()),
            Ok(p) if p == b"x-ray report"
        ));
        assert!(open_reader(&other, &sealed[..]).is_err());
    }

    #[test]
    fn altered_or_truncated_ciphertext_is_decrypt_error() {
        let key = EncryptionKey::generate();
        let data = pattern(2 * BUF_SIZE + 100);
        let sealed = seal_bytes(&[key.recipient()], &data).unwrap();

        for pos in [
            sealed.len() - 1,
            sealed.len() - 200,
            sealed.len() - BUF_SIZE,
        ] {
            let mut bad = sealed.clone();
            bad[pos] ^= 0x01;
            assert!(
                matches!(open_bytes(&key, &bad), Err(CryptoError::Decrypt)),
                "flip at {pos}"
            );
        }
        // Header MAC.
        let mac_line = sealed
            .windows(4)
            .position(|w| w == b"--- ")
            .expect("header end");
        let mut bad = sealed.clone();
        bad[mac_line + 5] ^= 0x01;
        assert!(matches!(open_bytes(&key, &bad), Err(CryptoError::Decrypt)));

        // Truncated: mid-chunk, at a chunk boundary (drops the last chunk), in the header.
        let payload_start =
            mac_line + sealed[mac_line..].iter().position(|&b| b == b'\n').unwrap() + 1 + 16;
        for cut in [
            sealed.len() - 1,
            sealed.len() - 50,
            payload_start + 2 * (BUF_SIZE + 16),
            payload_start + (BUF_SIZE + 16),
            payload_start,
            payload_start - 3,
            mac_line,
            10,
            0,
        ] {
            let r = open_bytes(&key, &sealed[..cut]);
            assert!(
                matches!(r, Err(CryptoError::Decrypt)),
                "cut at {cut}: {r:?}"
            );
        }
        assert!(matches!(
            open_bytes(&key, b"not an age file at all\n"),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn no_or_bad_recipients_refused() {
        assert!(matches!(
            seal_bytes(&[], b"x"),
            Err(CryptoError::NoRecipients)
        ));
        assert!(matches!(
            seal_bytes(&["age1bogus".into()], b"x"),
            Err(CryptoError::BadKey)
        ));
    }

    #[test]
    fn key_wraps_round_trip() {
        let holder = EncryptionKey::generate();
        let doc_key = EncryptionKey::generate();
        let wrap = wrap_key(&holder.recipient(), &doc_key).unwrap();
        assert!(!wrap.contains(&doc_key.to_secret_string()[15..]));
        let back = unwrap_key(&holder, &wrap).unwrap();
        assert_eq!(back.recipient(), doc_key.recipient());
        assert!(matches!(
            unwrap_key(&doc_key, &wrap),
            Err(CryptoError::NoMatchingKey)
        ));
        assert!(matches!(
            unwrap_key(&holder, "%%%"),
            Err(CryptoError::Malformed(_))
        ));

        let secrets = medshare_model::api::AllianceSecrets {
            search_key: "c2VhcmNo".into(),
            alliance_identity: doc_key.to_secret_string().to_string(),
        };
        let wrap = wrap_secret_json(&holder.recipient(), &secrets).unwrap();
        let back: medshare_model::api::AllianceSecrets =
            unwrap_secret_json(&holder, &wrap).unwrap();
        assert_eq!(back.search_key, secrets.search_key);
        assert_eq!(back.alliance_identity, secrets.alliance_identity);
        let r: Result<Vec<u32>, _> = unwrap_secret_json(&holder, &wrap);
        assert!(matches!(r, Err(CryptoError::Malformed(_))));
    }

    /// Exports must open with the standard tools: decrypt with `rage` or `age` if installed.
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

        let data = pattern(3 * BUF_SIZE + 17);
        let sealed_file = dir.path().join("export.age");
        let file = std::fs::File::create(&sealed_file).unwrap();
        seal_stream(&[key.recipient()], &data[..], file).unwrap();
        let out = std::process::Command::new(tool)
            .arg("-d")
            .arg("-i")
            .arg(&key_file)
            .arg(&sealed_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == data, "{tool} decrypted different bytes");

        // And the other way: the tool seals, we open.
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
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(open_bytes(&key, &out.stdout).unwrap()[..] == data[..]);
        println!("interop with {tool}: ok");
    }
}
