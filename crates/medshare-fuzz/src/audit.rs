//! Audit entries, signed tree heads and proofs as a hub serves them. The harness signs the
//! input's heads with a fixed log key, so the tree rebuild and the proof checks see arbitrary
//! sizes, roots and proofs; the input's own signatures are checked too and must be refused
//! cleanly when wrong.

use ed25519_dalek::SigningKey;
use medshare_audit::{
    MerkleTree, Proof, Root, SignedTreeHead, TreeHead, VisibleEntry, audit_log, verify_consistency,
    verify_inclusion,
};
use serde::{Deserialize, Serialize};

const LOG_KEY: [u8; 32] = [9; 32];

/// One `audit` input (JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AuditInput {
    /// The log as served (full entries and hidden positions).
    #[serde(default)]
    pub entries: Vec<VisibleEntry>,
    /// Heads the harness signs with the fixed log key.
    #[serde(default)]
    pub heads: Vec<TreeHead>,
    /// Heads as served, signature and all.
    #[serde(default)]
    pub signed: Vec<SignedTreeHead>,
    #[serde(default)]
    pub remembered: Option<TreeHead>,
    /// `(head, index, leaf hex, proof)`.
    #[serde(default)]
    pub inclusion: Vec<(TreeHead, u64, String, Proof)>,
    /// `(old, new, proof)`.
    #[serde(default)]
    pub consistency: Vec<(TreeHead, TreeHead, Proof)>,
}

pub fn audit(data: &[u8]) {
    let Ok(input) = serde_json::from_slice::<AuditInput>(data) else {
        return;
    };
    let key = SigningKey::from_bytes(&LOG_KEY);
    let public = key.verifying_key().to_bytes();
    let mut heads: Vec<SignedTreeHead> = input.heads.iter().map(|h| h.clone().sign(&key)).collect();
    heads.extend(input.signed.iter().cloned());
    for h in &heads {
        let _ = h.verify(&public);
    }
    let remembered = input.remembered.as_ref().and_then(TreeHead::root);
    let report = audit_log(input.entries.iter().cloned(), &heads, &public, remembered);
    let _ = report.is_intact();
    for f in &report.findings {
        let _ = f.to_string();
    }
    for (head, index, leaf, proof) in &input.inclusion {
        let (Some(root), Some(leaf)) = (head.root(), hex_leaf(leaf)) else {
            continue;
        };
        let _ = verify_inclusion(&root, *index, &leaf, proof);
    }
    for (old, new, proof) in &input.consistency {
        let (Some(old), Some(new)) = (old.root(), new.root()) else {
            continue;
        };
        if verify_consistency(&old, &new, proof).is_ok() {
            assert!(new.size >= old.size);
        }
    }
}

fn hex_leaf(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A seed input: a real log of `n` entries with its heads and valid proofs.
pub fn audit_seed(n: u64) -> Vec<u8> {
    let mut tree = MerkleTree::new();
    let mut entries = Vec::new();
    for seq in 1..=n as i64 {
        let entry = medshare_audit::Entry {
            at: 1_700_000_000 + seq,
            actor: None,
            institution: None,
            action: "document.fetch-content".into(),
            document: None,
            patient: None,
            outcome: if seq % 3 == 0 { "denied" } else { "allowed" }.into(),
            purpose: "grant".into(),
            detail: None,
        };
        let leaf = entry.leaf();
        tree.push(leaf);
        let logged = medshare_audit::LoggedEntry {
            seq,
            leaf: Some(hex_string(&leaf)),
            entry,
        };
        entries.push(if seq % 4 == 0 {
            VisibleEntry::hide(&logged)
        } else {
            VisibleEntry::Full(logged)
        });
    }
    let root = tree.root();
    let head = TreeHead::new(root, 1_700_000_999);
    let mut input = AuditInput {
        entries,
        heads: vec![head.clone()],
        ..AuditInput::default()
    };
    if n > 0 {
        let index = n / 2;
        if let Some(proof) = tree.prove_inclusion(index) {
            let leaf = match &input.entries[index as usize] {
                VisibleEntry::Full(e) => e.leaf.clone().unwrap_or_default(),
                VisibleEntry::Hidden(h) => h.leaf.clone(),
            };
            input.inclusion.push((head.clone(), index, leaf, proof));
        }
    }
    input
        .signed
        .push(head.clone().sign(&SigningKey::from_bytes(&LOG_KEY)));
    serde_json::to_vec_pretty(&input).expect("serialises")
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A log built the way the hub builds it, with a consistency proof from half its size.
pub fn consistency_seed(n: u64) -> Vec<u8> {
    let mut tree = MerkleTree::new();
    let mut old: Option<Root> = None;
    for i in 0..n {
        tree.push([i as u8; 32]);
        if i + 1 == n / 2 {
            old = Some(tree.root());
        }
    }
    let new = tree.root();
    let mut input = AuditInput::default();
    if let (Some(old), Some(proof)) = (old, old.and_then(|o| tree.prove_consistency(o.size))) {
        input
            .consistency
            .push((TreeHead::new(old, 1), TreeHead::new(new, 2), proof));
    }
    serde_json::to_vec_pretty(&input).expect("serialises")
}
