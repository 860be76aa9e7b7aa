//! Live event streams by session: logging out ends the session's streams at once, removing a
//! member ends all of theirs, and each stream re-checks its session periodically, which also
//! ends it on replicas that did not see the logout.

use medshare_model::PractitionerId;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Open streams, each with the session (token hash) it belongs to.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<PractitionerId, Vec<(String, CancellationToken)>>>,
}

impl Streams {
    /// Register a stream; cancelled when its session or practitioner is ended. The caller drops
    /// the token's guard when the stream ends.
    pub fn open(&self, who: PractitionerId, token_hash: &str) -> CancellationToken {
        let t = CancellationToken::new();
        let mut m = self.open.lock().expect("poisoned");
        let v = m.entry(who).or_default();
        v.retain(|(_, t)| !t.is_cancelled());
        v.push((token_hash.to_string(), t.clone()));
        t
    }

    /// End the streams of one session (logout).
    pub fn end_session(&self, who: PractitionerId, token_hash: &str) {
        let mut m = self.open.lock().expect("poisoned");
        if let Some(v) = m.get_mut(&who) {
            for (h, t) in v.iter() {
                if h == token_hash {
                    t.cancel();
                }
            }
            v.retain(|(_, t)| !t.is_cancelled());
        }
    }

    /// End every stream of a practitioner (removal).
    pub fn end_practitioner(&self, who: PractitionerId) {
        if let Some(v) = self.open.lock().expect("poisoned").remove(&who) {
            for (_, t) in v {
                t.cancel();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_ends_one_session_removal_all() {
        let s = Streams::default();
        let p = PractitionerId::new();
        let (a, b) = (s.open(p, "a"), s.open(p, "b"));
        s.end_session(p, "a");
        assert!(a.is_cancelled() && !b.is_cancelled());
        s.end_practitioner(p);
        assert!(b.is_cancelled());
    }
}
