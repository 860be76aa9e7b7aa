//! Shared state handed to every handler: the stores, the notifier and the configuration.

use crate::config::Config;
use crate::notify::Notifier;
use medshare_blob::BlobStore;
use medshare_store::MetadataStore;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Cloneable application state.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub notifier: Notifier,
    /// The verifiable access log.
    pub audit: crate::audit::AuditLog,
    pub config: Arc<Config>,
    /// Hub-local secret: keys the fake KDF salts served for unknown handles.
    pub hub_secret: Arc<Zeroizing<[u8; 32]>>,
    /// One-time bootstrap token while the alliance is not initialised.
    pub bootstrap_token: Arc<std::sync::Mutex<Option<Zeroizing<String>>>>,
    /// Cancelled when the hub shuts down, so long-lived streams end and connections drain.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Where outbound requests (webhooks) may go.
    pub outbound: crate::outbound::Destinations,
    /// Live event streams by session.
    pub streams: Arc<crate::streams::Streams>,
    /// Abuse limits on login and enrolment.
    pub throttle: Arc<crate::throttle::Throttle>,
    /// The one clock the hub reads.
    pub clock: crate::clock::Clock,
    /// Recently checked sessions (invalidate after changing a session or a practitioner).
    pub sessions: Arc<crate::sessions::SessionCache>,
    /// Recently read access-policy inputs (invalidate after changing a grant, consent, care
    /// relationship, break-glass window or member).
    pub policy_cache: Arc<crate::policy_cache::PolicyCache>,
    /// The VAPID key Web Push notifications are signed with.
    pub vapid: Arc<crate::push::Vapid>,
}

impl AppState {
    /// Seconds since the Unix epoch, by the hub's clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// A Unix time as `OffsetDateTime`.
pub fn at(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
