//! Train the n-gram model behind the text rules (`src/ngram.rs`) on the development data of
//! the labelled free-text sets: every Chinese set written blind (`tests/blind_zh*`, both halves:
//! the held-out halves of the first two were measured once and are development data since
//! 2026-11-30) and the English outside free text's development half
//! (`tests/free_text_labels.tsv`, documents fetched by `scripts/test-material.sh` into
//! `$MEDSHARE_TEST_MATERIAL`; its held-out half is never trained on). Writes `src/ngram.bin`;
//! the same inputs give the same bytes.
//!
//! `cargo run -p medshare-classify --example train_ngram [-- OUT]`

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::{Context, Result, bail};
use medshare_classify::DocumentClass;
use medshare_classify::ngram::{BITS, Model};
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir.join("src/ngram.bin"));
    let material = std::env::var_os("MEDSHARE_TEST_MATERIAL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/medshare-test-material"))
        })
        .context("set MEDSHARE_TEST_MATERIAL")?;
    if !material.join(".complete-freetext-v1").is_file() {
        bail!(
            "free-text material missing in {}: run `bash scripts/test-material.sh`",
            material.display()
        );
    }
    let tests = crate_dir.join("tests");
    let mut docs: Vec<(DocumentClass, String)> = Vec::new();
    for set in ["blind_zh", "blind_zh2", "blind_zh3", "blind_zh4"] {
        let dir = tests.join(set);
        if dir.join("labels.tsv").is_file() {
            docs.extend(texts(&dir, common::set_labels(&dir).iter())?);
        }
    }
    let zh = docs.len();
    let english = common::parse_labels(
        &std::fs::read_to_string(tests.join("free_text_labels.tsv"))?,
        "held-out",
    );
    // The English held-out half is never trained on.
    docs.extend(texts(&material, english.iter().filter(|l| !l.held_out))?);
    let model = Model::train(docs.iter().map(|(c, t)| (*c, t.as_str())), BITS);
    let bytes = model.to_bytes();
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "trained on {} development documents ({zh} Chinese/bilingual, {} English), classes {:?}: {} bytes to {}",
        docs.len(),
        docs.len() - zh,
        model
            .classes()
            .iter()
            .map(|c| c.category())
            .collect::<Vec<_>>(),
        bytes.len(),
        out.display()
    );
    Ok(())
}

/// The labelled documents' texts, read from `dir`, in label order.
fn texts<'a>(
    dir: &Path,
    labels: impl Iterator<Item = &'a common::Labelled>,
) -> Result<Vec<(DocumentClass, String)>> {
    labels
        .map(|l| {
            let p = dir.join(&l.path);
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok((l.class, String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}
