//! Notification channels and their outbox: one row per notification and channel, deduplicated
//! by `(channel, dedupe)`, claimed by one replica at a time (`UPDATE ... RETURNING`, a stale
//! claim taken over), then marked delivered, rescheduled (back-off, rate limit) or failed.

use crate::dialect::Dialect;
use crate::sql::{Columns, FromRow, sql};
use crate::{Result, Store, StoreError};
use async_trait::async_trait;
use medshare_model::PractitionerId;

/// A channel and its delivery record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRow {
    pub id: String,
    pub practitioner_id: PractitionerId,
    pub kind: String,
    pub address: String,
    pub secret: String,
    pub created_at: i64,
    pub last_delivered_at: Option<i64>,
    pub last_failed_at: Option<i64>,
    pub last_error: Option<String>,
    /// Outbox rows given up on, and waiting.
    pub failed: i64,
    pub pending: i64,
    /// When the destination said it is gone for good (a Web Push subscription answering 404
    /// or 410): nothing more is queued for the channel.
    pub disabled_at: Option<i64>,
}

/// A claimed notification with its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel_id: String,
    pub practitioner_id: PractitionerId,
    pub dedupe: String,
    pub attempts: i64,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Failed; try again at `next_at` (counts as an attempt).
    Retry {
        next_at: i64,
        error: String,
    },
    /// Failed for the last time.
    Failed {
        error: String,
    },
    /// Not tried (rate limit): try at `next_at` (not an attempt).
    Postponed {
        next_at: i64,
    },
    /// The destination is gone for good: this notification and everything else waiting on
    /// the channel fail, and the channel is disabled.
    Gone {
        error: String,
    },
}

/// The notification side of the store.
#[async_trait]
pub trait NotifyStore: Send + Sync {
    /// Add a channel; `Conflict` if `p` would have more than `max`.
    async fn add_channel(&self, c: &ChannelRow, max: i64) -> Result<()>;
    async fn channels_of(&self, p: PractitionerId) -> Result<Vec<ChannelRow>>;
    async fn channel(&self, id: &str) -> Result<Option<ChannelRow>>;
    /// Remove one of `p`'s channels (and its outbox); `false` if there was none.
    async fn remove_channel(&self, p: PractitionerId, id: &str) -> Result<bool>;
    /// Queue a notification for each of `p`'s channels (or only `channel`); a `dedupe` key
    /// already queued for a channel is not queued again. Returns how many rows were queued.
    async fn enqueue_notification(
        &self,
        p: PractitionerId,
        channel: Option<&str>,
        dedupe: &str,
        now: i64,
    ) -> Result<u64>;
    /// Claim up to `limit` due notifications for `replica` (unclaimed, or claimed before
    /// `stale_before`).
    async fn claim_notifications(
        &self,
        replica: &str,
        now: i64,
        stale_before: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>>;
    /// Notifications delivered to `p` (any channel) at or after `since`.
    async fn delivered_since(&self, p: PractitionerId, since: i64) -> Result<i64>;
    /// Record an attempt on a notification `replica` claimed.
    async fn finish_notification(
        &self,
        id: i64,
        replica: &str,
        now: i64,
        outcome: &Attempt,
    ) -> Result<()>;
    /// Give up `replica`'s claim on a notification it did not attempt, so the next poll (of any
    /// replica) takes it at once instead of after the claim goes stale.
    async fn release_notification(&self, id: i64, replica: &str) -> Result<()>;
}

impl FromRow for ChannelRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            practitioner_id: r.id("practitioner_id")?,
            kind: r.get("kind")?,
            address: r.get("address")?,
            secret: r.get("secret")?,
            created_at: r.get("created_at")?,
            last_delivered_at: r.get("last_delivered_at")?,
            last_failed_at: r.get("last_failed_at")?,
            last_error: r.get("last_error")?,
            failed: r.get("failed")?,
            pending: r.get("pending")?,
            disabled_at: r.get("disabled_at")?,
        })
    }
}

impl FromRow for OutboxRow {
    fn from_row(r: &impl Columns) -> Result<Self> {
        Ok(Self {
            id: r.get("id")?,
            channel_id: r.get("channel_id")?,
            practitioner_id: r.id("practitioner_id")?,
            dedupe: r.get("dedupe")?,
            attempts: r.get("attempts")?,
        })
    }
}

const CHANNEL_SELECT: &str = "SELECT c.id, c.practitioner_id, c.kind, c.address, c.secret, \
     c.created_at, c.last_delivered_at, c.last_failed_at, c.last_error, c.disabled_at, \
     (SELECT COUNT(*) FROM notify_outbox o WHERE o.channel_id = c.id \
       AND o.failed_at IS NOT NULL) AS failed, \
     (SELECT COUNT(*) FROM notify_outbox o WHERE o.channel_id = c.id \
       AND o.failed_at IS NULL AND o.delivered_at IS NULL) AS pending \
     FROM notify_channels c";

#[async_trait]
impl<D: Dialect> NotifyStore for Store<D> {
    async fn add_channel(&self, c: &ChannelRow, max: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let held: i64 = sql("SELECT COUNT(*) FROM notify_channels WHERE practitioner_id = $1")
            .bind(c.practitioner_id)
            .fetch_one(&mut tx)
            .await?;
        if held >= max {
            return Err(StoreError::Conflict);
        }
        sql(
            "INSERT INTO notify_channels (id, practitioner_id, kind, address, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind((
            c.id.as_str(),
            c.practitioner_id,
            c.kind.as_str(),
            c.address.as_str(),
            c.secret.as_str(),
            c.created_at,
        ))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn channels_of(&self, p: PractitionerId) -> Result<Vec<ChannelRow>> {
        sql(sqlx::AssertSqlSafe(format!(
            "{CHANNEL_SELECT} WHERE c.practitioner_id = $1 ORDER BY c.created_at, c.id"
        )))
        .bind(p)
        .fetch_all(&self.pool)
        .await
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelRow>> {
        sql(sqlx::AssertSqlSafe(format!(
            "{CHANNEL_SELECT} WHERE c.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
    }

    async fn remove_channel(&self, p: PractitionerId, id: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        sql("DELETE FROM notify_outbox WHERE channel_id IN \
             (SELECT id FROM notify_channels WHERE id = $1 AND practitioner_id = $2)")
        .bind((id, p))
        .execute(&mut tx)
        .await?;
        let n = sql("DELETE FROM notify_channels WHERE id = $1 AND practitioner_id = $2")
            .bind((id, p))
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn enqueue_notification(
        &self,
        p: PractitionerId,
        channel: Option<&str>,
        dedupe: &str,
        now: i64,
    ) -> Result<u64> {
        sql("INSERT INTO notify_outbox (channel_id, practitioner_id, dedupe, at, attempts, next_at) \
             SELECT id, practitioner_id, $2, $3, 0, $3 FROM notify_channels \
             WHERE practitioner_id = $1 AND ($4 IS NULL OR id = $4) AND disabled_at IS NULL \
             ON CONFLICT (channel_id, dedupe) DO NOTHING")
        .bind((p, dedupe, now, channel))
        .execute(&self.writer)
        .await
    }

    async fn claim_notifications(
        &self,
        replica: &str,
        now: i64,
        stale_before: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>> {
        sql("UPDATE notify_outbox SET claimed_by = $1, claimed_at = $2 \
             WHERE id IN (SELECT id FROM notify_outbox WHERE delivered_at IS NULL \
               AND failed_at IS NULL AND next_at <= $2 \
               AND (claimed_at IS NULL OR claimed_at < $3) ORDER BY next_at, id LIMIT $4) \
             AND delivered_at IS NULL AND failed_at IS NULL AND next_at <= $2 \
             AND (claimed_at IS NULL OR claimed_at < $3) \
             RETURNING id, channel_id, practitioner_id, dedupe, attempts")
        .bind((replica, now, stale_before, limit))
        .fetch_all(&self.writer)
        .await
    }

    async fn release_notification(&self, id: i64, replica: &str) -> Result<()> {
        sql(
            "UPDATE notify_outbox SET claimed_by = NULL, claimed_at = NULL \
             WHERE id = $1 AND claimed_by = $2 AND delivered_at IS NULL AND failed_at IS NULL",
        )
        .bind((id, replica))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn delivered_since(&self, p: PractitionerId, since: i64) -> Result<i64> {
        sql("SELECT COUNT(*) FROM notify_outbox WHERE practitioner_id = $1 AND delivered_at >= $2")
            .bind((p, since))
            .fetch_one(&self.pool)
            .await
    }

    async fn finish_notification(
        &self,
        id: i64,
        replica: &str,
        now: i64,
        outcome: &Attempt,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // A write first: SQLite then takes its write lock at the start (waiting up to its busy
        // timeout) instead of failing at once to upgrade a read snapshot another writer has
        // moved past ("database is locked"), which left the row claimed for CLAIM_TTL.
        let channel: Option<String> = sql("UPDATE notify_outbox SET claimed_at = claimed_at \
             WHERE id = $1 AND claimed_by = $2 RETURNING channel_id")
        .bind((id, replica))
        .fetch_optional(&mut tx)
        .await?;
        let Some(channel) = channel else {
            return Ok(());
        };
        let release = "claimed_by = NULL, claimed_at = NULL";
        match outcome {
            Attempt::Delivered => {
                sql(sqlx::AssertSqlSafe(format!(
                    "UPDATE notify_outbox SET delivered_at = $2, attempts = attempts + 1, \
                     {release} WHERE id = $1"
                )))
                .bind((id, now))
                .execute(&mut tx)
                .await?;
                sql("UPDATE notify_channels SET last_delivered_at = $2 WHERE id = $1")
                    .bind((channel.as_str(), now))
                    .execute(&mut tx)
                    .await?;
            }
            Attempt::Retry { next_at, error } => {
                sql(sqlx::AssertSqlSafe(format!(
                    "UPDATE notify_outbox SET next_at = $2, attempts = attempts + 1, \
                     {release} WHERE id = $1"
                )))
                .bind((id, *next_at))
                .execute(&mut tx)
                .await?;
                record_failure(&mut tx, &channel, now, error).await?;
            }
            Attempt::Failed { error } => {
                sql(sqlx::AssertSqlSafe(format!(
                    "UPDATE notify_outbox SET failed_at = $2, attempts = attempts + 1, \
                     {release} WHERE id = $1"
                )))
                .bind((id, now))
                .execute(&mut tx)
                .await?;
                record_failure(&mut tx, &channel, now, error).await?;
            }
            Attempt::Gone { error } => {
                sql(sqlx::AssertSqlSafe(format!(
                    "UPDATE notify_outbox SET failed_at = $2, \
                     attempts = attempts + CASE WHEN id = $3 THEN 1 ELSE 0 END, {release} \
                     WHERE channel_id = $1 AND delivered_at IS NULL AND failed_at IS NULL"
                )))
                .bind((channel.as_str(), now, id))
                .execute(&mut tx)
                .await?;
                record_failure(&mut tx, &channel, now, error).await?;
                sql("UPDATE notify_channels SET disabled_at = $2 WHERE id = $1")
                    .bind((channel.as_str(), now))
                    .execute(&mut tx)
                    .await?;
            }
            Attempt::Postponed { next_at } => {
                sql(sqlx::AssertSqlSafe(format!(
                    "UPDATE notify_outbox SET next_at = $2, {release} WHERE id = $1"
                )))
                .bind((id, *next_at))
                .execute(&mut tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn record_failure<D: Dialect>(
    tx: &mut sqlx::Transaction<'static, D>,
    channel: &str,
    now: i64,
    error: &str,
) -> Result<()> {
    sql("UPDATE notify_channels SET last_failed_at = $2, last_error = $3 WHERE id = $1")
        .bind((channel, now, error))
        .execute(&mut *tx)
        .await?;
    Ok(())
}
