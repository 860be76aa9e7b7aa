//! What every input shares: seal a message to the gateway's own key, put it in the durable
//! queue (it is acknowledged only when this returns `Accepted`), count it, and wake the
//! uploader.

use crate::envelope::{Envelope, Source};
use crate::metrics::Metrics;
use crate::queue::{Admission, Kind, NewItem, Queue};
use crate::rules::Rules;
use std::sync::Arc;
use tokio::sync::Notify;

/// The state inputs and the uploader share.
pub struct Shared {
    pub queue: Queue,
    pub metrics: Arc<Metrics>,
    pub rules: Arc<Rules>,
    /// The gateway's own `age1...` recipient: queued payloads are sealed to it.
    pub recipient: String,
    /// Wakes the uploader when something becomes ready.
    pub wake: Notify,
    /// A DICOM study is complete at this many instances.
    pub study_max_instances: u64,
}

/// One message for [`Shared::accept`].
pub struct Incoming {
    pub kind: Kind,
    pub envelope: Envelope,
    /// Identifies a message a sender may send again (see [`NewItem::dedupe`]).
    pub dedupe: Option<Vec<u8>>,
}

impl Shared {
    /// Queue messages atomically; one answer per message. Errors are the database's.
    pub async fn accept(
        &self,
        source: Source,
        incoming: Vec<Incoming>,
    ) -> Result<Vec<Admission>, crate::queue::QueueError> {
        let items = incoming
            .into_iter()
            .map(|i| NewItem {
                source,
                kind: i.kind,
                payload: i.envelope.seal(&self.recipient),
                dedupe: i.dedupe,
            })
            .collect();
        let res = self.queue.enqueue(items).await?;
        self.count(source, &res);
        self.wake.notify_one();
        Ok(res)
    }

    /// Count admissions (received, duplicates, refused for a full queue).
    pub fn count(&self, source: Source, res: &[Admission]) {
        for a in res {
            match a {
                Admission::Accepted {
                    duplicate: false, ..
                } => self
                    .metrics
                    .received
                    .get_or_create(&Metrics::source(source))
                    .inc(),
                Admission::Accepted {
                    duplicate: true, ..
                } => self
                    .metrics
                    .duplicates
                    .get_or_create(&Metrics::source(source))
                    .inc(),
                Admission::Full => self
                    .metrics
                    .refused
                    .get_or_create(&Metrics::reason(source, "queue-full"))
                    .inc(),
            };
        }
        let (n, b) = self.queue.depth();
        self.metrics.queue_items.set(n as i64);
        self.metrics.queue_bytes.set(b as i64);
    }

    /// Count a refusal decided before queueing.
    pub fn refused(&self, source: Source, reason: &str) {
        self.metrics
            .refused
            .get_or_create(&Metrics::reason(source, reason))
            .inc();
    }
}
