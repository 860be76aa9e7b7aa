//! Delivers access notices to patients' registered contacts, as eHRSS tells patients of each
//! access. A notice carries no health information: the time, the reading institution's name
//! and the audit entry's sequence number as a reference to quote to the institution.

use crate::config::AuditConfig;
use crate::outbound::Guarded;
use medshare_store::{MetadataStore, NoticeRow, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What the patient's webhook receives.
#[derive(Serialize)]
struct Notice {
    r#type: &'static str,
    /// RFC 3339 time of the read.
    at: String,
    /// The reading institution's name.
    institution: Option<String>,
    /// Audit entry reference (sequence number).
    reference: i64,
}

pub async fn run(
    store: Arc<dyn MetadataStore>,
    config: AuditConfig,
    http: Guarded,
    wake: Arc<Notify>,
    shutdown: tokio_util::sync::CancellationToken,
    clock: crate::clock::Clock,
) {
    loop {
        match store.due_notices(clock.now(), 50).await {
            Ok(due) => {
                for n in due {
                    if let Err(e) = deliver(&store, &config, &http, &n, clock.now()).await {
                        tracing::error!(error = %e, "could not record a notice delivery");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read due notices"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn deliver(
    store: &Arc<dyn MetadataStore>,
    config: &AuditConfig,
    http: &Guarded,
    n: &NoticeRow,
    now: i64,
) -> Result<()> {
    let Some(contact) = store.patient_contact(n.patient_id).await? else {
        // The contact was removed since: nobody to tell.
        return store.notice_retry(n.id, n.attempts, now, true).await;
    };
    let institution = match n.institution_id {
        Some(id) => store.institution(id).await?.map(|i| i.name),
        None => None,
    };
    let body = Notice {
        r#type: "medshare.record-accessed",
        at: crate::state::at(n.at)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        institution,
        reference: n.seq,
    };
    // Checked again at every delivery, address by address as it resolves (see `outbound`).
    let ok = contact.kind == "webhook"
        && http
            .post_json(&contact.address, &body, &[])
            .await
            .is_ok_and(|r| r.status().is_success());
    if ok {
        return store.notice_delivered(n.id, now).await;
    }
    let attempts = n.attempts + 1;
    let give_up = attempts >= config.notice_max_attempts;
    // 30 s, 1 min, 2 min ... capped at 6 h.
    let backoff = (30i64 << attempts.min(10)).min(6 * 3600);
    tracing::warn!(
        attempts,
        give_up,
        "a patient access notice was not delivered"
    );
    store
        .notice_retry(n.id, attempts, now + backoff, give_up)
        .await
}
