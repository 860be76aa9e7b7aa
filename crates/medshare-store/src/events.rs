//! Stored notifications ("events") for practitioners' live streams, and the announcements of
//! new ones across hub replicas.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, sql};
use crate::{EventRow, Result, Store};
use async_trait::async_trait;
use medshare_model::PractitionerId;

/// Announcements `(recipient, event seq)` of events stored by any hub sharing the store.
pub type EventNotices = futures::stream::BoxStream<'static, Result<(PractitionerId, i64)>>;

/// The notification side of the store.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Store an event; returns its sequence number.
    async fn push_event(&self, recipient: PractitionerId, at: i64, body: &str) -> Result<i64>;
    /// Store one event (`body`, at `at`) for each of `recipients` in one transaction (one
    /// durable commit instead of one per recipient); their sequence numbers, in order.
    async fn push_events(
        &self,
        recipients: &[PractitionerId],
        at: i64,
        body: &str,
    ) -> Result<Vec<i64>>;
    async fn events_since(
        &self,
        recipient: PractitionerId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>>;
    /// For a store several hub replicas share: a stream announcing every event any of them
    /// stores (ids only), so each replica can wake its own live streams. `None` when events can
    /// only come from this process (SQLite), where the hub wakes streams directly.
    async fn event_notices(&self) -> Result<Option<EventNotices>>;
}

impl FromRow for EventRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            seq: r.get("seq")?,
            at: r.get("at")?,
            body: r.get("body")?,
        })
    }
}

#[async_trait]
impl<D: Dialect> EventStore for Store<D> {
    async fn push_event(&self, recipient: PractitionerId, at: i64, body: &str) -> Result<i64> {
        // On PostgreSQL the events_notify trigger announces (recipient, seq) on commit.
        sql("INSERT INTO events (recipient, at, body) VALUES ($1, $2, $3) RETURNING seq")
            .bind((recipient, at, body))
            .fetch_one(&self.writer)
            .await
    }

    async fn push_events(
        &self,
        recipients: &[PractitionerId],
        at: i64,
        body: &str,
    ) -> Result<Vec<i64>> {
        let mut seqs = Vec::with_capacity(recipients.len());
        if recipients.is_empty() {
            return Ok(seqs);
        }
        let mut tx = self.begin_write().await?;
        for r in recipients {
            let seq: i64 =
                sql("INSERT INTO events (recipient, at, body) VALUES ($1, $2, $3) RETURNING seq")
                    .bind((*r, at, body))
                    .fetch_one(&mut tx)
                    .await?;
            seqs.push(seq);
        }
        tx.commit().await?;
        Ok(seqs)
    }

    async fn events_since(
        &self,
        recipient: PractitionerId,
        since: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        sql(
            "SELECT seq, at, body FROM events WHERE recipient = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind((recipient, since, limit))
        .fetch_all(&self.pool)
        .await
    }

    async fn event_notices(&self) -> Result<Option<EventNotices>> {
        D::event_notices(&self.pool).await
    }
}
