//! Notifications: stored per recipient (so `inbox` shows history) and fanned out to live
//! Server-Sent Events streams. Events carry ids only, never health information.
//!
//! One hub (SQLite): `publish` wakes this process's streams directly. Several replicas
//! (PostgreSQL): storing an event makes the database announce `(recipient, seq)` on a
//! `LISTEN`/`NOTIFY` channel; every replica, the publishing one included, listens, reads the
//! stored event back and wakes its own streams. So a share accepted by replica A reaches a
//! client streaming from replica B, and each event is delivered once per stream.
//!
//! Live streams subscribe per recipient ([`Fanout`]): an event wakes only its recipient's
//! streams, so ten thousand idle streams cost nothing when somebody else is notified.

use medshare_model::PractitionerId;
use medshare_model::api::{Event, EventKind};
use medshare_store::MetadataStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Events a recipient's live streams may fall behind by before one is ended (its client
/// reconnects with the last sequence number it saw and gets the rest from the store).
///
/// Each recipient with a live stream has a channel of this many slots, allocated (and written)
/// up front: with ten thousand doctors streaming, one tab each, that is ten thousand channels.
/// A slot holds an `Arc` of the event, not the event (40 bytes with its lock instead of 112),
/// so a recipient's channel is 1.25 KiB rather than the 7 KiB that 64 events inline took
/// (docs/benchmarks.md §9).
const STREAM_BACKLOG: usize = 32;

/// An event as the live streams share it: one allocation, however many streams it reaches.
pub type LiveEvent = Arc<Event>;

/// The live streams of this process, by recipient.
#[derive(Default)]
pub struct Fanout {
    by_recipient: Mutex<HashMap<PractitionerId, broadcast::Sender<LiveEvent>>>,
}

impl Fanout {
    /// A receiver of `to`'s live events.
    pub fn subscribe(&self, to: PractitionerId) -> broadcast::Receiver<LiveEvent> {
        let mut m = self.by_recipient.lock().expect("poisoned");
        if m.len() >= 64 && m.len().is_power_of_two() {
            // Recipients whose streams all closed and who were not notified since.
            m.retain(|_, tx| tx.receiver_count() > 0);
        }
        m.entry(to)
            .or_insert_with(|| broadcast::channel(STREAM_BACKLOG).0)
            .subscribe()
    }

    /// Whether `to` has a live stream on this process.
    pub fn listening(&self, to: PractitionerId) -> bool {
        let m = self.by_recipient.lock().expect("poisoned");
        m.get(&to).is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Wake `to`'s live streams.
    pub fn deliver(&self, to: PractitionerId, event: Event) {
        let mut m = self.by_recipient.lock().expect("poisoned");
        if let Some(tx) = m.get(&to)
            && tx.send(Arc::new(event)).is_err()
        {
            // Nobody listens any more.
            m.remove(&to);
        }
    }

    /// Recipients with a channel (for tests).
    pub fn recipients(&self) -> usize {
        self.by_recipient.lock().expect("poisoned").len()
    }
}

/// Publishes events to the store and to live subscribers.
#[derive(Clone)]
pub struct Notifier {
    fanout: Arc<Fanout>,
    clock: crate::clock::Clock,
    /// Live delivery comes from the store's announcements, not from `publish`.
    via_store: bool,
}

impl Notifier {
    /// In-process only (one hub).
    pub fn new(clock: crate::clock::Clock) -> Self {
        Self {
            fanout: Arc::default(),
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
        let fanout: Arc<Fanout> = Arc::default();
        let relay = fanout.clone();
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
            fanout,
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
                self.fanout.deliver(
                    to,
                    Event {
                        seq,
                        at: crate::state::at(at),
                        event: kind,
                    },
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not store a notification"),
        }
    }

    /// Tell each of `to` of the same event, stored in one transaction (a room message's
    /// notice to every member: one durable commit, not one per member).
    pub async fn publish_to_all(
        &self,
        store: &Arc<dyn MetadataStore>,
        to: &[PractitionerId],
        kind: EventKind,
    ) {
        let at = self.clock.now();
        let body = serde_json::to_string(&kind).expect("event serialises");
        match store.push_events(to, at, &body).await {
            Ok(seqs) if !self.via_store => {
                for (p, seq) in to.iter().zip(seqs) {
                    self.fanout.deliver(
                        *p,
                        Event {
                            seq,
                            at: crate::state::at(at),
                            event: kind.clone(),
                        },
                    );
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not store a notification"),
        }
    }

    /// Subscribe to `to`'s live events.
    pub fn subscribe(&self, to: PractitionerId) -> broadcast::Receiver<LiveEvent> {
        self.fanout.subscribe(to)
    }
}

/// Read each announced event back from the store and wake local streams; returns when the
/// announcement stream ends.
async fn relay_notices(
    store: &Arc<dyn MetadataStore>,
    mut notices: medshare_store::EventNotices,
    fanout: &Fanout,
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
        // The recipient is not streaming from this replica: nothing to read back.
        if !fanout.listening(to) {
            continue;
        }
        match store.events_since(to, seq - 1, 1).await {
            Ok(rows) => {
                for r in rows.into_iter().filter(|r| r.seq == seq) {
                    match serde_json::from_str::<EventKind>(&r.body) {
                        Ok(event) => {
                            fanout.deliver(
                                to,
                                Event {
                                    seq,
                                    at: crate::state::at(r.at),
                                    event,
                                },
                            );
                        }
                        Err(_) => tracing::error!(seq, "stored notification is corrupt"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read an announced notification"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, by: PractitionerId) -> Event {
        Event {
            seq,
            at: crate::state::at(0),
            event: EventKind::Revoked {
                document_id: medshare_model::DocumentId::new(),
                by,
            },
        }
    }

    /// An event wakes its recipient's streams only; a recipient nobody listens to any more is
    /// forgotten; a stream more than the backlog behind sees the lag (and is ended by the route).
    #[test]
    fn events_reach_only_their_recipient() {
        let f = Fanout::default();
        let (a, b) = (PractitionerId::new(), PractitionerId::new());
        let (mut ra1, mut ra2, mut rb) = (f.subscribe(a), f.subscribe(a), f.subscribe(b));
        f.deliver(a, event(1, b));
        assert_eq!(ra1.try_recv().unwrap().seq, 1);
        assert_eq!(ra2.try_recv().unwrap().seq, 1);
        assert!(rb.try_recv().is_err());
        assert!(f.listening(b));
        drop(rb);
        assert!(!f.listening(b));
        f.deliver(b, event(2, a));
        assert_eq!(f.recipients(), 1);
        for seq in 0..=STREAM_BACKLOG as i64 {
            f.deliver(a, event(10 + seq, b));
        }
        assert!(matches!(
            ra1.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
