//! The client's side of the audit trail: witnessing the hub's log (remember the last verified
//! tree head and demand proof on every contact that the log only grew), rebuilding the whole
//! log for auditors, and privacy officers' queries, exports and break-glass reviews.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::session::Client;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_audit::api::{DataAccessExport, HeadResponse, InclusionResponse};
use medshare_audit::{
    HeadError, LoggedEntry, Report, Root, SignedTreeHead, VisibleEntry, audit_log,
    verify_consistency, verify_inclusion,
};
use medshare_model::api::{BreakGlassRecord, PatientContact};
use medshare_model::{PatientId, PractitionerId};
use serde::{Deserialize, Serialize};

/// A tree head this client verified, remembered per hub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witnessed {
    /// The hub's log key (hex), pinned on first contact.
    pub log_key: String,
    /// Number of entries the head covers.
    pub size: u64,
    /// Root hash (hex).
    pub root: String,
}

impl Witnessed {
    fn key(&self) -> Result<[u8; 32]> {
        hex::decode(&self.log_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| ClientError::Invalid("the remembered audit head is corrupt".into()))
    }

    /// The remembered root.
    pub fn root(&self) -> Result<Root> {
        Root::from_hex(self.size, &self.root)
            .ok_or_else(|| ClientError::Invalid("the remembered audit head is corrupt".into()))
    }

    fn from(key: &[u8; 32], root: Root) -> Self {
        Self {
            log_key: hex::encode(key),
            size: root.size,
            root: root.hash_hex(),
        }
    }
}

fn head_error(e: HeadError) -> ClientError {
    ClientError::Trust(match e {
        HeadError::WrongKey => {
            "the hub's audit log is signed by another key than the one pinned on first contact"
        }
        _ => "the hub's audit tree head does not verify",
    })
}

/// Fetch the hub's current signed head and check it against what this client saw before: it
/// must be signed with the pinned log key (pinned now on first contact) and extend the
/// remembered head. A hub that rewrote, truncated or forked its history fails here.
pub async fn witness(hub: &Hub, seen: Option<&Witnessed>) -> Result<(Witnessed, SignedTreeHead)> {
    let path = match seen {
        Some(w) if w.size > 0 => format!("/v1/audit/head?from={}", w.size),
        _ => "/v1/audit/head".to_string(),
    };
    let res: HeadResponse = hub.get(&path).await?;
    let key = match seen {
        Some(w) => w.key()?,
        None => res.head.key().map_err(head_error)?,
    };
    let root = res.head.verify(&key).map_err(head_error)?;
    if let Some(w) = seen {
        verify_consistency(&w.root()?, &root, &res.consistency.unwrap_or_default()).map_err(
            |_| {
                ClientError::Trust(
                    "the hub's audit log does not extend the history this client verified before: it was rewritten or forked",
                )
            },
        )?;
    }
    Ok((Witnessed::from(&key, root), res.head))
}

/// What a privacy officer asks of the log.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    /// Only entries about this patient.
    pub patient: Option<PatientId>,
    /// Only entries by this practitioner.
    pub practitioner: Option<PractitionerId>,
    /// Unix seconds.
    pub since: Option<i64>,
}

/// Entries per page when paging through the log.
const PAGE: i64 = 5000;

impl Client {
    /// Rebuild the whole log up to the hub's current signed head and check it against every
    /// signed head and the head this client remembered. Returns the report and the new head
    /// to remember.
    pub async fn verify_log(&self, seen: Option<&Witnessed>) -> Result<(Report, Witnessed)> {
        let (now, head) = witness(self.hub(), seen).await?;
        let key = now.key()?;
        // Entries outside this auditor's scope come as their leaf only.
        let mut entries: Vec<VisibleEntry> = Vec::new();
        let mut after = 0i64;
        'pages: loop {
            let page: Vec<VisibleEntry> = self
                .hub()
                .get(&format!("/v1/audit/entries?after={after}&limit={PAGE}"))
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq();
            for e in page {
                // Entries appended after the head (including this verification's own) are
                // not covered by it yet.
                if u64::try_from(e.seq()).unwrap_or(0) > head.head.size {
                    break 'pages;
                }
                entries.push(e);
            }
        }
        let mut heads: Vec<SignedTreeHead> = Vec::new();
        let mut after = 0u64;
        loop {
            let page: Vec<SignedTreeHead> = self
                .hub()
                .get(&format!("/v1/audit/heads?after={after}&limit={PAGE}"))
                .await?;
            let Some(last) = page.last() else { break };
            after = last.head.size;
            heads.extend(page.into_iter().filter(|h| h.head.size <= head.head.size));
        }
        if !heads.iter().any(|h| h.head.size == head.head.size) && head.head.size > 0 {
            heads.push(head);
        }
        let remembered = seen.map(Witnessed::root).transpose()?;
        Ok((audit_log(entries, &heads, &key, remembered), now))
    }

    /// One entry, with its inclusion in the hub's signed head checked here.
    pub async fn prove_entry(&self, seq: i64, seen: &Witnessed) -> Result<InclusionResponse> {
        let res: InclusionResponse = self
            .hub()
            .get(&format!("/v1/audit/inclusion/{seq}"))
            .await?;
        let root = res.head.verify(&seen.key()?).map_err(head_error)?;
        let index = u64::try_from(seq - 1)
            .map_err(|_| ClientError::Invalid("bad sequence number".into()))?;
        verify_inclusion(&root, index, &res.entry.entry.leaf(), &res.proof).map_err(|_| {
            ClientError::Trust("the hub's inclusion proof does not lead to its signed head")
        })?;
        if res.entry.seq != seq {
            return Err(ClientError::Trust(
                "the hub proved another entry than the one asked for",
            ));
        }
        Ok(res)
    }

    /// A privacy officer's view of the log, every page.
    pub async fn audit_log(&self, f: &LogFilter) -> Result<Vec<LoggedEntry>> {
        let mut out = Vec::new();
        let mut after = 0i64;
        loop {
            let mut path = format!("/v1/audit/log?after={after}&limit={PAGE}");
            if let Some(p) = f.patient {
                path.push_str(&format!("&patient={p}"));
            }
            if let Some(p) = f.practitioner {
                path.push_str(&format!("&practitioner={p}"));
            }
            if let Some(s) = f.since {
                path.push_str(&format!("&since={s}"));
            }
            let page: Vec<LoggedEntry> = self.hub().get(&path).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            out.extend(page);
        }
        Ok(out)
    }

    /// A data access request export for one patient.
    pub async fn access_export(&self, patient: PatientId) -> Result<DataAccessExport> {
        let export: DataAccessExport = self
            .hub()
            .get(&format!("/v1/audit/patients/{patient}/export"))
            .await?;
        if export.patient_id != patient {
            return Err(ClientError::Trust(
                "the hub exported another patient than the one asked for",
            ));
        }
        Ok(export)
    }

    /// A break-glass record with its reason opened with this privacy officer's institution
    /// keyring (the hub only ever held it sealed).
    pub async fn break_glass_reason(&self, id: i64) -> Result<(BreakGlassRecord, String)> {
        let rec: BreakGlassRecord = self
            .hub()
            .get(&format!("/v1/audit/break-glass/{id}"))
            .await?;
        let ctx = self.context().await?;
        let key = ctx.epochs.get(&rec.reason_epoch).ok_or(ClientError::Trust(
            "the reason is sealed to an institution key you do not hold",
        ))?;
        let sealed = B64
            .decode(&rec.reason)
            .map_err(|_| ClientError::Invalid("the sealed reason is malformed".into()))?;
        let plain = medshare_crypto::seal::open_bytes(key, &sealed)?;
        let reason = String::from_utf8_lossy(&plain).into_owned();
        Ok((rec, reason))
    }

    /// Register a webhook that is told of every read of the patient's records.
    pub async fn set_patient_contact(&self, patient: PatientId, c: &PatientContact) -> Result<()> {
        let rb = self
            .hub()
            .request(
                reqwest::Method::PUT,
                &format!("/v1/patients/{patient}/contact"),
            )
            .json(c);
        Hub::check(rb.send().await?).await?;
        Ok(())
    }

    /// Remove the contact this patient's access notices go to.
    pub async fn clear_patient_contact(&self, patient: PatientId) -> Result<()> {
        self.hub()
            .delete(&format!("/v1/patients/{patient}/contact"))
            .await
    }
}
