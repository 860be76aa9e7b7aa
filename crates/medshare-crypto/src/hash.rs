//! SHA-256 helpers, including pass-through readers and writers that hash ciphertext while it
//! streams to or from the hub.

use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writer that hashes (SHA-256) and counts every byte written through it.
///
/// Writing through [`HashingWriter::get_mut`] bypasses the hash.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// SHA-256 of everything written so far.
    pub fn finalize(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
    /// Lowercase hex of [`Self::finalize`].
    pub fn finalize_hex(&self) -> String {
        hex::encode(self.finalize())
    }
    /// Number of bytes written so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }
    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
    /// The wrapped writer (bytes written to it directly are not hashed).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    /// Unwrap.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes (SHA-256) and counts every byte read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> HashingReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// SHA-256 of everything read so far.
    pub fn finalize(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
    /// Lowercase hex of [`Self::finalize`].
    pub fn finalize_hex(&self) -> String {
        hex::encode(self.finalize())
    }
    /// Number of bytes read so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }
    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
    /// Unwrap.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hash_matches_one_shot() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = HashingWriter::new(Vec::new());
        for chunk in data.chunks(7777) {
            w.write_all(chunk).unwrap();
        }
        assert_eq!(w.finalize_hex(), sha256_hex(&data));
        assert_eq!(w.byte_count(), data.len() as u64);
        assert_eq!(w.into_inner(), data);

        let mut r = HashingReader::new(&data[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(r.finalize_hex(), sha256_hex(&data));
        assert_eq!(r.byte_count(), data.len() as u64);
        // FIPS 180-2 "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
