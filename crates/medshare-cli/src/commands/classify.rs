//! `medshare classify FILE... [--json]`: what a document is, decided on this machine by
//! `medshare-classify` (the same call `upload` makes to fill the sealed manifest).

use anyhow::Context;
use clap::Args;
use medshare_classify::Classification;
use medshare_client::intake::{MAX_CLASSIFY_BYTES, classify_prefix};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ClassifyArgs {
    /// Files to classify (nothing is uploaded).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print one JSON object per file (a JSON array).
    #[arg(long)]
    pub json: bool,
}

/// Classify the file at `path` from (at most) its first [`MAX_CLASSIFY_BYTES`] (the client
/// core's intake step does the rest).
pub fn classify_path(path: &Path) -> anyhow::Result<Classification> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::with_capacity(len.min(MAX_CLASSIFY_BYTES) as usize);
    file.take(MAX_CLASSIFY_BYTES)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(classify_prefix(&bytes, len))
}

pub fn run(a: ClassifyArgs) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for path in &a.files {
        let c = classify_path(path)?;
        if a.json {
            all.push(
                serde_json::json!({ "file": path.display().to_string(), "classification": c }),
            );
        } else {
            print_human(path, &c);
        }
    }
    if a.json {
        crate::say!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(())
}

fn print_human(path: &Path, c: &Classification) {
    crate::say!("{}", path.display());
    let modality = c
        .modality
        .map(|m| format!(", modality {}", m.code().code))
        .unwrap_or_default();
    crate::say!(
        "  {} ({}{modality}), confidence {:.2}, format {}",
        c.class.category(),
        c.type_code.as_ref().unwrap_or(&c.class_code).code,
        c.confidence,
        c.media_type
    );
    for e in c.evidence.iter().take(4) {
        crate::say!("  because {}: {}", e.source, e.found);
    }
    if let Some(t) = &c.title {
        crate::say!("  title: {t}");
    }
    if let Some(d) = &c.date_of_service {
        crate::say!("  date of service: {d}");
    }
    for id in &c.patient.identifiers {
        crate::say!("  patient identifier ({}): {}", id.source, id.value);
    }
    if let Some(n) = &c.patient.name {
        crate::say!("  patient name: {n}");
    }
    if let Some(b) = &c.patient.birth_date {
        crate::say!("  birth date: {b}");
    }
    if let Some(a) = &c.author {
        crate::say!("  author: {a}");
    }
    if let Some(i) = &c.institution {
        crate::say!("  institution: {i}");
    }
    for o in &c.observations {
        let value = match &o.value {
            medshare_classify::Value::Number(n) => n.to_string(),
            medshare_classify::Value::Text(t) => t.clone(),
        };
        let norm = o
            .normalised
            .as_ref()
            .map(|n| format!("  = {} {} [{}]", n.value, n.unit, n.loinc))
            .unwrap_or_default();
        crate::say!(
            "  {} {}{} {} {}{norm}{}",
            o.loinc.as_deref().unwrap_or("-"),
            o.name,
            o.flag
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default(),
            value,
            o.unit.as_deref().unwrap_or(""),
            o.critical
                .as_deref()
                .map(|r| format!("  CRITICAL: {r}"))
                .unwrap_or_default()
        );
    }
    if c.critical {
        crate::say!("  => contains critical results: an upload would be flagged urgent");
    }
    if !c.skipped.is_empty() {
        let codes: Vec<String> = c
            .skipped
            .iter()
            .map(|s| match s.at {
                Some(at) => format!("{:?}@{at}", s.code),
                None => format!("{:?}", s.code),
            })
            .collect();
        crate::say!("  skipped: {}", codes.join(", "));
    }
}
