//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code)]

use medshare_client::{Client, ClientError, DocumentMeta, OpenedDocument, Share};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::{ErrorCode, Problem};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `Write` into a shared buffer.
#[derive(Clone, Default)]
pub struct SharedVec(pub Arc<Mutex<Vec<u8>>>);

impl SharedVec {
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl std::io::Write for SharedVec {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Random lowercase hex (from a v4 UUID), `n` <= 32 characters.
pub fn random_hex(n: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..n].to_string()
}

/// A fresh, valid (check-digit-correct) single-letter HKID, as `(written form, identifier)`,
/// e.g. `("K123456(7)", HKID:K1234567)`.
pub fn random_hkid() -> (String, PatientIdentifier) {
    let b = *uuid::Uuid::new_v4().as_bytes();
    let letter = char::from(b"ACDEGHKMPRVYZ"[usize::from(b[0]) % 13]);
    let digits: String = b[1..7].iter().map(|x| char::from(b'0' + x % 10)).collect();
    let check = medshare_synth::hkid_check_digit(&letter.to_string(), &digits);
    let written = format!("{letter}{digits}({check})");
    let id = written.parse().expect("a generated HKID is valid");
    (written, id)
}

/// Document metadata with the given title and file name.
pub fn meta(title: &str, file_name: &str) -> DocumentMeta {
    DocumentMeta {
        title: title.into(),
        file_name: file_name.into(),
        media_type: "application/pdf".into(),
        category: "clinical-note".into(),
        date_of_service: Some("2026-10-30".into()),
        classification: None,
        urgent: false,
    }
}

/// A share with `handle`, optionally expiring.
pub fn share_with(handle: &str, expires_at: Option<time::OffsetDateTime>) -> Share {
    Share {
        with: handle.parse().expect("valid handle"),
        institution: None,
        expires_at,
    }
}

/// Download and decrypt a document into memory.
pub async fn download_vec(c: &Client, doc: &OpenedDocument) -> Result<Vec<u8>, ClientError> {
    let sink = SharedVec::default();
    c.download(doc, sink.clone(), |_| {}).await?;
    Ok(sink.bytes())
}

/// A plain HTTP client for raw requests, bounded in time.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The session token of a logged-in client.
pub fn token(c: &Client) -> String {
    c.save().token.clone()
}

/// Assert that a client call failed with the hub's problem `code`.
#[track_caller]
pub fn assert_api<T>(r: Result<T, ClientError>, code: ErrorCode, what: &str) {
    match r {
        Ok(_) => panic!("{what}: expected {code:?}, but it succeeded"),
        Err(e) => assert_eq!(e.code(), Some(code), "{what}: unexpected error {e:?}"),
    }
}

/// Assert that a client call failed with a trust refusal.
#[track_caller]
pub fn assert_trust<T>(r: Result<T, ClientError>, what: &str) {
    match r {
        Ok(_) => panic!("{what}: expected a trust refusal, but it succeeded"),
        Err(ClientError::Trust(_)) => {}
        Err(e) => panic!("{what}: expected a trust refusal, got {e:?}"),
    }
}

/// The `ClientError` inside an `anyhow::Error`, if any.
pub fn client_error(e: &anyhow::Error) -> Option<&ClientError> {
    e.downcast_ref::<ClientError>()
}

/// Parse a problem body.
pub fn problem(body: &[u8]) -> Problem {
    serde_json::from_slice(body).unwrap_or_else(|_| {
        panic!(
            "not a problem body: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    })
}

/// The second replica of the hub `a` configures (PostgreSQL + S3, whose data folder is
/// `dir_a`): the same settings but its own data folder `dir_b`, and no migrations of the shared
/// database. Both sign with one audit-log key, kept in `dir_a` (one log, one key).
pub fn second_replica(
    a: &mut medshare_server::config::Config,
    dir_a: &std::path::Path,
    dir_b: &std::path::Path,
) -> medshare_server::config::Config {
    a.audit.signing_key_file = Some(dir_a.join("audit-log.key"));
    let mut b = a.clone();
    b.data_dir = dir_b.to_path_buf();
    b.migrate_on_start = false;
    b
}
