//! One evaluation loop for the labelled free-text sets (`free_text.rs`, English outside text;
//! `free_text_zh.rs`, the Chinese and bilingual sets written blind): each document is classified
//! on every route an upload takes (the text file, a PDF of it), right answers are tallied per
//! split, route and key (class, language, all), wrong ones on the development half are listed
//! with their evidence, wrong ones on the held-out half are only counted, and every wrong answer
//! that is not marked low confidence is recorded (the property the app relies on to ask the
//! doctor), as is every right answer that was marked (the cost of the property).

#![allow(dead_code)] // each test file uses its own part

use medshare_classify::{Classification, DocumentClass};
use std::collections::BTreeMap;

/// One labelled document.
pub struct Labelled {
    pub path: String,
    pub class: DocumentClass,
    pub held_out: bool,
    pub language: String,
}

/// Rows `path<TAB>class<TAB>split<TAB>language` (lines starting `#` and a header line starting
/// `path` skipped); `held_out` names the held-out split's spelling (`held-out` or `heldout`).
pub fn parse_labels(text: &str, held_out: &str) -> Vec<Labelled> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("path\t") && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "path<TAB>class<TAB>split<TAB>language: {l}");
            Labelled {
                path: f[0].to_owned(),
                class: DocumentClass::from_category(f[1])
                    .unwrap_or_else(|| panic!("unknown class {}", f[1])),
                held_out: match f[2] {
                    s if s == held_out => true,
                    "dev" => false,
                    s => panic!("unknown split {s}"),
                },
                language: f[3].to_owned(),
            }
        })
        .collect()
}

#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub right: u32,
    pub total: u32,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.right += u32::from(ok);
    }
    pub fn rate(&self) -> f64 {
        f64::from(self.right) / f64::from(self.total.max(1))
    }
}

/// What one set gave.
#[derive(Default)]
pub struct Report {
    /// (split, route, key) -> right/total; split is `dev` or `held-out`.
    pub table: BTreeMap<(&'static str, &'static str, String), Tally>,
    /// Development misses with their evidence (read to tune the rules).
    pub dev_misses: Vec<String>,
    /// Held-out misses per route: counted, never listed.
    pub held_out_misses: BTreeMap<&'static str, u32>,
    /// Wrong answers without the low-confidence mark: development ones named, held-out ones
    /// only counted (by route and confidence).
    pub unmarked_dev: Vec<String>,
    pub unmarked_held_out: Vec<String>,
    /// Right answers marked low confidence, per split: the cost of the property.
    pub right_but_low: BTreeMap<&'static str, u32>,
}

impl Report {
    pub fn tally(&self, split: &'static str, route: &'static str, key: &str) -> Tally {
        self.table
            .get(&(split, route, key.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Print the table, the development misses and the counts.
    pub fn print(&self, name: &str) {
        for ((split, route, key), t) in &self.table {
            eprintln!(
                "{name} {split:8} {route:4} {key:30} {:4}/{:<4} {:5.1}%",
                t.right,
                t.total,
                t.rate() * 100.0
            );
        }
        for m in &self.dev_misses {
            eprintln!("  dev miss: {m}");
        }
        eprintln!("  {name} held-out misses: {:?}", self.held_out_misses);
        for u in &self.unmarked_dev {
            eprintln!("  unmarked (dev): {u}");
        }
        for u in &self.unmarked_held_out {
            eprintln!("  unmarked (held-out): {u}");
        }
        eprintln!(
            "  {name} right answers marked low confidence: {:?}",
            self.right_but_low
        );
    }
}

/// A route a document takes to the classifier: its name and the call (`text`: the file's
/// bytes; `pdf`: a PDF made of them).
pub type Route<'a> = (&'static str, &'a dyn Fn(&[u8]) -> Classification);

/// Classify every labelled document on every route; `keys` names the table rows a document
/// counts in besides `all`.
pub fn evaluate(
    labels: &[Labelled],
    read: impl Fn(&Labelled) -> Vec<u8>,
    routes: &[Route<'_>],
    keys: impl Fn(&Labelled) -> Vec<String>,
) -> Report {
    let mut r = Report::default();
    for l in labels {
        let bytes = read(l);
        let split = if l.held_out { "held-out" } else { "dev" };
        for (route, run) in routes {
            let c = run(&bytes);
            let ok = c.class == l.class;
            for key in keys(l).into_iter().chain(["all".to_owned()]) {
                r.table.entry((split, route, key)).or_default().add(ok);
            }
            if ok {
                if c.low_confidence {
                    *r.right_but_low.entry(split).or_default() += 1;
                }
                continue;
            }
            if l.held_out {
                *r.held_out_misses.entry(route).or_default() += 1;
                if !c.low_confidence {
                    r.unmarked_held_out.push(format!(
                        "a held-out document ({route}): wrong at confidence {:.2}",
                        c.confidence
                    ));
                }
            } else {
                let m = miss(l, route, &c);
                if !c.low_confidence {
                    r.unmarked_dev.push(m.clone());
                }
                r.dev_misses.push(m);
            }
        }
    }
    r
}

fn miss(l: &Labelled, route: &str, c: &Classification) -> String {
    let evidence: Vec<String> = c
        .evidence
        .iter()
        .take(6)
        .map(|e| format!("{}: {}", e.source, e.found))
        .collect();
    format!(
        "{} ({route}, {}): expected {}, got {} at {:.2} [{}]",
        l.path,
        l.language,
        l.class.category(),
        c.class.category(),
        c.confidence,
        evidence.join("; ")
    )
}
