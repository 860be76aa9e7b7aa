//! The document key commitment in the signed binding (docs/security.md, "Document key
//! commitment"). Documents are filed by hand here, as an uploader (a colluding insider, or an
//! older client) could file them: a document without the commitment (the format before it) still
//! opens and still has its plaintext hash checked; a key that opens the manifest but is not the
//! one the binding commits to is refused, by a grantee and by the uploader's own client.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use medshare_client::{Client, ClientError, Patient};
use medshare_crypto::commitment::document_key_commitment;
use medshare_crypto::seal::{seal_bytes, wrap_key};
use medshare_crypto::symmetric::seal_manifest;
use medshare_crypto::{EncryptionKey, SigningKey, blake3_hex, sha256_hex};
use medshare_model::api::{CommitDocument, Holder, KeyWrap, NewGrant};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::{Manifest, PatientCard};
use medshare_model::statements::{DocumentBinding, key_id};
use medshare_model::{DocumentId, UploadId};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use reqwest::header::CONTENT_TYPE;

/// How a document is filed by hand.
struct Filing {
    plaintext: Vec<u8>,
    /// The key the content is sealed to.
    content_key: EncryptionKey,
    /// The key the manifest is sealed under and that every wrap carries.
    given_key: EncryptionKey,
    /// The key the binding commits to (none: the format before the commitment).
    committed: Option<EncryptionKey>,
    /// The plaintext SHA-256 the manifest states.
    manifest_sha256: String,
    /// Shared with this colleague (their id and recipient).
    grantee: (medshare_model::PractitionerId, String),
    /// The ciphertext digest the binding names.
    digest: Named,
}

/// Which ciphertext digest a hand-filed binding names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Named {
    /// SHA-256 (the format before BLAKE3).
    Sha256,
    /// BLAKE3 of the ciphertext (what clients sign now).
    Blake3,
    /// BLAKE3 of other bytes (a client that lies, or bytes changed on the way).
    WrongBlake3,
    /// The right SHA-256 and the BLAKE3 of other bytes.
    RightSha256WrongBlake3,
}

impl Filing {
    /// An honest filing: one key for everything, the manifest's hash right.
    fn honest(plaintext: &[u8], committed: bool, grantee: &Client) -> Self {
        let key = EncryptionKey::generate();
        Self {
            plaintext: plaintext.to_vec(),
            content_key: key.clone(),
            given_key: key.clone(),
            committed: committed.then_some(key),
            manifest_sha256: sha256_hex(plaintext),
            grantee: (grantee.id(), grantee.recipient()),
            digest: Named::Sha256,
        }
    }
}

/// Stage, sign and commit a document for `patient` as `c` would, but as `f` says.
async fn file_by_hand(c: &Client, base: &str, patient: &Patient, f: Filing) -> DocumentId {
    let (id, status) = try_file_by_hand(c, base, patient, f).await;
    assert!(status.is_success(), "commit: {status}");
    id
}

/// [`file_by_hand`], returning the hub's answer to the commit.
async fn try_file_by_hand(
    c: &Client,
    base: &str,
    patient: &Patient,
    f: Filing,
) -> (DocumentId, reqwest::StatusCode) {
    let ciphertext = seal_bytes(&[f.content_key.recipient()], &f.plaintext).expect("seal");
    let upload_id = UploadId::new();
    let res = http()
        .put(format!("{base}/v1/uploads/{upload_id}"))
        .bearer_auth(token(c))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(ciphertext.clone())
        .send()
        .await
        .expect("stage");
    assert_eq!(res.status().as_u16(), 201, "staging");
    let document_id = DocumentId::new();
    let manifest = serde_json::to_vec(&Manifest {
        title: "Echocardiogram".into(),
        file_name: "echo.pdf".into(),
        media_type: "application/pdf".into(),
        category: "imaging-report".into(),
        date_of_service: None,
        size: f.plaintext.len() as u64,
        sha256: f.manifest_sha256,
        classification: None,
        urgent: false,
    })
    .expect("manifest");
    let manifest_ct = seal_manifest(&f.given_key, &document_id.to_string(), &manifest);
    let seed: [u8; 32] = B64
        .decode(&c.save().signing)
        .expect("base64 seed")
        .try_into()
        .expect("32 bytes");
    let signing = SigningKey::from_seed(&seed);
    let binding = signing.sign_statement(&DocumentBinding {
        document_id,
        patient_id: patient.id(),
        patient_ref: patient.patient_ref.clone(),
        ciphertext_sha256: match f.digest {
            Named::Sha256 | Named::RightSha256WrongBlake3 => sha256_hex(&ciphertext),
            Named::Blake3 | Named::WrongBlake3 => String::new(),
        },
        ciphertext_size: ciphertext.len() as u64,
        manifest_sha256: sha256_hex(&manifest_ct),
        uploader: c.id(),
        uploader_key: key_id(&signing.public()),
        signed_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        service: false,
        document_key_commitment: f
            .committed
            .as_ref()
            .map(|k| document_key_commitment(&document_id.to_string(), k)),
        ciphertext_blake3: match f.digest {
            Named::Sha256 => None,
            Named::Blake3 => Some(blake3_hex(&ciphertext)),
            Named::WrongBlake3 | Named::RightSha256WrongBlake3 => {
                let mut other = ciphertext.clone();
                other[0] ^= 1;
                Some(blake3_hex(&other))
            }
        },
    });
    let (epoch, patient_recipient) = patient.current().expect("patient key");
    let body = CommitDocument {
        document_id,
        upload_id,
        patient_id: patient.id(),
        binding,
        manifest: B64.encode(&manifest_ct),
        wraps: vec![
            KeyWrap {
                holder: Holder::Practitioner { id: c.id() },
                wrap: wrap_key(&c.recipient(), &f.given_key).expect("wrap"),
            },
            KeyWrap {
                holder: Holder::Patient { epoch },
                wrap: wrap_key(patient_recipient, &f.given_key).expect("wrap"),
            },
        ],
        grants: vec![NewGrant {
            grantee: f.grantee.0,
            wrap: wrap_key(&f.grantee.1, &f.given_key).expect("wrap"),
            expires_at: None,
        }],
    };
    let res = http()
        .post(format!("{base}/v1/documents"))
        .bearer_auth(token(c))
        .json(&body)
        .send()
        .await
        .expect("commit");
    (document_id, res.status())
}

fn card() -> PatientCard {
    PatientCard {
        name: Some("LAM Siu Fong".into()),
        birth_date: None,
        sex: None,
    }
}

#[track_caller]
fn assert_refused<T>(r: Result<T, ClientError>, expected: &str, what: &str) {
    match r {
        Ok(_) => panic!("{what}: expected a refusal, but it succeeded"),
        Err(ClientError::Trust(m)) => assert!(m.contains(expected), "{what}: refused with {m}"),
        Err(e) => panic!("{what}: expected a trust refusal, got {e:?}"),
    }
}

const NOT_COMMITTED: &str = "not the document key its uploader signed";

/// A hub with the story's cast, the uploader (dr.chan), a colleague (dr.wong) and a patient.
struct Setting {
    _dir: tempfile::TempDir,
    hub: TestHub,
    chan: Client,
    wong: Client,
    hkid: PatientIdentifier,
    p: Patient,
}

impl Setting {
    async fn start() -> anyhow::Result<Self> {
        let _dir = tempfile::tempdir()?;
        let hub = TestHub::start(sandbox_config(_dir.path())).await?;
        let world = World::build(&hub, &story_cast()).await?;
        let (chan, wong) = tokio::try_join!(world.login("dr.chan"), world.login("dr.wong"))?;
        let (_, hkid) = random_hkid();
        let p = chan.ensure_patient(&hkid, &card()).await?;
        Ok(Self {
            _dir,
            hub,
            chan,
            wong,
            hkid,
            p,
        })
    }
}

/// Documents filed before the commitment existed open as before, for the uploader and a
/// grantee, and their downloads still check the manifest's plaintext hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_without_the_commitment_open_and_are_hashed() -> anyhow::Result<()> {
    let Setting {
        _dir,
        hub,
        chan,
        wong,
        hkid,
        p,
    } = Setting::start().await?;
    let plain = b"%PDF-1.4 echo: EF 55%, no regional wall motion abnormality ".repeat(3000);

    let old = file_by_hand(&chan, &hub.url, &p, Filing::honest(&plain, false, &wong)).await;
    for (who, c) in [("uploader", &chan), ("grantee", &wong)] {
        let doc = c.open_document(old).await?;
        assert!(!doc.plaintext_fixed(), "{who}");
        assert_eq!(download_vec(c, &doc).await?, plain, "{who}");
    }
    let timeline = chan.timeline(&hkid).await?;
    assert!(timeline.entries.iter().any(|e| e.document_id == old));

    // The manifest states another plaintext hash: without a commitment, that is caught.
    let mut lying = Filing::honest(&plain, false, &wong);
    lying.manifest_sha256 = sha256_hex(b"another document");
    let lying = file_by_hand(&chan, &hub.url, &p, lying).await;
    let doc = wong.open_document(lying).await?;
    assert_refused(
        download_vec(&wong, &doc).await,
        "does not match its manifest",
        "old format, wrong plaintext hash",
    );

    // The same document filed with the commitment (as every client now files) opens too.
    let new = file_by_hand(&chan, &hub.url, &p, Filing::honest(&plain, true, &wong)).await;
    let doc = wong.open_document(new).await?;
    assert!(doc.plaintext_fixed());
    assert_eq!(download_vec(&wong, &doc).await?, plain);
    Ok(())
}

/// An uploader seals the content to one key but gives its readers another, under which the
/// manifest opens. Without the commitment (the old format) the grantee reads that manifest;
/// with it, the key is refused wherever it is unwrapped: opening the document, the timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_binding_does_not_commit_to_is_refused() -> anyhow::Result<()> {
    let Setting {
        _dir,
        hub,
        chan,
        wong,
        hkid,
        p,
    } = Setting::start().await?;
    let plain = b"%PDF-1.4 biopsy: benign".to_vec();
    let split = |committed: bool| {
        let content_key = EncryptionKey::generate();
        Filing {
            plaintext: plain.clone(),
            committed: committed.then(|| content_key.clone()),
            content_key,
            given_key: EncryptionKey::generate(),
            manifest_sha256: sha256_hex(&plain),
            grantee: (wong.id(), wong.recipient()),
            digest: Named::Sha256,
        }
    };

    // The old format's hole: the grantee reads a manifest under a key the content is not
    // sealed to (the content then fails to open, but another grantee could have been given
    // the real key and seen another manifest).
    let old = file_by_hand(&chan, &hub.url, &p, split(false)).await;
    let doc = wong.open_document(old).await?;
    assert_eq!(doc.manifest.title, "Echocardiogram");
    assert!(download_vec(&wong, &doc).await.is_err());

    let committed = file_by_hand(&chan, &hub.url, &p, split(true)).await;
    assert_refused(
        wong.open_document(committed).await,
        NOT_COMMITTED,
        "grantee",
    );
    assert_refused(
        chan.open_document(committed).await,
        NOT_COMMITTED,
        "uploader",
    );
    // The timeline unwraps the same keys (the patient wrap, for a reader with patient-wide
    // access): the whole view is refused, not shown with a manifest nobody else sees.
    assert_refused(chan.timeline(&hkid).await, NOT_COMMITTED, "timeline");
    Ok(())
}

/// Bindings naming BLAKE3 of the ciphertext (what clients sign now) open, for the uploader
/// and a grantee, next to the older SHA-256 ones; the hub refuses a commit whose BLAKE3 is not
/// that of the bytes it received, even with the right SHA-256 beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blake3_bindings_open_and_the_hub_checks_them() -> anyhow::Result<()> {
    let Setting {
        _dir,
        hub,
        chan,
        wong,
        hkid: _,
        p,
    } = Setting::start().await?;
    let plain = b"%PDF-1.4 echo: EF 60%, trivial mitral regurgitation ".repeat(3000);
    let filing = |digest| Filing {
        digest,
        ..Filing::honest(&plain, true, &wong)
    };
    let new = file_by_hand(&chan, &hub.url, &p, filing(Named::Blake3)).await;
    let old = file_by_hand(&chan, &hub.url, &p, filing(Named::Sha256)).await;
    for (who, c) in [("uploader", &chan), ("grantee", &wong)] {
        for (format, id) in [("blake3", new), ("sha256", old)] {
            let doc = c.open_document(id).await?;
            assert_eq!(
                doc.binding.ciphertext_blake3.is_some(),
                format == "blake3",
                "{who} {format}"
            );
            assert_eq!(download_vec(c, &doc).await?, plain, "{who} {format}");
            // The browser's path (opened as it streams in) checks the same digest.
            let mut streamed = Vec::new();
            c.download_streaming(
                &doc,
                |b| {
                    streamed.extend_from_slice(b);
                    Ok(())
                },
                |_| {},
            )
            .await?;
            assert!(streamed == plain, "{who} {format} streaming");
        }
    }
    for wrong in [Named::WrongBlake3, Named::RightSha256WrongBlake3] {
        let (id, status) = try_file_by_hand(&chan, &hub.url, &p, filing(wrong)).await;
        assert_eq!(status.as_u16(), 400, "a wrong BLAKE3 digest was accepted");
        assert!(wong.open_document(id).await.is_err());
    }
    // What clients upload themselves names BLAKE3 and only BLAKE3.
    let meta = medshare_client::DocumentMeta {
        title: "Discharge summary".into(),
        file_name: "discharge.pdf".into(),
        media_type: "application/pdf".into(),
        category: "discharge-summary".into(),
        date_of_service: None,
        classification: None,
        urgent: false,
    };
    for view in [
        chan.upload(
            std::io::Cursor::new(plain.clone()),
            &p,
            meta.clone(),
            &[],
            |_| {},
        )
        .await?,
        chan.upload_in_parts(&plain, &p, meta, &[]).await?,
    ] {
        let doc = chan.open_document(view.document_id).await?;
        assert!(doc.binding.ciphertext_blake3.is_some());
        assert!(doc.binding.ciphertext_sha256.is_empty());
        assert_eq!(download_vec(&chan, &doc).await?, plain);
    }
    Ok(())
}
