//! Abuse limits on the unauthenticated door: requests per client address (prelogin, login,
//! enrolment), failed logins per (client address, handle) with doubling back-off, and how many
//! logins of one handle are verified at once. Kept in memory per replica: they slow guessing
//! down; the per-account counter in the store is the backstop every replica shares.
//!
//! Locking per address rather than per account means a stranger guessing from their own
//! address cannot lock a doctor out of their account.

use crate::config::AuthConfig;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: i64,
    locked_until: i64,
    last: i64,
}

/// Entries kept before old ones are forgotten.
const MAX_TRACKED: usize = 100_000;

/// The hub's abuse limits (see the module documentation).
pub struct Throttle {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failures: Mutex<HashMap<(IpAddr, String), Failures>>,
    logins: Mutex<HashMap<String, Arc<Semaphore>>>,
    threshold: i64,
    base_secs: i64,
    max_secs: i64,
    concurrent: usize,
}

/// Back-off after `failures` (the first lock at `threshold`), doubling, capped.
pub fn backoff(failures: i64, threshold: i64, base: i64, max: i64) -> Option<i64> {
    if failures < threshold {
        return None;
    }
    let doublings = (failures - threshold).min(20) as u32;
    Some(base.saturating_mul(1 << doublings).min(max))
}

impl Throttle {
    pub fn new(c: &AuthConfig) -> Self {
        Self {
            per_address: NonZeroU32::new(c.auth_requests_per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            failures: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
            threshold: c.lockout_threshold,
            base_secs: c.lockout_base_secs,
            max_secs: c.lockout_max_secs,
            concurrent: c.concurrent_logins_per_handle.max(1) as usize,
        }
    }

    /// One more unauthenticated request from `ip`: `Err(seconds to wait)` over the limit.
    pub fn request(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(l) = &self.per_address else {
            return Ok(());
        };
        l.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs().max(1)
        })?;
        if l.len() > MAX_TRACKED {
            l.retain_recent();
        }
        Ok(())
    }

    /// Seconds until `handle` may try again from `ip`, if it is locked there.
    pub fn locked(&self, ip: IpAddr, handle: &str, now: i64) -> Option<i64> {
        let f = self.failures.lock().expect("poisoned");
        f.get(&(ip, handle.to_string()))
            .filter(|x| x.locked_until > now)
            .map(|x| x.locked_until - now)
    }

    /// Record a failed login; returns the lock (seconds) it started, if any.
    pub fn failed(&self, ip: IpAddr, handle: &str, now: i64) -> Option<i64> {
        let mut f = self.failures.lock().expect("poisoned");
        if f.len() > MAX_TRACKED {
            let horizon = now - self.max_secs.max(3600);
            f.retain(|_, x| x.last > horizon || x.locked_until > now);
        }
        let e = f.entry((ip, handle.to_string())).or_default();
        e.count += 1;
        e.last = now;
        let lock = backoff(e.count, self.threshold, self.base_secs, self.max_secs);
        if let Some(secs) = lock {
            e.locked_until = now + secs;
        }
        lock
    }

    /// A successful login clears that address's failures for the handle.
    pub fn succeeded(&self, ip: IpAddr, handle: &str) {
        self.failures
            .lock()
            .expect("poisoned")
            .remove(&(ip, handle.to_string()));
    }

    /// A slot to verify a login of `handle`, or `None` when too many are being verified.
    pub fn login_slot(&self, handle: &str) -> Option<OwnedSemaphorePermit> {
        let sem = {
            let mut m = self.logins.lock().expect("poisoned");
            if m.len() > MAX_TRACKED {
                m.retain(|_, s| Arc::strong_count(s) > 1);
            }
            m.entry(handle.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.concurrent)))
                .clone()
        };
        sem.try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_minute: u32) -> Throttle {
        Throttle::new(&AuthConfig {
            auth_requests_per_minute: per_minute,
            lockout_threshold: 3,
            lockout_base_secs: 30,
            lockout_max_secs: 3600,
            concurrent_logins_per_handle: 1,
            ..AuthConfig::default()
        })
    }

    #[test]
    fn failures_lock_only_the_address_that_failed() {
        let t = throttle(0);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(t.failed(a, "dr.x", 100), None);
        assert_eq!(t.failed(a, "dr.x", 100), None);
        assert_eq!(t.failed(a, "dr.x", 100), Some(30));
        assert_eq!(t.failed(a, "dr.x", 101), Some(60), "doubling");
        assert_eq!(t.locked(a, "dr.x", 110), Some(51));
        assert_eq!(
            t.locked(b, "dr.x", 110),
            None,
            "another address is not locked"
        );
        assert_eq!(
            t.locked(a, "dr.y", 110),
            None,
            "another handle is not locked"
        );
        assert_eq!(t.locked(a, "dr.x", 200), None, "the lock ends");
        t.succeeded(a, "dr.x");
        assert_eq!(t.failed(a, "dr.x", 300), None, "success starts over");
    }

    #[test]
    fn requests_per_address_are_limited() {
        let t = throttle(5);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let ok = (0..20).filter(|_| t.request(a).is_ok()).count();
        assert_eq!(ok, 5);
        assert!(t.request("10.0.0.9".parse().unwrap()).is_ok());
        assert!(throttle(0).request(a).is_ok(), "0 turns the limit off");
    }

    #[test]
    fn logins_of_one_handle_are_verified_one_at_a_time() {
        let t = throttle(0);
        let first = t.login_slot("dr.x").expect("free");
        assert!(t.login_slot("dr.x").is_none());
        assert!(t.login_slot("dr.y").is_some());
        drop(first);
        assert!(t.login_slot("dr.x").is_some());
    }
}
