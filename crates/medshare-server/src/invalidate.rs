//! Cache invalidation across replicas. Every change the hub makes to a session, a practitioner
//! or a patient's policy inputs invalidates this hub's caches at once ([`AppState`]'s
//! `invalidate_*`) and, on a database several replicas share (PostgreSQL), is announced on the
//! store's invalidation feed once committed; every replica listens ([`listen`]) and applies
//! each announcement to its session cache, its policy cache and its search pages. So a share
//! revoked or a session ended through replica A is refused by replica B as soon as B has read
//! the announcement (milliseconds), not only when B's cached entry ages out.
//!
//! The feed is trusted only while it is connected: until it is first up, and from the moment
//! its connection is lost until a new one is listening, the caches serve nothing (every read
//! goes to the store); when it is back, everything cached before is dropped (announcements
//! made while it was away are lost). The caches' age bounds (`auth.session_cache_ms`,
//! `auth.policy_cache_ms`) stay as the backstop for an announcement that was never made (a
//! replica that stopped between its commit and its announcement).

use crate::policy_cache::PolicyCache;
use crate::sessions::SessionCache;
use crate::state::AppState;
use futures::StreamExt;
use medshare_model::PatientId;
use medshare_store::{Invalidation, MetadataStore};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What each of the hub's read caches holds to follow the feed: its age bound and whether it
/// is switched off (the bound is zero, or the feed is lost: [`Switch::suspend`]).
pub(crate) struct Switch {
    ttl: Duration,
    suspended: std::sync::atomic::AtomicBool,
}

impl Switch {
    /// On, with entries living at most `ttl` (zero: the cache is always off).
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            suspended: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// How long an entry may live.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether nothing may be served or stored now.
    pub(crate) fn off(&self) -> bool {
        self.ttl.is_zero() || self.suspended.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Off until [`Switch::resume`].
    pub(crate) fn suspend(&self) {
        self.suspended
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// On again: the cache drops what it held before calling this.
    pub(crate) fn resume(&self) {
        self.suspended
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

impl AppState {
    /// A policy input of `patient` changed (or may have: call it whatever the write's
    /// outcome) through this hub.
    pub async fn invalidate_patient(&self, patient: PatientId) {
        self.policy_cache.invalidate_patient(patient);
        self.announce(Invalidation::Patient(patient)).await;
    }

    /// A session or a practitioner's login state changed through this hub.
    pub async fn invalidate_sessions(&self) {
        self.sessions.invalidate();
        self.announce(Invalidation::Sessions).await;
    }

    /// A change that may concern every session and every patient (a member removed, a
    /// practitioner or an institution certified, an enrolment) was made through this hub.
    pub async fn invalidate_all(&self) {
        self.sessions.invalidate();
        self.policy_cache.invalidate();
        self.announce(Invalidation::All).await;
    }

    async fn announce(&self, what: Invalidation) {
        if let Err(e) = self.store.announce(what).await {
            // The change itself is committed (or failed): other replicas' entries still age
            // out within the cache bounds.
            tracing::error!(error = %e, "could not announce a cache invalidation to other replicas");
        }
    }
}

/// Apply `what` to this hub's caches.
fn apply(what: Invalidation, sessions: &SessionCache, policy: &PolicyCache) {
    match what {
        Invalidation::Patient(p) => policy.invalidate_patient(p),
        Invalidation::Sessions => sessions.invalidate(),
        Invalidation::All => {
            sessions.invalidate();
            policy.invalidate();
        }
    }
}

/// Follow the store's invalidation feed until `shutdown`, if it has one (nothing on SQLite).
/// The caches are suspended until the feed is listening and whenever it is lost (see the
/// module documentation). The first connection is made before this returns, so a hub that
/// cannot listen fails to start.
pub async fn listen(
    store: Arc<dyn MetadataStore>,
    sessions: Arc<SessionCache>,
    policy: Arc<PolicyCache>,
    shutdown: CancellationToken,
) -> medshare_store::Result<()> {
    sessions.suspend();
    policy.suspend();
    let Some(first) = store.invalidations().await? else {
        sessions.resume();
        policy.resume();
        return Ok(());
    };
    tokio::spawn(async move {
        let mut feed = Some(first);
        // Whether this outage was logged (once per outage, not once per retry).
        let mut logged = false;
        loop {
            let mut stream = match feed.take() {
                Some(s) => s,
                None => match store.invalidations().await {
                    Ok(Some(s)) => s,
                    _ => {
                        if !logged {
                            tracing::error!(
                                "cannot listen for cache invalidations; caches off, retrying"
                            );
                            logged = true;
                        }
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                        }
                    }
                },
            };
            // Listening again: whatever was cached before may predate a missed announcement.
            if logged {
                tracing::info!("listening for cache invalidations again; caches on");
                logged = false;
            }
            sessions.resume();
            policy.resume();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = stream.next() => match next {
                        Some(Ok(what)) => apply(what, &sessions, &policy),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "invalidation feed error");
                            // A bad payload: be safe with everything.
                            apply(Invalidation::All, &sessions, &policy);
                        }
                        None => break,
                    }
                }
            }
            sessions.suspend();
            policy.suspend();
            tracing::warn!("invalidation feed connection lost; caches off until it is back");
        }
    });
    Ok(())
}
