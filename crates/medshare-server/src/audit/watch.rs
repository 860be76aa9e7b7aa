//! Runs after each committed batch, off the request path: queues access notices for patients
//! with a registered contact, and raises alerts to privacy officers for suspicious patterns.

use crate::config::AuditConfig;
use crate::notify::Notifier;
use medshare_audit::LoggedEntry;
use medshare_model::PractitionerId;
use medshare_model::api::{AlertRule, EventKind};
use medshare_model::registration::Role;
use medshare_store::{MetadataStore, PractitionerStatus, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, sleep_until};

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
    let mut recounts = Recounts::new(Duration::from_millis(config.alert_recount_ms));
    loop {
        let due = recounts.next_due();
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { break };
                if let Err(e) = notices(&store, &config, &outbox, &batch).await {
                    tracing::error!(error = %e, "audit watch failed for a batch");
                }
                recounts.mark(&batch, Instant::now());
            }
            () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
        }
        for (actor, rule) in recounts.take_due(Instant::now()) {
            if let Err(e) = count(&store, &notifier, &config, actor, rule, clock.now()).await {
                tracing::error!(error = %e, rule = rule.as_str(), "audit watch could not count");
            }
        }
    }
    // The hub is stopping: count what is still marked.
    for (actor, rule) in recounts.take_all() {
        if let Err(e) = count(&store, &notifier, &config, actor, rule, clock.now()).await {
            tracing::error!(error = %e, rule = rule.as_str(), "audit watch could not count");
        }
    }
}

/// Queue access notices for the patients read in `batch` who have a registered contact.
async fn notices(
    store: &Arc<dyn MetadataStore>,
    config: &AuditConfig,
    outbox: &Notify,
    batch: &[LoggedEntry],
) -> Result<()> {
    let mut queued = false;
    // One look-up per patient and institution a batch reads, not one per entry: the notice
    // coalesces reads of one institution within `notice_coalesce_secs` anyway.
    let mut seen = BTreeSet::new();
    for l in batch {
        let e = &l.entry;
        let Some(patient) = e.patient else { continue };
        let counted = e.allowed() && is_read(&e.action);
        if !counted || !seen.insert((patient, e.institution)) {
            continue;
        }
        if store.patient_contact(patient).await?.is_some() {
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
    Ok(())
}

/// Which practitioners' windows need counting for which rule, and when each was last counted.
///
/// Only an entry a rule counts can change that rule's count: a read through break-glass or a
/// care relationship, or a refusal. Reads through grants or one's own uploads (nearly all of
/// them) mark nobody. A marked practitioner is counted at once if their last count is at least
/// `every` old, else when it becomes so: a busy practitioner costs one count per interval (the
/// count reads their whole window, which grows with their reads) instead of one per batch.
/// Re-counting per batch made this task the hub's biggest consumer of CPU within minutes of a
/// busy doctor declaring care (the soak in docs/benchmarks.md §8).
struct Recounts {
    every: Duration,
    state: BTreeMap<(PractitionerId, AlertRule), Mark>,
}

#[derive(Clone, Copy)]
struct Mark {
    /// When it was last counted.
    counted: Option<Instant>,
    /// Marked since (not counted since).
    marked: Option<Instant>,
}

impl Recounts {
    fn new(every: Duration) -> Self {
        Self {
            every,
            state: BTreeMap::new(),
        }
    }

    fn mark(&mut self, batch: &[LoggedEntry], now: Instant) {
        for l in batch {
            let e = &l.entry;
            let Some(actor) = e.actor else { continue };
            let counted_basis = matches!(e.purpose.as_str(), "break-glass" | "care-relationship");
            if is_read(&e.action) && (counted_basis || !e.allowed()) {
                self.set(actor, AlertRule::ManyPatients, now);
            }
            if !e.allowed() {
                self.set(actor, AlertRule::RepeatedDenials, now);
            }
        }
        // Forget practitioners counted long enough ago and not marked since.
        let every = self.every;
        self.state
            .retain(|_, m| m.marked.is_some() || m.counted.is_some_and(|at| now < at + every));
    }

    fn set(&mut self, actor: PractitionerId, rule: AlertRule, now: Instant) {
        let m = self.state.entry((actor, rule)).or_insert(Mark {
            counted: None,
            marked: None,
        });
        m.marked.get_or_insert(now);
    }

    fn due_at(&self, m: &Mark) -> Option<Instant> {
        let marked = m.marked?;
        Some(match m.counted {
            Some(at) => marked.max(at + self.every),
            None => marked,
        })
    }

    /// When the earliest marked practitioner is due.
    fn next_due(&self) -> Option<Instant> {
        self.state.values().filter_map(|m| self.due_at(m)).min()
    }

    /// The marked practitioners due by `now`, marked as counted.
    fn take_due(&mut self, now: Instant) -> Vec<(PractitionerId, AlertRule)> {
        let due: Vec<_> = self
            .state
            .iter()
            .filter(|(_, m)| self.due_at(m).is_some_and(|at| at <= now))
            .map(|(k, _)| *k)
            .collect();
        for k in &due {
            self.state.insert(
                *k,
                Mark {
                    counted: Some(now),
                    marked: None,
                },
            );
        }
        due
    }

    fn take_all(&mut self) -> Vec<(PractitionerId, AlertRule)> {
        let all = self
            .state
            .iter()
            .filter(|(_, m)| m.marked.is_some())
            .map(|(k, _)| *k)
            .collect();
        self.state.clear();
        all
    }
}

/// Count `actor`'s window for `rule` and alert when it reaches the threshold.
async fn count(
    store: &Arc<dyn MetadataStore>,
    notifier: &Notifier,
    config: &AuditConfig,
    actor: PractitionerId,
    rule: AlertRule,
    now: i64,
) -> Result<()> {
    let (window, threshold) = match rule {
        AlertRule::ManyPatients => (config.alert_patients_window_secs, config.alert_patients),
        AlertRule::RepeatedDenials => (config.alert_denials_window_secs, config.alert_denials),
    };
    // Already alerted within the window: nothing to count (one alert per rule and window).
    if store
        .last_alert(rule.as_str(), actor)
        .await?
        .is_some_and(|at| at > now - window)
    {
        return Ok(());
    }
    let n = match rule {
        AlertRule::ManyPatients => {
            store
                .patients_read_without_standing_care(actor, now - window)
                .await?
        }
        AlertRule::RepeatedDenials => store.denials_by(actor, now - window).await?,
    };
    if n >= threshold {
        alert(store, notifier, rule, actor, n, now, window).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_audit::Entry;

    fn read(actor: PractitionerId, basis: &str, outcome: &str) -> LoggedEntry {
        LoggedEntry {
            seq: 1,
            entry: Entry {
                at: 0,
                actor: Some(actor),
                institution: None,
                action: "patient.search".into(),
                document: None,
                patient: None,
                outcome: outcome.into(),
                purpose: basis.into(),
                detail: None,
            },
            leaf: None,
        }
    }

    #[test]
    fn a_busy_practitioner_is_counted_once_per_interval_and_never_missed() {
        let every = Duration::from_secs(2);
        let mut r = Recounts::new(every);
        let (a, b) = (PractitionerId::new(), PractitionerId::new());
        let t0 = Instant::now();

        // Reads through a grant mark nobody.
        r.mark(&[read(a, "grant", "allowed")], t0);
        assert_eq!(r.next_due(), None);
        assert!(r.take_due(t0).is_empty());

        // A care-relationship read is counted at once the first time.
        r.mark(&[read(a, "care-relationship", "allowed")], t0);
        assert_eq!(r.take_due(t0), vec![(a, AlertRule::ManyPatients)]);

        // More such reads inside the interval wait for its end, and are then counted once.
        for i in 1..10 {
            r.mark(
                &[read(a, "care-relationship", "allowed")],
                t0 + Duration::from_millis(i * 100),
            );
        }
        assert!(r.take_due(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(r.next_due(), Some(t0 + every));
        assert_eq!(r.take_due(t0 + every), vec![(a, AlertRule::ManyPatients)]);
        assert!(
            r.take_due(t0 + every * 3).is_empty(),
            "counted once, not again"
        );

        // A refusal marks both rules of its actor, independently of other actors.
        r.mark(&[read(b, "not-shared", "denied")], t0 + every * 3);
        let mut due = r.take_due(t0 + every * 3);
        due.sort();
        let mut want = vec![
            (b, AlertRule::ManyPatients),
            (b, AlertRule::RepeatedDenials),
        ];
        want.sort();
        assert_eq!(due, want);

        // Marks left when the hub stops are all counted.
        r.mark(&[read(b, "break-glass", "allowed")], t0 + every * 3);
        assert_eq!(r.take_all(), vec![(b, AlertRule::ManyPatients)]);
        assert_eq!(r.next_due(), None);

        // Long-unmarked practitioners are forgotten (bounded memory).
        r.mark(&[read(a, "break-glass", "allowed")], t0 + every * 10);
        r.take_due(t0 + every * 10);
        r.mark(&[], t0 + every * 20);
        assert!(r.state.is_empty());
    }
}
