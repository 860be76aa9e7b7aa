//! Rules alone against rules + n-gram model (`src/ngram.rs`) on the labelled free-text sets,
//! text route, per set and split: right answers, wrong answers not marked low confidence, right
//! answers marked low confidence; and the model alone. Held-out misses are counted, never
//! listed. Then, on the development halves only, 5-fold cross-validation of the model (trained
//! on four fifths, asked about the fifth): the model alone, and the rules with the model deciding
//! their low-confidence answers when its margin is at least 0, 2, 4, 8, 16 nats.
//!
//! `cargo run -p medshare-classify --example eval_ngram`

use anyhow::{Context, Result};
use medshare_classify::ngram::{BITS, Model};
use medshare_classify::{DocumentClass, Options, classify_with};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    // Development documents: (set, class, text, rules' class, rules' low confidence).
    let mut dev = Vec::new();
    let weights = crate_dir.join("src/ngram.bin");
    let m = Arc::new(
        Model::from_bytes(&std::fs::read(&weights).with_context(|| weights.display().to_string())?)
            .context("src/ngram.bin")?,
    );
    for (name, labels, dir) in &sets {
        for (path, class, split, lang) in rows(labels)? {
            let bytes = std::fs::read(dir.join(&path)).with_context(|| path.clone())?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let alone = m.predict(&text).map(|p| p.class) == Some(class);
            for key in [name.to_string(), format!("{name} {lang}"), "all".into()] {
                let t = table.entry((key, split, "model alone")).or_default();
                t.total += 1;
                t.right += u32::from(alone);
            }
            if split == "dev" {
                let c = classify_with(&bytes, &Options::default());
                dev.push((*name, class, text, c.class, c.low_confidence));
            }
            for (setting, model) in [("rules", false), ("rules+model", true)] {
                let c = classify_with(
                    &bytes,
                    &Options {
                        text_model: model.then(|| m.clone()),
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
    println!("\n5-fold cross-validation on the development halves (right/total)");
    let folds = 5;
    let mut cv: BTreeMap<(&str, String), (u32, u32)> = BTreeMap::new();
    for k in 0..folds {
        let train = dev
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != k)
            .map(|(_, d)| (d.1, d.2.as_str()));
        let fold_model = Model::train(train, BITS);
        for (i, (set, class, text, ruled, low)) in dev.iter().enumerate() {
            if i % folds != k {
                continue;
            }
            let p = fold_model.predict(text);
            let mut settings = vec![(
                "model alone".to_owned(),
                p.as_ref().map(|p| p.class) == Some(*class),
            )];
            for t in [0.0f32, 2.0, 4.0, 8.0, 16.0] {
                let chosen = match &p {
                    Some(p) if *low && p.margin >= t => p.class,
                    _ => *ruled,
                };
                settings.push((format!("rules+model>={t}"), chosen == *class));
            }
            settings.push(("rules".to_owned(), ruled == class));
            for (s, ok) in settings {
                for key in [*set, "all"] {
                    let e = cv.entry((key, s.clone())).or_default();
                    e.0 += u32::from(ok);
                    e.1 += 1;
                }
            }
        }
    }
    for ((set, s), (r, n)) in &cv {
        println!(
            "{set:4} {s:18} {r:4}/{n:<4} {:5.1}%",
            100.0 * f64::from(*r) / f64::from(*n)
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
