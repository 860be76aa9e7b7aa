//! The access policy, path by path and caller by caller: the patient timeline (search), the
//! document view (`GET /v1/documents/{id}`), the ciphertext (`GET .../content`, raw, with the
//! caller's bearer token) and sharing, for the uploader, live / expired / revoked grantees,
//! colleagues with and without a care relationship, clinicians of other institutions, an
//! enrolled-but-uncertified practitioner, a privacy officer, no session at all and
//! break-glass. Then the access log must hold the denials and refuse edits.

mod common;

use common::*;
use medshare_client::enrol::enrol;
use medshare_client::{Client, LoginOptions, login};
use medshare_crypto::passphrase::test_kdf_params;
use medshare_crypto::{blake3_hex, sha256_hex};
use medshare_model::api::{EventKind, NewEnrolment};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::registration::{Profession, Role};
use medshare_model::statements::CiphertextDigest;
use medshare_model::{DocumentId, ErrorCode, PractitionerId};
use medshare_sandbox::{
    Backend, Cast, Person, TestHub, World, story_cast, totp_now, totp_secret_of,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::io::Cursor;
use std::time::Duration;
use time::OffsetDateTime;

// Every check below is one cell of the matrix. A failing cell is recorded, not fatal, so one
// run reports every cell that is wrong (`finish` fails the test listing them all).
tokio::task_local! {
    static CELLS: std::cell::RefCell<Vec<String>>;
}

fn fail_cell(what: String) {
    let recorded = CELLS
        .try_with(|c| c.borrow_mut().push(what.clone()))
        .is_ok();
    if !recorded {
        panic!("{what}");
    }
}

/// `assert!` for one cell.
macro_rules! check {
    ($cond:expr) => {
        check!($cond, "{}", stringify!($cond))
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            fail_cell(format!($($arg)+));
        }
    };
}

/// `assert_eq!` for one cell.
macro_rules! check_eq {
    ($a:expr, $b:expr) => {
        check_eq!($a, $b, "{} == {}", stringify!($a), stringify!($b))
    };
    ($a:expr, $b:expr, $($arg:tt)+) => {{
        match (&$a, &$b) {
            (a, b) => {
                if a != b {
                    fail_cell(format!("{}: {:?} != {:?}", format!($($arg)+), a, b));
                }
            }
        }
    }};
}

/// Run a matrix test body, then fail once with every cell that was wrong.
async fn matrix<F: std::future::Future<Output = anyhow::Result<()>>>(
    body: F,
) -> anyhow::Result<()> {
    let (result, cells) = CELLS
        .scope(std::cell::RefCell::new(Vec::new()), async {
            let r = body.await;
            (r, CELLS.with(|c| c.borrow().clone()))
        })
        .await;
    assert!(
        cells.is_empty(),
        "{} cells of the access matrix are wrong:\n  {}",
        cells.len(),
        cells.join("\n  ")
    );
    result
}

/// Run a matrix test on its own runtime in a thread with a large stack (the matrix is one long
/// async body, and its poll frame is large in debug builds).
fn run_matrix<F, Fut>(f: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(16 << 20)
                .enable_all()
                .build()?;
            rt.block_on(matrix(f()))
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the matrix test panicked"))?
}

/// A client call refused with the hub's problem `code` (one cell).
fn check_api<T>(r: Result<T, medshare_client::ClientError>, code: ErrorCode, what: &str) {
    match r {
        Ok(_) => fail_cell(format!("{what}: expected {code:?}, but it succeeded")),
        Err(e) if e.code() != Some(code) => {
            fail_cell(format!("{what}: expected {code:?}, got {e:?}"))
        }
        Err(_) => {}
    }
}

/// The story cast plus a second emergency doctor at KPH (a colleague of dr.ho without a care
/// relationship, for break-glass; KPH has the privacy officer who must be told).
fn cast() -> Cast {
    let mut c = story_cast();
    c.people.push(Person {
        handle: "dr.kwan".into(),
        name: "KWAN Wai Lun".into(),
        profession: Profession::Doctor,
        registration: "M10007".into(),
        specialty: Some("Emergency Medicine".into()),
        roles: vec![Role::Clinician],
        institution: "KPH".into(),
    });
    c
}

fn card(name: &str) -> PatientCard {
    PatientCard {
        name: Some(name.into()),
        birth_date: Some("1958-02-11".into()),
        sex: Some("female".into()),
    }
}

/// Raw HTTP against the hub.
struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Raw {
    fn new(base: &str) -> Self {
        Self {
            http: http(),
            base: base.to_string(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, Vec<u8>) {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let res = rb.send().await.expect("the hub answers");
        let status = res.status().as_u16();
        (status, res.bytes().await.expect("a body").to_vec())
    }

    async fn content(&self, doc: DocumentId, token: Option<&str>) -> (u16, Vec<u8>) {
        self.send(
            reqwest::Method::GET,
            &format!("/v1/documents/{doc}/content"),
            token,
            None,
        )
        .await
    }

    async fn view(&self, doc: DocumentId, token: Option<&str>) -> (u16, Vec<u8>) {
        self.send(
            reqwest::Method::GET,
            &format!("/v1/documents/{doc}"),
            token,
            None,
        )
        .await
    }

    /// A share with a syntactically valid (but useless) key wrap: only the policy can refuse it.
    async fn share(
        &self,
        doc: DocumentId,
        grantee: PractitionerId,
        token: Option<&str>,
    ) -> (u16, Vec<u8>) {
        self.send(
            reqwest::Method::POST,
            &format!("/v1/documents/{doc}/grants"),
            token,
            Some(serde_json::json!({ "grantee": grantee, "wrap": "anVuaw==", "expires_at": null })),
        )
        .await
    }

    async fn search(&self, token: Option<&str>) -> (u16, Vec<u8>) {
        self.send(
            reqwest::Method::POST,
            "/v1/search",
            token,
            Some(serde_json::json!({ "patient_ref": "00".repeat(32) })),
        )
        .await
    }
}

fn assert_problem((status, body): (u16, Vec<u8>), code: ErrorCode, what: &str) {
    check_eq!(status, code.status(), "{what}: HTTP status");
    if status == code.status() {
        check_eq!(problem(&body).code, code, "{what}: problem code");
    }
}

/// Every read path works for `who`, and the bytes are the ones uploaded.
async fn assert_reads(
    who: &str,
    c: &Client,
    raw: &Raw,
    patient: &PatientIdentifier,
    doc: DocumentId,
    plain: &[u8],
) {
    let t = c
        .timeline(patient)
        .await
        .unwrap_or_else(|e| panic!("{who}: timeline: {e:?}"));
    check!(
        t.entries.iter().any(|e| e.document_id == doc),
        "{who}: the timeline lists the document"
    );
    let opened = c
        .open_document(doc)
        .await
        .unwrap_or_else(|e| panic!("{who}: open_document: {e:?}"));
    let got = download_vec(c, &opened)
        .await
        .unwrap_or_else(|e| panic!("{who}: download: {e:?}"));
    check!(got == plain, "{who}: decrypted bytes differ");
    let (status, body) = raw.content(doc, Some(&token(c))).await;
    check_eq!(status, 200, "{who}: raw content");
    // Documents uploaded now name BLAKE3 of their ciphertext (older ones SHA-256).
    let named = opened.binding.ciphertext_digest();
    let served = match named {
        CiphertextDigest::Blake3(_) => blake3_hex(&body),
        CiphertextDigest::Sha256(_) => sha256_hex(&body),
    };
    check_eq!(
        served.as_str(),
        named.hex(),
        "{who}: raw content is the signed ciphertext"
    );
}

/// What the timeline should do for a caller who may not read.
enum TimelineExpect {
    /// The search succeeds but does not list the document.
    Absent,
    /// The search itself is refused.
    Refused(ErrorCode),
}

/// No read path works for `who`: the timeline omits the document (or is refused), the view and
/// the ciphertext are refused with `code`.
async fn assert_no_reads(
    who: &str,
    c: &Client,
    raw: &Raw,
    patient: &PatientIdentifier,
    doc: DocumentId,
    timeline: TimelineExpect,
    code: ErrorCode,
) {
    match (c.timeline(patient).await, timeline) {
        (Ok(t), TimelineExpect::Absent) => check!(
            t.entries.iter().all(|e| e.document_id != doc),
            "{who}: the timeline must not list the document"
        ),
        (Err(e), TimelineExpect::Refused(want)) => {
            check_eq!(e.code(), Some(want), "{who}: timeline refused with {e:?}")
        }
        (Ok(_), TimelineExpect::Refused(want)) => {
            fail_cell(format!("{who}: timeline should be refused with {want:?}"))
        }
        (Err(e), TimelineExpect::Absent) => fail_cell(format!("{who}: timeline failed: {e:?}")),
    }
    check_api(c.open_document(doc).await, code, &format!("{who}: open"));
    assert_problem(
        raw.content(doc, Some(&token(c))).await,
        code,
        &format!("{who}: raw content"),
    );
}

async fn inbox_has_break_glass(c: &Client, patient: medshare_model::PatientId) -> bool {
    c.inbox(0).await.expect("inbox").iter().any(
        |e| matches!(e.event, EventKind::BreakGlass { patient_id, .. } if patient_id == patient),
    )
}

#[test]
fn every_read_path_enforces_the_policy_sqlite_folder() -> anyhow::Result<()> {
    run_matrix(|| every_read_path_enforces_the_policy(Backend::SqliteFolder))
}

#[test]
fn every_read_path_enforces_the_policy_postgres_s3() -> anyhow::Result<()> {
    run_matrix(|| every_read_path_enforces_the_policy(Backend::PostgresS3))
}

async fn every_read_path_enforces_the_policy(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = backend.config(dir.path());
    let db_url = config.database_url();
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &cast()).await?;
    let raw = Raw::new(&hub.url);
    let (chan, wong, leung, ho, lam, kwan, privacy, admin_pph) = tokio::try_join!(
        world.login("dr.chan"),
        world.login("dr.wong"),
        world.login("dr.leung"),
        world.login("dr.ho"),
        world.login("dt.lam"),
        world.login("dr.kwan"),
        world.login("privacy.kph"),
        world.login("admin.pph"),
    )?;

    // An enrolled practitioner whose institution has not certified them yet.
    let invite = admin_pph
        .invite(NewEnrolment {
            handle: "dr.pending".parse().unwrap(),
            name: "PUN Ka Yan".into(),
            profession: Profession::Doctor,
            registration: "M20009".into(),
            specialty: Some("Cardiology".into()),
            roles: vec![Role::Clinician],
        })
        .await?;
    let pass = "pending practitioner passphrase";
    let enrolled = enrol(
        &hub.hub(),
        Some(world.root_public),
        &invite.code,
        pass,
        Some(test_kdf_params()),
    )
    .await?;
    let totp = match enrolled.totp_uri.as_deref() {
        Some(uri) => Some(totp_now(&totp_secret_of(uri)?)?),
        None => None,
    };
    let pending = login(
        &hub.hub(),
        Some(world.root_public),
        &"dr.pending".parse().unwrap(),
        pass,
        totp.as_deref(),
        &LoginOptions {
            allow_weak_kdf: true,
        },
    )
    .await?;

    // Patients: P and R registered at the clinic (consent: HVC only), Q at KPH.
    let (_, hkid_p) = random_hkid();
    let (_, hkid_r) = random_hkid();
    let (_, hkid_q) = random_hkid();
    check!(hkid_p != hkid_r && hkid_p != hkid_q && hkid_r != hkid_q);
    let p = chan.ensure_patient(&hkid_p, &card("LEE Siu Ming")).await?;
    let r = chan.ensure_patient(&hkid_r, &card("NG Mei Kuen")).await?;
    let q = ho.ensure_patient(&hkid_q, &card("YEUNG Chun Kit")).await?;

    // D1 (patient P): shared with dr.wong, with dr.ho until `expiry`, and with dr.leung (revoked
    // below). D2 (P): not shared. DR (patient R): not shared. DQ (patient Q, uploaded at KPH).
    let expiry = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let d1_plain = b"%PDF-1.4 echocardiogram: LVEF 35%, moderate MR. ".repeat(2000);
    let d1 = chan
        .upload(
            Cursor::new(d1_plain.clone()),
            &p,
            meta("Echocardiogram", "echo.pdf"),
            &[
                share_with("dr.wong", None),
                share_with("dr.ho", Some(expiry)),
                share_with("dr.leung", None),
            ],
            |_| {},
        )
        .await?
        .document_id;
    // Before its expiry the time-limited grant works like any other.
    assert_reads(
        "dr.ho (grant not yet expired)",
        &ho,
        &raw,
        &hkid_p,
        d1,
        &d1_plain,
    )
    .await;
    check!(
        OffsetDateTime::now_utc() < expiry,
        "the pre-expiry check must run before the grant expires"
    );

    let d2_plain = b"%PDF-1.4 clinic note: HbA1c 8.1%".to_vec();
    let d2 = chan
        .upload(
            Cursor::new(d2_plain.clone()),
            &p,
            meta("Clinic note", "note.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let dr_plain = b"%PDF-1.4 another patient's referral".to_vec();
    let dr = chan
        .upload(
            Cursor::new(dr_plain.clone()),
            &r,
            meta("Referral", "referral.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let dq_plain = b"%PDF-1.4 A&E record: chest pain, troponin pending".to_vec();
    let dq = ho
        .upload(
            Cursor::new(dq_plain.clone()),
            &q,
            meta("A&E record", "ae.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;

    // --- Uploader: everything, including sharing.
    for (doc, plain, id) in [
        (d1, &d1_plain, &hkid_p),
        (d2, &d2_plain, &hkid_p),
        (dr, &dr_plain, &hkid_r),
    ] {
        assert_reads("uploader dr.chan", &chan, &raw, id, doc, plain).await;
    }
    chan.share(d1, &share_with("dr.wong", None)).await?;

    // --- Grantee with a live grant: reads D1, but may not re-share it (sharing needs the
    // uploader or patient-wide access at the patient's consented institution).
    assert_reads("grantee dr.wong", &wong, &raw, &hkid_p, d1, &d1_plain).await;
    check_api(
        wong.share(d1, &share_with("dr.leung", None)).await,
        ErrorCode::Forbidden,
        "grantee re-shares",
    );

    // --- Clinician at another institution without a grant (dr.wong on D2).
    assert_no_reads(
        "dr.wong on D2 (no grant)",
        &wong,
        &raw,
        &hkid_p,
        d2,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;
    assert_problem(
        raw.share(d2, world.id("dr.leung"), Some(&token(&wong)))
            .await,
        ErrorCode::Forbidden,
        "dr.wong shares D2",
    );

    // --- Swapped ids: a document of another patient the caller cannot read.
    assert_no_reads(
        "dr.wong on DR (another patient)",
        &wong,
        &raw,
        &hkid_r,
        dr,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;

    // --- Revoked grantee.
    assert_reads(
        "dr.leung (before revocation)",
        &leung,
        &raw,
        &hkid_p,
        d1,
        &d1_plain,
    )
    .await;
    chan.revoke(d1, &"dr.leung".parse().unwrap()).await?;
    assert_no_reads(
        "revoked dr.leung",
        &leung,
        &raw,
        &hkid_p,
        d1,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;
    assert_problem(
        raw.share(d1, world.id("dr.wong"), Some(&token(&leung)))
            .await,
        ErrorCode::Forbidden,
        "revoked grantee shares",
    );

    // --- Colleague at the uploader's institution without a care relationship.
    assert_no_reads(
        "dt.lam without care",
        &lam,
        &raw,
        &hkid_p,
        d1,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;
    assert_problem(
        raw.share(d1, world.id("dr.wong"), Some(&token(&lam))).await,
        ErrorCode::Forbidden,
        "colleague without care shares",
    );

    // --- The same colleague after declaring care: the clinic holds the patient's consent.
    let p_for_lam = lam.find_patient(&hkid_p).await?.expect("patient exists");
    lam.declare_care(&p_for_lam, None).await?;
    assert_reads("dt.lam with care", &lam, &raw, &hkid_p, d1, &d1_plain).await;
    assert_reads("dt.lam with care", &lam, &raw, &hkid_p, d2, &d2_plain).await;
    let own = lam.timeline(&hkid_p).await?;
    check_eq!(
        own.card.and_then(|c| c.name).as_deref(),
        Some("LEE Siu Ming"),
        "care at a consented institution opens the patient card"
    );
    lam.share(d1, &share_with("dr.wong", None)).await?;
    // Care for P says nothing about R.
    assert_no_reads(
        "dt.lam on DR (care for another patient)",
        &lam,
        &raw,
        &hkid_r,
        dr,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;

    // --- Enrolled but not certified: refused everywhere, by the client and by the hub.
    check_api(
        pending.timeline(&hkid_p).await,
        ErrorCode::NotCertified,
        "uncertified timeline",
    );
    check_api(
        pending.open_document(d1).await,
        ErrorCode::NotCertified,
        "uncertified open",
    );
    let t_pending = token(&pending);
    assert_problem(
        raw.content(d1, Some(&t_pending)).await,
        ErrorCode::NotCertified,
        "uncertified content",
    );
    assert_problem(
        raw.search(Some(&t_pending)).await,
        ErrorCode::NotCertified,
        "uncertified search",
    );
    assert_problem(
        raw.share(d1, world.id("dr.wong"), Some(&t_pending)).await,
        ErrorCode::NotCertified,
        "uncertified share",
    );

    // --- Privacy officer (not a clinician), at KPH which holds Q's consent.
    for (doc, id) in [(dq, &hkid_q), (d1, &hkid_p)] {
        assert_no_reads(
            "privacy.kph",
            &privacy,
            &raw,
            id,
            doc,
            TimelineExpect::Refused(ErrorCode::Forbidden),
            ErrorCode::Forbidden,
        )
        .await;
        assert_problem(
            raw.share(doc, world.id("dr.wong"), Some(&token(&privacy)))
                .await,
            ErrorCode::Forbidden,
            "privacy officer shares",
        );
    }

    // --- No session, or a made-up one.
    for t in [None, Some("not-a-session-token")] {
        let code = if t.is_none() {
            ErrorCode::Unauthenticated
        } else {
            ErrorCode::SessionExpired
        };
        assert_problem(raw.view(d1, t).await, code, "no session: view");
        assert_problem(raw.content(d1, t).await, code, "no session: content");
        assert_problem(raw.search(t).await, code, "no session: search");
        assert_problem(
            raw.share(d1, world.id("dr.wong"), t).await,
            code,
            "no session: share",
        );
    }

    // --- Break-glass: dr.kwan (KPH, no care for Q) is refused, opens break-glass, then reads;
    // KPH's privacy officer is told.
    assert_no_reads(
        "dr.kwan before break-glass",
        &kwan,
        &raw,
        &hkid_q,
        dq,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;
    check!(!inbox_has_break_glass(&privacy, q.id()).await);
    let q_for_kwan = kwan.find_patient(&hkid_q).await?.expect("patient exists");
    let granted = kwan
        .break_glass(
            &q_for_kwan,
            "unconscious in resus, no next of kin reachable",
        )
        .await?;
    check!(granted.expires_at > OffsetDateTime::now_utc());
    assert_reads(
        "dr.kwan under break-glass",
        &kwan,
        &raw,
        &hkid_q,
        dq,
        &dq_plain,
    )
    .await;
    kwan.share(dq, &share_with("dr.wong", None)).await?;
    let events = privacy.inbox(0).await?;
    check!(
        events.iter().any(|e| e.event
            == EventKind::BreakGlass {
                patient_id: q.id(),
                by: world.id("dr.kwan"),
            }),
        "the privacy officer is notified of the break-glass: {events:?}"
    );

    // --- Guessed ids.
    let guessed = DocumentId::new();
    check_api(
        chan.open_document(guessed).await,
        ErrorCode::NotFound,
        "guessed id: open",
    );
    assert_problem(
        raw.content(guessed, Some(&token(&chan))).await,
        ErrorCode::NotFound,
        "guessed id: content",
    );
    assert_problem(
        raw.share(guessed, world.id("dr.wong"), Some(&token(&chan)))
            .await,
        ErrorCode::NotFound,
        "guessed id: share",
    );

    // --- The expired grant (dr.ho on D1).
    // The hub's clock moves past the expiry (no waiting).
    hub.clock.advance(3601);
    assert_no_reads(
        "dr.ho after expiry",
        &ho,
        &raw,
        &hkid_p,
        d1,
        TimelineExpect::Absent,
        ErrorCode::Forbidden,
    )
    .await;
    assert_problem(
        raw.share(d1, world.id("dr.wong"), Some(&token(&ho))).await,
        ErrorCode::Forbidden,
        "expired grantee shares",
    );

    // --- The access log holds the decisions.
    let id = |h: &str| world.id(h).to_string();
    let denied = [
        (
            "document.fetch-content",
            id("dr.wong"),
            Some(d2),
            "no-basis",
        ),
        (
            "document.fetch-manifest",
            id("dr.wong"),
            Some(d2),
            "no-basis",
        ),
        ("document.share", id("dr.wong"), Some(d1), "no-basis"),
        ("document.share", id("dr.wong"), Some(d2), "no-basis"),
        (
            "document.fetch-content",
            id("dr.wong"),
            Some(dr),
            "no-basis",
        ),
        (
            "document.fetch-manifest",
            id("dr.leung"),
            Some(d1),
            "no-basis",
        ),
        (
            "document.fetch-content",
            id("dr.leung"),
            Some(d1),
            "no-basis",
        ),
        ("document.share", id("dr.leung"), Some(d1), "no-basis"),
        ("document.fetch-content", id("dt.lam"), Some(d1), "no-basis"),
        ("document.share", id("dt.lam"), Some(d1), "no-basis"),
        ("document.fetch-content", id("dt.lam"), Some(dr), "no-basis"),
        (
            "document.fetch-manifest",
            pending.id().to_string(),
            Some(d1),
            "not-certified",
        ),
        (
            "document.fetch-content",
            pending.id().to_string(),
            Some(d1),
            "not-certified",
        ),
        (
            "document.fetch-manifest",
            id("privacy.kph"),
            Some(dq),
            "no-basis",
        ),
        (
            "document.fetch-content",
            id("privacy.kph"),
            Some(dq),
            "no-basis",
        ),
        (
            "document.fetch-content",
            id("dr.kwan"),
            Some(dq),
            "no-basis",
        ),
        ("document.fetch-manifest", id("dr.ho"), Some(d1), "no-basis"),
        ("document.fetch-content", id("dr.ho"), Some(d1), "no-basis"),
        ("document.share", id("dr.ho"), Some(d1), "no-basis"),
        (
            "document.fetch-manifest",
            id("dr.chan"),
            None,
            "no-such-document",
        ),
        (
            "document.fetch-content",
            id("dr.chan"),
            None,
            "no-such-document",
        ),
        (
            "patient.search",
            id("privacy.kph"),
            None,
            "not-a-certified-clinician",
        ),
        (
            "patient.search",
            pending.id().to_string(),
            None,
            "not-a-certified-clinician",
        ),
    ];
    let allowed = [
        (
            "document.fetch-content",
            id("dr.chan"),
            Some(d1),
            "uploader",
        ),
        ("document.fetch-content", id("dr.wong"), Some(d1), "grant"),
        ("document.fetch-content", id("dr.ho"), Some(d1), "grant"),
        (
            "document.fetch-content",
            id("dt.lam"),
            Some(d1),
            "care-relationship",
        ),
        (
            "document.fetch-content",
            id("dr.kwan"),
            Some(dq),
            "break-glass",
        ),
        ("document.share", id("dr.kwan"), Some(dq), "break-glass"),
        ("break-glass", id("dr.kwan"), None, "break-glass"),
    ];
    {
        // Read through the store itself, whichever backend the hub runs on.
        let log = medshare_store::open(&db_url)
            .await?
            .audit_entries(0, 1_000_000)
            .await?;
        let log: Vec<_> = log.into_iter().map(|l| l.entry).collect();
        for (outcome, rows) in [("denied", &denied[..]), ("allowed", &allowed[..])] {
            for (action, actor, doc, basis) in rows {
                let n = log
                    .iter()
                    .filter(|e| {
                        e.action == *action
                            && e.actor.map(|a| a.to_string()).as_deref() == Some(actor.as_str())
                            && e.document == *doc
                            && e.outcome == outcome
                            && e.purpose == *basis
                            && e.institution.is_some()
                            && e.at > 0
                    })
                    .count();
                check!(
                    n >= 1,
                    "access_log lacks {outcome} {action} by {actor} on {doc:?} ({basis})"
                );
            }
        }
        // Denied searches name the patient they were about (dt.lam before care).
        let n = log
            .iter()
            .filter(|e| {
                e.action == "patient.search"
                    && e.actor.map(|a| a.to_string()) == Some(id("dt.lam"))
                    && e.patient.map(|p| p.to_string()) == Some(p.id().to_string())
                    && e.outcome == "denied"
                    && e.purpose == "no-basis"
            })
            .count();
        check!(n >= 1, "dt.lam's refused search is logged");
    }

    // --- The access log is append-only.
    hub.stop().await?;
    assert_access_log_append_only(&db_url).await?;
    Ok(())
}

/// Raw SQL on the hub's database, whichever backend, to try what the store never does.
enum RawDb {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl RawDb {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        Ok(if url.starts_with("sqlite:") {
            let path = url.trim_start_matches("sqlite://");
            RawDb::Sqlite(
                SqliteConnectOptions::new()
                    .filename(path)
                    .busy_timeout(Duration::from_secs(10))
                    .connect()
                    .await?,
            )
        } else {
            RawDb::Pg(sqlx::PgConnection::connect(url).await?)
        })
    }
    async fn count(&mut self, sql: &'static str) -> anyhow::Result<i64> {
        Ok(match self {
            RawDb::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await?,
            RawDb::Pg(c) => sqlx::query_scalar(sql).fetch_one(c).await?,
        })
    }
    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            RawDb::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
            RawDb::Pg(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
        }
    }
    async fn close(self) -> anyhow::Result<()> {
        match self {
            RawDb::Sqlite(c) => c.close().await?,
            RawDb::Pg(c) => c.close().await?,
        }
        Ok(())
    }
}

async fn assert_access_log_append_only(url: &str) -> anyhow::Result<()> {
    let mut rw = RawDb::connect(url).await?;
    let total = rw.count("SELECT COUNT(*) FROM access_log").await?;
    let denied = rw
        .count("SELECT COUNT(*) FROM access_log WHERE outcome = 'denied'")
        .await?;
    check!(total > 0 && denied > 0);
    for sql in [
        "UPDATE access_log SET outcome = 'allowed' WHERE outcome = 'denied'",
        "UPDATE access_log SET actor = NULL",
        "DELETE FROM access_log WHERE outcome = 'denied'",
        "DELETE FROM access_log",
    ] {
        let err = rw
            .exec(sql)
            .await
            .expect_err("the access log refuses edits");
        check!(
            err.to_string().contains("append-only"),
            "{sql}: refused by the trigger, got {err}"
        );
    }
    let total_after = rw.count("SELECT COUNT(*) FROM access_log").await?;
    let denied_after = rw
        .count("SELECT COUNT(*) FROM access_log WHERE outcome = 'denied'")
        .await?;
    check_eq!((total_after, denied_after), (total, denied));
    rw.close().await?;
    Ok(())
}

/// Revoking a share that does not exist must change nothing. The hub's `revoke_grant` deletes
/// the named practitioner's document key wrap whether or not a grant row was revoked, so a
/// clinician with patient-wide access who "revokes" the uploader destroys the uploader's only
/// key to a document they uploaded for a patient whose consent their institution does not
/// hold (the call still answers 404).
#[test]
fn revoking_a_share_that_does_not_exist_changes_nothing_sqlite_folder() -> anyhow::Result<()> {
    run_matrix(|| revoking_a_share_that_does_not_exist_changes_nothing(Backend::SqliteFolder))
}

#[test]
fn revoking_a_share_that_does_not_exist_changes_nothing_postgres_s3() -> anyhow::Result<()> {
    run_matrix(|| revoking_a_share_that_does_not_exist_changes_nothing(Backend::PostgresS3))
}

async fn revoking_a_share_that_does_not_exist_changes_nothing(
    backend: Backend,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let (chan, wong) = tokio::try_join!(world.login("dr.chan"), world.login("dr.wong"))?;
    let (_, hkid) = random_hkid();
    chan.ensure_patient(&hkid, &card("LEE Siu Ming")).await?;
    // The cardiologist adds a report to the clinic's patient: PPH holds no consent, so the
    // uploader's own key wrap is their only way in.
    let p_for_wong = wong.find_patient(&hkid).await?.expect("patient exists");
    let plain = b"%PDF-1.4 cardiology opinion".to_vec();
    let doc = wong
        .upload(
            Cursor::new(plain.clone()),
            &p_for_wong,
            meta("Cardiology opinion", "opinion.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    let opened = wong.open_document(doc).await?;
    check!(download_vec(&wong, &opened).await? == plain);

    // dr.chan (care + consent for the patient) may manage the document's shares; dr.wong holds
    // no share, so there is nothing to revoke.
    check!(chan.grants(doc).await?.is_empty());
    check_api(
        chan.revoke(doc, &"dr.wong".parse().unwrap()).await,
        ErrorCode::NotFound,
        "revoking a share that does not exist",
    );

    // The uploader must still be able to open their document.
    let opened = wong.open_document(doc).await?;
    check!(download_vec(&wong, &opened).await? == plain);
    hub.stop().await
}

/// A non-clinician must not read clinical documents even if a clinician declares a care
/// relationship for them: `declare_care` accepts any certified colleague as the target, and
/// `policy::patient_access` never looks at roles, so a privacy officer (or an administrator)
/// with a declared care relationship is served the document view, its patient-key wraps and
/// the ciphertext, logged as an allowed `care-relationship` read.
#[test]
fn non_clinician_with_declared_care_is_still_denied_sqlite_folder() -> anyhow::Result<()> {
    run_matrix(|| non_clinician_with_declared_care_is_still_denied(Backend::SqliteFolder))
}

#[test]
fn non_clinician_with_declared_care_is_still_denied_postgres_s3() -> anyhow::Result<()> {
    run_matrix(|| non_clinician_with_declared_care_is_still_denied(Backend::PostgresS3))
}

async fn non_clinician_with_declared_care_is_still_denied(backend: Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let hub = TestHub::start(backend.config(dir.path())).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let raw = Raw::new(&hub.url);
    let (ho, privacy) = tokio::try_join!(world.login("dr.ho"), world.login("privacy.kph"))?;
    let (_, hkid) = random_hkid();
    let q = ho.ensure_patient(&hkid, &card("YEUNG Chun Kit")).await?;
    let doc = ho
        .upload(
            Cursor::new(b"%PDF-1.4 A&E record".to_vec()),
            &q,
            meta("A&E record", "ae.pdf"),
            &[],
            |_| {},
        )
        .await?
        .document_id;
    // Either the declaration is refused or it must not open the documents.
    let declared = ho.declare_care(&q, Some(world.id("privacy.kph"))).await;
    if let Err(e) = &declared {
        check!(
            matches!(e.code(), Some(ErrorCode::BadRequest | ErrorCode::Forbidden)),
            "{e:?}"
        );
    }
    assert_problem(
        raw.view(doc, Some(&token(&privacy))).await,
        ErrorCode::Forbidden,
        "privacy officer with care: view",
    );
    assert_problem(
        raw.content(doc, Some(&token(&privacy))).await,
        ErrorCode::Forbidden,
        "privacy officer with care: content",
    );
    hub.stop().await
}
