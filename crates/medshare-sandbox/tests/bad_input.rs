//! Hostile and broken requests, sent raw: malformed, mistyped, incomplete, oversized and
//! non-UTF-8 JSON, invalid base64, truncated ciphertext, someone else's staged upload, an
//! upload over the size limit, invalid ids in paths, bad `Range` headers, unknown routes,
//! wrong methods, bad credentials. Every one gets a 4xx RFC 9457 problem
//! (`application/problem+json` with `type`, `title`, `status`, `code`) that does not echo the
//! request, and the hub keeps serving afterwards.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use medshare_client::Client;
use medshare_crypto::{SigningKey, sha256_hex};
use medshare_model::api::{CommitDocument, Holder, KeyWrap};
use medshare_model::records::PatientCard;
use medshare_model::statements::{DocumentBinding, key_id};
use medshare_model::{DocumentId, PatientId, UploadId};
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RANGE};
use std::io::Cursor;

const MIB: usize = 1024 * 1024;

/// One raw request and the status it must get.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    /// Send the session token.
    auth: bool,
    headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
    status: u16,
}

impl Case {
    fn new(name: &'static str, method: Method, path: impl Into<String>, status: u16) -> Self {
        Self {
            name,
            method,
            path: path.into(),
            auth: true,
            headers: Vec::new(),
            body: None,
            status,
        }
    }
    fn json(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        self.body = Some(body.into());
        self
    }
    fn raw_body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.headers
            .push((CONTENT_TYPE, HeaderValue::from_static(content_type)));
        self.body = Some(body.into());
        self
    }
    fn untyped_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
    fn header(mut self, name: reqwest::header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
    fn anonymous(mut self) -> Self {
        self.auth = false;
        self
    }
}

/// Raw access to the hub with one practitioner's session.
struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
    marker: String,
}

impl Raw {
    async fn run(&self, c: Case) {
        let mut rb = self
            .http
            .request(c.method.clone(), format!("{}{}", self.base, c.path));
        if c.auth {
            rb = rb.bearer_auth(&self.token);
        }
        for (k, v) in c.headers {
            rb = rb.header(k, v);
        }
        if let Some(b) = c.body {
            rb = rb.body(b);
        }
        let res = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: no response: {e}", c.name));
        self.check(c.name, res, c.status).await;
    }

    /// A 4xx problem that does not echo the marker.
    async fn check(&self, name: &str, res: reqwest::Response, status: u16) {
        let got = res.status().as_u16();
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.bytes().await.expect("a body").to_vec();
        self.check_parts(name, got, &ct, &body, status);
    }

    fn check_parts(&self, name: &str, got: u16, ct: &str, body: &[u8], status: u16) {
        let text = String::from_utf8_lossy(body);
        assert_eq!(got, status, "{name}: HTTP status (body {text})");
        assert!((400..500).contains(&got), "{name}: a client error");
        assert!(
            ct.starts_with("application/problem+json"),
            "{name}: content type {ct:?}"
        );
        let v: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("{name}: the problem is JSON: {text}"));
        let code = v["code"].as_str().unwrap_or_else(|| panic!("{name}: code"));
        assert_eq!(
            v["type"].as_str(),
            Some(format!("urn:medshare:problem:{code}").as_str()),
            "{name}: type"
        );
        assert!(
            v["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert_eq!(v["status"].as_u64(), Some(u64::from(got)), "{name}: status");
        // The typed form parses too.
        let _ = problem(body);
        let m = &self.marker;
        for form in [
            m.clone(),
            m.to_lowercase(),
            m.to_uppercase(),
            B64.encode(m),
            hex::encode(m),
            m[..m.len() / 2].to_string(),
        ] {
            assert!(
                !text.contains(&form),
                "{name}: the response echoes the request: {text}"
            );
        }
    }
}

/// Send a request over a bare TCP connection and read the response while the body is still
/// being written. A server that refuses an oversized body answers before reading it all and
/// then closes, which makes HTTP clients that insist on writing the whole body first fail with
/// a broken connection instead of showing the answer; reading concurrently gets it reliably.
async fn early_response(
    addr: std::net::SocketAddr,
    head: String,
    body: Vec<u8>,
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        // The hub may stop reading and reset the connection: write errors are expected.
        if wr.write_all(head.as_bytes()).await.is_ok() {
            let _ = wr.write_all(&body).await;
        }
        wr
    });
    let mut buf = Vec::new();
    let parsed = loop {
        if let Some(r) = parse_response(&buf) {
            break r;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), rd.read(&mut chunk))
            .await
            .expect("the hub answers in time");
        match n {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            other => panic!(
                "the connection ended ({other:?}) before a whole response: {:?}",
                String::from_utf8_lossy(&buf)
            ),
        }
    };
    writer.abort();
    parsed
}

/// `(status, content type, body)` of a complete HTTP/1.1 response with a `content-length`.
fn parse_response(buf: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut len = None;
    let mut ct = String::new();
    for l in lines {
        let (k, v) = l.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse::<usize>().ok(),
            "content-type" => ct = v.trim().to_string(),
            _ => {}
        }
    }
    let body = &buf[end + 4..];
    let len = len.expect("responses carry a content-length");
    (body.len() >= len).then(|| (status, ct, body[..len].to_vec()))
}

/// A staged upload of `bytes` by `c`.
async fn stage(raw: &Raw, c: &Client, bytes: &[u8]) -> UploadId {
    let id = UploadId::new();
    let res = http()
        .put(format!("{}/v1/uploads/{id}", raw.base))
        .bearer_auth(token(c))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 201, "staging {} bytes", bytes.len());
    id
}

/// A commit for `upload`, with a binding signed by `c` for `ciphertext` (whatever was staged).
fn commit_body(
    c: &Client,
    patient: PatientId,
    patient_ref: &medshare_model::PatientRef,
    upload: UploadId,
    ciphertext: &[u8],
    marker: &str,
) -> Vec<u8> {
    let saved = c.save();
    let seed: [u8; 32] = B64
        .decode(&saved.signing)
        .expect("base64 seed")
        .try_into()
        .expect("32 bytes");
    let signing = SigningKey::from_seed(&seed);
    let manifest = format!("sealed manifest {marker}").into_bytes();
    let document_id = DocumentId::new();
    let binding = signing.sign_statement(&DocumentBinding {
        document_id,
        patient_id: patient,
        patient_ref: patient_ref.clone(),
        ciphertext_sha256: sha256_hex(ciphertext),
        ciphertext_size: ciphertext.len() as u64,
        manifest_sha256: sha256_hex(&manifest),
        uploader: c.id(),
        uploader_key: key_id(&signing.public()),
        signed_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        service: false,
        document_key_commitment: None,
        ciphertext_blake3: None,
    });
    serde_json::to_vec(&CommitDocument {
        document_id,
        upload_id: upload,
        patient_id: patient,
        binding,
        manifest: B64.encode(&manifest),
        wraps: vec![KeyWrap {
            holder: Holder::Practitioner { id: c.id() },
            wrap: B64.encode(format!("wrap {marker}")),
        }],
        grants: vec![],
    })
    .expect("serialises")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_problem_details() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = sandbox_config(dir.path());
    config.limits.max_upload_bytes = MIB as u64;
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let (chan, wong) = tokio::try_join!(world.login("dr.chan"), world.login("dr.wong"))?;

    let marker = format!("BADINPUT{}", random_hex(16).to_uppercase());
    let raw = Raw {
        http: http(),
        base: hub.url.clone(),
        token: token(&chan),
        marker: marker.clone(),
    };
    let (_, hkid) = random_hkid();
    let card = PatientCard {
        name: Some("HUI Yuk Lan".into()),
        birth_date: None,
        sex: None,
    };
    let p = chan.ensure_patient(&hkid, &card).await?;
    let plain = b"%PDF-1.4 discharge summary ".repeat(4000);
    let doc = chan
        .upload(
            Cursor::new(plain.clone()),
            &p,
            meta("Discharge summary", "discharge.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let pid = p.id();
    let wong_id = wong.id();
    let m = &marker;

    let huge = format!(
        "{{\"patient_ref\": \"{}\"}}",
        m.repeat(3 * MIB / 2 / m.len())
    );
    assert!(huge.len() > MIB);
    let deep = format!(
        "{{\"patient_ref\": {}\"{m}\"{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let mut not_utf8 = format!("{{\"patient_ref\": \"{m}").into_bytes();
    not_utf8.extend_from_slice(b"\xff\xfe\"}");

    let cases = vec![
        // Broken JSON bodies.
        Case::new("malformed JSON", Method::POST, "/v1/search", 400)
            .json(format!("{{\"patient_ref\": \"{m}")),
        Case::new("not JSON", Method::POST, "/v1/search", 400).json(m.clone()),
        Case::new("not UTF-8", Method::POST, "/v1/search", 400).json(not_utf8),
        Case::new("deeply nested", Method::POST, "/v1/search", 422).json(deep),
        Case::new("wrong type", Method::POST, "/v1/search", 422)
            .json(format!("{{\"patient_ref\": [\"{m}\"]}}")),
        Case::new("invalid value", Method::POST, "/v1/search", 422)
            .json(format!("{{\"patient_ref\": \"{m}\"}}")),
        Case::new("missing fields", Method::POST, "/v1/documents", 422).json(format!(
            "{{\"document_id\": \"{}\", \"manifest\": \"{m}\"}}",
            DocumentId::new()
        )),
        Case::new(
            "unknown variant",
            Method::POST,
            format!("/v1/patients/{pid}/consent"),
            422,
        )
        .json(format!("{{\"to\": {{\"kind\": \"{m}\"}}, \"wraps\": []}}")),
        Case::new(
            "number out of range",
            Method::POST,
            format!("/v1/patients/{pid}/break-glass"),
            422,
        )
        .json(format!("{{\"reason\": \"{m}\", \"reason_epoch\": -1}}")),
        Case::new("not declared as JSON", Method::POST, "/v1/search", 415)
            .raw_body("text/plain", format!("{{\"patient_ref\": \"{m}\"}}")),
        Case::new("no content type", Method::POST, "/v1/search", 415).untyped_body(m.clone()),
        // Invalid base64 inside valid JSON.
        Case::new(
            "key wrap not base64",
            Method::POST,
            format!("/v1/documents/{doc}/grants"),
            400,
        )
        .json(format!(
            "{{\"grantee\": \"{wong_id}\", \"wrap\": \"{m}!!*\", \"expires_at\": null}}"
        )),
        Case::new(
            "break-glass reason not base64",
            Method::POST,
            format!("/v1/patients/{pid}/break-glass"),
            400,
        )
        .json(format!("{{\"reason\": \"%%{m}%%\", \"reason_epoch\": 1}}")),
        // Invalid ids in paths.
        Case::new(
            "document id",
            Method::GET,
            format!("/v1/documents/{m}"),
            400,
        ),
        Case::new(
            "document id (content)",
            Method::GET,
            format!("/v1/documents/{m}/content"),
            400,
        ),
        Case::new("upload id", Method::PUT, format!("/v1/uploads/{m}"), 400)
            .raw_body("application/octet-stream", m.clone()),
        Case::new(
            "grantee id",
            Method::DELETE,
            format!("/v1/documents/{doc}/grants/{m}"),
            400,
        ),
        Case::new(
            "patient id",
            Method::POST,
            format!("/v1/patients/{m}/care"),
            400,
        )
        .json("{}"),
        Case::new(
            "practitioner id",
            Method::GET,
            format!("/v1/practitioners/{m}"),
            400,
        ),
        Case::new(
            "institution id",
            Method::GET,
            format!("/v1/institutions/{m}"),
            400,
        ),
        // An impossible handle is simply nobody's.
        Case::new(
            "handle",
            Method::GET,
            format!("/v1/practitioners/by-handle/{m}"),
            404,
        ),
        Case::new(
            "query parameter",
            Method::GET,
            format!("/v1/events?since={m}"),
            400,
        ),
        // Ranges.
        Case::new(
            "range beyond the end",
            Method::GET,
            format!("/v1/documents/{doc}/content"),
            416,
        )
        .header(RANGE, HeaderValue::from_static("bytes=999999999-")),
        Case::new(
            "range ending before it starts",
            Method::GET,
            format!("/v1/documents/{doc}/content"),
            400,
        )
        .header(RANGE, HeaderValue::from_static("bytes=5-2")),
        Case::new(
            "empty suffix range",
            Method::GET,
            format!("/v1/documents/{doc}/content"),
            416,
        )
        .header(RANGE, HeaderValue::from_static("bytes=-0")),
        // Unknown routes and wrong methods.
        Case::new("unknown route", Method::GET, format!("/v1/{m}"), 404),
        Case::new("unknown top-level route", Method::GET, format!("/{m}"), 404),
        Case::new(
            "unknown sub-route",
            Method::POST,
            format!("/v1/documents/{doc}/{m}"),
            404,
        )
        .json(format!("{{\"x\": \"{m}\"}}")),
        Case::new("wrong method", Method::DELETE, "/v1/search", 405),
        Case::new(
            "wrong method on documents",
            Method::PUT,
            "/v1/documents",
            405,
        )
        .json(format!("{{\"x\": \"{m}\"}}")),
        Case::new(
            "wrong method on uploads",
            Method::GET,
            format!("/v1/uploads/{}", UploadId::new()),
            405,
        ),
        Case::new("wrong method on health", Method::POST, "/health", 405)
            .json(format!("{{\"x\": \"{m}\"}}")),
        // Credentials.
        Case::new("no session", Method::GET, "/v1/me", 401).anonymous(),
        Case::new("made-up session", Method::GET, "/v1/me", 401)
            .anonymous()
            .header(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {m}"))?,
            ),
        Case::new("basic auth", Method::GET, "/v1/me", 401)
            .anonymous()
            .header(AUTHORIZATION, HeaderValue::from_str(&format!("Basic {m}"))?),
        Case::new("non-ASCII token", Method::GET, "/v1/me", 401)
            .anonymous()
            .header(
                AUTHORIZATION,
                HeaderValue::from_bytes(format!("Bearer \u{e9}{m}").as_bytes())?,
            ),
        Case::new(
            "anonymous upload",
            Method::PUT,
            format!("/v1/uploads/{}", UploadId::new()),
            401,
        )
        .anonymous()
        .raw_body("application/octet-stream", m.clone()),
        Case::new(
            "invalid handle at login",
            Method::POST,
            "/v1/auth/login",
            422,
        )
        .anonymous()
        .json(format!(
            "{{\"handle\": \"{m}\", \"credential\": \"{m}\", \"totp\": \"{m}\"}}"
        )),
        Case::new(
            "unknown handle at login",
            Method::POST,
            "/v1/auth/login",
            401,
        )
        .anonymous()
        .json(format!(
            "{{\"handle\": \"nobody.{}\", \"credential\": \"{m}!\", \"totp\": \"{m}\"}}",
            m.to_lowercase()
        )),
        Case::new(
            "unknown enrolment code",
            Method::POST,
            "/v1/enrolments/lookup",
            404,
        )
        .anonymous()
        .json(format!("{{\"code\": \"{m}\"}}")),
    ];
    for c in cases {
        raw.run(c).await;
    }

    // Ciphertext that is not what the binding signs: staged truncated, committed with a
    // binding for the whole.
    let mut ciphertext = format!("age-encryption.org/v1 {m} ").into_bytes();
    ciphertext.extend((0..200_000u32).map(|i| (i * 7 + 3) as u8));
    let half = stage(&raw, &chan, &ciphertext[..ciphertext.len() / 2]).await;
    raw.run(
        Case::new("truncated ciphertext", Method::POST, "/v1/documents", 400).json(commit_body(
            &chan,
            pid,
            &p.patient_ref,
            half,
            &ciphertext,
            m,
        )),
    )
    .await;
    // Someone else's staged upload, with a binding that matches it.
    let theirs = stage(&raw, &wong, &ciphertext).await;
    raw.run(
        Case::new("another user's upload", Method::POST, "/v1/documents", 404).json(commit_body(
            &chan,
            pid,
            &p.patient_ref,
            theirs,
            &ciphertext,
            m,
        )),
    )
    .await;
    // The same upload id twice.
    let once = stage(&raw, &chan, &ciphertext).await;
    raw.run(
        Case::new(
            "upload id reused",
            Method::PUT,
            format!("/v1/uploads/{once}"),
            409,
        )
        .raw_body("application/octet-stream", ciphertext.clone()),
    )
    .await;
    // Bodies over the limits (JSON: 1 MiB; uploads: 1 MiB here). The hub answers before
    // reading them whole, so they are sent over a bare connection that reads concurrently.
    let (status, ct, body) = early_response(
        hub.addr,
        format!(
            "POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            raw.token,
            huge.len()
        ),
        huge.into_bytes(),
    )
    .await;
    raw.check_parts("JSON over 1 MiB", status, &ct, &body, 413);
    let mut refused = Vec::new();
    for size in [MIB + 1, 2 * MIB] {
        let id = UploadId::new();
        let mut oversized = m.as_bytes().repeat(size / m.len() + 1);
        oversized.truncate(size);
        let (status, ct, body) = early_response(
            hub.addr,
            format!(
                "PUT /v1/uploads/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\
                 Connection: close\r\n\r\n",
                raw.token
            ),
            oversized,
        )
        .await;
        raw.check_parts("upload over the limit", status, &ct, &body, 413);
        refused.push(id);
    }
    // Just over the limit also fails through an ordinary client (the body is read whole).
    let id = UploadId::new();
    let mut oversized = m.as_bytes().repeat(MIB / m.len() + 1);
    oversized.truncate(MIB + 1);
    raw.run(
        Case::new(
            "upload just over the limit",
            Method::PUT,
            format!("/v1/uploads/{id}"),
            413,
        )
        .raw_body("application/octet-stream", oversized),
    )
    .await;
    refused.push(id);
    for id in refused {
        assert!(
            !dir.path()
                .join("blobs")
                .join("staging")
                .join(id.to_string())
                .exists(),
            "a refused upload left nothing in staging"
        );
        raw.run(
            Case::new(
                "commit of a refused upload",
                Method::POST,
                "/v1/documents",
                404,
            )
            .json(commit_body(&chan, pid, &p.patient_ref, id, &ciphertext, m)),
        )
        .await;
    }

    // The hub still serves, and the honest paths still work.
    let health = http().get(format!("{}/health", hub.url)).send().await?;
    assert_eq!(health.status().as_u16(), 200);
    let t = chan.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 1, "no hostile request created a document");
    assert_eq!(t.entries[0].document_id, doc);
    let opened = chan.open_document(doc).await?;
    assert!(download_vec(&chan, &opened).await? == plain);
    let again = chan
        .upload(
            Cursor::new(b"%PDF-1.4 follow-up".to_vec()),
            &p,
            meta("Follow-up", "follow-up.pdf"),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await?;
    let t = wong.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].document_id, again.document_id);
    hub.stop().await
}

/// A syntactically invalid `Range` header must be refused like every other invalid input.
/// `routes/documents.rs::parse_range` does return `400 bad_request` for `bytes=abc`, `bytes=-`
/// or `bytes=1-2-3`, but `content` discards that error (`Err(_) => None`) and serves the whole
/// ciphertext with 200, while `bytes=5-2` (also invalid) is refused with 400 by the blob store:
/// the same kind of bad header gets two different answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_range_headers_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let chan = world.login("dr.chan").await?;
    let marker = format!("BADRANGE{}", random_hex(16).to_uppercase());
    let raw = Raw {
        http: http(),
        base: hub.url.clone(),
        token: token(&chan),
        marker: marker.clone(),
    };
    let (_, hkid) = random_hkid();
    let p = chan
        .ensure_patient(
            &hkid,
            &PatientCard {
                name: None,
                birth_date: None,
                sex: None,
            },
        )
        .await?;
    let doc = chan
        .upload(
            Cursor::new(b"%PDF-1.4 note".repeat(100)),
            &p,
            meta("Note", "note.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    for range in [
        "bytes=abc".to_string(),
        "bytes=-".to_string(),
        "bytes=1-2-3".to_string(),
        format!("bytes={marker}-"),
    ] {
        raw.run(
            Case::new(
                "malformed range",
                Method::GET,
                format!("/v1/documents/{doc}/content"),
                400,
            )
            .header(RANGE, HeaderValue::from_str(&range)?),
        )
        .await;
    }
    drop(chan);
    hub.stop().await
}

/// Found by Schemathesis: an auditor asking for the inclusion proof of position
/// -9223372036854775808 made the hub compute `seq - 1` and panic (the connection closed with no
/// answer). Positions below 1 name no entry: 404, and the hub keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_audit_positions_are_not_found() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(sandbox_config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let privacy = world.login("privacy.kph").await?;
    for seq in [i64::MIN, -1, 0] {
        let r = http()
            .get(format!("{}/v1/audit/inclusion/{seq}", hub.url))
            .bearer_auth(token(&privacy))
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 404, "position {seq}");
        problem(&r.bytes().await?);
    }
    let r = http().get(format!("{}/health", hub.url)).send().await?;
    assert_eq!(r.status().as_u16(), 200, "the hub still serves");
    hub.stop().await
}
