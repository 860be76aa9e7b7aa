//! The browser's backend for the core's timeline cache ([`medshare_client::CacheStore`]).
//!
//! The core reads and writes its cache synchronously; IndexedDB answers only asynchronously. So
//! the worker pages records through this store: before a view it asks the core for the one
//! record's name ([`crate::Core::timeline_cache_name`]), brings that record from IndexedDB
//! ([`crate::Core::prime_cache`]), and after the view writes back what the core saved
//! ([`crate::Core::cache_writes`], [`crate::Core::cache_record`]). Records are opaque: sealed by
//! the core under the practitioner's key, named by a keyed derivation (32 hex digits).

use medshare_client::{CacheStore, ClientError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

#[derive(Default)]
struct Inner {
    records: HashMap<String, Vec<u8>>,
    written: BTreeSet<String>,
}

/// Sealed records of the views of this session, and which of them the core wrote.
#[derive(Default)]
pub(crate) struct PagedCache(Mutex<Inner>);

impl PagedCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic aborts the module (panic = "abort"): the lock is never poisoned in practice.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A record read from IndexedDB; one the core saved during this session is newer and stays.
    pub fn prime(&self, name: String, sealed: Vec<u8>) {
        self.inner().records.entry(name).or_insert(sealed);
    }

    /// The names saved since the last call (to write back to IndexedDB).
    pub fn take_written(&self) -> Vec<String> {
        std::mem::take(&mut self.inner().written)
            .into_iter()
            .collect()
    }

    /// The record under `name`, as the core sealed it.
    pub fn record(&self, name: &str) -> Option<Vec<u8>> {
        self.inner().records.get(name).cloned()
    }
}

impl CacheStore for PagedCache {
    fn load(&self, name: &str) -> medshare_client::Result<Option<Vec<u8>>> {
        Ok(self.inner().records.get(name).cloned())
    }

    fn save(&self, name: &str, sealed: &[u8]) -> medshare_client::Result<()> {
        if name.len() != 32 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Invalid("bad timeline cache name".into()));
        }
        let mut i = self.inner();
        i.records.insert(name.to_string(), sealed.to_vec());
        i.written.insert(name.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_records_in_and_reports_writes() {
        let c = PagedCache::default();
        let name = "0123456789abcdef0123456789abcdef";
        assert_eq!(c.load(name).unwrap(), None);
        c.prime(name.into(), b"old".to_vec());
        assert_eq!(c.load(name).unwrap().as_deref(), Some(&b"old"[..]));
        assert!(c.take_written().is_empty(), "priming is not a write");
        c.save(name, b"new").unwrap();
        // A later prime from IndexedDB (read before the write-back finished) must not win.
        c.prime(name.into(), b"old".to_vec());
        assert_eq!(c.record(name).as_deref(), Some(&b"new"[..]));
        assert_eq!(c.take_written(), vec![name.to_string()]);
        assert!(c.take_written().is_empty());
        assert!(c.save("../escape", b"x").is_err());
    }
}
