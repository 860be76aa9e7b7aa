//! The watched folder (scanner output). A file dropped in the inbox is taken once it has
//! stopped changing (its size and time unchanged for `settle_ms`), so a scanner still writing
//! it is left alone; hidden files and `.part`/`.tmp`/`.crdownload`/`~` names are never taken.
//!
//! The patient: a subfolder named after an identifier (`inbox/A123456(3)/scan.pdf`,
//! `inbox/MRN:KPH:000123/...`), else the one HKID the document names. A file is moved to
//! `done/` only after it is durable in the queue (a crash in between takes it again, and the
//! queue recognises it); a file that cannot be taken goes to `rejected/` with a `.reason` file
//! beside it saying why (a fixed sentence, never content).

use crate::config::FolderConfig;
use crate::envelope::{Envelope, Header, Source};
use crate::ingest::{Incoming, Shared};
use crate::queue::{Admission, Kind, now_ms};
use medshare_client::Intake;
use medshare_model::identifiers::PatientIdentifier;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// Largest file taken (bigger ones are rejected).
const MAX_FILE: u64 = 1 << 30;

fn ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || [".part", ".tmp", ".crdownload", ".partial", ".swp"]
            .iter()
            .any(|s| name.to_ascii_lowercase().ends_with(s))
}

/// What was seen of a file last time.
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
    since: Instant,
}

/// Scan the inbox every `poll_ms` until `stop` turns true.
pub async fn watch(config: FolderConfig, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    for d in [&config.inbox, &config.done, &config.rejected] {
        if let Err(e) = std::fs::create_dir_all(d) {
            tracing::error!(error = %e, folder = %d.display(), "folder: cannot create");
        }
    }
    let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
    let settle = Duration::from_millis(config.settle_ms);
    loop {
        let files = candidates(&config.inbox);
        seen.retain(|p, _| files.iter().any(|(f, _)| f == p));
        for (path, patient_dir) in files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let (size, modified) = (meta.len(), meta.modified().ok());
            let stable = match seen.get(&path) {
                Some(s) if s.size == size && s.modified == modified => s.since.elapsed() >= settle,
                _ => {
                    seen.insert(
                        path.clone(),
                        Seen {
                            size,
                            modified,
                            since: Instant::now(),
                        },
                    );
                    false
                }
            };
            if stable {
                seen.remove(&path);
                take(&config, &shared, &path, patient_dir.as_deref()).await;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(config.poll_ms.max(50))) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Files in the inbox and in its patient subfolders (one level).
fn candidates(inbox: &Path) -> Vec<(PathBuf, Option<String>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(inbox) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ignored(&name) {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_file() {
            out.push((e.path(), None));
        } else if ft.is_dir()
            && let Ok(inner) = std::fs::read_dir(e.path())
        {
            for f in inner.flatten() {
                let n = f.file_name().to_string_lossy().into_owned();
                if !ignored(&n) && f.file_type().is_ok_and(|t| t.is_file()) {
                    out.push((f.path(), Some(name.clone())));
                }
            }
        }
    }
    out.sort();
    out
}

/// Move `path` into `dir` under a unique name; returns the new path.
fn move_into(path: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let target = dir.join(format!("{}-{name}", now_ms()));
    match std::fs::rename(path, &target) {
        Ok(()) => Ok(target),
        Err(_) => {
            // Another file system: copy, sync, then remove.
            std::fs::copy(path, &target)?;
            std::fs::File::open(&target)?.sync_all()?;
            std::fs::remove_file(path)?;
            Ok(target)
        }
    }
}

fn reject(config: &FolderConfig, shared: &Shared, path: &Path, code: &str, why: &str) {
    shared.refused(Source::Folder, code);
    match move_into(path, &config.rejected) {
        Ok(moved) => {
            let _ = std::fs::write(moved.with_extension("reason"), format!("{why}\n"));
        }
        Err(e) => tracing::error!(error = %e, "folder: cannot move a rejected file"),
    }
    tracing::warn!(reason = code, "folder: file rejected");
}

async fn take(config: &FolderConfig, shared: &Shared, path: &Path, patient_dir: Option<&str>) {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "document".into());
    let bytes = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE => {
            return reject(config, shared, path, "too-large", "larger than 1 GiB");
        }
        Ok(_) => match std::fs::read(path) {
            Ok(b) => b,
            Err(_) => return,
        },
        Err(_) => return,
    };
    if bytes.is_empty() {
        return reject(config, shared, path, "empty", "the file is empty");
    }
    let intake = Intake::from_bytes(&bytes, bytes.len() as u64, file_name.clone());
    let patient = match patient_dir {
        Some(dir) => match dir.parse::<PatientIdentifier>() {
            Ok(p) => p,
            Err(_) => {
                return reject(
                    config,
                    shared,
                    path,
                    "bad-patient-folder",
                    "the folder's name is not a patient identifier (A123456(3), MRN:CODE:NUMBER, PASSPORT:CC:NUMBER)",
                );
            }
        },
        None => {
            let ids: Vec<PatientIdentifier> = intake
                .classification()
                .patient
                .identifiers
                .iter()
                .filter_map(|i| i.as_patient_identifier())
                .collect();
            match ids.as_slice() {
                [one] => one.clone(),
                _ => {
                    return reject(
                        config,
                        shared,
                        path,
                        "no-patient-identifier",
                        "the document does not name exactly one HKID: put it in a folder named after the patient's identifier",
                    );
                }
            }
        }
    };
    if intake.check_patient(&patient, false).is_err() {
        return reject(
            config,
            shared,
            path,
            "identifier-mismatch",
            "the document names another patient than its folder",
        );
    }
    let mut dedupe = patient.normalized().into_bytes();
    dedupe.push(0);
    dedupe.extend_from_slice(&Sha256::digest(&bytes));
    let res = shared
        .accept(
            Source::Folder,
            vec![Incoming {
                kind: Kind::Document,
                envelope: Envelope {
                    header: Header {
                        received_at: now_ms() / 1000,
                        file_name: Some(file_name),
                        patient: Some(patient.normalized()),
                        ..Default::default()
                    },
                    body: bytes,
                },
                dedupe: Some(dedupe),
            }],
        )
        .await;
    match res.as_deref() {
        Ok([Admission::Accepted { .. }]) => {
            if let Err(e) = move_into(path, &config.done) {
                tracing::error!(error = %e, "folder: queued, but cannot move to done");
            }
        }
        // Full or failing: left in the inbox, taken again later.
        _ => tracing::warn!("folder: the queue did not take a file; it stays in the inbox"),
    }
}
