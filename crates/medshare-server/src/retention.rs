//! Retention: what the hub deletes on a schedule so its tables do not grow for ever. Expired
//! sessions, old live-update events, used single-use nonces, settled patient notices, settled
//! channel notifications and closed consults go on
//! the interval `[retention]` sets; abandoned staged uploads are purged by
//! `services::documents::purge_stale_staging`. The audit log is never pruned.

use crate::state::AppState;
use medshare_store::{Cutoffs, Purged};

/// The cutoffs in effect at `now` (Unix seconds).
pub fn cutoffs(config: &crate::config::RetentionConfig, now: i64) -> Cutoffs {
    Cutoffs {
        sessions_expired_before: now - config.sessions_after_expiry_secs.max(0),
        events_before: now - config.events_secs.max(1),
        // Never inside the window signed commands and service logins are accepted in.
        nonces_before: now - config.nonces_secs.max(600),
        notices_before: now - config.notices_secs.max(1),
        notifications_before: now - config.notifications_secs.max(3600),
        consults_before: now - config.consults_secs.max(1),
    }
}

/// One pass; returns how many rows of each kind went.
pub async fn run_once(state: &AppState) -> Result<Purged, medshare_store::StoreError> {
    let purged = state
        .store
        .purge_expired(&cutoffs(&state.config.retention, state.now()))
        .await?;
    crate::metrics::retention_purged(&purged);
    if purged != Purged::default() {
        tracing::info!(
            sessions = purged.sessions,
            events = purged.events,
            nonces = purged.nonces,
            notices = purged.notices,
            notifications = purged.notifications,
            consults = purged.consults,
            "retention: expired rows deleted"
        );
    }
    Ok(purged)
}

/// Run [`run_once`] every `retention.every_secs` until shutdown (never when 0). Replicas of
/// one database may each run it: the deletes are idempotent.
pub fn spawn(state: AppState) {
    let every = state.config.retention.every_secs;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let every = std::time::Duration::from_secs(every);
        loop {
            tokio::select! {
                _ = state.shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = run_once(&state).await {
                tracing::error!(error = %e, "retention pass failed; retrying at the next interval");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetentionConfig;

    #[test]
    fn cutoffs_never_forget_nonces_inside_their_acceptance_window() {
        let c = RetentionConfig {
            nonces_secs: 10,
            ..RetentionConfig::default()
        };
        let cut = cutoffs(&c, 1_000_000);
        assert_eq!(cut.nonces_before, 1_000_000 - 600);
        assert_eq!(
            cut.events_before,
            1_000_000 - RetentionConfig::default().events_secs
        );
        assert_eq!(
            cut.sessions_expired_before,
            1_000_000 - RetentionConfig::default().sessions_after_expiry_secs
        );
    }
}
