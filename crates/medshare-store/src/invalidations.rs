//! The cross-replica invalidation feed: a hub that changed a session, a practitioner or a
//! patient's policy inputs says so, and every hub sharing the database (itself included) drops
//! what it cached from before the change. PostgreSQL carries it on a `LISTEN`/`NOTIFY` channel
//! of its own ([`INVALIDATIONS_CHANNEL`]); SQLite has one hub only and no feed.
//!
//! The feed carries ids only (a patient id, or "sessions", or "everything"): nothing a listener
//! to the channel could not already learn from the tables it can read.

use crate::dialect::Dialect;
use crate::{Result, Store, StoreError};
use async_trait::async_trait;
use medshare_model::PatientId;

/// What a change made stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// One patient's policy inputs (a share, a consent, a care relationship, a break-glass
    /// window, the patient created).
    Patient(PatientId),
    /// Sessions and the practitioners holding them (a logout, failed logins, an enrolment).
    Sessions,
    /// Everything: sessions and every patient's policy inputs (a member removed, a
    /// practitioner or an institution certified).
    All,
}

impl Invalidation {
    /// The payload on the channel.
    pub fn payload(&self) -> String {
        match self {
            Self::Patient(p) => format!("p {p}"),
            Self::Sessions => "s".to_owned(),
            Self::All => "a".to_owned(),
        }
    }

    /// A payload back into an invalidation.
    pub fn parse(payload: &str) -> Result<Self> {
        match payload.split_once(' ') {
            Some(("p", id)) => Ok(Self::Patient(crate::sql::parse_id(id)?)),
            None if payload == "s" => Ok(Self::Sessions),
            None if payload == "a" => Ok(Self::All),
            _ => Err(StoreError::Corrupt),
        }
    }
}

/// Invalidations announced by any hub sharing the store, from the moment the stream was
/// opened. The stream **ends** when its connection is lost (announcements made while it was
/// away are gone): the listener must then treat everything it cached as stale until a new
/// stream is open.
pub type Invalidations = futures::stream::BoxStream<'static, Result<Invalidation>>;

/// The invalidation side of the store.
#[async_trait]
pub trait InvalidationStore: Send + Sync {
    /// Tell every hub sharing the store (this one included) that `what` changed. Nothing on a
    /// store only this process uses (SQLite).
    async fn announce(&self, what: Invalidation) -> Result<()>;
    /// The feed of announcements (see [`Invalidations`]); `None` on a store only this process
    /// uses (SQLite).
    async fn invalidations(&self) -> Result<Option<Invalidations>>;
}

#[async_trait]
impl<D: Dialect> InvalidationStore for Store<D> {
    async fn announce(&self, what: Invalidation) -> Result<()> {
        D::announce(&self.writer, &what.payload()).await
    }

    async fn invalidations(&self) -> Result<Option<Invalidations>> {
        D::invalidations(&self.pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_junk_is_refused() {
        let p = PatientId::new();
        for what in [
            Invalidation::Patient(p),
            Invalidation::Sessions,
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::parse(&what.payload()).unwrap(), what);
        }
        for junk in ["", "p", "p nope", "x", "s s", "a "] {
            assert!(Invalidation::parse(junk).is_err(), "{junk:?}");
        }
    }
}
