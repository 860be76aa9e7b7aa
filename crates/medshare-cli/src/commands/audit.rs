//! `medshare audit ...` and `medshare contact ...`: verifying the hub's log, privacy officers'
//! views of it, data access request exports, break-glass reviews, and patients' contacts for
//! access notices.

use super::records::{PatientArg, find, who};
use crate::profile;
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use medshare_audit::{LoggedEntry, Report, SignedTreeHead, audit_log, log_key_fingerprint};
use medshare_client::Client;
use medshare_client::audit::LogFilter;
use medshare_model::Handle;
use medshare_model::api::PatientContact;
use std::collections::HashMap;
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Show the hub's current signed tree head (checked against the one seen last time).
    Head,
    /// Rebuild the whole log and check it against every signed head; report any edited,
    /// deleted, inserted or reordered entry with its position. Exits non-zero if any.
    Verify(VerifyArgs),
    /// Entries of the log (privacy officers): your institution's members' actions and
    /// everything touching patients your institution filed records for.
    Log(LogArgs),
    /// Who opened one patient's records, when and why (privacy officers).
    History(HistoryArgs),
    /// Write a data access request export for one patient (PDPO s.18-19): their documents and
    /// full access history, with the signed head it belongs to (privacy officers).
    Export(ExportArgs),
    /// Show a break-glass record with its reason, opened with your institution's keys
    /// (privacy officers of the practitioner's institution).
    BreakGlass { id: i64 },
    /// Prove that one entry is in the hub's signed log.
    Prove { seq: i64 },
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Read the database named by the hub's configuration directly instead of asking the hub
    /// (operators, e.g. after restoring a backup or with the hub stopped).
    #[arg(long)]
    pub offline: bool,
    /// Hub configuration file (with --offline).
    #[arg(long, env = "MEDSHARE_CONFIG", requires = "offline")]
    pub config: Option<PathBuf>,
    /// Hub data folder (with --offline; overrides the configuration).
    #[arg(long, requires = "offline")]
    pub data_dir: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct LogArgs {
    /// Only entries about this patient.
    #[arg(long)]
    pub patient: Option<medshare_model::identifiers::PatientIdentifier>,
    /// Only entries by this practitioner (handle).
    #[arg(long)]
    pub practitioner: Option<Handle>,
    /// Only entries at or after this time (RFC 3339, e.g. 2026-11-27T00:00:00Z, or a date).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub patient: PatientArg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub patient: PatientArg,
    /// Output file (written 0600).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum ContactCmd {
    /// Tell the patient of every read of their records at this webhook (HTTPS).
    Set {
        #[command(flatten)]
        patient: PatientArg,
        #[arg(long)]
        webhook: String,
    },
    /// Stop access notices for the patient.
    Clear {
        #[command(flatten)]
        patient: PatientArg,
    },
}

fn parse_since(s: &str) -> anyhow::Result<i64> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.unix_timestamp());
    }
    let d = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| anyhow!("--since takes an RFC 3339 time or a date (YYYY-MM-DD)"))?;
    Ok(d.midnight().assume_utc().unix_timestamp())
}

fn time_of(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

pub async fn run(cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Verify(a) if a.offline => verify_offline(a).await,
        AuditCmd::Head => head().await,
        AuditCmd::Verify(a) => verify(a).await,
        AuditCmd::Log(a) => log(a).await,
        AuditCmd::History(a) => history(a).await,
        AuditCmd::Export(a) => export(a).await,
        AuditCmd::BreakGlass { id } => break_glass(id).await,
        AuditCmd::Prove { seq } => prove(seq).await,
    }
}

async fn head() -> anyhow::Result<()> {
    let c = profile::resume()?;
    let w = profile::witness_log(c.hub()).await?;
    let key: [u8; 32] = hex::decode(&w.log_key)?
        .try_into()
        .map_err(|_| anyhow!("corrupt log key"))?;
    crate::say!("entries:  {}", w.size);
    crate::say!("root:     {}", w.root);
    crate::say!("log key:  {}", log_key_fingerprint(&key));
    crate::say!("Consistent with every head this machine verified before.");
    Ok(())
}

fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        crate::say!("{}", serde_json::to_string_pretty(r)?);
    } else {
        crate::say!(
            "Rebuilt {} entries; checked against {} signed heads; root {}",
            r.entries,
            r.heads_checked,
            r.root.hash_hex()
        );
        if r.hidden > 0 {
            crate::say!(
                "{} entries are outside your institution's scope: checked by their leaf hash \
                 (their content is not shown to you)",
                r.hidden
            );
        }
        for f in &r.findings {
            crate::say!("  TAMPERED  {f}");
        }
        if r.is_intact() {
            crate::say!("The log is intact: nothing was edited, removed, inserted or reordered.");
        }
    }
    if r.is_intact() {
        Ok(())
    } else {
        Err(anyhow!(
            "the audit log does not match its signed heads ({} findings)",
            r.findings.len()
        ))
    }
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let c = profile::resume()?;
    let seen = profile::witnessed(c.hub().base())?;
    let (report, now) = c.verify_log(seen.as_ref()).await?;
    profile::remember(c.hub().base(), &now)?;
    print_report(&report, a.json)
}

async fn verify_offline(a: VerifyArgs) -> anyhow::Result<()> {
    let mut config = medshare_server::config::Config::load(a.config.as_deref())
        .context("invalid configuration: compare with `medshare config default`")?;
    if let Some(d) = a.data_dir {
        config.data_dir = d;
    }
    let seed = std::fs::read(config.audit_key_file())
        .with_context(|| format!("cannot read {}", config.audit_key_file().display()))?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| anyhow!("the audit log key file is corrupt"))?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let store = medshare_store::open(&config.database_url())
        .await
        .context("cannot open the metadata database")?;
    let mut entries: Vec<LoggedEntry> = Vec::new();
    loop {
        let after = entries.last().map_or(0, |e| e.seq);
        let page = store.audit_entries(after, 10_000).await?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    let mut heads: Vec<SignedTreeHead> = Vec::new();
    loop {
        let after = heads.last().map_or(0, |h| h.head.size);
        let page = store.audit_heads(after, 10_000).await?;
        if page.is_empty() {
            break;
        }
        heads.extend(page);
    }
    print_report(&audit_log(entries, &heads, &key, None), a.json)
}

/// Entries printed for people: verified practitioner names, times, actions, outcomes.
async fn print_entries(c: &Client, entries: &[LoggedEntry], json: bool) -> anyhow::Result<()> {
    if json {
        crate::say!("{}", serde_json::to_string_pretty(entries)?);
        return Ok(());
    }
    let mut names: HashMap<medshare_model::PractitionerId, String> = HashMap::new();
    for l in entries {
        let e = &l.entry;
        let actor = match e.actor {
            Some(a) => match names.get(&a) {
                Some(n) => n.clone(),
                None => {
                    let n = who(c, a).await;
                    names.insert(a, n.clone());
                    n
                }
            },
            None => "-".to_string(),
        };
        let mut line = format!(
            "#{:<6} {}  {:<28} {:<24} {:<7} {}",
            l.seq,
            time_of(e.at),
            actor,
            e.action,
            e.outcome,
            e.purpose
        );
        if let Some(d) = e.document {
            line.push_str(&format!("  document {d}"));
        }
        if let Some(p) = e.patient {
            line.push_str(&format!("  patient {p}"));
        }
        if let Some(d) = &e.detail {
            line.push_str(&format!("  [{d}]"));
        }
        crate::say!("{line}");
    }
    if entries.is_empty() {
        crate::say!("No entries.");
    }
    Ok(())
}

async fn log(a: LogArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let mut f = LogFilter::default();
    if let Some(p) = &a.patient {
        f.patient = Some(find(&c, p).await?.view.patient_id);
    }
    if let Some(h) = &a.practitioner {
        f.practitioner = Some(c.practitioner_by_handle(h).await?.cert.practitioner_id);
    }
    if let Some(s) = &a.since {
        f.since = Some(parse_since(s)?);
    }
    let entries = c.audit_log(&f).await?;
    print_entries(&c, &entries, a.json).await
}

async fn history(a: HistoryArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let patient = find(&c, &a.patient.patient).await?.view.patient_id;
    let entries: Vec<LoggedEntry> = c
        .audit_log(&LogFilter {
            patient: Some(patient),
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|l| {
            medshare_server::audit::watch::is_read(&l.entry.action)
                || l.entry.action == "break-glass"
        })
        .collect();
    if !a.json {
        crate::say!("Reads of patient {patient}'s records (time, who, what, outcome, basis):");
    }
    print_entries(&c, &entries, a.json).await
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let patient = find(&c, &a.patient.patient).await?.view.patient_id;
    let export = c.access_export(patient).await?;
    let json = serde_json::to_vec_pretty(&export)?;
    medshare_server::write_secret_file(&a.out, &json)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    crate::say!(
        "Wrote {} documents and {} access entries to {} (mode 0600), covered by signed head of size {}.",
        export.documents.len(),
        export.accesses.len(),
        a.out.display(),
        export.head.head.size
    );
    Ok(())
}

async fn break_glass(id: i64) -> anyhow::Result<()> {
    let c = profile::session().await?;
    let (rec, reason) = c.break_glass_reason(id).await?;
    crate::say!(
        "break-glass #{} by {} on patient {}",
        rec.id,
        who(&c, rec.practitioner_id).await,
        rec.patient_id
    );
    crate::say!(
        "opened {}  expires {}",
        rec.opened_at.format(&Rfc3339)?,
        rec.expires_at.format(&Rfc3339)?
    );
    crate::say!("reason: {reason}");
    Ok(())
}

async fn prove(seq: i64) -> anyhow::Result<()> {
    let c = profile::resume()?;
    let seen = profile::witness_log(c.hub()).await?;
    let res = c.prove_entry(seq, &seen).await?;
    crate::say!(
        "Entry #{seq} ({} {} at {}) is included in the signed head of size {} ({} proof hashes verified).",
        res.entry.entry.action,
        res.entry.entry.outcome,
        time_of(res.entry.entry.at),
        res.head.head.size,
        res.proof.0.len()
    );
    Ok(())
}

pub async fn contact(cmd: ContactCmd) -> anyhow::Result<()> {
    let c = profile::session().await?;
    match cmd {
        ContactCmd::Set { patient, webhook } => {
            let p = find(&c, &patient.patient).await?.view.patient_id;
            c.set_patient_contact(p, &PatientContact::Webhook { url: webhook })
                .await?;
            crate::say!(
                "The patient will be told of every read of their records (no health information is sent)."
            );
        }
        ContactCmd::Clear { patient } => {
            let p = find(&c, &patient.patient).await?.view.patient_id;
            c.clear_patient_contact(p).await?;
            crate::say!("Access notices stopped for this patient.");
        }
    }
    Ok(())
}
