//! The hub's side of the Merkle log: one appender task writes entries in batches (group
//! commit: a request's entry is durable before its response leaves, and concurrent requests
//! share one transaction), an RFC 6962 tree in bounded memory mirrors the stored leaves (closed
//! chunks of 1,024 leaves are kept as their root and read back from the store when a proof
//! reaches inside one), and signed tree heads are written periodically and on demand.

use medshare_audit::{
    ChunkLeaves, CompactError, CompactTree, Entry, Leaf, LoggedEntry, Proof, Root, SignedTreeHead,
    TreeHead,
};
use medshare_store::{MetadataStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};
use zeroize::Zeroizing;

/// Entries read back per page when the tree catches up with the store.
const PAGE: i64 = 10_000;

/// Closed chunks whose leaves are kept after a proof needed them (clients witness recent
/// heads, so the same few chunks come back): 8 x 32 KiB.
const CHUNKS_CACHED: usize = 8;

/// Why the log cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("audit store: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the audit log no longer matches the tree head this hub signed at size {size}: entries \
         were changed, removed or reordered behind the hub's back. Run `medshare audit verify \
         --offline` to locate the change and restore the database from a backup"
    )]
    Diverged { size: u64 },
    #[error(
        "the audit log has lost entries: its sequence numbers jump at {seq}. Run `medshare \
         audit verify --offline` to locate the change and restore the database from a backup"
    )]
    Gap { seq: i64 },
    #[error(
        "the audit log is signed with another key than this hub's: replicas of one hub must \
         share audit.signing_key_file, and a restored hub needs the audit-log.key of its backup"
    )]
    KeyMismatch,
    #[error("the audit log could not be written{}", if *disk_full { ": the disk is full" } else { "" })]
    Write {
        /// The database's disk is full (answered 507, not 503).
        disk_full: bool,
    },
    #[error("the audit appender has stopped")]
    Stopped,
}

struct Pending {
    entry: Entry,
    done: oneshot::Sender<Result<i64, LogError>>,
}

struct TreeState {
    tree: CompactTree,
    last_head: Option<SignedTreeHead>,
    last_signed: Instant,
    /// Recently read closed chunks, newest last.
    chunks: std::collections::VecDeque<(u64, Arc<Vec<Leaf>>)>,
}

struct Inner {
    store: Arc<dyn MetadataStore>,
    key: ed25519_dalek::SigningKey,
    clock: crate::clock::Clock,
    head_interval: Duration,
    state: Mutex<TreeState>,
    /// Where committed entries go (alerts, notices): the appender's batches and entries
    /// written inside other transactions ([`AuditLog::adopt`]).
    committed: mpsc::UnboundedSender<Vec<LoggedEntry>>,
}

/// Handle to the log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Pending>,
    inner: Arc<Inner>,
}

/// A submitted entry whose durability can be awaited later, so the request's own work runs
/// while the log commits.
pub struct Receipt(oneshot::Receiver<Result<i64, LogError>>);

impl Receipt {
    /// Wait until the entry is durable; returns its sequence number.
    pub async fn durable(self) -> Result<i64, LogError> {
        let waiting = Instant::now();
        let r = self.0.await.map_err(|_| LogError::Stopped)?;
        // What the log added to the request (the bench collects these).
        tracing::trace!(
            target: "medshare::audit::wait",
            waited_us = waiting.elapsed().as_micros() as u64
        );
        r
    }
}

impl AuditLog {
    /// Rebuild the tree from the store, check it against the last head this hub signed, and
    /// start the appender. Committed batches are handed to `committed` (alerts, notices).
    pub async fn open(
        store: Arc<dyn MetadataStore>,
        seed: Zeroizing<[u8; 32]>,
        head_interval: Duration,
        batch_max: usize,
        committed: mpsc::UnboundedSender<Vec<LoggedEntry>>,
        clock: crate::clock::Clock,
    ) -> Result<Self, LogError> {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let latest = store.latest_audit_head().await?;
        let mut state = TreeState {
            tree: CompactTree::new(),
            last_head: None,
            last_signed: Instant::now(),
            chunks: Default::default(),
        };
        if let Some(head) = latest {
            if head.key().ok() != Some(key.verifying_key().to_bytes()) {
                return Err(LogError::KeyMismatch);
            }
            sync(&*store, &mut state.tree, Some(head.head.size)).await?;
            let matches = head.head.root().is_some_and(|r| r == state.tree.root());
            if state.tree.len() != head.head.size || !matches {
                return Err(LogError::Diverged {
                    size: head.head.size,
                });
            }
            state.last_head = Some(head);
        }
        sync(&*store, &mut state.tree, None).await?;
        let inner = Arc::new(Inner {
            store,
            key,
            clock,
            head_interval,
            state: Mutex::new(state),
            committed,
        });
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(appender(inner.clone(), rx, batch_max.max(1)));
        tokio::spawn(ticker(Arc::downgrade(&inner)));
        Ok(Self { tx, inner })
    }

    /// The log's public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.key.verifying_key().to_bytes()
    }

    /// Queue an entry; await the receipt before acknowledging the action.
    pub async fn submit(&self, entry: Entry) -> Receipt {
        let (done, rx) = oneshot::channel();
        // If the appender is gone the receipt reports it.
        let _ = self.tx.send(Pending { entry, done }).await;
        Receipt(rx)
    }

    /// Entries the store appended inside another transaction (an upload's entries commit with
    /// its metadata: one durable write for both) and that are durable now: the tree follows
    /// them and they go to alerts and notices like the appender's batches.
    pub async fn adopt(&self, logged: Vec<LoggedEntry>) {
        if logged.is_empty() {
            return;
        }
        if let Err(e) = self.inner.advance(&logged).await {
            tracing::error!(error = %e, "audit tree could not follow the log");
        }
        let _ = self.inner.committed.send(logged);
    }

    /// Append and wait until durable.
    pub async fn append(&self, entry: Entry) -> Result<i64, LogError> {
        self.submit(entry).await.durable().await
    }

    /// The current tree head, signed now if the log grew since the last one, with a
    /// consistency proof from `from` (a size the caller verified before) when asked.
    pub async fn head(
        &self,
        from: Option<u64>,
    ) -> Result<(SignedTreeHead, Option<Proof>), LogError> {
        let mut st = self.inner.state.lock().await;
        sync(&*self.inner.store, &mut st.tree, None).await?;
        let head = self.inner.sign(&mut st, true).await?;
        let proof = match from.filter(|&f| f > 0 && f <= st.tree.len()) {
            Some(f) => {
                let need = st.tree.chunk_for_consistency(f);
                let chunk = chunk_leaves(&*self.inner.store, &mut st, need).await?;
                let chunk = need
                    .zip(chunk.as_deref())
                    .map(|(index, leaves)| ChunkLeaves { index, leaves });
                proof_or_diverged(&st.tree, st.tree.prove_consistency(f, chunk))?
            }
            None => None,
        };
        Ok((head, proof))
    }

    /// Inclusion proof for entry `seq` against the current signed head.
    pub async fn inclusion(&self, seq: i64) -> Result<Option<(SignedTreeHead, Proof)>, LogError> {
        let mut st = self.inner.state.lock().await;
        sync(&*self.inner.store, &mut st.tree, None).await?;
        let head = self.inner.sign(&mut st, true).await?;
        let Some(index) = seq.checked_sub(1).and_then(|i| u64::try_from(i).ok()) else {
            return Ok(None);
        };
        let need = st.tree.chunk_for_inclusion(index);
        let chunk = chunk_leaves(&*self.inner.store, &mut st, need).await?;
        let chunk = need
            .zip(chunk.as_deref())
            .map(|(index, leaves)| ChunkLeaves { index, leaves });
        let proof = proof_or_diverged(&st.tree, st.tree.prove_inclusion(index, chunk))?;
        Ok(proof.map(|p| (head, p)))
    }
}

impl Inner {
    /// Sign and store a head for the current tree if it grew (and, unless `force`, the
    /// interval has passed). Returns the latest head.
    async fn sign(&self, st: &mut TreeState, force: bool) -> Result<SignedTreeHead, LogError> {
        let size = st.tree.len();
        let grew = st.last_head.as_ref().is_none_or(|h| h.head.size < size);
        if grew && size > 0 && (force || st.last_signed.elapsed() >= self.head_interval) {
            let head = TreeHead::new(st.tree.root(), self.clock.now()).sign(&self.key);
            self.store.put_audit_head(&head).await?;
            st.last_head = Some(head);
            st.last_signed = Instant::now();
        }
        match &st.last_head {
            Some(h) => Ok(h.clone()),
            // An empty log: an unsaved head of size 0 (nothing to commit to yet).
            None => Ok(TreeHead::new(
                Root {
                    size: 0,
                    hash: st.tree.root().hash,
                },
                self.clock.now(),
            )
            .sign(&self.key)),
        }
    }

    /// Mirror newly committed entries into the tree. Heads are signed by the ticker and on
    /// demand, so the appender's loop only commits and answers; with a zero interval, a head is
    /// signed here after every batch (exact localisation of tampering, one more write each).
    async fn advance(&self, logged: &[LoggedEntry]) -> Result<(), LogError> {
        let mut st = self.state.lock().await;
        let contiguous = logged
            .first()
            .is_some_and(|l| u64::try_from(l.seq - 1).ok() == Some(st.tree.len()));
        if contiguous {
            for l in logged {
                st.tree
                    .push(l.recorded_leaf().unwrap_or_else(|| l.entry.leaf()));
            }
        } else {
            // Another replica appended in between: read its entries too.
            sync(&*self.store, &mut st.tree, None).await?;
        }
        if self.head_interval.is_zero() {
            self.sign(&mut st, true).await?;
        }
        Ok(())
    }
}

/// A proof, `None` for an index or size outside the tree, and `Diverged` when the leaves read
/// back for a closed chunk no longer hash to the root the tree kept for it.
fn proof_or_diverged(
    tree: &CompactTree,
    made: Result<Proof, CompactError>,
) -> Result<Option<Proof>, LogError> {
    match made {
        Ok(p) => Ok(Some(p)),
        Err(CompactError::OutOfRange) => Ok(None),
        Err(CompactError::ChunkMismatch(c) | CompactError::NeedChunk(c)) => {
            Err(LogError::Diverged {
                size: ((c + 1) * tree.chunk_len()).min(tree.len()),
            })
        }
    }
}

/// The leaves of closed chunk `index` (if one is needed), from the cache or read back from the
/// store; the tree checks them against the chunk's root before using them.
async fn chunk_leaves(
    store: &dyn MetadataStore,
    st: &mut TreeState,
    index: Option<u64>,
) -> Result<Option<Arc<Vec<Leaf>>>, LogError> {
    let Some(index) = index else { return Ok(None) };
    if let Some((_, leaves)) = st.chunks.iter().find(|(c, _)| *c == index) {
        return Ok(Some(leaves.clone()));
    }
    let n = st.tree.chunk_len();
    let first = i64::try_from(index * n).map_err(|_| LogError::Gap { seq: i64::MAX })?;
    let rows = store.audit_entries(first, n as i64).await?;
    let mut leaves = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        if r.seq != first + 1 + i as i64 {
            return Err(LogError::Gap { seq: r.seq });
        }
        leaves.push(r.recorded_leaf().unwrap_or_else(|| r.entry.leaf()));
    }
    let leaves = Arc::new(leaves);
    if st.chunks.len() >= CHUNKS_CACHED {
        st.chunks.pop_front();
    }
    st.chunks.push_back((index, leaves.clone()));
    Ok(Some(leaves))
}

/// Read entries past the tree's end (up to `until` entries in all) and push their leaves.
async fn sync(
    store: &dyn MetadataStore,
    tree: &mut CompactTree,
    until: Option<u64>,
) -> Result<(), LogError> {
    loop {
        let have = tree.len();
        let want = match until {
            Some(u) if have >= u => return Ok(()),
            Some(u) => PAGE.min(i64::try_from(u - have).unwrap_or(PAGE)),
            None => PAGE,
        };
        let rows = store.audit_entries(have as i64, want).await?;
        if rows.is_empty() {
            return Ok(());
        }
        for r in rows {
            if u64::try_from(r.seq - 1).ok() != Some(tree.len()) {
                return Err(LogError::Gap { seq: r.seq });
            }
            tree.push(r.recorded_leaf().unwrap_or_else(|| r.entry.leaf()));
        }
    }
}

async fn appender(inner: Arc<Inner>, mut rx: mpsc::Receiver<Pending>, batch_max: usize) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let entries: Vec<Entry> = batch.iter().map(|p| p.entry.clone()).collect();
        let started = Instant::now();
        let appended = inner.store.append_audit(&entries).await;
        crate::metrics::audit_appended(entries.len(), started.elapsed().as_secs_f64());
        match appended {
            Ok(logged) => {
                for (p, l) in batch.into_iter().zip(&logged) {
                    let _ = p.done.send(Ok(l.seq));
                }
                if let Err(e) = inner.advance(&logged).await {
                    tracing::error!(error = %e, "audit tree could not follow the log");
                }
                let _ = inner.committed.send(logged);
            }
            Err(e) => {
                tracing::error!(error = %e, "audit entries could not be written");
                let disk_full = e.is_disk_full();
                for p in batch {
                    let _ = p.done.send(Err(LogError::Write { disk_full }));
                }
            }
        }
    }
}

/// Signs the tail of a quiet log once the interval has passed, so heads are periodic even
/// when no further append comes along to trigger one.
async fn ticker(inner: std::sync::Weak<Inner>) {
    loop {
        let interval = match inner.upgrade() {
            Some(i) => i.head_interval.max(Duration::from_millis(100)),
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(i) = inner.upgrade() else { return };
        let mut st = i.state.lock().await;
        if let Err(e) = i.sign(&mut st, false).await {
            tracing::error!(error = %e, "could not sign an audit tree head");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medshare_audit::{MerkleTree, verify_consistency, verify_inclusion};
    use sqlx::Connection;

    fn entry(i: i64) -> Entry {
        Entry {
            at: 1_700_000_000 + i,
            actor: None,
            institution: None,
            action: "test.append".into(),
            document: None,
            patient: None,
            outcome: "allowed".into(),
            purpose: "test".into(),
            detail: None,
        }
    }

    /// Proofs that reach into closed chunks (read back from a real SQLite store) verify against
    /// the signed head, the same as a whole in-memory tree's; a reopened hub rebuilds the same
    /// root; and a chunk changed in the database behind the hub's back is refused, not proved.
    #[tokio::test(flavor = "multi_thread")]
    async fn proofs_from_closed_chunks_verify_and_a_changed_chunk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
        let store = medshare_store::open_with(&url, medshare_store::OpenMode::Migrate)
            .await
            .unwrap();
        let (tx, _rx) = mpsc::unbounded_channel();
        let seed = Zeroizing::new([7u8; 32]);
        let clock = crate::clock::Clock::system();
        let open = || {
            AuditLog::open(
                store.clone(),
                seed.clone(),
                Duration::from_secs(3600),
                256,
                tx.clone(),
                clock.clone(),
            )
        };
        let log = open().await.unwrap();
        let receipts: Vec<Receipt> = {
            let mut r = Vec::new();
            for i in 0..2_500 {
                r.push(log.submit(entry(i)).await);
            }
            r
        };
        for r in receipts {
            r.durable().await.unwrap();
        }
        let mut reference = MerkleTree::new();
        for r in store.audit_entries(0, 10_000).await.unwrap() {
            reference.push(r.recorded_leaf().unwrap_or_else(|| r.entry.leaf()));
        }
        let key = log.public_key();
        let (head, proof) = log.head(Some(700)).await.unwrap();
        let root = head.verify(&key).unwrap();
        assert_eq!(root, reference.root());
        assert_eq!(proof, reference.prove_consistency(700));
        let mut old = MerkleTree::new();
        for r in store.audit_entries(0, 700).await.unwrap() {
            old.push(r.entry.leaf());
        }
        verify_consistency(&old.root(), &root, &proof.unwrap()).unwrap();
        for seq in [1i64, 1024, 1025, 2048, 2500] {
            let (head, proof) = log.inclusion(seq).await.unwrap().unwrap();
            let leaf = store.audit_entries(seq - 1, 1).await.unwrap()[0]
                .entry
                .leaf();
            verify_inclusion(&head.verify(&key).unwrap(), (seq - 1) as u64, &leaf, &proof).unwrap();
        }
        assert!(log.inclusion(2501).await.unwrap().is_none());
        assert!(log.inclusion(0).await.unwrap().is_none());
        drop(log);

        // Reopened: the same root, and the rebuilt tree checks against the last signed head.
        let log = open().await.unwrap();
        assert_eq!(log.head(None).await.unwrap().0.head.root(), Some(root));
        drop(log);

        // Entry 1,500 (inside the second closed chunk) rewritten behind the hub's back, after
        // the hub's tree was built: the proof that needs its chunk is refused.
        let log = open().await.unwrap();
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for stmt in [
            "DROP TRIGGER access_log_no_update",
            "UPDATE access_log SET action = 'test.rewritten', leaf = NULL WHERE seq = 1500",
        ] {
            sqlx::query(stmt).execute(&mut c).await.unwrap();
        }
        assert!(matches!(
            log.inclusion(1400).await,
            Err(LogError::Diverged { size: 2048 })
        ));
        assert!(log.inclusion(10).await.unwrap().is_some());
    }
}
