//! Notifications: stored per recipient (so `inbox` shows history) and fanned out to live
//! Server-Sent Events streams. Events carry ids only, never health information.
//!
//! One hub (SQLite): `publish` wakes this process's streams directly. Several replicas
//! (PostgreSQL): storing an event makes the database announce `(recipient, seq)` on a
//! `LISTEN`/`NOTIFY` channel; every replica, the publishing one included, listens, reads the
//! stored event back and wakes its own streams. So a share accepted by replica A reaches a
//! client streaming from replica B, and each event is delivered once per stream.

use medshare_model::PractitionerId;
use medshare_model::api::{Event, EventKind};
use medshare_store::MetadataStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Publishes events to the store and to live subscribers.
#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<(PractitionerId, Event)>,
    clock: crate::clock::Clock,
    /// Live delivery comes from the store's announcements, not from `publish`.
    via_store: bool,
}

impl Notifier {
    /// In-process only (one hub).
    pub fn new(clock: crate::clock::Clock) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            clock,
            via_store: false,
        }
    }

    /// In process if the store has no cross-replica channel; otherwise subscribe to its
    /// announcements until `shutdown`.
    pub async fn start(
        store: &Arc<dyn MetadataStore>,
        shutdown: CancellationToken,
        clock: crate::clock::Clock,
    ) -> medshare_store::Result<Self> {
        let Some(first) = store.event_notices().await? else {
            return Ok(Self::new(clock));
        };
        let (tx, _) = broadcast::channel(1024);
        let relay = tx.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let mut notices = Some(first);
            loop {
                let stream = match notices.take() {
                    Some(s) => s,
                    None => match store.event_notices().await {
                        Ok(Some(s)) => s,
                        _ => {
                            tracing::error!("notification channel lost; retrying");
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            }
                        }
                    },
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = relay_notices(&store, stream, &relay) => {}
                }
            }
        });
        Ok(Self {
            tx,
            clock,
            via_store: true,
        })
    }

    /// Store the event for `to` and wake their live streams. A failure to store is logged: a
    /// notification must never undo the action it reports.
    pub async fn publish(
        &self,
        store: &Arc<dyn MetadataStore>,
        to: PractitionerId,
        kind: EventKind,
    ) {
        let at = self.clock.now();
        let body = serde_json::to_string(&kind).expect("event serialises");
        match store.push_event(to, at, &body).await {
            Ok(seq) if !self.via_store => {
                let _ = self.tx.send((
                    to,
                    Event {
                        seq,
                        at: crate::state::at(at),
                        event: kind,
                    },
                ));
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not store a notification"),
        }
    }

    /// Subscribe to every live event (callers filter by recipient).
    pub fn subscribe(&self) -> broadcast::Receiver<(PractitionerId, Event)> {
        self.tx.subscribe()
    }
}

/// Read each announced event back from the store and wake local streams; returns when the
/// announcement stream ends.
async fn relay_notices(
    store: &Arc<dyn MetadataStore>,
    mut notices: medshare_store::EventNotices,
    tx: &broadcast::Sender<(PractitionerId, Event)>,
) {
    use futures::StreamExt;
    while let Some(n) = notices.next().await {
        let (to, seq) = match n {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "bad notification announcement");
                continue;
            }
        };
        // Nobody streaming on this replica: nothing to read back.
        if tx.receiver_count() == 0 {
            continue;
        }
        match store.events_since(to, seq - 1, 1).await {
            Ok(rows) => {
                for r in rows.into_iter().filter(|r| r.seq == seq) {
                    match serde_json::from_str::<EventKind>(&r.body) {
                        Ok(event) => {
                            let _ = tx.send((
                                to,
                                Event {
                                    seq,
                                    at: crate::state::at(r.at),
                                    event,
                                },
                            ));
                        }
                        Err(_) => tracing::error!(seq, "stored notification is corrupt"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read an announced notification"),
        }
    }
}
