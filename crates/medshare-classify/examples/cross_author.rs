//! Leave-one-author-out evaluation of the free-text classifier: the next author's documents are
//! what matters, so every design is judged on a set its fitting never saw.
//!
//! `cargo run -p medshare-classify --example cross_author -- rules DIR...` runs the rules alone
//! on labelled sets in folders (`labels.tsv` beside the documents), as text and as a PDF with
//! a CID font, and prints the table per class and language, every miss with its evidence and
//! the wrong answers not marked low confidence: the first run of a new blind set.
//!
//! `cargo run -p medshare-classify --example cross_author` (no arguments) runs the study on the
//! Chinese sets in `tests/blind_zh*` and the English outside free text (`$MEDSHARE_TEST_MATERIAL`,
//! `scripts/test-material.sh`), text route: for each Chinese set the n-gram model (`src/ngram.rs`)
//! is trained on every other Chinese set and the English development half, and asked about the
//! set left out; for English it is trained on every Chinese set and the English development
//! half, and asked about the English held-out half. Designs, each as right/total, wrong answers
//! not marked low confidence, right answers marked low:
//!
//! - `rules`: the rules alone;
//! - `shipped`: what `classify` does with the model the set's fitting never saw
//!   (`ngram::refine`: texts with Chinese only, the model decides the rules' low-confidence
//!   answers and marks low confidence where it disagrees with a confident one);
//! - `model`: the model alone;
//! - `decides`: the model's class where the rules' answer is low confidence (still low);
//! - `vetoes>=T`: the rules' class, marked low confidence where the model names another class
//!   by at least T nats (a second reader disagreeing);
//! - `decides+vetoes>=T`: both.
//!
//! The evaluation loop is the tests' own (`tests/common/mod.rs`).

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::{Context, Result, bail};
use common::{Labelled, Report, cjk_pdf, evaluate, evaluate_set, parse_labels, set_labels};
use medshare_classify::ngram::{BITS, Model, Prediction};
use medshare_classify::{Classification, DocumentClass, LOW_CONFIDENCE, Options, classify_with};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Margins (nats) at which the model's disagreement marks a confident answer low.
const VETO_MARGINS: [f32; 5] = [0.0, 4.0, 8.0, 16.0, 32.0];

struct Set {
    name: String,
    dir: PathBuf,
    labels: Vec<Labelled>,
    english: bool,
}

impl Set {
    fn read(&self, l: &Labelled) -> Vec<u8> {
        let p = self.dir.join(&l.path);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("rules") => {
            for d in &args[1..] {
                first_run(Path::new(d));
            }
            Ok(())
        }
        Some(other) => bail!("unknown command {other}: `rules DIR...` or nothing"),
        None => study(),
    }
}

/// The rules alone on one folder, both routes, everything listed.
fn first_run(dir: &Path) {
    let rules = Options {
        text_model: None,
        ..Options::default()
    };
    let text = |b: &[u8]| classify_with(b, &rules);
    let pdf = |b: &[u8]| {
        classify_with(
            &cjk_pdf(std::str::from_utf8(b).expect("UTF-8 text")),
            &rules,
        )
    };
    let labels = set_labels(dir);
    let r = evaluate_set(dir, &labels, &[("text", &text), ("pdf", &pdf)]);
    r.print(&dir.display().to_string());
}

fn sets() -> Result<Vec<Set>> {
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut out = Vec::new();
    for name in ["blind_zh", "blind_zh2", "blind_zh3", "blind_zh4"] {
        let dir = tests.join(name);
        if dir.join("labels.tsv").is_file() {
            out.push(Set {
                name: name.into(),
                labels: set_labels(&dir),
                dir,
                english: false,
            });
        }
    }
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
    let labels = std::fs::read_to_string(tests.join("free_text_labels.tsv"))?;
    out.push(Set {
        name: "english".into(),
        labels: parse_labels(&labels, "held-out"),
        dir: material,
        english: true,
    });
    Ok(out)
}

/// The documents a model asked about `held` is trained on: every document of every other
/// Chinese set, and the English development half (English: every Chinese document and its own
/// development half).
fn training(sets: &[Set], held: &Set) -> Vec<(DocumentClass, String)> {
    let mut docs = Vec::new();
    for s in sets {
        for l in &s.labels {
            let take = if s.english {
                !l.held_out
            } else {
                s.name != held.name
            };
            if take {
                docs.push((l.class, String::from_utf8_lossy(&s.read(l)).into_owned()));
            }
        }
    }
    docs
}

/// A design: the rules' answer and the model's prediction in, the answer out.
type Design = Box<dyn Fn(&Answer) -> Classification>;

/// One document's answers: the rules alone, the model's prediction, and the library's
/// combination of both.
struct Answer {
    rules: Classification,
    model: Option<Prediction>,
    shipped: Classification,
}

fn designs() -> Vec<(String, Design)> {
    let mut out: Vec<(String, Design)> = vec![
        ("rules".into(), Box::new(|a| a.rules.clone())),
        ("shipped".into(), Box::new(|a| a.shipped.clone())),
        (
            "model".into(),
            Box::new(|a| {
                let mut c = a.rules.clone();
                if let Some(p) = &a.model {
                    c.class = p.class;
                }
                c
            }),
        ),
        (
            "decides".into(),
            Box::new(|a| decides(&a.rules, a.model.as_ref())),
        ),
    ];
    for t in VETO_MARGINS {
        out.push((
            format!("vetoes>={t}"),
            Box::new(move |a| vetoes(&a.rules, a.model.as_ref(), t)),
        ));
        out.push((
            format!("decides+vetoes>={t}"),
            Box::new(move |a| {
                let p = a.model.as_ref();
                vetoes(&decides(&a.rules, p), p, t)
            }),
        ));
    }
    out
}

fn decides(c: &Classification, p: Option<&Prediction>) -> Classification {
    let mut c = c.clone();
    if let Some(p) = p
        && c.low_confidence
    {
        c.class = p.class;
    }
    c
}

fn vetoes(c: &Classification, p: Option<&Prediction>, margin: f32) -> Classification {
    let mut c = c.clone();
    if let Some(p) = p
        && !c.low_confidence
        && p.class != c.class
        && p.margin >= margin
    {
        c.confidence = c.confidence.min(LOW_CONFIDENCE);
        c.low_confidence = true;
    }
    c
}

fn study() -> Result<()> {
    let sets = sets()?;
    let designs = designs();
    println!("left out     design                 right/total        wrong-not-low right-but-low");
    let mut totals: Vec<(u32, u32, u32, u32)> = vec![(0, 0, 0, 0); designs.len()];
    for held in &sets {
        let model = Arc::new(Model::train(
            training(&sets, held).iter().map(|(c, t)| (*c, t.as_str())),
            BITS,
        ));
        let rules_only = Options {
            text_model: None,
            ..Options::default()
        };
        let shipped = Options {
            text_model: Some(model.clone()),
            ..Options::default()
        };
        // Each document is classified once by the rules and once by the model.
        let labels: Vec<&Labelled> = held
            .labels
            .iter()
            .filter(|l| !held.english || l.held_out)
            .collect();
        let answers: Vec<Answer> = labels
            .iter()
            .map(|l| {
                let b = held.read(l);
                Answer {
                    rules: classify_with(&b, &rules_only),
                    model: model.predict(&String::from_utf8_lossy(&b)),
                    shipped: classify_with(&b, &shipped),
                }
            })
            .collect();
        for (i, (name, design)) in designs.iter().enumerate() {
            let r = report(&labels, &answers, design);
            let t = r.tally(if held.english { "held-out" } else { "any" }, "text", "all");
            let unmarked = (r.unmarked_dev.len() + r.unmarked_held_out.len()) as u32;
            let low: u32 = r.right_but_low.values().sum();
            println!(
                "{:12} {name:22} {:4}/{:<4} {:5.1} %   {unmarked:4}         {low:4}",
                held.name,
                t.right,
                t.total,
                100.0 * t.rate()
            );
            if !held.english {
                let e = &mut totals[i];
                *e = (e.0 + t.right, e.1 + t.total, e.2 + unmarked, e.3 + low);
            }
        }
        println!();
    }
    for (i, (name, _)) in designs.iter().enumerate() {
        let (r, n, u, l) = totals[i];
        println!(
            "{:12} {name:22} {r:4}/{n:<4} {:5.1} %   {u:4}         {l:4}",
            "all chinese",
            100.0 * f64::from(r) / f64::from(n.max(1))
        );
    }
    Ok(())
}

/// The tests' loop over precomputed answers (the route looks the document's answer up), every
/// document counted in one split, `any`, except English held-out.
fn report(labels: &[&Labelled], answers: &[Answer], design: &Design) -> Report {
    let rows: Vec<Labelled> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| Labelled {
            path: i.to_string(),
            class: l.class,
            held_out: l.held_out,
            language: l.language.clone(),
        })
        .collect();
    let route = |b: &[u8]| {
        let i: usize = std::str::from_utf8(b)
            .expect("index")
            .parse()
            .expect("index");
        design(&answers[i])
    };
    let mut r = evaluate(
        &rows,
        |l| l.path.clone().into_bytes(),
        &[("text", &route)],
        |_| Vec::new(),
    );
    // Chinese sets are development data now, both halves: one split.
    let mut any = common::Tally::default();
    for ((_, _, key), t) in &r.table {
        if key == "all" {
            any.right += t.right;
            any.total += t.total;
        }
    }
    r.table.insert(("any", "text", "all".into()), any);
    r
}
