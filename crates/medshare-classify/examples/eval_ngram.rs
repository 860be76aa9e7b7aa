//! Rules alone against rules + n-gram model (`src/ngram.rs`) on the labelled free-text sets,
//! text route, per set and split: right answers, wrong answers not marked low confidence, right
//! answers marked low confidence. Held-out misses are counted, never listed.
//!
//! `cargo run -p medshare-classify --example eval_ngram`

use anyhow::{Context, Result};
use medshare_classify::{DocumentClass, Options, classify_with};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Default, Debug)]
struct Tally {
    right: u32,
    total: u32,
    wrong_unmarked: u32,
    right_low: u32,
}

fn main() -> Result<()> {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let material = std::env::var_os("MEDSHARE_TEST_MATERIAL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/medshare-test-material"))
        })
        .context("set MEDSHARE_TEST_MATERIAL")?;
    let tests = crate_dir.join("tests");
    let sets = [
        (
            "zh1",
            tests.join("blind_zh/labels.tsv"),
            tests.join("blind_zh"),
        ),
        (
            "zh2",
            tests.join("blind_zh2/labels.tsv"),
            tests.join("blind_zh2"),
        ),
        ("en", tests.join("free_text_labels.tsv"), material),
    ];
    let mut table: BTreeMap<(String, &str, &str), Tally> = BTreeMap::new();
    for (name, labels, dir) in &sets {
        for (path, class, split, lang) in rows(labels)? {
            let bytes = std::fs::read(dir.join(&path)).with_context(|| path.clone())?;
            for (setting, model) in [("rules", false), ("rules+model", true)] {
                let c = classify_with(
                    &bytes,
                    &Options {
                        text_model: model,
                        ..Options::default()
                    },
                );
                let ok = c.class == class;
                for key in [name.to_string(), format!("{name} {lang}"), "all".into()] {
                    let t = table.entry((key, split, setting)).or_default();
                    t.total += 1;
                    t.right += u32::from(ok);
                    t.wrong_unmarked += u32::from(!ok && !c.low_confidence);
                    t.right_low += u32::from(ok && c.low_confidence);
                }
            }
        }
    }
    println!("set/lang split setting right/total wrong-not-low right-but-low");
    for ((key, split, setting), t) in &table {
        println!(
            "{key:14} {split:8} {setting:12} {:4}/{:<4} {:5.1}%  {:3} {:3}",
            t.right,
            t.total,
            100.0 * f64::from(t.right) / f64::from(t.total),
            t.wrong_unmarked,
            t.right_low
        );
    }
    Ok(())
}

/// `(path, class, split, language)` rows; split is `dev` or `held-out`.
fn rows(labels: &Path) -> Result<Vec<(String, DocumentClass, &'static str, String)>> {
    let text = std::fs::read_to_string(labels).with_context(|| labels.display().to_string())?;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with('#') || l.starts_with("path\t") || l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('\t').collect();
        let class = DocumentClass::from_category(f[1]).context("class")?;
        let split = if f[2] == "dev" { "dev" } else { "held-out" };
        out.push((f[0].to_owned(), class, split, f[3].to_owned()));
    }
    Ok(out)
}
