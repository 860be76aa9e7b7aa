//! Runs after each committed batch, off the request path: queues access notices for patients
//! with a registered contact, and raises alerts to privacy officers for suspicious patterns.

use crate::config::AuditConfig;
use crate::notify::Notifier;
use medshare_audit::LoggedEntry;
use medshare_model::PractitionerId;
use medshare_model::api::{AlertRule, EventKind};
use medshare_model::registration::Role;
use medshare_store::{MetadataStore, PractitionerStatus, Result};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// Actions that read a patient's records (the timeline and both halves of opening a document).
pub fn is_read(action: &str) -> bool {
    matches!(
        action,
        "patient.search" | "document.fetch-manifest" | "document.fetch-content"
    )
}

pub async fn run(
    store: Arc<dyn MetadataStore>,
    notifier: Notifier,
    config: AuditConfig,
    outbox: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<Vec<LoggedEntry>>,
    clock: crate::clock::Clock,
) {
    while let Some(batch) = rx.recv().await {
        if let Err(e) = watch(&store, &notifier, &config, &outbox, &batch, clock.now()).await {
            tracing::error!(error = %e, "audit watch failed for a batch");
        }
    }
}

async fn watch(
    store: &Arc<dyn MetadataStore>,
    notifier: &Notifier,
    config: &AuditConfig,
    outbox: &Notify,
    batch: &[LoggedEntry],
    now: i64,
) -> Result<()> {
    let mut queued = false;
    // Only an entry that a rule counts can change that rule's count: a read through break-glass
    // or a care relationship, or a refusal. Reads through grants or one's own uploads (nearly
    // all of them) cost no query here; re-counting an actor's whole window for each of those
    // made this task fall behind a busy hub (its queue and the hub's memory grew by the minute).
    let mut readers = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for l in batch {
        let e = &l.entry;
        if let Some(actor) = e.actor {
            let counted_basis = matches!(e.purpose.as_str(), "break-glass" | "care-relationship");
            if is_read(&e.action) && (counted_basis || !e.allowed()) {
                readers.insert(actor);
            }
            if !e.allowed() {
                refused.insert(actor);
            }
        }
        let Some(patient) = e.patient else { continue };
        if e.allowed() && is_read(&e.action) && store.patient_contact(patient).await?.is_some() {
            queued |= store
                .queue_notice(
                    patient,
                    e.institution,
                    l.seq,
                    e.at,
                    e.at - config.notice_coalesce_secs,
                )
                .await?;
        }
    }
    if queued {
        outbox.notify_one();
    }
    for actor in readers {
        let patients = store
            .patients_read_without_standing_care(actor, now - config.alert_patients_window_secs)
            .await?;
        if patients >= config.alert_patients {
            alert(
                store,
                notifier,
                AlertRule::ManyPatients,
                actor,
                patients,
                now,
                config.alert_patients_window_secs,
            )
            .await?;
        }
    }
    for actor in refused {
        let denials = store
            .denials_by(actor, now - config.alert_denials_window_secs)
            .await?;
        if denials >= config.alert_denials {
            alert(
                store,
                notifier,
                AlertRule::RepeatedDenials,
                actor,
                denials,
                now,
                config.alert_denials_window_secs,
            )
            .await?;
        }
    }
    Ok(())
}

/// Tell the practitioner's privacy officers, once per window per rule.
async fn alert(
    store: &Arc<dyn MetadataStore>,
    notifier: &Notifier,
    rule: AlertRule,
    actor: PractitionerId,
    count: i64,
    now: i64,
    window: i64,
) -> Result<()> {
    if store
        .last_alert(rule.as_str(), actor)
        .await?
        .is_some_and(|at| at > now - window)
    {
        return Ok(());
    }
    let Some(who) = store.practitioner(actor).await? else {
        return Ok(());
    };
    store
        .record_alert(rule.as_str(), actor, Some(who.institution_id), now, count)
        .await?;
    tracing::warn!(rule = rule.as_str(), practitioner = %actor, count, "access alert raised");
    let officers = store
        .practitioners_of(who.institution_id, Some(PractitionerStatus::Certified))
        .await?
        .into_iter()
        .filter(|o| o.details.roles.contains(&Role::PrivacyOfficer));
    for o in officers {
        notifier
            .publish(
                store,
                o.id,
                EventKind::AccessAlert {
                    rule,
                    practitioner_id: actor,
                    count,
                },
            )
            .await;
    }
    Ok(())
}
