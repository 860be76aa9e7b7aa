//! Transfers that need no blocking thread, for the browser (and usable natively): an upload
//! sealed piece by piece and sent in parts (`PUT /v1/uploads/{id}/parts/{offset}`, because a
//! browser cannot stream a request body over HTTP/1.1), and a download opened as it streams in.
//! Both keep memory flat in the file size and check the same hashes as the streaming pipelines
//! in `records.rs`.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::patients::Patient;
use crate::records::{DocumentMeta, OpenedDocument, PreparedUpload, Sealed, Share};
use crate::session::Client;
use futures::io::AsyncReadExt;
use futures::{StreamExt, TryStreamExt};
use medshare_crypto::seal::{SealWriter, open_async_reader};
use medshare_crypto::{CiphertextHasher, DigestAlgorithm, DigestWriter};
use medshare_model::DocumentId;
use medshare_model::api::{DocumentView, UploadProgress, Uploaded};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Ciphertext collected before it is sent as one part.
pub const PART_SIZE: usize = 4 * 1024 * 1024;

/// A `Write` whose bytes are taken out between writes (the sealed bytes waiting to be sent).
#[derive(Clone, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Pending {
    fn len(&self) -> usize {
        self.0.lock().expect("poisoned").len()
    }
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().expect("poisoned"))
    }
}

impl Write for Pending {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("poisoned").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A part on its way to the hub: resolves to the hub's count of bytes received.
#[cfg(not(target_arch = "wasm32"))]
type PartInFlight = Pin<Box<dyn Future<Output = Result<u64>> + Send>>;
#[cfg(target_arch = "wasm32")]
type PartInFlight = Pin<Box<dyn Future<Output = Result<u64>>>>;

/// An upload in progress: plaintext is pushed in pieces, sealed at once, and sent to the hub a
/// part at a time. A full part is sent while the next one is sealed (the hub takes parts in
/// order, so one is in flight at a time). Nothing is visible to anyone until
/// [`Client::finish_upload`] commits it.
pub struct UploadSession {
    prepared: PreparedUpload,
    sealer: Option<SealWriter<DigestWriter<Pending>>>,
    pending: Pending,
    plain: Sha256,
    plain_size: u64,
    /// Ciphertext bytes handed to parts so far (acknowledged or in flight).
    queued: u64,
    in_flight: Option<PartInFlight>,
}

impl std::fmt::Debug for UploadSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSession")
            .field("queued", &self.queued)
            .field("in_flight", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl UploadSession {
    /// Plaintext bytes sealed so far.
    pub fn sealed_bytes(&self) -> u64 {
        self.plain_size
    }
}

impl Client {
    /// Start an upload of one file for `patient`, shared with `shares` when it commits. The
    /// grantees are resolved and verified now, before any byte is sent.
    pub async fn begin_upload(&self, patient: &Patient, shares: &[Share]) -> Result<UploadSession> {
        let prepared = self
            .prepare_upload(DocumentId::new(), patient, shares)
            .await?;
        let pending = Pending::default();
        let sealer = SealWriter::new(
            &[prepared.key.recipient()],
            DigestWriter::new(pending.clone(), DigestAlgorithm::Blake3),
        )?;
        Ok(UploadSession {
            prepared,
            sealer: Some(sealer),
            pending,
            plain: Sha256::new(),
            plain_size: 0,
            queued: 0,
            in_flight: None,
        })
    }

    /// Seal the next piece of the file. Whenever a part is full it is sent, and the call returns
    /// without waiting for the hub: the next pieces are sealed while it travels. The part before
    /// it is awaited (and its receipt checked) first, so one part is in flight at a time.
    pub async fn push_upload(&self, s: &mut UploadSession, plaintext: &[u8]) -> Result<()> {
        let sealer = s.sealer.as_mut().ok_or(ClientError::Invalid(
            "the upload is already finished".into(),
        ))?;
        sealer.write_all(plaintext)?;
        s.plain.update(plaintext);
        s.plain_size += plaintext.len() as u64;
        if s.pending.len() >= PART_SIZE {
            Self::settle_part(s).await?;
            self.start_part(s).await;
        }
        Ok(())
    }

    /// Wait for the part in flight, if any, and check that the hub holds every byte sent.
    async fn settle_part(s: &mut UploadSession) -> Result<()> {
        if let Some(part) = s.in_flight.take() {
            let received = part.await?;
            if received != s.queued {
                return Err(ClientError::Trust(
                    "the hub received different bytes than were sent",
                ));
            }
        }
        Ok(())
    }

    /// Send the sealed bytes waiting as the next part. The request is started here (polled
    /// once: in the browser that hands it to `fetch`) and left in flight.
    async fn start_part(&self, s: &mut UploadSession) {
        let part = s.pending.take();
        if part.is_empty() {
            return;
        }
        let (offset, len) = (s.queued, part.len() as u64);
        let upload_id = s.prepared.upload_id;
        let req = self
            .hub
            .request(
                reqwest::Method::PUT,
                &format!("/v1/uploads/{upload_id}/parts/{offset}"),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(part);
        let mut fut: PartInFlight = Box::pin(async move {
            let res = req.send().await?;
            let progress: UploadProgress = Hub::check(res).await?.json().await?;
            if progress.upload_id != upload_id || progress.received != offset + len {
                return Err(ClientError::Trust(
                    "the hub received different bytes than were sent",
                ));
            }
            Ok(progress.received)
        });
        // Start it now; its outcome (even an early error) is kept for `settle_part`.
        if let std::task::Poll::Ready(r) = futures::poll!(fut.as_mut()) {
            fut = Box::pin(std::future::ready(r));
        }
        s.queued += len;
        s.in_flight = Some(fut);
    }

    /// Seal the last chunk, send what is left, have the hub check the whole staged file, then
    /// sign and commit it exactly as [`Client::upload`] does.
    pub async fn finish_upload(
        &self,
        mut s: UploadSession,
        meta: DocumentMeta,
    ) -> Result<DocumentView> {
        let sealer = s.sealer.take().ok_or(ClientError::Invalid(
            "the upload is already finished".into(),
        ))?;
        let hashed = sealer.finish()?;
        let sealed = Sealed {
            ciphertext_blake3: hashed.finalize_hex(),
            ciphertext_size: hashed.byte_count(),
            plaintext_sha256: hex::encode(s.plain.finalize_reset()),
            plaintext_size: s.plain_size,
        };
        Self::settle_part(&mut s).await?;
        self.start_part(&mut s).await;
        Self::settle_part(&mut s).await?;
        let uploaded: Uploaded = self
            .hub
            .post(
                &format!("/v1/uploads/{}/complete", s.prepared.upload_id),
                &serde_json::json!({}),
            )
            .await?;
        self.commit_upload(s.prepared, sealed, &uploaded, meta)
            .await
    }

    /// Upload a file held in memory through the part protocol (small files, tests).
    pub async fn upload_in_parts(
        &self,
        plaintext: &[u8],
        patient: &Patient,
        meta: DocumentMeta,
        shares: &[Share],
    ) -> Result<DocumentView> {
        let mut s = self.begin_upload(patient, shares).await?;
        for piece in plaintext.chunks(crate::transfer::PIECE) {
            self.push_upload(&mut s, piece).await?;
        }
        self.finish_upload(s, meta).await
    }

    /// Stream a document's ciphertext and open it as it arrives, handing each piece of
    /// plaintext to `out`. Fails if the bytes do not match the signed binding or the manifest
    /// (the caller must then discard what it was given). Returns the plaintext size.
    pub async fn download_streaming(
        &self,
        doc: &OpenedDocument,
        mut out: impl FnMut(&[u8]) -> Result<()>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64> {
        let res = self
            .hub
            .request(
                reqwest::Method::GET,
                &format!("/v1/documents/{}/content", doc.view.document_id),
            )
            .send()
            .await?;
        let res = Hub::check(res).await?;
        // The digest the signed binding names: BLAKE3, or SHA-256 for older documents.
        let expected = doc.binding.ciphertext_digest();
        let cipher = Arc::new(Mutex::new((
            CiphertextHasher::new(DigestAlgorithm::of(&expected)),
            0u64,
        )));
        let counted = cipher.clone();
        let mut body = res
            .bytes_stream()
            .map(move |chunk| {
                let b = chunk.map_err(io::Error::other)?;
                let mut c = counted.lock().expect("poisoned");
                c.0.update(&b);
                c.1 += b.len() as u64;
                Ok::<_, io::Error>(b)
            })
            .into_async_read();
        // Older documents (no key commitment in their binding) have their plaintext hashed.
        let mut plain = (!doc.plaintext_fixed()).then(Sha256::new);
        let mut total = 0u64;
        {
            let mut reader = open_async_reader(doc.key(), &mut body)
                .await
                .map_err(|_| ClientError::Trust("the ciphertext is corrupt or was altered"))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .await
                    .map_err(|_| ClientError::Trust("the ciphertext is corrupt or truncated"))?;
                if n == 0 {
                    break;
                }
                if let Some(p) = plain.as_mut() {
                    p.update(&buf[..n]);
                }
                total += n as u64;
                out(&buf[..n])?;
                progress(n as u64);
            }
        }
        // Drain anything after the age payload so the hash covers every byte served.
        futures::io::copy(&mut body, &mut futures::io::sink()).await?;
        let (ct_hash, ct_size) = {
            let c = cipher.lock().expect("poisoned");
            (c.0.clone().finalize_hex(), c.1)
        };
        if ct_hash != expected.hex() || ct_size != doc.binding.ciphertext_size {
            return Err(ClientError::Trust(
                "the downloaded bytes do not match the signed document",
            ));
        }
        if let Some(p) = plain
            && hex::encode(p.finalize()) != doc.manifest.sha256
        {
            return Err(ClientError::Trust(
                "the decrypted content does not match its manifest",
            ));
        }
        Ok(total)
    }
}

/// Piece size for [`Client::upload_in_parts`] (the app reads files in slices of this size).
pub const PIECE: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_crypto::seal::open_bytes;
    use medshare_crypto::{EncryptionKey, blake3_hex};

    #[test]
    fn pieces_sealed_one_by_one_make_one_age_file() {
        let key = EncryptionKey::generate();
        let pending = Pending::default();
        let mut w = SealWriter::new(
            &[key.recipient()],
            DigestWriter::new(pending.clone(), DigestAlgorithm::Blake3),
        )
        .unwrap();
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        for piece in plain.chunks(70_001) {
            w.write_all(piece).unwrap();
            out.extend(pending.take());
        }
        let hashed = w.finish().unwrap();
        out.extend(pending.take());
        assert_eq!(hashed.byte_count(), out.len() as u64);
        assert_eq!(hashed.finalize_hex(), blake3_hex(&out));
        assert_eq!(*open_bytes(&key, &out).unwrap(), plain);
    }
}
