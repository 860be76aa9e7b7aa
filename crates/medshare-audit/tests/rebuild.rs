//! The full rebuild catches each way of rewriting history and says where.

use ed25519_dalek::SigningKey;
use medshare_audit::{
    Entry, HiddenEntry, LoggedEntry, MerkleTree, Problem, SignedTreeHead, TreeHead, VisibleEntry,
    audit_log,
};
use medshare_model::{DocumentId, PatientId, PractitionerId};

fn entry(i: i64) -> Entry {
    Entry {
        at: 1_790_000_000 + i,
        actor: Some(PractitionerId::new()),
        institution: None,
        action: "document.fetch-content".into(),
        document: Some(DocumentId::new()),
        patient: Some(PatientId::new()),
        outcome: "allowed".into(),
        purpose: "grant".into(),
        detail: None,
    }
}

/// A log of n entries with a signed head after every entry.
fn log(n: i64) -> (Vec<LoggedEntry>, Vec<SignedTreeHead>, [u8; 32]) {
    let key = SigningKey::from_bytes(&[3; 32]);
    let mut tree = MerkleTree::new();
    let mut entries = vec![];
    let mut heads = vec![];
    for i in 1..=n {
        let e = entry(i);
        tree.push(e.leaf());
        entries.push(LoggedEntry {
            seq: i,
            leaf: Some(hex::encode(e.leaf())),
            entry: e,
        });
        heads.push(TreeHead::new(tree.root(), i).sign(&key));
    }
    (entries, heads, key.verifying_key().to_bytes())
}

fn problems(
    entries: Vec<LoggedEntry>,
    heads: &[SignedTreeHead],
    key: &[u8; 32],
) -> Vec<(Option<u64>, Problem)> {
    audit_log(entries, heads, key, None)
        .findings
        .into_iter()
        .map(|f| (f.position, f.problem))
        .collect()
}

#[test]
fn an_intact_log_verifies() {
    let (entries, heads, key) = log(20);
    let report = audit_log(entries, &heads, &key, None);
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.entries, 20);
    assert_eq!(report.heads_checked, 20);
}

#[test]
fn an_edited_entry_is_pinned_to_its_position() {
    let (mut entries, heads, key) = log(20);
    entries[7].entry.outcome = "denied".into();
    let p = problems(entries, &heads, &key);
    assert!(p.contains(&(Some(7), Problem::Altered)), "{p:?}");
    assert!(
        p.contains(&(None, Problem::DivergesFromHead { from: 7, size: 8 })),
        "{p:?}"
    );
}

#[test]
fn an_edit_that_also_rewrites_the_recorded_leaf_is_caught_by_the_heads() {
    let (mut entries, heads, key) = log(20);
    entries[7].entry.purpose = "care-relationship".into();
    entries[7].leaf = Some(hex::encode(entries[7].entry.leaf()));
    let p = problems(entries, &heads, &key);
    assert_eq!(
        p,
        vec![(None, Problem::DivergesFromHead { from: 7, size: 8 })]
    );
}

#[test]
fn a_deleted_entry_is_pinned_to_its_position() {
    let (mut entries, heads, key) = log(20);
    entries.remove(12);
    let p = problems(entries, &heads, &key);
    assert!(
        p.contains(&(
            Some(12),
            Problem::Missing {
                expected: 13,
                found: 14
            }
        )),
        "{p:?}"
    );
    assert!(
        p.contains(&(None, Problem::DivergesFromHead { from: 12, size: 13 })),
        "{p:?}"
    );
    assert!(
        p.contains(&(
            None,
            Problem::HeadBeyondLog {
                size: 20,
                entries: 19
            }
        )),
        "{p:?}"
    );
}

#[test]
fn an_inserted_entry_is_found() {
    let (mut entries, heads, key) = log(20);
    // Inserted between seq 5 and 6 with the following entries renumbered, as a careful forger would.
    let forged = entry(99);
    entries.insert(
        5,
        LoggedEntry {
            seq: 6,
            leaf: Some(hex::encode(forged.leaf())),
            entry: forged,
        },
    );
    for (i, e) in entries.iter_mut().enumerate() {
        e.seq = i as i64 + 1;
    }
    let p = problems(entries, &heads, &key);
    assert_eq!(
        p,
        vec![(None, Problem::DivergesFromHead { from: 5, size: 6 })]
    );
}

#[test]
fn reordered_entries_are_found() {
    let (mut entries, heads, key) = log(20);
    // Swap the contents of two rows and keep the sequence numbers in place.
    let (a, b) = (entries[3].clone(), entries[9].clone());
    entries[3] = LoggedEntry { seq: 4, ..b };
    entries[9] = LoggedEntry { seq: 10, ..a };
    let p = problems(entries, &heads, &key);
    assert_eq!(
        p,
        vec![(None, Problem::DivergesFromHead { from: 3, size: 4 })]
    );
}

#[test]
fn a_forged_head_and_a_rewritten_remembered_head_are_reported() {
    let (entries, mut heads, key) = log(10);
    heads[4].head.root = hex::encode([0u8; 32]);
    let remembered = {
        let mut t = MerkleTree::new();
        for e in entries.iter().take(6) {
            t.push(e.entry.leaf());
        }
        let mut r = t.root();
        r.hash[31] ^= 0xff;
        r
    };
    let report = audit_log(entries, &heads, &key, Some(remembered));
    let p: Vec<Problem> = report.findings.into_iter().map(|f| f.problem).collect();
    assert!(
        p.iter()
            .any(|x| matches!(x, Problem::BadHead { size: 5, .. })),
        "{p:?}"
    );
    assert!(
        p.contains(&Problem::DivergesFromRemembered { size: 6 }),
        "{p:?}"
    );
}

#[test]
fn entries_outside_the_auditors_scope_verify_by_their_leaf() {
    let (entries, heads, key) = log(12);
    // Every other entry hidden: the tree still rebuilds and matches every head.
    let visible: Vec<VisibleEntry> = entries
        .iter()
        .map(|e| {
            if e.seq % 2 == 0 {
                VisibleEntry::hide(e)
            } else {
                VisibleEntry::Full(e.clone())
            }
        })
        .collect();
    let report = audit_log(visible.clone(), &heads, &key, None);
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!((report.entries, report.hidden), (12, 6));
    // The hub swaps a hidden entry's leaf: caught against the signed heads from there on.
    let mut forged = visible;
    forged[5] = VisibleEntry::Hidden(HiddenEntry {
        seq: 6,
        leaf: hex::encode([7u8; 32]),
    });
    let report = audit_log(forged, &heads, &key, None);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.problem == Problem::DivergesFromHead { from: 5, size: 6 }),
        "{:?}",
        report.findings
    );
    // Hidden entries travel as seq and leaf only: no actor, patient or document.
    let json = serde_json::to_value(VisibleEntry::hide(&entries[0])).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["leaf", "seq"]
    );
}
