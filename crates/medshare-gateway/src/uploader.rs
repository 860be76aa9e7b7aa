//! The uploader: claims ready items from the queue, turns each into a record on this machine
//! (open the sealed payload, the client core's intake step, the rules), and files it on the hub
//! as the gateway's service identity, exactly once:
//!
//! - every item carries a document id chosen when it was accepted; the hub refuses a second
//!   commit of one id;
//! - before a commit the item is marked `committing` (durably); an item found marked after a
//!   crash or a lost answer first asks the hub whether its document is already there;
//! - a hub that cannot be reached is waited for (back-off, never a dead letter); a record the
//!   hub or the intake step refuses goes to the dead letters with a fixed reason code.

use crate::envelope::{Envelope, Source};
use crate::hl7::{self, Purpose};
use crate::ingest::Shared;
use crate::metrics::Metrics;
use crate::queue::{Claimed, Kind, now_ms};
use crate::rules::{Decision, Facts};
use futures::StreamExt;
use medshare_client::service::{ServiceKeyFile, login_service};
use medshare_client::{Client, ClientError, Hub, Intake, IntakeError, Remembered, Share};
use medshare_crypto::EncryptionKey;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::{DocumentId, ErrorCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// How an attempt failed.
#[derive(Debug)]
enum Failure {
    /// Try again later; `counts`: towards the dead-letter limit (false while the hub is
    /// simply unreachable).
    Retry { code: String, counts: bool },
    /// A dead letter.
    Dead(String),
}

fn retry(code: &str) -> Failure {
    Failure::Retry {
        code: code.into(),
        counts: true,
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::Http(_) => Failure::Retry {
                code: "hub-unreachable".into(),
                counts: false,
            },
            ClientError::Io(_) => retry("io"),
            ClientError::Api(p) => match p.code {
                ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::InsufficientStorage => {
                    Failure::Retry {
                        code: format!("hub-{}", p.code.as_str()),
                        counts: false,
                    }
                }
                ErrorCode::TooManyRequests
                | ErrorCode::Unauthenticated
                | ErrorCode::SessionExpired => retry(&format!("hub-{}", p.code.as_str())),
                other => Failure::Dead(format!("hub-{}", other.as_str())),
            },
            ClientError::Intake(i) => Failure::Dead(intake_code(i).into()),
            // A trust refusal may be a hub misbehaving for a while: retried, then dead.
            ClientError::Trust(_) => retry("trust"),
            ClientError::Crypto(_) => Failure::Dead("crypto".into()),
            ClientError::Invalid(_) => Failure::Dead("invalid".into()),
        }
    }
}

fn intake_code(e: &IntakeError) -> &'static str {
    match e {
        IntakeError::IdentifierMismatch => "identifier-mismatch",
        IntakeError::BadDate => "bad-date",
        IntakeError::BadCategory => "bad-category",
        IntakeError::BadTitle => "bad-title",
    }
}

/// What an item becomes on the hub.
enum Work {
    Patient {
        id: PatientIdentifier,
        card: PatientCard,
    },
    Document {
        id: PatientIdentifier,
        card: PatientCard,
        bytes: Vec<u8>,
        intake: Box<Intake>,
        decision: Decision,
        /// Hospital ids of the ordering doctors (rules map them to handles).
        ordering: Vec<String>,
    },
}

/// The uploader's own state.
pub struct Uploader {
    shared: Arc<Shared>,
    key: Arc<ServiceKeyFile>,
    own: EncryptionKey,
    hub: Hub,
    memory: Remembered,
    session: Mutex<Option<Arc<Client>>>,
    concurrency: usize,
    max_attempts: u32,
    max_backoff: Duration,
    study_quiet: Duration,
    keep_done: Duration,
}

impl Uploader {
    pub fn new(
        shared: Arc<Shared>,
        key: Arc<ServiceKeyFile>,
        hub: Hub,
        memory: Remembered,
        config: &crate::config::Config,
    ) -> Result<Self, ClientError> {
        let own = key.keys()?.encryption;
        Ok(Self {
            shared,
            key,
            own,
            hub,
            memory,
            session: Mutex::new(None),
            concurrency: config.queue.upload_concurrency,
            max_attempts: config.queue.max_attempts,
            max_backoff: Duration::from_secs(config.queue.max_backoff_secs.max(1)),
            study_quiet: Duration::from_secs(
                config
                    .dicom
                    .as_ref()
                    .map(|d| d.study_quiet_secs)
                    .unwrap_or(30),
            ),
            keep_done: Duration::from_secs(config.queue.keep_done_days * 86_400),
        })
    }

    /// A logged-in session, renewed a minute before it expires.
    async fn client(&self) -> Result<Arc<Client>, Failure> {
        let mut s = self.session.lock().await;
        let now = now_ms() / 1000;
        if let Some(c) = s.as_ref()
            && c.expires_at() > now + 60
        {
            return Ok(c.clone());
        }
        let c = login_service(&self.hub, &self.key).await.map_err(|e| {
            tracing::warn!(error = %e, "gateway: cannot log in to the hub");
            Failure::from(e)
        })?;
        let c = Arc::new(c.remember_with(self.memory.clone()));
        *s = Some(c.clone());
        Ok(c)
    }

    /// The gateway's session on the hub (for the FHIR endpoint's reads).
    pub async fn session(&self) -> Result<Arc<Client>, String> {
        self.client().await.map_err(|f| format!("{f:?}"))
    }

    async fn drop_session(&self) {
        *self.session.lock().await = None;
    }

    /// Run until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut last_purge = Instant::now() - Duration::from_secs(3600);
        loop {
            if *stop.borrow() {
                break;
            }
            let quiet_before = now_ms() - self.study_quiet.as_millis() as i64;
            if let Ok(n) = self.shared.queue.close_quiet_groups(quiet_before).await
                && n > 0
            {
                tracing::info!(studies = n, "gateway: studies complete");
            }
            if last_purge.elapsed() > Duration::from_secs(3600) {
                last_purge = Instant::now();
                let _ = self
                    .shared
                    .queue
                    .purge_done(now_ms() - self.keep_done.as_millis() as i64)
                    .await;
            }
            let claimed = match self.shared.queue.claim(self.concurrency as i64 * 4).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "gateway: cannot read the queue");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = self.shared.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let this = self.clone();
            futures::stream::iter(claimed)
                .for_each_concurrent(self.concurrency, |item| {
                    let this = this.clone();
                    async move { this.process(item).await }
                })
                .await;
            let (n, b) = self.shared.queue.depth();
            self.shared.metrics.queue_items.set(n as i64);
            self.shared.metrics.queue_bytes.set(b as i64);
        }
    }

    async fn process(&self, item: Claimed) {
        let started = Instant::now();
        let (id, source, attempts) = (item.id, item.source, item.attempts);
        let res = self.attempt(&item).await;
        let q = &self.shared.queue;
        let m = &self.shared.metrics;
        let outcome = match res {
            Ok(()) => {
                m.uploaded
                    .get_or_create(&crate::metrics::KindLabel {
                        source: source.as_str().into(),
                        kind: format!("{:?}", item.kind).to_ascii_lowercase(),
                    })
                    .inc();
                m.upload_seconds
                    .get_or_create(&Metrics::source(source))
                    .observe(started.elapsed().as_secs_f64());
                tracing::info!(item = id, source = source.as_str(), "gateway: filed");
                q.complete(id).await
            }
            Err(Failure::Retry { code, counts }) if !counts || attempts + 1 < self.max_attempts => {
                if code.starts_with("hub-unauthenticated") || code.starts_with("hub-session") {
                    self.drop_session().await;
                }
                m.upload_retries
                    .get_or_create(&Metrics::reason(source, &code))
                    .inc();
                let wait = Duration::from_secs(1u64 << attempts.min(16)).min(self.max_backoff);
                tracing::warn!(item = id, source = source.as_str(), reason = %code, retry_in_s = wait.as_secs(), "gateway: upload failed, will retry");
                q.retry_later(id, &code, now_ms() + wait.as_millis() as i64)
                    .await
            }
            Err(Failure::Retry { code, .. }) | Err(Failure::Dead(code)) => {
                m.dead_letters
                    .get_or_create(&Metrics::reason(source, &code))
                    .inc();
                tracing::error!(item = id, source = source.as_str(), reason = %code, "gateway: dead letter");
                q.dead(id, &code).await
            }
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, item = id, "gateway: cannot record the outcome");
        }
    }

    async fn attempt(&self, item: &Claimed) -> Result<(), Failure> {
        let work = self.prepare(item).await?;
        let c = self.client().await?;
        match work {
            Work::Patient { id, card } => {
                c.ensure_patient(&id, &card).await?;
                Ok(())
            }
            Work::Document {
                id,
                card,
                bytes,
                intake,
                decision,
                ordering,
            } => {
                let document_id = DocumentId(item.document_id);
                if item.committing && self.already_filed(&c, document_id).await? {
                    return Ok(());
                }
                let meta = intake
                    .meta()
                    .map_err(|e| Failure::Dead(intake_code(&e).into()))?;
                let shares = self.shares(&c, item.source, &decision, &ordering).await?;
                let patient = c.ensure_patient(&id, &card).await?;
                self.shared
                    .queue
                    .mark_committing(item.id)
                    .await
                    .map_err(|_| retry("queue"))?;
                let res = c
                    .upload_as(
                        document_id,
                        std::io::Cursor::new(bytes),
                        &patient,
                        meta,
                        &shares,
                        |_| {},
                    )
                    .await;
                match res {
                    Ok(_) => Ok(()),
                    // Another attempt's commit got there first (or its answer was lost).
                    Err(e) if e.code() == Some(ErrorCode::Conflict) => {
                        if self.already_filed(&c, document_id).await? {
                            Ok(())
                        } else {
                            Err(Failure::from(e))
                        }
                    }
                    Err(e) => Err(Failure::from(e)),
                }
            }
        }
    }

    /// Whether this gateway's document with that id is on the hub (its binding verified).
    async fn already_filed(&self, c: &Client, id: DocumentId) -> Result<bool, Failure> {
        match c.open_document(id).await {
            Ok(d) => Ok(d.uploader.cert.practitioner_id == c.id()),
            Err(e) if e.code() == Some(ErrorCode::NotFound) => Ok(false),
            Err(e) => Err(Failure::from(e)),
        }
    }

    /// The rules' shares as verified handles: unknown or revoked colleagues are skipped (and
    /// counted), never a reason to hold a record back.
    async fn shares(
        &self,
        c: &Client,
        source: Source,
        d: &Decision,
        ordering: &[String],
    ) -> Result<Vec<Share>, Failure> {
        let now = time::OffsetDateTime::now_utc();
        let mut wanted: Vec<(String, Option<time::Duration>, &str)> = d
            .shares
            .iter()
            .map(|s| (s.with.clone(), s.expires_in, "rule"))
            .collect();
        if let Some(expires) = d.share_with_ordering {
            for hospital_id in ordering {
                let handle = match self.shared.rules.practitioner(hospital_id) {
                    Some(h) => h.to_string(),
                    None => hospital_id.to_ascii_lowercase(),
                };
                if !wanted.iter().any(|(w, _, _)| *w == handle) {
                    wanted.push((handle, expires, "ordering"));
                }
            }
        }
        let mut out = Vec::new();
        for (with, expires, why) in wanted {
            let Ok(share) = Share::parse(&with, expires.map(|e| now + e)) else {
                self.skip(source, why, "not-a-handle");
                continue;
            };
            if share.with == *c.handle() {
                continue;
            }
            match c.practitioner_by_handle(&share.with).await {
                Ok(p) => {
                    if c.trust().require_current(&p).is_err() {
                        self.skip(source, why, "revoked");
                        continue;
                    }
                    out.push(share);
                }
                Err(e) if e.code() == Some(ErrorCode::NotFound) => {
                    self.skip(source, why, "not-a-user");
                }
                Err(e) => return Err(Failure::from(e)),
            }
        }
        Ok(out)
    }

    fn skip(&self, source: Source, why: &str, reason: &str) {
        self.shared
            .metrics
            .shares_skipped
            .get_or_create(&Metrics::reason(source, &format!("{why}-{reason}")))
            .inc();
    }

    /// Open the item and decide what it becomes (no network).
    async fn prepare(&self, item: &Claimed) -> Result<Work, Failure> {
        let open = || {
            Envelope::open(&self.own, &item.payload)
                .map_err(|_| Failure::Dead("undecryptable".into()))
        };
        match (item.source, item.kind) {
            (Source::Hl7, _) => self.prepare_hl7(item, open()?),
            (_, Kind::Study) => {
                let mut parts = Vec::new();
                for p in self
                    .shared
                    .queue
                    .parts(item.id)
                    .await
                    .map_err(|_| retry("queue"))?
                {
                    parts.push(
                        Envelope::open(&self.own, &p)
                            .map_err(|_| Failure::Dead("undecryptable".into()))?,
                    );
                }
                let study = crate::study::package(&parts)
                    .map_err(|code| Failure::Dead(code.to_string()))?;
                let calling_ae = parts.first().and_then(|p| p.header.calling_ae.clone());
                let id = self
                    .shared
                    .rules
                    .choose_patient(&study.candidates)
                    .ok_or(Failure::Dead("no-patient-identifier".into()))?;
                let intake = Intake::new(study.classification, study.file_name.clone())
                    .media_type(Some("application/zip".into()));
                intake
                    .check_patient(&id, false)
                    .map_err(|e| Failure::Dead(intake_code(&e).into()))?;
                let category = intake.meta().map(|m| m.category).unwrap_or_default();
                let decision = self.shared.rules.decide(&Facts {
                    source: Some(Source::Dicom),
                    class: Some(&category),
                    modality: study.modality.as_deref(),
                    calling_ae: calling_ae.as_deref(),
                    critical: intake.is_critical(),
                    ..Default::default()
                });
                Ok(Work::Document {
                    id,
                    card: study.card,
                    bytes: study.zip,
                    intake: Box::new(intake.urgent(decision.urgent)),
                    decision,
                    ordering: Vec::new(),
                })
            }
            (source, _) => {
                let env = open()?;
                let file_name = env
                    .header
                    .file_name
                    .clone()
                    .unwrap_or_else(|| "document".into());
                let len = env.body.len() as u64;
                let intake = Intake::from_bytes(&env.body, len, file_name)
                    .title(env.header.title.clone())
                    .category(env.header.category.clone())
                    .date_of_service(env.header.date_of_service.clone());
                let id = match &env.header.patient {
                    Some(p) => p
                        .parse::<PatientIdentifier>()
                        .map_err(|_| Failure::Dead("bad-patient-identifier".into()))?,
                    None => {
                        only_hkid(&intake).ok_or(Failure::Dead("no-patient-identifier".into()))?
                    }
                };
                intake
                    .check_patient(&id, false)
                    .map_err(|e| Failure::Dead(intake_code(&e).into()))?;
                let category = intake
                    .meta()
                    .map_err(|e| Failure::Dead(intake_code(&e).into()))?
                    .category;
                let decision = self.shared.rules.decide(&Facts {
                    source: Some(source),
                    class: Some(&category),
                    critical: intake.is_critical(),
                    ..Default::default()
                });
                let card = card_of(&intake);
                Ok(Work::Document {
                    id,
                    card,
                    bytes: env.body,
                    intake: Box::new(intake.urgent(decision.urgent)),
                    decision,
                    ordering: Vec::new(),
                })
            }
        }
    }

    fn prepare_hl7(&self, item: &Claimed, env: Envelope) -> Result<Work, Failure> {
        let text = String::from_utf8(env.body).map_err(|_| Failure::Dead("not-utf8".into()))?;
        let mut f = hl7::split(&text);
        let m = match f.messages.pop() {
            Some(Ok(m)) if f.messages.is_empty() => m,
            _ => return Err(Failure::Dead("not-one-message".into())),
        };
        let purpose = m
            .purpose(&["P".into(), "T".into(), "D".into()])
            .map_err(|r| Failure::Dead(r.reason.into()))?;
        let id = self
            .shared
            .rules
            .choose_patient(&m.patient_candidates())
            .ok_or(Failure::Dead("no-patient-identifier".into()))?;
        let card = m.card();
        if item.kind == Kind::Patient || purpose == Purpose::Demographics {
            return Ok(Work::Patient { id, card });
        }
        let msh = &m.msh;
        let (bytes, file_name, intake) = match purpose {
            Purpose::Document => {
                let e = m
                    .embedded_document()
                    .ok_or(Failure::Dead("no-document".into()))?;
                let ext = match e.media_type.as_deref() {
                    Some("application/pdf") => "pdf",
                    Some("text/plain") => "txt",
                    Some("image/jpeg") => "jpg",
                    Some("image/png") => "png",
                    Some("text/html") => "html",
                    Some("application/rtf") | Some("text/rtf") => "rtf",
                    _ => "bin",
                };
                let name = format!(
                    "{}-{}.{ext}",
                    msh.message_type().replace('^', "-"),
                    safe(&msh.control_id)
                );
                let intake = Intake::from_bytes(&e.bytes, e.bytes.len() as u64, name.clone());
                (e.bytes, name, intake)
            }
            _ => {
                let name = format!(
                    "{}-{}.hl7",
                    msh.message_type().replace('^', "-"),
                    safe(&msh.control_id)
                );
                let bytes = text.clone().into_bytes();
                let intake = Intake::from_bytes(&bytes, bytes.len() as u64, name.clone());
                (bytes, name, intake)
            }
        };
        let _ = file_name;
        intake
            .check_patient(&id, false)
            .map_err(|e| Failure::Dead(intake_code(&e).into()))?;
        let category = intake
            .meta()
            .map_err(|e| Failure::Dead(intake_code(&e).into()))?
            .category;
        let message_type = msh.message_type();
        let decision = self.shared.rules.decide(&Facts {
            source: Some(Source::Hl7),
            message_type: Some(&message_type),
            sending_facility: Some(&msh.sending_facility),
            sending_application: Some(&msh.sending_application),
            class: Some(&category),
            critical: intake.is_critical(),
            ..Default::default()
        });
        let ordering = m
            .ordering_providers()
            .into_iter()
            .map(|p| p.id)
            .filter(|id| !id.is_empty())
            .collect();
        Ok(Work::Document {
            id,
            card,
            bytes,
            intake: Box::new(intake.urgent(decision.urgent)),
            decision,
            ordering,
        })
    }
}

/// A control id or similar as a file-name part.
fn safe(s: &str) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if t.is_empty() { "message".into() } else { t }
}

/// The patient a document names, when it names exactly one HKID.
fn only_hkid(intake: &Intake) -> Option<PatientIdentifier> {
    let ids: Vec<PatientIdentifier> = intake
        .classification()
        .patient
        .identifiers
        .iter()
        .filter_map(|i| i.as_patient_identifier())
        .collect();
    match ids.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn card_of(intake: &Intake) -> PatientCard {
    let p = &intake.classification().patient;
    PatientCard {
        name: p.name.clone(),
        birth_date: p.birth_date.clone(),
        sex: p.sex.clone(),
    }
}
