//! Rebuild the whole tree from the entries and hold it against every signed head: an edited,
//! deleted, inserted or reordered entry is reported with its position.

use crate::entry::{HiddenEntry, VisibleEntry};
use crate::head::SignedTreeHead;
use crate::tree::{MerkleTree, Root};
use serde::Serialize;
use std::collections::BTreeMap;

/// Something wrong with the log, at a position where it can be pinned down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// 0-based tree index of the entry concerned, when known.
    pub position: Option<u64>,
    /// 1-based sequence number of the entry concerned, when known.
    pub seq: Option<i64>,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong with the log at a position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// Entries are missing here: the sequence jumps from `expected` to `found`.
    Missing {
        /// The sequence number expected.
        expected: i64,
        /// The one found instead.
        found: i64,
    },
    /// The sequence repeats or runs backwards here: an entry was inserted or moved.
    OutOfOrder {
        /// The sequence number before it.
        previous: i64,
    },
    /// The entry no longer matches the leaf recorded when it was appended: it was edited.
    Altered,
    /// The tree rebuilt from the entries differs from a signed head: something among positions
    /// `from..size` (0-based, `from` = size of the last head that still matched) changed.
    DivergesFromHead {
        /// Size of the last head that still matched.
        from: u64,
        /// Size of the head that no longer matches.
        size: u64,
    },
    /// A signed head covers more entries than the log now holds: entries were removed.
    HeadBeyondLog {
        /// Size of the head.
        size: u64,
        /// Entries the log holds now.
        entries: u64,
    },
    /// A head that does not verify with the log key.
    BadHead {
        /// Size of the head.
        size: u64,
        /// Why it does not verify.
        reason: String,
    },
    /// The tree differs from the head this client saw earlier: the hub rewrote or forked history.
    DivergesFromRemembered {
        /// Size of the remembered head.
        size: u64,
    },
}

/// The outcome of rebuilding the log.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Entries rebuilt.
    pub entries: u64,
    /// Entries outside the auditor's scope, checked by their leaf only: an edit to one of them
    /// shows as a divergence from the signed heads, not at its exact position.
    pub hidden: u64,
    /// Signed heads checked against the rebuilt tree.
    pub heads_checked: usize,
    /// Root of the tree rebuilt from the entries as served.
    #[serde(serialize_with = "ser_root")]
    pub root: Root,
    /// Everything found wrong, in log order.
    pub findings: Vec<Finding>,
}

fn ser_root<S: serde::Serializer>(r: &Root, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}:{}", r.size, r.hash_hex()))
}

impl Report {
    /// Whether nothing was found wrong.
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }
}

enum Checkpoint {
    Signed(Root),
    Remembered(Root),
}

/// Rebuild the tree from `entries` (in the order served, by sequence number) and check it
/// against every head signed with `log_key`, and against a head this client `remembered`.
pub fn audit_log(
    entries: impl IntoIterator<Item = impl Into<VisibleEntry>>,
    heads: &[SignedTreeHead],
    log_key: &[u8; 32],
    remembered: Option<Root>,
) -> Report {
    let mut findings = Vec::new();
    let mut checkpoints: BTreeMap<u64, Vec<Checkpoint>> = BTreeMap::new();
    let mut heads_checked = 0;
    for h in heads {
        match h.verify(log_key) {
            Ok(root) => {
                heads_checked += 1;
                checkpoints
                    .entry(root.size)
                    .or_default()
                    .push(Checkpoint::Signed(root));
            }
            Err(e) => findings.push(Finding {
                position: None,
                seq: None,
                problem: Problem::BadHead {
                    size: h.head.size,
                    reason: e.to_string(),
                },
            }),
        }
    }
    if let Some(r) = remembered {
        checkpoints
            .entry(r.size)
            .or_default()
            .push(Checkpoint::Remembered(r));
    }

    let mut tree = MerkleTree::new();
    let mut previous_seq = 0i64;
    let mut last_matching = 0u64;
    let mut diverged = false;
    let mut hidden = 0u64;
    for visible in entries {
        let visible: VisibleEntry = visible.into();
        let position = tree.len();
        let seq = visible.seq();
        if seq > previous_seq + 1 {
            findings.push(Finding {
                position: Some(position),
                seq: Some(seq),
                problem: Problem::Missing {
                    expected: previous_seq + 1,
                    found: seq,
                },
            });
        } else if seq <= previous_seq {
            findings.push(Finding {
                position: Some(position),
                seq: Some(seq),
                problem: Problem::OutOfOrder {
                    previous: previous_seq,
                },
            });
        }
        previous_seq = previous_seq.max(seq);
        let leaf = match &visible {
            VisibleEntry::Full(logged) => {
                let leaf = logged.entry.leaf();
                if logged.recorded_leaf().is_some_and(|r| r != leaf) {
                    findings.push(Finding {
                        position: Some(position),
                        seq: Some(seq),
                        problem: Problem::Altered,
                    });
                }
                leaf
            }
            VisibleEntry::Hidden(HiddenEntry { leaf, .. }) => {
                hidden += 1;
                match hex::decode(leaf).ok().and_then(|b| b.try_into().ok()) {
                    Some(l) => l,
                    None => {
                        findings.push(Finding {
                            position: Some(position),
                            seq: Some(seq),
                            problem: Problem::Altered,
                        });
                        [0u8; 32]
                    }
                }
            }
        };
        tree.push(leaf);
        if let Some(points) = checkpoints.get(&tree.len()) {
            let root = tree.root();
            for point in points {
                match point {
                    Checkpoint::Signed(signed) if !diverged => {
                        if *signed == root {
                            last_matching = root.size;
                        } else {
                            diverged = true;
                            findings.push(Finding {
                                position: None,
                                seq: None,
                                problem: Problem::DivergesFromHead {
                                    from: last_matching,
                                    size: root.size,
                                },
                            });
                        }
                    }
                    Checkpoint::Remembered(r) if *r != root => findings.push(Finding {
                        position: None,
                        seq: None,
                        problem: Problem::DivergesFromRemembered { size: r.size },
                    }),
                    _ => {}
                }
            }
        }
    }
    let entries = tree.len();
    for (&size, points) in checkpoints.range(entries + 1..) {
        for point in points {
            findings.push(Finding {
                position: None,
                seq: None,
                problem: match point {
                    Checkpoint::Signed(_) => Problem::HeadBeyondLog { size, entries },
                    Checkpoint::Remembered(_) => Problem::DivergesFromRemembered { size },
                },
            });
        }
    }
    Report {
        entries,
        hidden,
        heads_checked,
        root: tree.root(),
        findings,
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = self.position {
            write!(f, "position {p}")?;
            if let Some(s) = self.seq {
                write!(f, " (seq {s})")?;
            }
            write!(f, ": ")?;
        }
        match &self.problem {
            Problem::Missing { expected, found } => {
                write!(f, "entries {expected}..{} are missing (deleted)", found - 1)
            }
            Problem::OutOfOrder { previous } => write!(
                f,
                "sequence runs backwards after seq {previous}: an entry was inserted or moved"
            ),
            Problem::Altered => write!(f, "the entry was edited after it was logged"),
            Problem::DivergesFromHead { from, size } => write!(
                f,
                "the entries differ from the signed head of size {size}: the change lies among positions {from}..{}",
                size - 1
            ),
            Problem::HeadBeyondLog { size, entries } => write!(
                f,
                "a signed head covers {size} entries but only {entries} remain: entries were removed"
            ),
            Problem::BadHead { size, reason } => {
                write!(f, "the signed head of size {size} is not valid: {reason}")
            }
            Problem::DivergesFromRemembered { size } => write!(
                f,
                "the log differs from the head of size {size} this client verified earlier: history was rewritten"
            ),
        }
    }
}
