//! Hashes and proofs against the RFC 6962 reference vectors (the leaves and expected values of
//! the Certificate Transparency reference implementation, transparency-dev/merkle
//! `testonly/reference_test.go`), through this crate's own tree and verification functions.

use medshare_audit::{MerkleTree, Proof, ProofError, Root, verify_consistency, verify_inclusion};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Root of the tree of the first n leaves, n = 1..=8.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (tree size, leaf index, proof)
const INCLUSION: &[(u64, u64, &[&str])] = &[
    (1, 0, &[]),
    (
        2,
        0,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        2,
        1,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        3,
        2,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        5,
        1,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        8,
        0,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        8,
        5,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (old size, new size, proof)
const CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn leaf(i: usize) -> Vec<u8> {
    hex::decode(LEAVES[i]).unwrap()
}

fn tree(n: u64) -> MerkleTree<Vec<u8>> {
    let mut t = MerkleTree::new();
    for i in 0..n as usize {
        t.push(leaf(i));
    }
    t
}

fn root(n: u64) -> Root {
    Root::from_hex(n, ROOTS[n as usize - 1]).unwrap()
}

fn proof(hashes: &[&str]) -> Proof {
    Proof(hashes.iter().map(|h| h.to_string()).collect())
}

#[test]
fn roots_match_the_reference() {
    for n in 1..=8u64 {
        assert_eq!(tree(n).root(), root(n), "size {n}");
    }
    // The empty tree's root is SHA-256 of the empty string.
    assert_eq!(
        MerkleTree::<Vec<u8>>::new().root().hash_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn inclusion_proofs_match_and_verify() {
    for &(size, index, hashes) in INCLUSION {
        let t = tree(size);
        assert_eq!(
            t.prove_inclusion(index).unwrap(),
            proof(hashes),
            "{size}/{index}"
        );
        verify_inclusion(&root(size), index, &leaf(index as usize), &proof(hashes)).unwrap();
        // The same proof must not pass for another leaf or another index.
        let other = (index as usize + 1) % 8;
        assert_eq!(
            verify_inclusion(&root(size), index, &leaf(other), &proof(hashes)),
            Err(ProofError::Inclusion)
        );
        if size > 1 {
            let wrong_index = (index + 1) % size;
            assert!(
                verify_inclusion(
                    &root(size),
                    wrong_index,
                    &leaf(index as usize),
                    &proof(hashes)
                )
                .is_err()
            );
        }
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    for &(old, new, hashes) in CONSISTENCY {
        let t = tree(new);
        assert_eq!(
            t.prove_consistency(old).unwrap(),
            proof(hashes),
            "{old}->{new}"
        );
        verify_consistency(&root(old), &root(new), &proof(hashes)).unwrap();
        if old != new {
            // A rewritten old tree fails.
            let mut forged = root(old);
            forged.hash[0] ^= 1;
            assert_eq!(
                verify_consistency(&forged, &root(new), &proof(hashes)),
                Err(ProofError::Consistency)
            );
        }
    }
    assert_eq!(
        verify_consistency(&root(5), &root(3), &Proof::default()),
        Err(ProofError::Shrank)
    );
}

#[test]
fn every_pair_of_sizes_proves_consistent() {
    let t100: Vec<MerkleTree<Vec<u8>>> = (0..=40u64)
        .map(|n| {
            let mut t = MerkleTree::new();
            for i in 0..n {
                t.push(i.to_be_bytes().to_vec());
            }
            t
        })
        .collect();
    for new in 1..=40usize {
        for old in 1..=new {
            let p = t100[new].prove_consistency(old as u64).unwrap();
            verify_consistency(&t100[old].root(), &t100[new].root(), &p).unwrap();
        }
        for i in 0..new as u64 {
            let p = t100[new].prove_inclusion(i).unwrap();
            verify_inclusion(&t100[new].root(), i, &i.to_be_bytes().to_vec(), &p).unwrap();
        }
    }
}
