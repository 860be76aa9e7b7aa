//! Notifications: stored per recipient (so `inbox` shows history) and fanned out in process to
//! live Server-Sent Events streams. Events carry ids only, never health information.

use crate::state::now;
use medshare_model::PractitionerId;
use medshare_model::api::{Event, EventKind};
use medshare_store::MetadataStore;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Publishes events to the store and to live subscribers.
#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<(PractitionerId, Event)>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Notifier {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self { tx }
    }

    /// Store the event for `to` and wake their live streams. A failure to store is logged: a
    /// notification must never undo the action it reports.
    pub async fn publish(
        &self,
        store: &Arc<dyn MetadataStore>,
        to: PractitionerId,
        kind: EventKind,
    ) {
        let at = now();
        let body = serde_json::to_string(&kind).expect("event serialises");
        match store.push_event(to, at, &body).await {
            Ok(seq) => {
                let _ = self.tx.send((
                    to,
                    Event {
                        seq,
                        at: crate::state::at(at),
                        event: kind,
                    },
                ));
            }
            Err(e) => tracing::error!(error = %e, "could not store a notification"),
        }
    }

    /// Subscribe to every live event (callers filter by recipient).
    pub fn subscribe(&self) -> broadcast::Receiver<(PractitionerId, Event)> {
        self.tx.subscribe()
    }
}
