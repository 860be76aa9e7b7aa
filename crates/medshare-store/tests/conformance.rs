//! One conformance suite for every `MetadataStore` backend: each contract below runs against
//! SQLite (a temporary file) and PostgreSQL (a throwaway cluster started by the test, one fresh
//! database per test). Covers every trait method, the append-only access log at the SQL level,
//! schema-version refusal and cross-process event notices.

use futures::StreamExt;
use medshare_model::api::{ConsentHolder, Holder, KeyWrap, NewEnrolment, NewGrant};
use medshare_model::registration::{Profession, Role};
use medshare_model::statements::{Signed, StatementKind};
use medshare_model::{
    DocumentId, Handle, InstitutionId, PatientId, PatientRef, PractitionerId, RoomId, UploadId,
};
use medshare_store::*;
use std::sync::{Arc, OnceLock};

static PG: OnceLock<medshare_testsvc::PgCluster> = OnceLock::new();

fn pg() -> &'static medshare_testsvc::PgCluster {
    PG.get_or_init(medshare_testsvc::PgCluster::start)
}

/// A store under test plus raw SQL access to check what the trait cannot show.
struct Fixture {
    store: Arc<dyn MetadataStore>,
    raw: Raw,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        Ok(match self {
            Raw::Sqlite(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
            Raw::Pg(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
        })
    }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let s = SqliteStore::open(&url).await.unwrap();
    Fixture {
        raw: Raw::Sqlite(s.pool().clone()),
        store: Arc::new(s),
        url,
        _dir: Some(dir),
    }
}

async fn postgres() -> Fixture {
    let url = pg().fresh_database("conformance");
    let s = PgStore::connect(&url).await.unwrap();
    s.prepare_schema(OpenMode::Migrate).await.unwrap();
    Fixture {
        raw: Raw::Pg(s.pool().clone()),
        store: Arc::new(s),
        url,
        _dir: None,
    }
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend { $( #[tokio::test] async fn $name() { super::$name(super::sqlite().await).await } )* }
        mod postgres_backend { $( #[tokio::test] async fn $name() { super::$name(super::postgres().await).await } )* }
    };
}

both!(
    alliance_and_root_nonces,
    institutions_enrolment_and_removal,
    sessions,
    patients_consent_care_and_break_glass,
    documents_grants_and_key_wraps,
    document_pages_in_search_order,
    events_and_access_log,
    audit_numbering_is_gap_free_under_concurrency,
    upload_entries_commit_with_the_document,
    access_log_refuses_update_and_delete,
    audit_heads_queries_contacts_and_outbox,
    schema_versions,
    event_notices,
    invalidation_feed,
    login_failures_and_document_claims,
    conflicts_update_in_place_and_never_replace_other_rows,
    undecodable_rows_are_corrupt,
    retention_purges_only_what_expired,
    rooms_order_commits_by_epoch,
    oncall_versions_and_consult_claims,
    released_notifications_are_claimable_at_once,
);

fn signed(kind: StatementKind, payload: &str) -> Signed {
    Signed {
        kind,
        payload: payload.to_string(),
        signer: "k1".into(),
        signature: "sig".into(),
    }
}

fn epoch_statement(kind: StatementKind, epoch: u32) -> Signed {
    signed(kind, &format!("{{\"epoch\":{epoch}}}"))
}

fn new_practitioner(inst: InstitutionId, handle: &str, first_admin: bool) -> NewPractitioner {
    NewPractitioner {
        id: PractitionerId::new(),
        institution_id: inst,
        details: NewEnrolment {
            handle: handle.parse::<Handle>().unwrap(),
            name: format!("Dr {handle}"),
            profession: Profession::Doctor,
            registration: "M12345".into(),
            specialty: None,
            roles: vec![Role::Clinician],
        },
        enrolment_hash: format!("code-{handle}"),
        enrolment_expires: 10_000,
        creates_institution_keys: first_admin,
        created_at: 100,
    }
}

fn institution(code: &str, name: &str) -> InstitutionRow {
    InstitutionRow {
        id: InstitutionId::new(),
        name: name.into(),
        code: code.into(),
        sign_public: None,
        cert: None,
        alliance_wrap: None,
        alliance_wrap_epoch: None,
        created_at: 100,
    }
}

fn redemption(id: PractitionerId, setup: bool) -> Redemption {
    Redemption {
        id,
        kdf: "{}".into(),
        credential_hash: "cred".into(),
        key_bundle: "bundle".into(),
        sign_public: format!("sign-{id}"),
        recipient: format!("age1-{id}"),
        totp_secret: Some("totp".into()),
        institution_setup: setup.then(|| {
            (
                "inst-sign".to_string(),
                epoch_statement(StatementKind::InstitutionEpochKey, 1),
                signed(StatementKind::PractitionerCert, "{}"),
                "keyring-1".to_string(),
            )
        }),
        now: 200,
    }
}

/// An institution with a certified first admin and a second certified clinician.
async fn staffed(
    s: &dyn MetadataStore,
    code: &str,
) -> (InstitutionId, PractitionerId, PractitionerId) {
    let inst = institution(code, &format!("Hospital {code}"));
    let admin = new_practitioner(inst.id, &format!("admin.{}", code.to_lowercase()), true);
    s.create_institution(&inst, &admin).await.unwrap();
    s.redeem_enrolment(&redemption(admin.id, true))
        .await
        .unwrap();
    let doc = new_practitioner(inst.id, &format!("dr.{}", code.to_lowercase()), false);
    s.create_practitioner(&doc).await.unwrap();
    s.redeem_enrolment(&redemption(doc.id, false))
        .await
        .unwrap();
    s.certify_practitioner(
        doc.id,
        &signed(StatementKind::PractitionerCert, "{}"),
        "keyring-doc",
    )
    .await
    .unwrap();
    (inst.id, admin.id, doc.id)
}

fn pref(n: u8) -> PatientRef {
    PatientRef::from_bytes(&[n; 32])
}

async fn patient(
    s: &dyn MetadataStore,
    by: PractitionerId,
    inst: InstitutionId,
    n: u8,
) -> PatientId {
    let p = NewPatientRow {
        id: PatientId::new(),
        refs: vec![pref(n), pref(n + 100)],
        card: "sealed-card".into(),
        key_epoch: epoch_statement(StatementKind::PatientKeyEpoch, 1),
        wraps: vec![PatientKeyWrapRow {
            patient_epoch: 1,
            institution: Some((inst, 1)),
            wrap: "pw-inst".into(),
        }],
        consents: vec![ConsentHolder::Institution { id: inst }],
        created_by: by,
        created_at: 300,
    };
    s.create_patient(&p).await.unwrap();
    p.id
}

async fn alliance_and_root_nonces(f: Fixture) {
    let s = &*f.store;
    assert!(s.alliance().await.unwrap().is_none());
    let key = signed(StatementKind::AllianceKey, "{\"epoch\":1}");
    s.bootstrap("root-pub", &key, 1).await.unwrap();
    let a = s.alliance().await.unwrap().unwrap();
    assert_eq!(
        (a.root_public.as_str(), &a.alliance_key),
        ("root-pub", &key)
    );
    assert!(matches!(
        s.bootstrap("other", &key, 2).await,
        Err(StoreError::Conflict)
    ));
    assert!(s.use_root_nonce("n1", 5).await.unwrap());
    assert!(
        !s.use_root_nonce("n1", 6).await.unwrap(),
        "a nonce is single-use"
    );
    assert!(s.use_root_nonce("n2", 6).await.unwrap());
    s.ping().await.unwrap();
}

async fn institutions_enrolment_and_removal(f: Fixture) {
    let s = &*f.store;
    let b = institution("B", "Beta Clinic");
    let a = institution("A", "Alpha Hospital");
    let b_admin = new_practitioner(b.id, "admin.b", true);
    s.create_institution(&b, &b_admin).await.unwrap();
    s.create_institution(&a, &new_practitioner(a.id, "admin.a", true))
        .await
        .unwrap();
    // Same code again: refused, and nothing of it is kept.
    let dup = institution("A", "Duplicate");
    assert!(matches!(
        s.create_institution(&dup, &new_practitioner(dup.id, "admin.dup", true))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(s.institution(dup.id).await.unwrap().is_none());
    assert!(
        s.practitioner_by_handle(&"admin.dup".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let names: Vec<_> = s
        .institutions()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["Alpha Hospital", "Beta Clinic"]);

    // Invited: found by enrolment code, not yet by status enrolled.
    let p = s
        .practitioner_by_enrolment("code-admin.b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.id, p.status), (b_admin.id, PractitionerStatus::Invited));
    assert!(p.creates_institution_keys);
    assert_eq!(p.details.handle.as_str(), "admin.b");
    assert!(
        s.practitioner_by_enrolment("code-unknown")
            .await
            .unwrap()
            .is_none()
    );

    // The first admin's redemption sets up the institution keys and certifies them.
    s.redeem_enrolment(&redemption(b_admin.id, true))
        .await
        .unwrap();
    let p = s.practitioner(b_admin.id).await.unwrap().unwrap();
    assert_eq!(p.status, PractitionerStatus::Certified);
    assert_eq!(p.keyring_wrap.as_deref(), Some("keyring-1"));
    assert_eq!(p.totp_secret.as_deref(), Some("totp"));
    assert!(
        s.practitioner_by_enrolment("code-admin.b")
            .await
            .unwrap()
            .is_none(),
        "code used up"
    );
    assert!(matches!(
        s.redeem_enrolment(&redemption(b_admin.id, true)).await,
        Err(StoreError::NotFound)
    ));
    let inst = s.institution(b.id).await.unwrap().unwrap();
    assert_eq!(inst.sign_public.as_deref(), Some("inst-sign"));
    assert_eq!(s.institution_epochs(b.id).await.unwrap().len(), 1);

    // A second clinician: enrolled, then certified.
    let d = new_practitioner(b.id, "dr.b", false);
    s.create_practitioner(&d).await.unwrap();
    assert!(matches!(
        s.create_practitioner(&new_practitioner(b.id, "dr.b", false))
            .await,
        Err(StoreError::Conflict)
    ));
    s.redeem_enrolment(&redemption(d.id, false)).await.unwrap();
    assert_eq!(
        s.practitioner(d.id).await.unwrap().unwrap().status,
        PractitionerStatus::Enrolled
    );
    let enrolled = s
        .practitioners_of(b.id, Some(PractitionerStatus::Enrolled))
        .await
        .unwrap();
    assert_eq!(enrolled.iter().map(|p| p.id).collect::<Vec<_>>(), [d.id]);
    assert_eq!(s.practitioners_of(b.id, None).await.unwrap().len(), 2);
    s.certify_practitioner(d.id, &signed(StatementKind::PractitionerCert, "{}"), "kr-d")
        .await
        .unwrap();
    assert!(matches!(
        s.certify_practitioner(
            PractitionerId::new(),
            &signed(StatementKind::PractitionerCert, "{}"),
            "x"
        )
        .await,
        Err(StoreError::NotFound)
    ));

    // The root certifies the institution.
    s.certify_institution(
        b.id,
        &signed(StatementKind::InstitutionCert, "{}"),
        "aw-1",
        1,
    )
    .await
    .unwrap();
    let inst = s.institution(b.id).await.unwrap().unwrap();
    assert_eq!(
        (inst.alliance_wrap.as_deref(), inst.alliance_wrap_epoch),
        (Some("aw-1"), Some(1))
    );
    assert!(inst.cert.is_some());
    assert!(matches!(
        s.certify_institution(
            InstitutionId::new(),
            &signed(StatementKind::InstitutionCert, "{}"),
            "x",
            1
        )
        .await,
        Err(StoreError::NotFound)
    ));

    s.set_login_failures(d.id, 3, Some(999)).await.unwrap();
    let p = s.practitioner(d.id).await.unwrap().unwrap();
    assert_eq!((p.failed_logins, p.locked_until), (3, Some(999)));
    // A session opens after a successful login: the failures and lock are cleared with it.
    s.create_session(&SessionRow {
        token_hash: "t-d-login".into(),
        practitioner_id: d.id,
        created_at: 1,
        expires_at: 10_000,
        revoked: false,
    })
    .await
    .unwrap();
    let p = s.practitioner(d.id).await.unwrap().unwrap();
    assert_eq!((p.failed_logins, p.locked_until), (0, None));

    // Removal: status, sessions revoked, new epoch, re-wrapped keyrings, alliance wrap.
    s.create_session(&SessionRow {
        token_hash: "t-d".into(),
        practitioner_id: d.id,
        created_at: 1,
        expires_at: 10_000,
        revoked: false,
    })
    .await
    .unwrap();
    let removal = Removal {
        practitioner: d.id,
        institution: b.id,
        new_epoch: 2,
        statement: epoch_statement(StatementKind::InstitutionEpochKey, 2),
        revocation: signed(StatementKind::PractitionerRevocation, "{}"),
        keyrings: vec![(b_admin.id, "keyring-2".into())],
        alliance_wrap: "aw-2".into(),
        now: 500,
    };
    s.remove_practitioner(&removal).await.unwrap();
    let p = s.practitioner(d.id).await.unwrap().unwrap();
    assert_eq!(p.revocation.as_ref(), Some(&removal.revocation));
    assert_eq!(p.status, PractitionerStatus::Removed);
    assert!(p.keyring_wrap.is_none());
    assert!(s.session("t-d").await.unwrap().unwrap().revoked);
    assert_eq!(s.institution_epochs(b.id).await.unwrap().len(), 2);
    assert_eq!(
        s.practitioner(b_admin.id)
            .await
            .unwrap()
            .unwrap()
            .keyring_wrap
            .as_deref(),
        Some("keyring-2")
    );
    assert_eq!(
        s.institution(b.id)
            .await
            .unwrap()
            .unwrap()
            .alliance_wrap_epoch,
        Some(2)
    );
    assert!(matches!(
        s.remove_practitioner(&removal).await,
        Err(StoreError::NotFound)
    ));
}

async fn sessions(f: Fixture) {
    let s = &*f.store;
    let (_, admin, _) = staffed(s, "S").await;
    let row = SessionRow {
        token_hash: "h1".into(),
        practitioner_id: admin,
        created_at: 10,
        expires_at: 20,
        revoked: false,
    };
    s.create_session(&row).await.unwrap();
    assert!(matches!(
        s.create_session(&row).await,
        Err(StoreError::Conflict)
    ));
    let got = s.session("h1").await.unwrap().unwrap();
    assert_eq!(
        (got.practitioner_id, got.expires_at, got.revoked),
        (admin, 20, false)
    );
    s.revoke_session("h1").await.unwrap();
    assert!(s.session("h1").await.unwrap().unwrap().revoked);
    assert!(s.session("nope").await.unwrap().is_none());
}

async fn patients_consent_care_and_break_glass(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "P").await;
    let (other, _, other_doc) = staffed(s, "Q").await;
    let id = patient(s, admin, inst, 1).await;
    assert_eq!(
        s.patient_by_refs(&[pref(9), pref(101)]).await.unwrap(),
        Some(id)
    );
    assert_eq!(s.patient_by_refs(&[pref(9)]).await.unwrap(), None);
    let row = s.patient(id).await.unwrap().unwrap();
    assert_eq!(
        (row.card.as_str(), row.created_by, row.created_at),
        ("sealed-card", admin, 300)
    );
    // A reference already known: refused whole.
    let clash = NewPatientRow {
        id: PatientId::new(),
        refs: vec![pref(50), pref(1)],
        card: "c".into(),
        key_epoch: epoch_statement(StatementKind::PatientKeyEpoch, 1),
        wraps: vec![],
        consents: vec![],
        created_by: admin,
        created_at: 1,
    };
    assert!(matches!(
        s.create_patient(&clash).await,
        Err(StoreError::Conflict)
    ));
    assert!(s.patient(clash.id).await.unwrap().is_none());
    assert_eq!(s.patient_by_refs(&[pref(50)]).await.unwrap(), None);

    assert_eq!(s.patient_key_epochs(id).await.unwrap().len(), 1);
    assert_eq!(
        s.consents(id).await.unwrap(),
        [ConsentHolder::Institution { id: inst }]
    );
    assert_eq!(
        s.patient_key_wraps(id, &[inst], false).await.unwrap().len(),
        1
    );
    assert!(
        s.patient_key_wraps(id, &[other], true)
            .await
            .unwrap()
            .is_empty()
    );

    // Consent to the alliance: wrap for the alliance; granting twice replaces.
    let alliance_wrap = PatientKeyWrapRow {
        patient_epoch: 1,
        institution: None,
        wrap: "pw-all".into(),
    };
    s.grant_consent(
        id,
        &ConsentHolder::Alliance,
        2,
        &epoch_statement(StatementKind::PatientKeyEpoch, 2),
        std::slice::from_ref(&alliance_wrap),
        admin,
        400,
    )
    .await
    .unwrap();
    let again = PatientKeyWrapRow {
        wrap: "pw-all-2".into(),
        ..alliance_wrap.clone()
    };
    s.grant_consent(
        id,
        &ConsentHolder::Alliance,
        3,
        &epoch_statement(StatementKind::PatientKeyEpoch, 3),
        std::slice::from_ref(&again),
        admin,
        401,
    )
    .await
    .unwrap();
    assert_eq!(s.consents(id).await.unwrap().len(), 2);
    assert_eq!(s.patient_key_wraps(id, &[], true).await.unwrap(), [again]);

    // Revoking the alliance consent: its wraps go, a new epoch with new wraps comes.
    let new_wraps = [PatientKeyWrapRow {
        patient_epoch: 4,
        institution: Some((inst, 1)),
        wrap: "pw-4".into(),
    }];
    s.revoke_consent(
        id,
        &ConsentHolder::Alliance,
        4,
        &epoch_statement(StatementKind::PatientKeyEpoch, 4),
        &new_wraps,
        500,
    )
    .await
    .unwrap();
    assert!(s.patient_key_wraps(id, &[], true).await.unwrap().is_empty());
    let mine = s.patient_key_wraps(id, &[inst], false).await.unwrap();
    assert_eq!(
        mine.iter().map(|w| w.patient_epoch).collect::<Vec<_>>(),
        [1, 4]
    );
    assert_eq!(s.patient_key_epochs(id).await.unwrap().len(), 4);
    assert!(matches!(
        s.revoke_consent(
            id,
            &ConsentHolder::Alliance,
            5,
            &epoch_statement(StatementKind::PatientKeyEpoch, 5),
            &[],
            600
        )
        .await,
        Err(StoreError::NotFound)
    ));

    // Care: the creator has it; adding is idempotent.
    assert!(s.has_care(id, admin).await.unwrap());
    assert!(!s.has_care(id, doc).await.unwrap());
    s.add_care(id, doc, admin, 700).await.unwrap();
    s.add_care(id, doc, admin, 701).await.unwrap();
    assert!(s.has_care(id, doc).await.unwrap());
    let mut team = vec![admin, doc];
    team.sort();
    assert_eq!(s.care_team(id).await.unwrap(), team);

    // Break-glass: active until it expires.
    assert!(!s.break_glass_active(id, other_doc, 800).await.unwrap());
    s.open_break_glass(id, other_doc, "sealed-reason", 1, 800, 900)
        .await
        .unwrap();
    assert!(s.break_glass_active(id, other_doc, 899).await.unwrap());
    assert!(!s.break_glass_active(id, other_doc, 900).await.unwrap());
    assert!(!s.break_glass_active(id, doc, 850).await.unwrap());
}

fn doc_row(
    id: DocumentId,
    patient: PatientId,
    uploader: PractitionerId,
    inst: InstitutionId,
    at: i64,
) -> DocumentRow {
    DocumentRow {
        id,
        patient_id: patient,
        uploader,
        institution_id: inst,
        size: 1234,
        ciphertext_sha256: "ab".repeat(32),
        manifest: "sealed-manifest".into(),
        binding: signed(StatementKind::DocumentBinding, "{}"),
        created_at: at,
    }
}

async fn stage(s: &dyn MetadataStore, by: PractitionerId, at: i64) -> UploadId {
    let id = UploadId::new();
    s.stage_upload(&StagedUploadRow {
        id,
        practitioner_id: by,
        size: 1234,
        sha256: "ab".repeat(32),
        blake3: Some("cd".repeat(32)),
        created_at: at,
    })
    .await
    .unwrap();
    let back = s.staged_upload(id).await.unwrap().unwrap();
    assert_eq!(
        (back.sha256, back.blake3),
        ("ab".repeat(32), Some("cd".repeat(32)))
    );
    id
}

async fn documents_grants_and_key_wraps(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "D").await;
    let p = patient(s, admin, inst, 3).await;

    // Staging.
    let u1 = stage(s, admin, 10).await;
    let got = s.staged_upload(u1).await.unwrap().unwrap();
    assert_eq!(
        (got.practitioner_id, got.size, got.created_at),
        (admin, 1234, 10)
    );
    let u_old = stage(s, admin, 5).await;
    assert_eq!(s.stale_staged_uploads(8).await.unwrap(), [u_old]);
    s.delete_staged_upload(u_old).await.unwrap();
    assert!(s.staged_upload(u_old).await.unwrap().is_none());

    // Commit consumes the staged row, once.
    let d1 = DocumentId::new();
    let wraps = [
        KeyWrap {
            holder: Holder::Practitioner { id: admin },
            wrap: "dw-admin".into(),
        },
        KeyWrap {
            holder: Holder::Patient { epoch: 1 },
            wrap: "dw-patient".into(),
        },
    ];
    let grants = [NewGrant {
        grantee: doc,
        wrap: "dw-doc".into(),
        expires_at: None,
    }];
    s.commit_document(&doc_row(d1, p, admin, inst, 100), &wraps, &grants, u1, 100)
        .await
        .unwrap();
    assert!(s.staged_upload(u1).await.unwrap().is_none());
    assert!(matches!(
        s.commit_document(
            &doc_row(DocumentId::new(), p, admin, inst, 100),
            &wraps,
            &[],
            u1,
            100
        )
        .await,
        Err(StoreError::NotFound)
    ));
    // A failed commit leaves nothing behind (the staged row stays for a retry).
    let u2 = stage(s, admin, 11).await;
    let bad = [KeyWrap {
        holder: Holder::Alliance,
        wrap: "x".into(),
    }];
    let d_bad = DocumentId::new();
    assert!(
        s.commit_document(&doc_row(d_bad, p, admin, inst, 100), &bad, &[], u2, 100)
            .await
            .is_err()
    );
    assert!(s.document(d_bad).await.unwrap().is_none());
    assert!(s.staged_upload(u2).await.unwrap().is_some());

    // Two more documents, one in the same second as d1: newest first, then latest committed.
    let d2 = DocumentId::new();
    s.commit_document(&doc_row(d2, p, admin, inst, 100), &wraps[..1], &[], u2, 100)
        .await
        .unwrap();
    let d3 = DocumentId::new();
    let u3 = stage(s, admin, 12).await;
    s.commit_document(&doc_row(d3, p, admin, inst, 50), &wraps[..1], &[], u3, 50)
        .await
        .unwrap();
    let order: Vec<_> = s
        .documents_of_patient(p)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(order, [d2, d1, d3]);
    let got = s.document(d1).await.unwrap().unwrap();
    assert_eq!(
        (got.patient_id, got.size, got.manifest.as_str()),
        (p, 1234, "sealed-manifest")
    );
    let mut ids = s.document_ids().await.unwrap();
    ids.sort();
    let mut want = vec![d1, d2, d3];
    want.sort();
    assert_eq!(ids, want);

    // Key wraps: the caller's own and the patient's, never another practitioner's.
    let for_doc = s.document_key_wraps(&[d1, d2], doc).await.unwrap();
    let mut holders: Vec<_> = for_doc.iter().map(|(d, w)| (*d, w.wrap.clone())).collect();
    holders.sort();
    let mut expect = vec![(d1, "dw-doc".to_string()), (d1, "dw-patient".to_string())];
    expect.sort();
    assert_eq!(holders, expect);
    // Many ids at once (beyond any bound-parameter chunking).
    let many: Vec<_> = (0..450).map(|_| DocumentId::new()).chain([d1]).collect();
    assert_eq!(s.document_key_wraps(&many, admin).await.unwrap().len(), 2);

    // Grants.
    let g = s.grant(d1, doc).await.unwrap().unwrap();
    assert_eq!(
        (g.granted_by, g.granted_at, g.revoked_at),
        (admin, 100, None)
    );
    assert!(g.is_live(1_000));
    assert_eq!(s.grants_on_patient(p, doc).await.unwrap().len(), 1);
    assert_eq!(s.grants_of_document(d1).await.unwrap().len(), 1);
    let expires = time::OffsetDateTime::from_unix_timestamp(5_000).unwrap();
    s.put_grant(
        d2,
        &NewGrant {
            grantee: doc,
            wrap: "dw2-doc".into(),
            expires_at: Some(expires),
        },
        admin,
        200,
    )
    .await
    .unwrap();
    let g2 = s.grant(d2, doc).await.unwrap().unwrap();
    assert_eq!(g2.expires_at, Some(5_000));
    assert!(!g2.is_live(5_000));
    assert_eq!(s.grants_on_patient(p, doc).await.unwrap().len(), 2);

    // Revoke: the grant and the grantee's wrap go, the uploader's wrap stays.
    assert!(s.revoke_grant(d1, doc, 300).await.unwrap());
    assert_eq!(
        s.grant(d1, doc).await.unwrap().unwrap().revoked_at,
        Some(300)
    );
    assert!(
        !s.revoke_grant(d1, doc, 301).await.unwrap(),
        "nothing live to revoke"
    );
    assert!(!s.revoke_grant(d1, admin, 301).await.unwrap());
    let left = s.document_key_wraps(&[d1], admin).await.unwrap();
    assert!(left.iter().any(|(_, w)| w.wrap == "dw-admin"));
    assert!(
        s.document_key_wraps(&[d1], doc)
            .await
            .unwrap()
            .iter()
            .all(|(_, w)| w.wrap != "dw-doc")
    );
    // Renewing a revoked grant makes it live again with the new wrap.
    s.put_grant(
        d1,
        &NewGrant {
            grantee: doc,
            wrap: "dw-doc-2".into(),
            expires_at: None,
        },
        admin,
        400,
    )
    .await
    .unwrap();
    assert!(s.grant(d1, doc).await.unwrap().unwrap().is_live(401));
    assert!(
        s.document_key_wraps(&[d1], doc)
            .await
            .unwrap()
            .iter()
            .any(|(_, w)| w.wrap == "dw-doc-2")
    );
}

/// Search pages: newest first by `(created_at, id)` with ids in byte order, a cursor resumes
/// strictly after its position, and the `since` / own-or-shared filters narrow as documented.
async fn document_pages_in_search_order(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "P").await;
    let p = patient(s, admin, inst, 3).await;
    let other = patient(s, admin, inst, 4).await;
    // Nine documents, five of them in one second (ties broken by id); one of `doc`'s own;
    // one of another patient, never listed.
    let times = [100, 300, 300, 300, 300, 300, 200, 400, 50];
    let mut all = Vec::new();
    for (n, at) in times.into_iter().enumerate() {
        let by = if n == 6 { doc } else { admin };
        let id = DocumentId::new();
        let u = stage(s, by, at).await;
        s.commit_document(&doc_row(id, p, by, inst, at), &[], &[], u, at)
            .await
            .unwrap();
        all.push((at, id, by));
    }
    let u = stage(s, admin, 300).await;
    s.commit_document(
        &doc_row(DocumentId::new(), other, admin, inst, 300),
        &[],
        &[],
        u,
        300,
    )
    .await
    .unwrap();
    // Grants to `doc`: one at 150, one at 500 (then revoked: still "ever shared").
    let share = |i: usize| all[i].1;
    for (i, at) in [(0, 150), (8, 500)] {
        let g = NewGrant {
            grantee: doc,
            wrap: "w".into(),
            expires_at: None,
        };
        s.put_grant(share(i), &g, admin, at).await.unwrap();
    }
    assert!(s.revoke_grant(share(8), doc, 600).await.unwrap());

    let mut order = all.clone();
    order.sort_by_key(|d| std::cmp::Reverse((d.0, d.1)));
    let ids = |v: &[(i64, DocumentId, PractitionerId)]| v.iter().map(|d| d.1).collect::<Vec<_>>();
    let heads: Vec<_> = s
        .document_heads(p)
        .await
        .unwrap()
        .iter()
        .map(|h| (h.created_at, h.id, h.uploader))
        .collect();
    assert_eq!(heads, order);

    let walk = |since: Option<(i64, PractitionerId)>, own: Option<PractitionerId>, size: u32| async move {
        let mut q = DocumentPage {
            patient: p,
            after: None,
            since,
            own_or_shared: own,
            limit: size,
        };
        let mut got = Vec::new();
        loop {
            let rows = s.documents_page(&q).await.unwrap();
            assert!(rows.len() <= size as usize);
            let done = rows.len() < size as usize;
            q.after = rows.last().map(|d| (d.created_at, d.id));
            got.extend(rows.iter().map(|d| d.id));
            if done {
                return got;
            }
        }
    };
    for size in [1, 2, 3, 4, 9, 10] {
        assert_eq!(walk(None, None, size).await, ids(&order), "pages of {size}");
    }
    // Resuming inside the run of equal times.
    let q = DocumentPage {
        patient: p,
        after: Some((order[2].0, order[2].1)),
        since: None,
        own_or_shared: None,
        limit: 2,
    };
    let rows: Vec<_> = s
        .documents_page(&q)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(rows, ids(&order[3..5]));
    // Filed at or after 300, or shared with `doc` at or after 300 (the revoked share at 500).
    let since: Vec<_> = order
        .iter()
        .filter(|d| d.0 >= 300 || d.1 == share(8))
        .copied()
        .collect();
    assert_eq!(walk(Some((300, doc)), None, 2).await, ids(&since));
    // Another viewer: only what was filed since.
    let filed: Vec<_> = order.iter().filter(|d| d.0 >= 300).copied().collect();
    assert_eq!(walk(Some((300, admin)), None, 3).await, ids(&filed));
    // Uploaded by or ever shared with `doc`.
    let own: Vec<_> = order
        .iter()
        .filter(|d| d.2 == doc || d.1 == share(0) || d.1 == share(8))
        .copied()
        .collect();
    assert_eq!(own.len(), 3);
    assert_eq!(walk(None, Some(doc), 1).await, ids(&own));
    assert_eq!(
        walk(Some((160, doc)), Some(doc), 5).await,
        ids(&own
            .iter()
            .filter(|d| d.0 >= 160 || d.1 == share(8))
            .copied()
            .collect::<Vec<_>>())
    );
}

fn access(at: i64, action: &str, actor: Option<PractitionerId>) -> medshare_audit::Entry {
    medshare_audit::Entry {
        at,
        actor,
        institution: None,
        action: action.into(),
        document: Some(DocumentId::new()),
        patient: None,
        outcome: "allowed".into(),
        purpose: "grant".into(),
        detail: None,
    }
}

async fn events_and_access_log(f: Fixture) {
    let s = &*f.store;
    let (a, b) = (PractitionerId::new(), PractitionerId::new());
    let s1 = s.push_event(a, 10, "{\"e\":1}").await.unwrap();
    let s2 = s.push_event(b, 11, "{\"e\":2}").await.unwrap();
    let s3 = s.push_event(a, 12, "{\"e\":3}").await.unwrap();
    assert!(s1 < s2 && s2 < s3);
    let mine = s.events_since(a, 0, 10).await.unwrap();
    assert_eq!(mine.iter().map(|e| e.seq).collect::<Vec<_>>(), [s1, s3]);
    assert_eq!(mine[1].body, "{\"e\":3}");
    assert_eq!(s.events_since(a, s1, 10).await.unwrap().len(), 1);
    assert_eq!(s.events_since(a, 0, 1).await.unwrap().len(), 1);
    // One event to several recipients in one transaction: numbered after the others, in order.
    let many = s.push_events(&[b, a], 13, "{\"e\":4}").await.unwrap();
    assert_eq!(many.len(), 2);
    assert!(s3 < many[0] && many[0] < many[1]);
    assert_eq!(s.events_since(a, s3, 10).await.unwrap()[0].seq, many[1]);
    assert_eq!(
        s.events_since(b, s2, 10).await.unwrap()[0].body,
        "{\"e\":4}"
    );
    assert!(s.push_events(&[], 14, "{}").await.unwrap().is_empty());

    // Entries are numbered 1, 2, 3 ... across batches, each with its leaf recorded.
    let first = s
        .append_audit(&[
            access(100, "download", Some(a)),
            access(101, "download", Some(a)),
        ])
        .await
        .unwrap();
    assert_eq!(first.iter().map(|l| l.seq).collect::<Vec<_>>(), [1, 2]);
    for i in 2..5 {
        s.append_audit(&[access(100 + i, "download", Some(a))])
            .await
            .unwrap();
    }
    let all = s.audit_entries(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(all[0], first[0]);
    assert_eq!(all[0].entry.actor, Some(a));
    assert_eq!(all[0].entry.at, 100);
    for l in &all {
        assert_eq!(l.recorded_leaf(), Some(l.entry.leaf()));
    }
    let page = s.audit_entries(all[1].seq, 2).await.unwrap();
    assert_eq!(page, all[2..4]);
}

/// Concurrent appenders (as several replicas would be) still number without gaps or repeats.
async fn audit_numbering_is_gap_free_under_concurrency(f: Fixture) {
    let mut tasks = Vec::new();
    for w in 0..4 {
        let s = f.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                s.append_audit(&[access(w * 100 + i, "search", None), access(1, "x", None)])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = f.store.audit_entries(0, 1000).await.unwrap();
    assert_eq!(all.len(), 80);
    assert!(all.iter().enumerate().all(|(i, l)| l.seq == i as i64 + 1));
}

/// An upload's entries are appended in its metadata transaction: numbered after (and between)
/// the appender's batches without gaps, and absent when the commit fails.
async fn upload_entries_commit_with_the_document(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, _) = staffed(s, "U").await;
    let p = patient(s, admin, inst, 4).await;
    let wraps = [KeyWrap {
        holder: Holder::Practitioner { id: admin },
        wrap: "dw-admin".into(),
    }];
    s.append_audit(&[access(1, "login", Some(admin))])
        .await
        .unwrap();
    let upload = |d: DocumentId| medshare_audit::Entry {
        document: Some(d),
        patient: Some(p),
        ..access(2, "document.upload", Some(admin))
    };
    let d1 = DocumentId::new();
    let u1 = stage(s, admin, 10).await;
    let logged = s
        .commit_document_logged(
            &doc_row(d1, p, admin, inst, 10),
            &wraps,
            &[],
            u1,
            10,
            &[upload(d1), access(2, "document.share", Some(admin))],
        )
        .await
        .unwrap();
    assert_eq!(logged.iter().map(|l| l.seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(logged[0].entry.document, Some(d1));
    assert!(s.document(d1).await.unwrap().is_some());

    // A commit that fails (no staged upload any more; a refused key wrap) records nothing.
    let d2 = DocumentId::new();
    assert!(matches!(
        s.commit_document_logged(
            &doc_row(d2, p, admin, inst, 11),
            &wraps,
            &[],
            u1,
            11,
            &[upload(d2)]
        )
        .await,
        Err(StoreError::NotFound)
    ));
    let u2 = stage(s, admin, 12).await;
    let bad = [KeyWrap {
        holder: Holder::Alliance,
        wrap: "x".into(),
    }];
    assert!(
        s.commit_document_logged(
            &doc_row(d2, p, admin, inst, 12),
            &bad,
            &[],
            u2,
            12,
            &[upload(d2)]
        )
        .await
        .is_err()
    );
    assert!(s.document(d2).await.unwrap().is_none());

    // Interleaved with concurrent appends, numbering stays gap-free.
    let mut tasks = Vec::new();
    for w in 0..3 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                store
                    .append_audit(&[access(w * 10 + i, "search", None)])
                    .await
                    .unwrap();
            }
        }));
    }
    for i in 0..5 {
        let d = DocumentId::new();
        let u = stage(s, admin, 20 + i).await;
        let logged = s
            .commit_document_logged(
                &doc_row(d, p, admin, inst, 20 + i),
                &wraps,
                &[],
                u,
                20,
                &[upload(d)],
            )
            .await
            .unwrap();
        assert_eq!(logged.len(), 1);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.audit_entries(0, 1000).await.unwrap();
    assert_eq!(all.len(), 3 + 15 + 5);
    assert!(all.iter().enumerate().all(|(i, l)| l.seq == i as i64 + 1));
    assert_eq!(
        all.iter()
            .filter(|l| l.entry.action == "document.upload")
            .count(),
        6
    );
    assert!(all.iter().all(|l| l.entry.document != Some(d2)));
    for l in &all {
        assert_eq!(l.recorded_leaf(), Some(l.entry.leaf()));
    }
}

async fn access_log_refuses_update_and_delete(f: Fixture) {
    f.store
        .append_audit(&[access(1, "login", None), access(2, "search", None)])
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let head = medshare_audit::TreeHead::new(
        medshare_audit::Root {
            size: 2,
            hash: [1; 32],
        },
        3,
    )
    .sign(&key);
    f.store.put_audit_head(&head).await.unwrap();
    let before = f.store.audit_entries(0, 10).await.unwrap();
    for sql in [
        "UPDATE access_log SET outcome = 'denied'",
        "UPDATE access_log SET at = at + 1 WHERE seq = (SELECT MIN(seq) FROM access_log)",
        "DELETE FROM access_log",
        "DELETE FROM access_log WHERE seq = (SELECT MAX(seq) FROM access_log)",
        "UPDATE audit_heads SET root = 'x'",
        "DELETE FROM audit_heads",
    ] {
        let err = f.raw.exec(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    if let Raw::Pg(_) = f.raw {
        for sql in ["TRUNCATE access_log", "TRUNCATE audit_heads"] {
            let err = f.raw.exec(sql).await.expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{err}");
        }
    }
    assert_eq!(f.store.audit_entries(0, 10).await.unwrap(), before);
    assert_eq!(f.store.latest_audit_head().await.unwrap(), Some(head));
}

/// Heads, scoped queries, alert counters, patient contacts, the notice outbox and break-glass
/// records.
async fn audit_heads_queries_contacts_and_outbox(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "A").await;
    let (other, _, other_doc) = staffed(s, "B").await;
    let pid = patient(s, admin, inst, 1).await;

    // Heads: one per size, the first kept, listed in order.
    let key = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
    let head = |size: u64, at: i64| {
        medshare_audit::TreeHead::new(
            medshare_audit::Root {
                size,
                hash: [size as u8; 32],
            },
            at,
        )
        .sign(&key)
    };
    assert_eq!(s.latest_audit_head().await.unwrap(), None);
    s.put_audit_head(&head(3, 10)).await.unwrap();
    s.put_audit_head(&head(1, 11)).await.unwrap();
    s.put_audit_head(&head(3, 12)).await.unwrap();
    let heads = s.audit_heads(0, 10).await.unwrap();
    assert_eq!(heads, vec![head(1, 11), head(3, 10)]);
    assert_eq!(s.audit_heads(1, 10).await.unwrap(), vec![head(3, 10)]);
    assert_eq!(s.latest_audit_head().await.unwrap(), Some(head(3, 10)));

    // Scope: an institution sees its members' entries and entries on patients it filed for.
    let d = DocumentId::new();
    let up = stage(s, admin, 5).await;
    s.commit_document(&doc_row(d, pid, admin, inst, 5), &[], &[], up, 5)
        .await
        .unwrap();
    let read =
        |actor, institution, patient, outcome: &str, basis: &str, at| medshare_audit::Entry {
            at,
            actor: Some(actor),
            institution: Some(institution),
            action: "document.fetch-content".into(),
            document: Some(d),
            patient,
            outcome: outcome.into(),
            purpose: basis.into(),
            detail: None,
        };
    s.append_audit(&[
        read(doc, inst, Some(pid), "allowed", "care-relationship", 1000),
        read(other_doc, other, Some(pid), "allowed", "break-glass", 1001),
        read(other_doc, other, None, "denied", "no-basis", 1002),
        read(other_doc, other, Some(pid), "denied", "no-basis", 1003),
    ])
    .await
    .unwrap();
    let q = |scope, patient, actor, since| AuditQuery {
        scope: Some(scope),
        patient,
        actor,
        since,
        after_seq: 0,
        limit: 100,
    };
    let seqs = |v: Vec<medshare_audit::LoggedEntry>| v.iter().map(|l| l.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(s.audit_search(&q(inst, None, None, None)).await.unwrap()),
        [1, 2, 4]
    );
    assert_eq!(
        seqs(s.audit_search(&q(other, None, None, None)).await.unwrap()),
        [2, 3, 4]
    );
    assert_eq!(
        seqs(
            s.audit_search(&q(inst, Some(pid), Some(other_doc), Some(1002)))
                .await
                .unwrap()
        ),
        [4]
    );
    // Alert counters.
    assert_eq!(s.denials_by(other_doc, 0).await.unwrap(), 2);
    assert_eq!(s.denials_by(other_doc, 1003).await.unwrap(), 1);
    assert_eq!(
        s.patients_read_without_standing_care(other_doc, 0)
            .await
            .unwrap(),
        1
    );
    // A care relationship older than the window is standing care; a new one is not.
    s.add_care(pid, doc, admin, 10).await.unwrap();
    assert_eq!(
        s.patients_read_without_standing_care(doc, 500)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.patients_read_without_standing_care(doc, 5).await.unwrap(),
        1
    );
    assert_eq!(s.last_alert("many-patients", doc).await.unwrap(), None);
    s.record_alert("many-patients", doc, Some(inst), 2000, 21)
        .await
        .unwrap();
    s.record_alert("many-patients", doc, Some(inst), 2100, 22)
        .await
        .unwrap();
    assert_eq!(
        s.last_alert("many-patients", doc).await.unwrap(),
        Some(2100)
    );
    assert_eq!(s.last_alert("repeated-denials", doc).await.unwrap(), None);

    // Contacts.
    assert_eq!(s.patient_contact(pid).await.unwrap(), None);
    let contact = PatientContactRow {
        patient_id: pid,
        kind: "webhook".into(),
        address: "https://example.invalid/a".into(),
        set_by: doc,
        set_at: 1,
    };
    s.set_patient_contact(&contact).await.unwrap();
    let moved = PatientContactRow {
        address: "https://example.invalid/b".into(),
        ..contact.clone()
    };
    s.set_patient_contact(&moved).await.unwrap();
    assert_eq!(s.patient_contact(pid).await.unwrap(), Some(moved));

    // Outbox: coalesced per patient and institution, due by time, retried, delivered.
    assert!(s.queue_notice(pid, Some(other), 2, 100, 0).await.unwrap());
    assert!(!s.queue_notice(pid, Some(other), 3, 150, 50).await.unwrap());
    assert!(s.queue_notice(pid, Some(inst), 1, 160, 110).await.unwrap());
    assert!(s.queue_notice(pid, None, 5, 170, 120).await.unwrap());
    assert!(!s.queue_notice(pid, None, 6, 171, 120).await.unwrap());
    let due = s.due_notices(160, 10).await.unwrap();
    assert_eq!(due.iter().map(|n| n.seq).collect::<Vec<_>>(), [2, 1]);
    s.notice_retry(due[0].id, 1, 500, false).await.unwrap();
    s.notice_delivered(due[1].id, 165).await.unwrap();
    let due = s.due_notices(400, 10).await.unwrap();
    assert_eq!(due.iter().map(|n| n.seq).collect::<Vec<_>>(), [5]);
    let due = s.due_notices(500, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|n| (n.seq, n.attempts)).collect::<Vec<_>>(),
        [(2, 1), (5, 0)]
    );
    s.notice_retry(due[0].id, 2, 600, true).await.unwrap();
    assert_eq!(
        s.due_notices(10_000, 10)
            .await
            .unwrap()
            .iter()
            .map(|n| n.seq)
            .collect::<Vec<_>>(),
        [5]
    );
    assert!(s.clear_patient_contact(pid).await.unwrap());
    assert!(!s.clear_patient_contact(pid).await.unwrap());

    // Break-glass records by id.
    let bg = s
        .open_break_glass(pid, other_doc, "sealed-reason", 3, 800, 900)
        .await
        .unwrap();
    let rec = s.break_glass_record(bg).await.unwrap().unwrap();
    assert_eq!(
        (
            rec.patient_id,
            rec.practitioner_id,
            rec.reason.as_str(),
            rec.reason_epoch
        ),
        (pid, other_doc, "sealed-reason", 3)
    );
    assert_eq!((rec.opened_at, rec.expires_at), (800, 900));
    assert!(s.break_glass_record(bg + 1000).await.unwrap().is_none());
}

async fn schema_versions(f: Fixture) {
    // Current: opening again changes nothing and reports nothing pending.
    let st = schema_status(&f.url).await.unwrap();
    assert!(st.pending.is_empty());
    assert_eq!(st.current(), st.latest_known);
    open_with(&f.url, OpenMode::RequireCurrent).await.unwrap();
    let (before, after) = migrate(&f.url).await.unwrap();
    assert_eq!(before, after);

    // A migration this binary does not know: refused in every mode, with a clear error.
    f.raw
        .exec(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', TRUE, X'00', 0)"
                .replace("X'00'", if matches!(f.raw, Raw::Pg(_)) { "'\\x00'::bytea" } else { "X'00'" })
                .as_str(),
        )
        .await
        .unwrap();
    for mode in [OpenMode::Migrate, OpenMode::RequireCurrent] {
        let err = open_with(&f.url, mode)
            .await
            .err()
            .expect("newer schema refused");
        assert!(
            matches!(
                err,
                StoreError::SchemaNewer {
                    found: 99990101000000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("newer than this medshare binary"));
    }
    // An altered migration is refused too.
    f.raw
        .exec("DELETE FROM _sqlx_migrations WHERE version = 99990101000000")
        .await
        .unwrap();
    f.raw
        .exec("UPDATE _sqlx_migrations SET checksum = checksum || checksum")
        .await
        .unwrap();
    assert!(matches!(
        open_with(&f.url, OpenMode::Migrate).await.err(),
        Some(StoreError::SchemaModified(_))
    ));

    // A fresh database: behind; RequireCurrent refuses, migrate brings it up to date.
    let fresh = match f.raw {
        Raw::Sqlite(_) => {
            let dir = tempfile::tempdir().unwrap().keep();
            format!("sqlite://{}", dir.join("fresh.db").display())
        }
        Raw::Pg(_) => pg().fresh_database("fresh"),
    };
    let err = open_with(&fresh, OpenMode::RequireCurrent)
        .await
        .err()
        .expect("behind refused");
    assert!(matches!(err, StoreError::SchemaBehind { .. }));
    assert!(err.to_string().contains("medshare migrate"));
    let (before, after) = migrate(&fresh).await.unwrap();
    assert!(!before.pending.is_empty() && before.applied.is_empty());
    assert!(after.pending.is_empty());
    open_with(&fresh, OpenMode::RequireCurrent).await.unwrap();
}

async fn event_notices(f: Fixture) {
    let notices = f.store.event_notices().await.unwrap();
    match f.raw {
        Raw::Sqlite(_) => assert!(
            notices.is_none(),
            "SQLite is one process: no cross-replica feed"
        ),
        Raw::Pg(_) => {
            let mut notices = notices.expect("PostgreSQL announces events");
            // A second connection to the same database stands in for another replica.
            let other = open(&f.url).await.unwrap();
            let to = PractitionerId::new();
            let seq = other
                .push_event(to, 1, "{\"kind\":\"secret-body\"}")
                .await
                .unwrap();
            let got = tokio::time::timeout(std::time::Duration::from_secs(10), notices.next())
                .await
                .expect("notice arrives")
                .unwrap()
                .unwrap();
            assert_eq!(got, (to, seq));
        }
    }
}

/// Invalidations announced through one connection reach every listener of the database, the
/// announcing store's own included; SQLite (one process) has no feed and announcing is a no-op.
async fn invalidation_feed(f: Fixture) {
    let feed = f.store.invalidations().await.unwrap();
    let p = PatientId::new();
    match f.raw {
        Raw::Sqlite(_) => {
            assert!(
                feed.is_none(),
                "SQLite is one process: no cross-replica feed"
            );
            f.store.announce(Invalidation::Patient(p)).await.unwrap();
        }
        Raw::Pg(_) => {
            let mut feed = feed.expect("PostgreSQL carries invalidations");
            let other = open(&f.url).await.unwrap();
            let sent = [
                Invalidation::Patient(p),
                Invalidation::Sessions,
                Invalidation::All,
            ];
            for what in sent {
                other.announce(what).await.unwrap();
            }
            f.store.announce(Invalidation::Sessions).await.unwrap();
            let mut got = Vec::new();
            for _ in 0..4 {
                let next = tokio::time::timeout(std::time::Duration::from_secs(10), feed.next())
                    .await
                    .expect("announcement arrives")
                    .expect("feed open")
                    .unwrap();
                got.push(next);
            }
            assert_eq!(got[..3], sent, "in the order announced");
            assert_eq!(got[3], Invalidation::Sessions);
        }
    }
}

/// Failed logins are counted atomically (parallel attempts cannot lose counts), a lock only
/// ever lengthens, staged uploads are counted per practitioner, and one document id can be
/// claimed by one staged upload at a time.
async fn login_failures_and_document_claims(f: Fixture) {
    let s = f.store.clone();
    let (_, _, doc) = staffed(&*s, "L").await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.add_login_failure(doc).await }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().unwrap());
    }
    seen.sort();
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<i64>>(),
        "every attempt counted once"
    );
    assert_eq!(
        s.practitioner(doc).await.unwrap().unwrap().failed_logins,
        40
    );
    s.lock_logins(doc, 1_000).await.unwrap();
    s.lock_logins(doc, 500).await.unwrap();
    assert_eq!(
        s.practitioner(doc).await.unwrap().unwrap().locked_until,
        Some(1_000),
        "a lock never shortens"
    );
    assert!(matches!(
        s.add_login_failure(PractitionerId::new()).await,
        Err(StoreError::NotFound)
    ));

    assert_eq!(s.staged_usage(doc).await.unwrap(), (0, 0));
    let a = stage(&*s, doc, 10).await;
    let b = stage(&*s, doc, 11).await;
    assert_eq!(s.staged_usage(doc).await.unwrap(), (2, 2468));
    let d = DocumentId::new();
    s.claim_document(a, d).await.unwrap();
    s.claim_document(a, d).await.unwrap(); // a retry of the same commit
    assert!(matches!(
        s.claim_document(b, d).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.claim_document(a, DocumentId::new()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.claim_document(UploadId::new(), DocumentId::new()).await,
        Err(StoreError::NotFound)
    ));
    // A failed commit gives its claim up: another upload may then take the id. Releasing a
    // claim one does not hold changes nothing.
    s.release_claim(b, d).await.unwrap();
    assert!(matches!(
        s.claim_document(b, d).await,
        Err(StoreError::Conflict)
    ));
    s.release_claim(a, d).await.unwrap();
    s.claim_document(b, d).await.unwrap();
    assert!(matches!(
        s.claim_document(a, d).await,
        Err(StoreError::Conflict)
    ));
}

/// Upserts behave alike on both backends (`ON CONFLICT (key) DO UPDATE`, not SQLite's `INSERT OR
/// REPLACE`, which deletes and re-inserts and fires on any unique constraint): renewing keeps one
/// row and updates it in place. A clash on a unique constraint other than the key being renewed
/// is a `Conflict`, the transaction leaves nothing behind, and the row already there is untouched.
async fn conflicts_update_in_place_and_never_replace_other_rows(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "C").await;
    let p = patient(s, admin, inst, 7).await;
    let d = DocumentId::new();
    let u = stage(s, admin, 10).await;
    let own = [KeyWrap {
        holder: Holder::Practitioner { id: admin },
        wrap: "dw-admin".into(),
    }];
    let share = |wrap: &str, expires: Option<i64>| NewGrant {
        grantee: doc,
        wrap: wrap.into(),
        expires_at: expires.map(|t| time::OffsetDateTime::from_unix_timestamp(t).unwrap()),
    };
    s.commit_document(
        &doc_row(d, p, admin, inst, 100),
        &own,
        &[share("w1", None)],
        u,
        100,
    )
    .await
    .unwrap();
    let wraps_of = |who| async move {
        let mut w: Vec<_> = s
            .document_key_wraps(&[d], who)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, w)| w.wrap)
            .collect();
        w.sort();
        w
    };

    // Re-granting a share: one grant, its expiry and granter updated; one wrap, replaced.
    s.put_grant(d, &share("w2", Some(5_000)), admin, 200)
        .await
        .unwrap();
    let grants = s.grants_of_document(d).await.unwrap();
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(
        (
            grants[0].grantee,
            grants[0].granted_at,
            grants[0].expires_at
        ),
        (doc, 200, Some(5_000))
    );
    assert_eq!(wraps_of(doc).await, ["w2"]);
    assert_eq!(
        wraps_of(admin).await,
        ["dw-admin"],
        "the uploader's wrap stays"
    );
    // Revoked, then granted again without expiry: still one row, live again.
    assert!(s.revoke_grant(d, doc, 300).await.unwrap());
    s.put_grant(d, &share("w3", None), admin, 400)
        .await
        .unwrap();
    let grants = s.grants_of_document(d).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert!(grants[0].is_live(10_000));
    assert_eq!(wraps_of(doc).await, ["w3"]);

    // Consent granted again to a holder that has it: one consent; a patient key wrap for the
    // same holder and epochs is replaced in place, the others stay.
    let other = staffed(s, "O").await.0;
    let wrap = |epoch, holder, w: &str| PatientKeyWrapRow {
        patient_epoch: epoch,
        institution: Some((holder, 1)),
        wrap: w.into(),
    };
    let again = ConsentHolder::Institution { id: inst };
    s.grant_consent(
        p,
        &again,
        2,
        &epoch_statement(StatementKind::PatientKeyEpoch, 2),
        &[wrap(1, inst, "pw-inst-2"), wrap(2, other, "pw-other")],
        admin,
        500,
    )
    .await
    .unwrap();
    assert_eq!(s.consents(p).await.unwrap(), [again]);
    let wraps = s.patient_key_wraps(p, &[inst, other], false).await.unwrap();
    assert_eq!(
        wraps,
        [wrap(1, inst, "pw-inst-2"), wrap(2, other, "pw-other")]
    );

    // Declaring care twice keeps the first declaration.
    s.add_care(p, doc, admin, 600).await.unwrap();
    s.add_care(p, doc, doc, 700).await.unwrap();
    assert_eq!(s.care_team(p).await.unwrap().len(), 2);

    // A practitioner whose handle is taken: Conflict, the holder of the handle untouched.
    let mut clash = new_practitioner(inst, "dr.c", false);
    clash.enrolment_hash = "code-other".into();
    assert!(matches!(
        s.create_practitioner(&clash).await,
        Err(StoreError::Conflict)
    ));
    let held = s.practitioner_by_handle(&"dr.c".parse().unwrap()).await;
    assert_eq!(held.unwrap().unwrap().id, doc);
    assert!(s.practitioner(clash.id).await.unwrap().is_none());

    // An institution whose code is taken: Conflict, and its first admin is not created either.
    let taken = institution("C", "Another Hospital");
    let taken_admin = new_practitioner(taken.id, "admin.other", true);
    assert!(matches!(
        s.create_institution(&taken, &taken_admin).await,
        Err(StoreError::Conflict)
    ));
    assert!(s.institution(taken.id).await.unwrap().is_none());
    assert!(s.practitioner(taken_admin.id).await.unwrap().is_none());
    assert_eq!(s.institution(inst).await.unwrap().unwrap().code, "C");

    // A new patient sharing one reference with a known one: Conflict, the reference still
    // leads to the known patient, and nothing of the new one remains.
    let dup = NewPatientRow {
        id: PatientId::new(),
        refs: vec![pref(250), pref(7)],
        card: "other-card".into(),
        key_epoch: epoch_statement(StatementKind::PatientKeyEpoch, 1),
        wraps: vec![],
        consents: vec![],
        created_by: admin,
        created_at: 800,
    };
    assert!(matches!(
        s.create_patient(&dup).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.patient_by_refs(&[pref(7)]).await.unwrap(), Some(p));
    assert_eq!(s.patient_by_refs(&[pref(250)]).await.unwrap(), None);
    assert!(s.patient(dup.id).await.unwrap().is_none());

    // A document sealed twice to one holder: Conflict, nothing committed, the upload kept.
    let u2 = stage(s, admin, 20).await;
    let d2 = DocumentId::new();
    let twice = [own[0].clone(), own[0].clone()];
    assert!(matches!(
        s.commit_document(&doc_row(d2, p, admin, inst, 900), &twice, &[], u2, 900)
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(s.document(d2).await.unwrap().is_none());
    assert!(s.staged_upload(u2).await.unwrap().is_some());
}

/// A stored value that does not decode (wrong type, bad id, bad JSON, out of range) is a
/// `Corrupt` error for that read, never a panic, and other rows still read.
async fn undecodable_rows_are_corrupt(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "X").await;
    let raw = &f.raw;
    let corrupt = |sql: String| async move {
        assert_eq!(raw.exec(&sql).await.unwrap(), 1, "{sql}");
    };
    corrupt(format!(
        "UPDATE practitioners SET details = 'not json' WHERE id = '{doc}'"
    ))
    .await;
    assert!(matches!(
        s.practitioner(doc).await,
        Err(StoreError::Corrupt)
    ));
    assert!(s.practitioner(admin).await.unwrap().is_some());
    corrupt(format!(
        "UPDATE institutions SET alliance_wrap_epoch = -1 WHERE id = '{inst}'"
    ))
    .await;
    assert!(matches!(
        s.institution(inst).await,
        Err(StoreError::Corrupt)
    ));
    assert!(matches!(s.institutions().await, Err(StoreError::Corrupt)));
    let p = patient(s, admin, inst, 9).await;
    corrupt(format!(
        "UPDATE patient_consents SET holder = 'not-an-id' WHERE patient_id = '{p}'"
    ))
    .await;
    assert!(matches!(s.consents(p).await, Err(StoreError::Corrupt)));
    if let Raw::Sqlite(_) = f.raw {
        // SQLite keeps whatever type it is given: a text where a number belongs.
        corrupt(format!(
            "UPDATE practitioners SET failed_logins = 'many' WHERE id = '{admin}'"
        ))
        .await;
        assert!(matches!(
            s.practitioner(admin).await,
            Err(StoreError::Corrupt)
        ));
    }
}

async fn retention_purges_only_what_expired(f: Fixture) {
    let s = &*f.store;
    let (_, admin, _) = staffed(s, "R").await;
    for (hash, expires_at) in [("old", 100), ("live", 10_000)] {
        s.create_session(&SessionRow {
            token_hash: hash.into(),
            practitioner_id: admin,
            created_at: 1,
            expires_at,
            revoked: false,
        })
        .await
        .unwrap();
    }
    let mut seqs = Vec::new();
    for at in [50, 150, 5_000] {
        seqs.push(s.push_event(admin, at, "{}").await.unwrap());
    }
    assert!(s.use_root_nonce("used-long-ago", 10).await.unwrap());
    assert!(s.use_root_nonce("used-recently", 900).await.unwrap());
    let cutoffs = Cutoffs {
        sessions_expired_before: 1_000,
        events_before: 1_000,
        nonces_before: 500,
        notices_before: 1_000,
        notifications_before: 1_000,
        consults_before: 1_000,
    };
    let purged = s.purge_expired(&cutoffs).await.unwrap();
    assert_eq!(
        (purged.sessions, purged.events, purged.nonces),
        (1, 2, 1),
        "{purged:?}"
    );
    assert!(s.session("old").await.unwrap().is_none());
    assert!(s.session("live").await.unwrap().is_some());
    let left = s.events_since(admin, 0, 100).await.unwrap();
    assert_eq!(
        left.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![seqs[2]]
    );
    assert!(
        s.use_root_nonce("used-long-ago", 1_000).await.unwrap(),
        "a purged nonce is forgotten"
    );
    assert!(!s.use_root_nonce("used-recently", 1_000).await.unwrap());
    assert_eq!(
        s.purge_expired(&cutoffs).await.unwrap(),
        Purged::default(),
        "a second run finds nothing"
    );
}

fn entry<'a>(
    room: RoomId,
    epoch: i64,
    kind: &'a str,
    sender: PractitionerId,
    body: &'a str,
) -> NewEntry<'a> {
    NewEntry {
        room,
        epoch,
        kind,
        sender,
        at: 1_800_000_000,
        body,
    }
}

/// Rooms: key packages handed out once each; a commit only for the current epoch (of many
/// racing for one epoch exactly one wins); membership windows; welcomes; read positions.
async fn rooms_order_commits_by_epoch(f: Fixture) {
    let s = &*f.store;
    let (_, _, a) = staffed(s, "RMA").await;
    let (_, _, b) = staffed(s, "RMB").await;
    let (_, _, c) = staffed(s, "RMC").await;

    let kps: Vec<String> = (0..3).map(|i| format!("kp{i}")).collect();
    assert_eq!(s.add_key_packages(b, &kps, 1, 4).await.unwrap(), 3);
    assert!(matches!(
        s.add_key_packages(b, &kps, 1, 4).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.key_package_count(b).await.unwrap(), 3);
    let mut claimed = Vec::new();
    for _ in 0..3 {
        claimed.push(s.claim_key_package(b).await.unwrap().unwrap());
    }
    assert_eq!(claimed, kps, "oldest first, each once");
    assert_eq!(s.claim_key_package(b).await.unwrap(), None);

    let room = RoomId::new();
    s.create_room(room, a, 10).await.unwrap();
    assert!(matches!(
        s.create_room(room, b, 10).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.append_message(entry(room, 0, "info", a, "m1"))
            .await
            .unwrap(),
        Some(1)
    );
    // Add b and c at epoch 0: eight racing commits for the same epoch, one wins.
    let mut racing = Vec::new();
    for i in 0..8 {
        let store = f.store.clone();
        racing.push(tokio::spawn(async move {
            let body = format!("commit{i}");
            store
                .append_commit(
                    entry(room, 0, "commit", a, &body),
                    &[b, c],
                    Some("welcome"),
                    &[],
                )
                .await
                .unwrap()
        }));
    }
    let mut won = Vec::new();
    for r in racing {
        won.extend(r.await.unwrap());
    }
    assert_eq!(won, vec![2], "exactly one commit for epoch 0");
    // Stale epoch: refused, nothing changes.
    assert_eq!(
        s.append_commit(entry(room, 0, "commit", a, "replay"), &[], None, &[c])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.append_message(entry(room, 0, "text", a, "old"))
            .await
            .unwrap(),
        None
    );
    let r = s.room(room).await.unwrap().unwrap();
    assert_eq!((r.epoch, r.last_seq), (1, 2));
    assert!(r.is_current_member(b) && r.is_current_member(c));
    assert_eq!(
        s.room_welcome(room, b).await.unwrap(),
        Some((2, "welcome".into()))
    );
    assert_eq!(s.room_welcome(room, a).await.unwrap(), None);
    assert_eq!(
        s.append_message(entry(room, 1, "text", b, "m3"))
            .await
            .unwrap(),
        Some(3)
    );
    // Remove c at epoch 1; c's window ends at the removal.
    assert_eq!(
        s.append_commit(entry(room, 1, "commit", a, "rm"), &[], None, &[c])
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        s.append_message(entry(room, 2, "text", a, "m5"))
            .await
            .unwrap(),
        Some(5)
    );
    let r = s.room(room).await.unwrap().unwrap();
    let cm = r.member(c).unwrap();
    assert_eq!((cm.from_seq, cm.until_seq), (2, Some(4)));
    assert!(!r.is_current_member(c));
    let seen: Vec<i64> = s
        .room_entries(room, cm.from_seq, cm.until_seq.unwrap(), 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seen, vec![3, 4]);
    let all = s.room_entries(room, 0, 5, 2).await.unwrap();
    assert_eq!(all.len(), 2, "limit");
    assert_eq!(
        (all[0].kind.as_str(), all[0].body.as_str(), all[0].sender),
        ("info", "m1", a)
    );
    assert_eq!(s.rooms_of(c).await.unwrap().len(), 0);
    assert_eq!(s.rooms_of(b).await.unwrap()[0].id, room);
    // Read positions only move forward.
    s.mark_read(room, b, 5).await.unwrap();
    s.mark_read(room, b, 3).await.unwrap();
    assert_eq!(
        s.room(room)
            .await
            .unwrap()
            .unwrap()
            .member(b)
            .unwrap()
            .read_seq,
        5
    );
}

/// On-call lists replace only with a newer version; a consult claimed for escalation and
/// released is claimable again at once (not after the claim goes stale), and the escalation is a
/// compare-and-set on the claim.
async fn oncall_versions_and_consult_claims(f: Fixture) {
    let s = &*f.store;
    let (inst, admin, doc) = staffed(s, "PPH").await;
    let list = |version: i64, members: Vec<PractitionerId>| OncallRow {
        institution_id: inst,
        name: "cardiology".into(),
        owner: admin,
        members,
        updated_at: 100 + version,
        version,
        statement: Some(signed(StatementKind::OncallList, "{}")),
    };
    assert!(s.set_oncall(&list(2, vec![doc])).await.unwrap());
    assert!(
        !s.set_oncall(&list(2, vec![admin])).await.unwrap(),
        "same version"
    );
    assert!(!s.set_oncall(&list(1, vec![admin])).await.unwrap(), "older");
    assert_eq!(
        s.oncall(inst, "cardiology").await.unwrap().unwrap(),
        list(2, vec![doc])
    );
    assert!(s.set_oncall(&list(3, vec![admin, doc])).await.unwrap());
    assert_eq!(
        s.oncall(inst, "cardiology").await.unwrap().unwrap().version,
        3
    );

    let patient = patient(s, doc, inst, 7).await;
    let c = ConsultRow {
        id: medshare_model::ConsultId::new(),
        requester: doc,
        patient_id: patient,
        target: medshare_model::consults::ConsultTo::Practitioner {
            practitioner_id: admin,
        },
        chain: vec![admin, doc],
        step: 0,
        state: medshare_model::consults::ConsultState::Open,
        urgent: true,
        ack_within: 60,
        due_at: Some(1_060),
        created_at: 1_000,
        acked_by: None,
        room_id: None,
        binding: signed(StatementKind::ConsultBinding, "{}"),
        question: "sealed".into(),
        oncall_list: Some(signed(StatementKind::OncallList, "{\"v\":1}")),
        steps: Vec::new(),
    };
    s.create_consult(&c).await.unwrap();
    assert_eq!(
        s.consult(c.id).await.unwrap().unwrap().oncall_list,
        c.oncall_list,
        "the signed list a consult names is kept as given"
    );
    assert!(
        s.claim_due_consults("a", 1_059, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due"
    );
    assert_eq!(
        s.claim_due_consults("a", 1_060, 0, 10).await.unwrap().len(),
        1
    );
    assert!(
        s.claim_due_consults("b", 1_061, 0, 10)
            .await
            .unwrap()
            .is_empty(),
        "claimed by a"
    );
    // Only the claimer's release counts.
    s.release_consult_claim(c.id, "b").await.unwrap();
    assert!(
        s.claim_due_consults("b", 1_061, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.release_consult_claim(c.id, "a").await.unwrap();
    assert_eq!(
        s.claim_due_consults("b", 1_061, 0, 10).await.unwrap().len(),
        1
    );
    assert_eq!(
        s.escalate_consult(c.id, 0, "a", 1_062).await.unwrap(),
        None,
        "a's claim is gone"
    );
    assert_eq!(
        s.escalate_consult(c.id, 0, "b", 1_062).await.unwrap(),
        Some(Escalated::To(doc))
    );
    let after = s.consult(c.id).await.unwrap().unwrap();
    assert_eq!((after.step, after.due_at), (1, Some(1_122)));
}

/// A replica that stops part-way through a claimed outbox batch releases the rest: another
/// replica claims them on its next poll, not after the claim goes stale; a release by anyone
/// but the claimer, or of a finished row, changes nothing.
async fn released_notifications_are_claimable_at_once(f: Fixture) {
    let s = &*f.store;
    let (_, _, doc) = staffed(s, "KPH").await;
    for (i, kind) in ["webhook", "dingtalk", "chat-webhook"].iter().enumerate() {
        s.add_channel(
            &ChannelRow {
                id: format!("ch-{i}"),
                practitioner_id: doc,
                kind: kind.to_string(),
                address: format!("https://hooks.example/{i}"),
                secret: "s".into(),
                created_at: 10,
                last_delivered_at: None,
                last_failed_at: None,
                last_error: None,
                failed: 0,
                pending: 0,
                disabled_at: None,
            },
            10,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        s.enqueue_notification(doc, None, "consult:x", 100)
            .await
            .unwrap(),
        3
    );
    let batch = s.claim_notifications("a", 100, 0, 10).await.unwrap();
    assert_eq!(batch.len(), 3);
    assert!(
        s.claim_notifications("b", 101, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // "a" delivered the first, then failed: it releases the other two.
    s.finish_notification(batch[0].id, "a", 100, &Attempt::Delivered)
        .await
        .unwrap();
    for n in &batch {
        s.release_notification(n.id, "b").await.unwrap(); // not b's: nothing
    }
    assert!(
        s.claim_notifications("b", 101, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    for n in &batch {
        s.release_notification(n.id, "a").await.unwrap();
    }
    let mut again: Vec<i64> = s
        .claim_notifications("b", 101, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    again.sort_unstable();
    let mut rest: Vec<i64> = batch[1..].iter().map(|n| n.id).collect();
    rest.sort_unstable();
    assert_eq!(again, rest, "the delivered one is not claimed again");
}
