//! The practitioner's record commands. Everything is encrypted or decrypted here; the hub only
//! sees ciphertext and a keyed hash of the patient number.

use crate::profile;
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use medshare_client::{Client, ConsentTarget, Intake, Share};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_model::{DocumentId, Handle};
use std::path::PathBuf;
use time::OffsetDateTime;

#[derive(Args)]
pub struct PatientArg {
    /// Patient identifier: HKID (A123456(3)), PASSPORT:GB:123456789 or MRN:QMH:000123.
    #[arg(long)]
    pub patient: PatientIdentifier,
}

#[derive(Args)]
pub struct UploadArgs {
    /// Files to upload (each becomes one document).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub patient: PatientArg,
    /// Share with a colleague: `handle`, or `handle@INSTITUTION` to also require their
    /// institution (checked against their certificate). Repeatable.
    #[arg(long = "share")]
    pub share: Vec<String>,
    /// Shares expire after this long (e.g. 7d, 12h) or at an RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// Title (default: what classification found, else the file name).
    #[arg(long)]
    pub title: Option<String>,
    /// Category, e.g. lab-report, imaging-report, discharge-summary (default: classified).
    #[arg(long)]
    pub category: Option<String>,
    /// Date of service (YYYY-MM-DD; default: classified from the document).
    #[arg(long)]
    pub date: Option<String>,
    /// Upload even though the file names a different patient identifier than --patient.
    #[arg(long)]
    pub accept_identifier_mismatch: bool,
    /// For a patient seen here for the first time: name, birth date, sex (sealed card).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub birth_date: Option<String>,
    #[arg(long)]
    pub sex: Option<String>,
    /// If a file holds critical results, ask an urgent consult about it of this colleague
    /// (`HANDLE`) or on-call list (`oncall:NAME`, `oncall:CODE/NAME`), with the document.
    #[arg(long)]
    pub urgent_to: Option<String>,
    /// Acknowledgement window of that consult (e.g. 10m, 1h).
    #[arg(long, default_value = crate::commands::consults::DEFAULT_WITHIN)]
    pub urgent_within: String,
}

#[derive(Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub patient: PatientArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct GetArgs {
    pub document: DocumentId,
    /// Output file (default: the document's file name in the current folder; `-` for stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct ShareArgs {
    pub document: DocumentId,
    /// `handle`, or `handle@INSTITUTION` to also require their institution.
    #[arg(long)]
    pub with: String,
    #[arg(long)]
    pub expires: Option<String>,
}

#[derive(Args)]
pub struct RevokeArgs {
    pub document: DocumentId,
    #[arg(long)]
    pub with: Handle,
}

#[derive(Subcommand)]
pub enum ConsentCmd {
    /// The patient consents to share with an institution (by code) or `alliance`.
    Grant {
        #[command(flatten)]
        patient: PatientArg,
        #[arg(long)]
        to: String,
    },
    /// Withdraw consent from an institution (by code) or `alliance`.
    Revoke {
        #[command(flatten)]
        patient: PatientArg,
        #[arg(long)]
        to: String,
    },
}

#[derive(Args)]
pub struct CareArgs {
    #[command(flatten)]
    pub patient: PatientArg,
    /// A colleague of your institution (default: yourself).
    #[arg(long)]
    pub practitioner: Option<Handle>,
}

#[derive(Args)]
pub struct BreakGlassArgs {
    #[command(flatten)]
    pub patient: PatientArg,
    /// Why emergency access is needed (sealed to your institution's privacy officers).
    #[arg(long)]
    pub reason: String,
}

#[derive(Args)]
pub struct InboxArgs {
    /// Keep listening for new notifications.
    #[arg(long)]
    pub follow: bool,
    /// Show notifications after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub since: i64,
}

/// `7d`, `12h`, `30m` from now, or an RFC 3339 time.
pub fn parse_expiry(s: &str) -> anyhow::Result<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow!("expiry must look like 7d, 12h, 30m or an RFC 3339 time"))?;
    let d = match unit {
        "d" => time::Duration::days(n),
        "h" => time::Duration::hours(n),
        "m" => time::Duration::minutes(n),
        _ => anyhow::bail!("expiry must look like 7d, 12h, 30m or an RFC 3339 time"),
    };
    if n <= 0 {
        anyhow::bail!("expiry must be in the future");
    }
    Ok(OffsetDateTime::now_utc() + d)
}

fn bar(len: u64, verb: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    pb.set_message(verb.to_string());
    pb
}

pub(crate) async fn find(
    c: &Client,
    id: &PatientIdentifier,
) -> anyhow::Result<medshare_client::Patient> {
    c.find_patient(id)
        .await?
        .ok_or(anyhow!("no patient with that identifier is registered"))
}

pub async fn upload(a: UploadArgs) -> anyhow::Result<()> {
    // Classify every file first, on this machine: a wrong patient stops the whole upload
    // before anything (even a new patient registration) reaches the hub.
    let mut intakes = Vec::new();
    for path in &a.files {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "document".into());
        let intake = Intake::new(crate::commands::classify::classify_path(path)?, file_name)
            .title(a.title.clone())
            .category(a.category.clone())
            .date_of_service(a.date.clone());
        if intake
            .check_patient(&a.patient.patient, a.accept_identifier_mismatch)
            .is_err()
        {
            anyhow::bail!(
                "{} names a different patient identifier than --patient: check that this is the \
                 right patient's document, or pass --accept-identifier-mismatch to upload it anyway",
                path.display()
            );
        }
        let meta = intake
            .meta()
            .with_context(|| format!("{}", path.display()))?;
        intakes.push((intake, meta));
    }
    let urgent_to: Option<medshare_client::consults::Recipient> =
        a.urgent_to.as_deref().map(str::parse).transpose()?;
    let urgent_within = crate::commands::consults::parse_within(&a.urgent_within)?;
    let c = profile::session().await?;
    let expires = a.expires.as_deref().map(parse_expiry).transpose()?;
    let shares = a
        .share
        .iter()
        .map(|h| Share::parse(h, expires))
        .collect::<Result<Vec<Share>, _>>()?;
    let card = PatientCard {
        name: a.name.clone(),
        birth_date: a.birth_date.clone(),
        sex: a.sex.clone(),
    };
    let patient = c.ensure_patient(&a.patient.patient, &card).await?;
    let (registered, holders) = c.patient_holders(&patient).await?;
    crate::say!(
        "Filing for a patient registered by {registered}; their care teams at {} can read it",
        holders.join(", ")
    );
    let mut critical = Vec::new();
    for (path, (intake, meta)) in a.files.iter().zip(intakes) {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata()?.len();
        if intake.is_critical() {
            crate::say!(
                "URGENT: {} contains critical results ({})",
                path.display(),
                meta.category
            );
        }
        let critical_title = intake.is_critical().then(|| meta.title.clone());
        let pb = bar(len, "sealing");
        let pb2 = pb.clone();
        let doc = c
            .upload(
                std::io::BufReader::new(file),
                &patient,
                meta,
                &shares,
                move |n| pb2.inc(n),
            )
            .await
            .with_context(|| format!("uploading {} failed", path.display()))?;
        pb.finish_and_clear();
        crate::say!("{}  {}", doc.document_id, path.display());
        if let Some(title) = critical_title {
            critical.push((doc.document_id, title));
        }
    }
    if let Some(to) = urgent_to
        && !critical.is_empty()
    {
        let titles: Vec<&str> = critical.iter().map(|(_, t)| t.as_str()).collect();
        let view = c
            .request_consult(
                &patient,
                &medshare_client::consults::ConsultRequest {
                    to,
                    question: format!(
                        "Critical result filed: {}. Please review and acknowledge.",
                        titles.join("; ")
                    ),
                    documents: critical.iter().map(|(d, _)| *d).collect(),
                    ack_within_secs: urgent_within,
                    urgent: true,
                },
            )
            .await
            .context("the documents are filed, but the urgent consult could not be asked")?;
        crate::say!(
            "URGENT consult {} asked of {}; acknowledge within {} s",
            view.consult_id,
            who(&c, view.chain[0]).await,
            view.ack_within_secs
        );
    }
    for s in &shares {
        // Only what the verified certificate says, never what was typed or what the hub said.
        let p = c.practitioner_by_handle(&s.with).await?;
        crate::say!("Shared with {}", c.describe(&p));
    }
    Ok(())
}

pub async fn search(a: SearchArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let t = c.timeline(&a.patient.patient).await?;
    if a.json {
        let rows: Vec<serde_json::Value> = t
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "document_id": e.document_id,
                    "manifest": e.manifest,
                    "uploader": { "handle": e.uploader.cert.handle, "name": e.uploader.cert.name, "institution": e.institution_id },
                    "uploaded_at": e.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "size": e.size,
                })
            })
            .collect();
        crate::say!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "patient": t.card, "documents": rows })
            )?
        );
        return Ok(());
    }
    if t.patient.is_none() {
        crate::say!("No records you may read for this patient.");
        return Ok(());
    }
    if let Some(card) = &t.card {
        crate::say!(
            "{}  born {}  {}",
            card.name.as_deref().unwrap_or("(name not recorded)"),
            card.birth_date.as_deref().unwrap_or("?"),
            card.sex.as_deref().unwrap_or("")
        );
    }
    if let Some(p) = &t.patient {
        let (registered, holders) = c.patient_holders(p).await?;
        crate::say!(
            "Registered by {registered}; consents to share with {}",
            holders.join(", ")
        );
    }
    let mut entries = t.entries;
    entries.sort_by(|a, b| {
        b.manifest
            .date_of_service
            .cmp(&a.manifest.date_of_service)
            .then(b.created_at.cmp(&a.created_at))
    });
    for e in entries {
        crate::say!(
            "{}  {:10}  {:18}  {}  ({}, {})",
            e.document_id,
            e.manifest.date_of_service.as_deref().unwrap_or("-"),
            e.manifest.category,
            e.manifest.title,
            e.uploader.cert.name,
            e.uploader.cert.handle
        );
    }
    Ok(())
}

pub async fn get(a: GetArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let doc = c.open_document(a.document).await?;
    let out = a
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(sanitize(&doc.manifest.file_name)));
    if out.as_os_str() == "-" {
        c.download(&doc, std::io::stdout(), |_| {}).await?;
        return Ok(());
    }
    if out.exists() {
        anyhow::bail!("{} already exists", out.display());
    }
    // Decrypt into a temporary file beside the target; only a verified result is renamed.
    let tmp = out.with_extension("medshare-partial");
    // A decrypted record is health information: readable by its owner only.
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let pb = bar(doc.manifest.size, "opening");
    let pb2 = pb.clone();
    let res = c
        .download(&doc, std::io::BufWriter::new(file), move |n| pb2.inc(n))
        .await;
    pb.finish_and_clear();
    match res {
        Ok(n) => {
            std::fs::rename(&tmp, &out)?;
            crate::say!(
                "{} ({} bytes, signature verified: {} {})",
                out.display(),
                n,
                doc.uploader.cert.name,
                doc.uploader.cert.handle
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e.into())
        }
    }
}

/// A file name without folders or hidden-file tricks.
fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("document");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() {
        "document".into()
    } else {
        clean.to_string()
    }
}

pub async fn share(a: ShareArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let expires_at = a.expires.as_deref().map(parse_expiry).transpose()?;
    let p = c
        .share(a.document, &Share::parse(&a.with, expires_at)?)
        .await?;
    crate::say!("Shared {} with {}", a.document, c.describe(&p));
    Ok(())
}

pub async fn revoke(a: RevokeArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let p = c.revoke(a.document, &a.with).await?;
    crate::say!(
        "Revoked the access of {} to {} (what they already downloaded cannot be recalled)",
        c.describe(&p),
        a.document
    );
    Ok(())
}

async fn target(c: &Client, to: &str) -> anyhow::Result<ConsentTarget> {
    Ok(c.consent_target(to).await?)
}

pub async fn consent(cmd: ConsentCmd) -> anyhow::Result<()> {
    let c = profile::session().await?;
    match cmd {
        ConsentCmd::Grant { patient, to } => {
            let p = find(&c, &patient.patient).await?;
            c.grant_consent(&p, &target(&c, &to).await?).await?;
            crate::say!("Consent recorded: the patient's records are shared with {to}");
        }
        ConsentCmd::Revoke { patient, to } => {
            let p = find(&c, &patient.patient).await?;
            c.revoke_consent(&p, &target(&c, &to).await?).await?;
            crate::say!("Consent withdrawn from {to}; new records use a new patient key");
        }
    }
    Ok(())
}

pub async fn care(a: CareArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let p = find(&c, &a.patient.patient).await?;
    let who = match &a.practitioner {
        Some(h) => Some(c.practitioner_by_handle(h).await?.cert.practitioner_id),
        None => None,
    };
    c.declare_care(&p, who).await?;
    crate::say!("Care relationship recorded");
    Ok(())
}

pub async fn break_glass(a: BreakGlassArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let p = find(&c, &a.patient.patient).await?;
    let g = c.break_glass(&p, &a.reason).await?;
    crate::say!(
        "Emergency access open until {}. This access is recorded and your privacy officers have been told.",
        g.expires_at
    );
    Ok(())
}

/// "Name (handle)" of a practitioner, verified against the alliance root; the id if unknown.
pub(crate) async fn who(c: &Client, id: medshare_model::PractitionerId) -> String {
    match c.trust().fetch_practitioner(c.hub(), id).await {
        Ok(p) => format!("{} ({})", p.cert.name, p.cert.handle),
        Err(_) => id.to_string(),
    }
}

async fn print_event(c: &Client, e: &medshare_model::api::Event) {
    use medshare_model::api::EventKind::*;
    let at =
        e.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    let what = match &e.event {
        Shared {
            document_id,
            patient_id,
            by,
        } => {
            format!(
                "{} shared document {document_id} (patient {patient_id})",
                who(c, *by).await
            )
        }
        Revoked { document_id, by } => format!(
            "{} revoked your access to document {document_id}",
            who(c, *by).await
        ),
        BreakGlass { patient_id, by } => format!(
            "BREAK-GLASS: {} opened emergency access to patient {patient_id}",
            who(c, *by).await
        ),
        Uploaded {
            document_id,
            patient_id,
            by,
        } => {
            format!(
                "{} uploaded document {document_id} (patient {patient_id})",
                who(c, *by).await
            )
        }
        Certified { .. } => "your key was certified: you can now work with records".to_string(),
        AccessAlert {
            rule,
            practitioner_id,
            count,
        } => format!(
            "ACCESS ALERT ({}): {} — {count} in the rule's window; see `medshare audit log --practitioner {practitioner_id}`",
            rule.as_str(),
            who(c, *practitioner_id).await
        ),
        RoomActivity { room_id, seq, by } => format!(
            "{} posted in room {room_id} (#{seq}); see `medshare room history {room_id}`",
            who(c, *by).await
        ),
        RoomInvited { room_id, by } => format!(
            "{} added you to room {room_id}; see `medshare room history {room_id}`",
            who(c, *by).await
        ),
        Consult {
            consult_id,
            step,
            by,
        } => format!(
            "URGENT CONSULT {consult_id}: {} ({}); see `medshare consult list`",
            step.as_str(),
            who(c, *by).await
        ),
    };
    crate::say!("#{:<6} {at}  {what}", e.seq);
}

pub async fn inbox(a: InboxArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let mut last = a.since;
    for e in c.inbox(a.since).await? {
        last = e.seq;
        print_event(&c, &e).await;
    }
    if !a.follow {
        return Ok(());
    }
    loop {
        let mut s = Box::pin(c.follow(last).await?);
        while let Some(e) = s.next().await {
            let e = e?;
            last = e.seq;
            print_event(&c, &e).await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}
