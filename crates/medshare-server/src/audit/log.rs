//! The hub's side of the Merkle log: one appender task writes entries in batches (group
//! commit: a request's entry is durable before its response leaves, and concurrent requests
//! share one transaction), an in-memory RFC 6962 tree mirrors the stored leaves, and signed tree
//! heads are written periodically and on demand.

use medshare_audit::{Entry, LoggedEntry, MerkleTree, Proof, Root, SignedTreeHead, TreeHead};
use medshare_store::{MetadataStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, oneshot};
use zeroize::Zeroizing;

/// Entries read back per page when the tree catches up with the store.
const PAGE: i64 = 10_000;

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
    tree: MerkleTree,
    last_head: Option<SignedTreeHead>,
    last_signed: Instant,
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
            tree: MerkleTree::new(),
            last_head: None,
            last_signed: Instant::now(),
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
        let proof = from
            .filter(|&f| f > 0 && f <= st.tree.len())
            .and_then(|f| st.tree.prove_consistency(f));
        Ok((head, proof))
    }

    /// Inclusion proof for entry `seq` against the current signed head.
    pub async fn inclusion(&self, seq: i64) -> Result<Option<(SignedTreeHead, Proof)>, LogError> {
        let mut st = self.inner.state.lock().await;
        sync(&*self.inner.store, &mut st.tree, None).await?;
        let head = self.inner.sign(&mut st, true).await?;
        let Ok(index) = u64::try_from(seq - 1) else {
            return Ok(None);
        };
        Ok(st.tree.prove_inclusion(index).map(|p| (head, p)))
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

/// Read entries past the tree's end (up to `until` entries in all) and push their leaves.
async fn sync(
    store: &dyn MetadataStore,
    tree: &mut MerkleTree,
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
