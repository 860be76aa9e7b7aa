//! Train the n-gram model behind the text rules (`src/ngram.rs`) on the **development halves
//! only** of the labelled free-text sets: the two Chinese sets written blind (`tests/blind_zh`,
//! `tests/blind_zh2`) and the English outside free text (`tests/free_text_labels.tsv`, documents
//! fetched by `scripts/test-material.sh` into `$MEDSHARE_TEST_MATERIAL`). Writes
//! `src/ngram.bin`; the same inputs give the same bytes.
//!
//! `cargo run -p medshare-classify --example train_ngram [-- OUT]`

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
    for set in ["blind_zh", "blind_zh2"] {
        docs.extend(dev_half(
            &tests.join(set).join("labels.tsv"),
            &tests.join(set),
        )?);
    }
    let zh = docs.len();
    docs.extend(dev_half(&tests.join("free_text_labels.tsv"), &material)?);
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

/// The development rows of a labels file (`path<TAB>class<TAB>split<TAB>language`), read from
/// `dir`, in file order.
fn dev_half(labels: &Path, dir: &Path) -> Result<Vec<(DocumentClass, String)>> {
    let text =
        std::fs::read_to_string(labels).with_context(|| format!("reading {}", labels.display()))?;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with('#') || l.starts_with("path\t") || l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() != 4 {
            bail!(
                "{}: not path<TAB>class<TAB>split<TAB>language: {l}",
                labels.display()
            );
        }
        if f[2] != "dev" {
            continue; // the held-out half is never trained on
        }
        let class = DocumentClass::from_category(f[1])
            .with_context(|| format!("unknown class {}", f[1]))?;
        let p = dir.join(f[0]);
        let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        out.push((class, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(out)
}
