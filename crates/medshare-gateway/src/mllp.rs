//! The HL7 v2 listener: MLLP framing (`<VT> message <FS><CR>`) over TCP or TLS, several
//! messages per connection, each frame answered in order. A message is acknowledged `AA` only
//! after it is durable in the queue; `AE`/`AR` carry the reason in MSA-3 and ERR. Tolerated:
//! bytes between frames, a missing `<CR>` after `<FS>`, any segment terminator. A frame larger
//! than the limit is refused and skipped; a connection closed mid-frame is dropped without an
//! answer (the sender resends).

use crate::config::Hl7Config;
use crate::envelope::{Envelope, Header, Source};
use crate::hl7::{self, Frame, Purpose, Refusal, Responder};
use crate::ingest::{Incoming, Shared};
use crate::metrics::Metrics;
use crate::queue::{Admission, Kind, now_ms};
use bytes::{Buf, BytesMut};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

const VT: u8 = 0x0b;
const FS: u8 = 0x1c;
const CR: u8 = 0x0d;

/// What the frame reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A complete frame's content.
    Frame(Vec<u8>),
    /// A frame over the size limit, skipped; its first bytes (to answer its MSH).
    TooLarge(Vec<u8>),
}

/// Incremental MLLP frame reader over a byte buffer.
#[derive(Debug)]
pub struct Deframer {
    max: usize,
    /// Inside a frame (a `<VT>` was seen).
    open: bool,
    /// Skipping the rest of an oversized frame.
    skipping: bool,
    head: Vec<u8>,
    /// Bytes that were not inside any frame (counted, then dropped).
    pub junk: usize,
}

impl Deframer {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: false,
            skipping: false,
            head: Vec::new(),
            junk: 0,
        }
    }

    /// Take the next frame out of `buf`, if one is complete.
    pub fn next(&mut self, buf: &mut BytesMut) -> Option<Framed> {
        loop {
            if !self.open {
                // Between frames: skip to the next <VT> (a <CR> left after <FS> is expected).
                match buf.iter().position(|b| *b == VT) {
                    Some(i) => {
                        self.junk += buf[..i]
                            .iter()
                            .filter(|b| !matches!(**b, CR | b'\n' | FS))
                            .count();
                        buf.advance(i + 1);
                        self.open = true;
                        self.skipping = false;
                        self.head.clear();
                    }
                    None => {
                        self.junk += buf
                            .iter()
                            .filter(|b| !matches!(**b, CR | b'\n' | FS))
                            .count();
                        buf.clear();
                        return None;
                    }
                }
            }
            // Inside a frame. A new <VT> before <FS> means the sender gave up on the last one.
            let end = buf.iter().position(|b| *b == FS);
            let restart = buf.iter().position(|b| *b == VT);
            if let Some(r) = restart
                && end.is_none_or(|e| r < e)
            {
                self.junk += r;
                buf.advance(r);
                self.open = false;
                continue;
            }
            match end {
                Some(e) => {
                    if !self.skipping && e > self.max {
                        self.head = buf[..e.min(4096)].to_vec();
                        self.skipping = true;
                    }
                    let content = if self.skipping {
                        buf.advance(e);
                        Vec::new()
                    } else {
                        buf.split_to(e).to_vec()
                    };
                    buf.advance(1);
                    if buf.first() == Some(&CR) {
                        buf.advance(1);
                    }
                    self.open = false;
                    if self.skipping {
                        self.skipping = false;
                        return Some(Framed::TooLarge(std::mem::take(&mut self.head)));
                    }
                    return Some(Framed::Frame(content));
                }
                None => {
                    if self.skipping {
                        buf.clear();
                        return None;
                    }
                    if buf.len() > self.max {
                        self.head = buf[..buf.len().min(4096)].to_vec();
                        self.skipping = true;
                        buf.clear();
                    }
                    return None;
                }
            }
        }
    }
}

/// Wrap an answer in MLLP framing.
pub fn frame(answer: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(answer.len() + 3);
    out.push(VT);
    out.extend_from_slice(answer.as_bytes());
    out.push(FS);
    out.push(CR);
    out
}

/// The listener's settings, shared by its connections.
pub struct Listener {
    pub config: Hl7Config,
    pub responder: Responder,
    /// MSH-11 values accepted (`P` by default).
    pub processing_ids: Vec<String>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accept connections until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    l: Arc<Listener>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (sock, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "hl7: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Small acknowledgements must not wait for Nagle's algorithm.
        let _ = sock.set_nodelay(true);
        let (l, shared, stop) = (l.clone(), shared.clone(), stop.clone());
        tokio::spawn(async move {
            let gauge = shared
                .metrics
                .connections
                .get_or_create(&Metrics::source(Source::Hl7))
                .clone();
            gauge.inc();
            let res = match &l.tls {
                Some(acceptor) => {
                    match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(sock)).await
                    {
                        Ok(Ok(tls)) => connection(tls, &l, &shared, stop).await,
                        _ => Err(std::io::Error::other("TLS handshake failed")),
                    }
                }
                None => connection(sock, &l, &shared, stop).await,
            };
            gauge.dec();
            if let Err(e) = res {
                tracing::debug!(error = %e, "hl7: connection ended");
            }
        });
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    l: &Listener,
    shared: &Shared,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut de = Deframer::new(l.config.max_message_bytes);
    let idle = Duration::from_secs(l.config.idle_timeout_secs.max(1));
    loop {
        while let Some(f) = de.next(&mut buf) {
            let started = Instant::now();
            let answer = match f {
                Framed::Frame(bytes) => handle(&bytes, l, shared).await,
                Framed::TooLarge(head) => {
                    shared.refused(Source::Hl7, hl7::TOO_LARGE.reason);
                    refuse_all(&hl7::split(&hl7::decode(&head)), &hl7::TOO_LARGE, l)
                }
            };
            sock.write_all(&frame(&answer)).await?;
            sock.flush().await?;
            shared
                .metrics
                .ack_seconds
                .get_or_create(&Metrics::source(Source::Hl7))
                .observe(started.elapsed().as_secs_f64());
        }
        if de.junk > 0 {
            shared.refused(Source::Hl7, "mllp-junk");
            de.junk = 0;
        }
        let n = tokio::select! {
            r = tokio::time::timeout(idle, sock.read_buf(&mut buf)) => match r {
                Ok(r) => r?,
                Err(_) => return Ok(()), // idle
            },
            _ = stop.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
    }
}

fn ack_id() -> String {
    format!("{:x}", now_ms()) + &format!("{:04x}", rand::random::<u16>())
}

/// Answer every message of a frame with the same refusal (nothing is queued).
fn refuse_all(f: &Frame, r: &Refusal, l: &Listener) -> String {
    let default = hl7_parser::message::Separators::default();
    let acks: Vec<String> = if f.messages.is_empty() {
        vec![hl7::ack(
            &l.responder,
            &hl7::Msh::default(),
            &default,
            Some(r),
            &ack_id(),
        )]
    } else {
        f.messages
            .iter()
            .map(|m| match m {
                Ok(m) => hl7::ack(&l.responder, &m.msh, m.separators(), Some(r), &ack_id()),
                Err((_, msh)) => hl7::ack(&l.responder, msh, &default, Some(r), &ack_id()),
            })
            .collect()
    };
    if f.batch {
        hl7::batch_ack(&l.responder, &acks)
    } else {
        acks.concat()
    }
}

/// Decide, queue and answer one frame.
pub async fn handle(bytes: &[u8], l: &Listener, shared: &Shared) -> String {
    let text = hl7::decode(bytes);
    let f = hl7::split(&text);
    if f.messages.is_empty() {
        shared.refused(Source::Hl7, hl7::NOT_HL7.reason);
        return refuse_all(&f, &hl7::NOT_HL7, l);
    }
    let default = hl7_parser::message::Separators::default();
    // Per message: an answer decided now, or a slot waiting for the queue.
    let mut decided: Vec<Option<Refusal>> = Vec::with_capacity(f.messages.len());
    let mut incoming = Vec::new();
    for m in &f.messages {
        let m = match m {
            Ok(m) => m,
            Err((r, _)) => {
                shared.refused(Source::Hl7, r.reason);
                decided.push(Some(*r));
                continue;
            }
        };
        let verdict = m.purpose(&l.processing_ids).and_then(|p| {
            if shared
                .rules
                .choose_patient(&m.patient_candidates())
                .is_none()
            {
                return Err(hl7::NO_PATIENT);
            }
            if p == Purpose::Document && m.embedded_document().is_none() {
                return Err(hl7::NO_CONTENT);
            }
            Ok(p)
        });
        match verdict {
            Ok(p) => {
                let body = m.text().as_bytes().to_vec();
                let mut dedupe = Vec::new();
                for part in [
                    &m.msh.sending_application,
                    &m.msh.sending_facility,
                    &m.msh.control_id,
                ] {
                    dedupe.extend_from_slice(part.as_bytes());
                    dedupe.push(0);
                }
                dedupe.extend_from_slice(&Sha256::digest(&body));
                incoming.push(Incoming {
                    kind: if p == Purpose::Demographics {
                        Kind::Patient
                    } else {
                        Kind::Document
                    },
                    envelope: Envelope {
                        header: Header {
                            received_at: now_ms() / 1000,
                            ..Default::default()
                        },
                        body,
                    },
                    dedupe: Some(dedupe),
                });
                decided.push(None);
            }
            Err(r) => {
                shared.refused(Source::Hl7, r.reason);
                decided.push(Some(r));
            }
        }
    }
    let admissions = if incoming.is_empty() {
        Ok(Vec::new())
    } else {
        shared.accept(Source::Hl7, incoming).await
    };
    let mut admissions = match admissions {
        Ok(a) => a.into_iter(),
        Err(e) => {
            tracing::error!(error = %e, "hl7: the queue failed");
            shared.refused(Source::Hl7, hl7::INTERNAL.reason);
            vec![Admission::Full; decided.iter().filter(|d| d.is_none()).count()].into_iter()
        }
    };
    let acks: Vec<String> = f
        .messages
        .iter()
        .zip(decided)
        .map(|(m, d)| {
            let r = match d {
                Some(r) => Some(r),
                None => match admissions.next() {
                    Some(Admission::Accepted { .. }) => None,
                    _ => Some(hl7::QUEUE_FULL),
                },
            };
            match m {
                Ok(m) => hl7::ack(&l.responder, &m.msh, m.separators(), r.as_ref(), &ack_id()),
                Err((_, msh)) => hl7::ack(&l.responder, msh, &default, r.as_ref(), &ack_id()),
            }
        })
        .collect();
    if f.batch {
        hl7::batch_ack(&l.responder, &acks)
    } else {
        acks.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[&[u8]], max: usize) -> (Vec<Framed>, usize) {
        let mut de = Deframer::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in input {
            buf.extend_from_slice(chunk);
            while let Some(f) = de.next(&mut buf) {
                out.push(f);
            }
        }
        (out, de.junk)
    }

    #[test]
    fn frames_split_anywhere_and_tolerate_sloppy_senders() {
        let (f, junk) = frames(&[b"\x0bMSH|1\x1c\x0d\x0bMSH|2\x1c\x0d"], 100);
        assert_eq!(
            f,
            vec![
                Framed::Frame(b"MSH|1".to_vec()),
                Framed::Frame(b"MSH|2".to_vec())
            ]
        );
        assert_eq!(junk, 0);
        // One byte at a time.
        let input = b"\x0bMSH|abc\x1c\x0d";
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(
            frames(&bytes, 100).0,
            vec![Framed::Frame(b"MSH|abc".to_vec())]
        );
        // No <CR> after <FS>, newlines and garbage between frames.
        let (f, junk) = frames(&[b"\x0bA\x1cgarbage\r\n\x0bB\x1c"], 100);
        assert_eq!(
            f,
            vec![Framed::Frame(b"A".to_vec()), Framed::Frame(b"B".to_vec())]
        );
        assert_eq!(junk, 7);
        // A frame restarted before its end: the broken one is dropped.
        let (f, _) = frames(&[b"\x0bbroken\x0bwhole\x1c\x0d"], 100);
        assert_eq!(f, vec![Framed::Frame(b"whole".to_vec())]);
        // Unframed text is not a message.
        let (f, junk) = frames(&[b"MSH|^~\\&|no framing\r"], 100);
        assert!(f.is_empty());
        assert!(junk > 0);
    }

    #[test]
    fn oversized_frames_are_skipped_and_reported() {
        let mut big = vec![VT];
        big.extend_from_slice(b"MSH|");
        big.extend(std::iter::repeat_n(b'x', 500));
        big.push(FS);
        big.push(CR);
        big.extend_from_slice(b"\x0bsmall\x1c\x0d");
        for size in [64, big.len()] {
            let chunks: Vec<&[u8]> = big.chunks(size).collect();
            let (f, _) = frames(&chunks, 100);
            assert_eq!(f.len(), 2);
            assert!(matches!(&f[0], Framed::TooLarge(head) if head.starts_with(b"MSH|")));
            assert_eq!(f[1], Framed::Frame(b"small".to_vec()));
        }
    }
}
