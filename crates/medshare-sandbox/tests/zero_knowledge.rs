//! The hub never holds readable health information: after uploads, shares, searches, downloads
//! and a break-glass, every byte the hub wrote (SQLite database, WAL, shared memory, blobs,
//! secrets) and every line it logged (TRACE level) is scanned for unique markers that were
//! placed in document contents, titles, file names, categories, classifications, the patient
//! card, the patient identifiers and the break-glass reason, in raw, base64 (standard and
//! URL-safe, every alignment), hex, and UTF-16 forms.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::*;
use medshare_client::DocumentMeta;
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{Backend, TestHub, World, services, story_cast};
use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// One encoded form of a marker.
struct Needle {
    marker: usize,
    form: &'static str,
    bytes: Vec<u8>,
}

/// Base64 of `bytes` as it appears inside a longer encoding that starts `k` bytes before
/// `bytes`: the characters that depend only on `bytes` (the edges also depend on neighbours).
fn b64_inner(engine: &base64::engine::GeneralPurpose, bytes: &[u8], k: usize) -> Vec<u8> {
    let mut v = vec![0u8; k];
    v.extend_from_slice(bytes);
    let enc = engine.encode(&v);
    let skip = (k * 8).div_ceil(6);
    let end = ((k + bytes.len()) * 8) / 6;
    enc.as_bytes()[skip..end].to_vec()
}

fn utf16(s: &str, le: bool) -> Vec<u8> {
    s.encode_utf16()
        .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
        .collect()
}

/// Every form a marker is looked for in.
fn forms(marker: &str) -> Vec<(&'static str, Vec<u8>)> {
    let b = marker.as_bytes();
    let mut out = vec![
        ("utf-8", b.to_vec()),
        ("utf-8 lowercase", marker.to_lowercase().into_bytes()),
        ("utf-8 uppercase", marker.to_uppercase().into_bytes()),
        ("hex", hex::encode(b).into_bytes()),
        ("HEX", hex::encode_upper(b).into_bytes()),
        ("utf-16le", utf16(marker, true)),
        ("utf-16be", utf16(marker, false)),
    ];
    let names = [
        ["base64+0", "base64+1", "base64+2"],
        ["base64url+0", "base64url+1", "base64url+2"],
    ];
    for (engine, names) in [STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().zip(names) {
        for (k, name) in names.into_iter().enumerate() {
            out.push((name, b64_inner(engine, b, k)));
        }
    }
    out
}

/// A multi-needle search: needles bucketed by their first two bytes.
struct Scanner {
    markers: Vec<String>,
    needles: Vec<Needle>,
    buckets: Vec<Vec<usize>>,
}

impl Scanner {
    fn new(markers: &[String]) -> Self {
        let mut needles = Vec::new();
        for (i, m) in markers.iter().enumerate() {
            for (form, bytes) in forms(m) {
                assert!(bytes.len() >= 8, "marker {m} too short for form {form}");
                needles.push(Needle {
                    marker: i,
                    form,
                    bytes,
                });
            }
        }
        let mut buckets = vec![Vec::new(); 1 << 16];
        for (i, n) in needles.iter().enumerate() {
            buckets[usize::from(u16::from_be_bytes([n.bytes[0], n.bytes[1]]))].push(i);
        }
        Self {
            markers: markers.to_vec(),
            needles,
            buckets,
        }
    }

    /// `(marker, form)` of every needle found in `hay`.
    fn scan(&self, hay: &[u8]) -> BTreeSet<(String, &'static str)> {
        let mut found = BTreeSet::new();
        for i in 0..hay.len().saturating_sub(1) {
            let bucket = &self.buckets[usize::from(u16::from_be_bytes([hay[i], hay[i + 1]]))];
            for &n in bucket {
                let needle = &self.needles[n];
                if hay[i..].starts_with(&needle.bytes) {
                    found.insert((self.markers[needle.marker].clone(), needle.form));
                }
            }
        }
        found
    }

    /// Scan every file under `dir`, recursively. Files that vanish while scanning (SQLite
    /// removes its `-wal` and `-shm` files when the last connection closes) make the whole
    /// scan start again, so the result always covers one complete listing.
    fn scan_dir(&self, dir: &Path) -> DirScan {
        'again: for _ in 0..20 {
            let mut scan = DirScan::default();
            let mut stack = vec![dir.to_path_buf()];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).expect("readable folder") {
                    let path = entry.expect("folder entry").path();
                    let meta = match std::fs::symlink_metadata(&path) {
                        Ok(m) => m,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'again,
                        Err(e) => panic!("{}: {e}", path.display()),
                    };
                    if meta.is_dir() {
                        stack.push(path);
                    } else if meta.is_file() {
                        let data = match std::fs::read(&path) {
                            Ok(d) => d,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue 'again,
                            Err(e) => panic!("{}: {e}", path.display()),
                        };
                        scan.files.push(path.clone());
                        scan.bytes += data.len();
                        for (m, f) in self.scan(&data) {
                            scan.hits.push((path.clone(), m, f));
                        }
                    }
                }
            }
            return scan;
        }
        panic!("files kept vanishing while scanning {}", dir.display());
    }
}

/// What a folder scan found.
#[derive(Default)]
struct DirScan {
    hits: Vec<(PathBuf, String, &'static str)>,
    files: Vec<PathBuf>,
    bytes: usize,
}

/// The scanner finds each marker in every encoding of a text around it, at every alignment,
/// and in files nested in folders: a hub storing any of these would fail the test.
fn prove_scanner_works(scanner: &Scanner, markers: &[String], plaintexts: &[Vec<u8>]) {
    for m in markers {
        for pad in ["", "x", "xy", "xyz"] {
            let text = format!("{{\"field\":\"{pad}{m}{pad}\",\"n\":1}}");
            let t = text.as_bytes();
            let mut encodings: Vec<(&str, Vec<u8>)> = vec![
                ("utf-8", t.to_vec()),
                ("hex", hex::encode(t).into_bytes()),
                ("HEX", hex::encode_upper(t).into_bytes()),
                ("utf-16le", utf16(&text, true)),
                ("utf-16be", utf16(&text, false)),
                ("base64", STANDARD.encode(t).into_bytes()),
                ("base64url", URL_SAFE.encode(t).into_bytes()),
                ("lowercase", text.to_lowercase().into_bytes()),
            ];
            // Base64 of a longer buffer where the text starts at each offset.
            for k in 0..3 {
                let mut v = vec![0xA5u8; k];
                v.extend_from_slice(t);
                encodings.push(("base64 shifted", STANDARD.encode(&v).into_bytes()));
                encodings.push(("base64url shifted", URL_SAFE.encode(&v).into_bytes()));
            }
            for (name, enc) in encodings {
                let mut hay = b"\x00\x01binary prefix\xff".to_vec();
                hay.extend_from_slice(&enc);
                hay.extend_from_slice(b"\xfe suffix");
                assert!(
                    scanner.scan(&hay).iter().any(|(x, _)| x == m),
                    "the scanner misses {m} in {name} (pad {pad:?})"
                );
            }
        }
    }
    // Nested files, as a hub could write them.
    let dir = tempfile::tempdir().expect("temp dir");
    let nested = dir.path().join("blobs").join("ab");
    std::fs::create_dir_all(&nested).expect("mkdir");
    for (i, p) in plaintexts.iter().enumerate() {
        std::fs::write(nested.join(format!("plain-{i}")), p).expect("write");
        std::fs::write(dir.path().join(format!("b64-{i}.txt")), STANDARD.encode(p)).expect("write");
    }
    let scan = scanner.scan_dir(dir.path());
    assert_eq!(scan.files.len(), 2 * plaintexts.len());
    let hits = scan.hits;
    for p in plaintexts {
        let in_plain: BTreeSet<_> = scanner.scan(p).into_iter().map(|(m, _)| m).collect();
        assert!(!in_plain.is_empty(), "every plaintext carries a marker");
        for m in in_plain {
            assert!(
                hits.iter().filter(|(_, x, _)| *x == m).count() >= 2,
                "scan_dir finds {m} raw and in base64"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_stores_and_logs_no_plaintext() -> anyhow::Result<()> {
    // Everything logged in this process (hub and client), at every level.
    let logs = SharedVec::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log capture: {e}"))?;

    // Both backends in this one test: the log capture is process-wide and installed once.
    for backend in Backend::ALL {
        hub_holds_no_plaintext_on(backend, &logs).await?;
    }
    Ok(())
}

async fn hub_holds_no_plaintext_on(backend: Backend, logs: &SharedVec) -> anyhow::Result<()> {
    let tag = random_hex(12);
    let m = |what: &str| format!("ZKMARKER-{what}-{tag}");
    let content = m("content");
    let small = m("small");
    let title = m("title");
    let file = m("file");
    let category = m("category");
    let classification = m("classification");
    let name = m("name");
    let birth = m("birth");
    let reason = m("reason");
    let passport_number = format!("ZKMARKER{}", tag.to_uppercase());
    let passport_text = format!("PASSPORT:GB:{passport_number}");
    let (hkid_written, hkid) = random_hkid();
    let hkid_normalized = hkid.normalized();
    let hkid_bare = hkid_normalized.trim_start_matches("HKID:").to_string();
    assert!(hkid_normalized.starts_with("HKID:") && hkid_bare.len() == 8);
    let passport: PatientIdentifier = passport_text.parse()?;
    assert_eq!(passport.normalized(), passport_text);

    let markers = vec![
        content.clone(),
        small.clone(),
        title.clone(),
        file.clone(),
        category.clone(),
        classification.clone(),
        name.clone(),
        birth.clone(),
        reason.clone(),
        passport_number.clone(),
        passport_text.clone(),
        hkid_written.clone(),
        hkid_normalized.clone(),
        hkid_bare.clone(),
    ];
    let scanner = Scanner::new(&markers);

    // Large (many age chunks) and small documents, the marker at many offsets.
    let big: Vec<u8> = (0..6000)
        .flat_map(|i| format!("line {i:05} of the report: {content} LVEF 35%\n").into_bytes())
        .collect();
    let little = format!("{small} HbA1c 8.1%").into_bytes();
    prove_scanner_works(&scanner, &markers, &[big.clone(), little.clone()]);

    let dir = tempfile::tempdir()?;
    let config = backend.config(dir.path());
    let (db_url, bucket) = (config.database_url(), config.blobs.s3.bucket.clone());
    let hub = TestHub::start(config).await?;
    let world = World::build(&hub, &story_cast()).await?;
    let (chan, wong, lam) = tokio::try_join!(
        world.login("dr.chan"),
        world.login("dr.wong"),
        world.login("dt.lam"),
    )?;

    let card = PatientCard {
        name: Some(format!("CHAN {name}")),
        birth_date: Some(birth.clone()),
        sex: Some("female".into()),
    };
    let by_hkid = chan.ensure_patient(&hkid, &card).await?;
    let by_passport = chan.ensure_patient(&passport, &card).await?;
    let meta_for = |n: u32| DocumentMeta {
        title: format!("{title} #{n}"),
        file_name: format!("{file}-{n}.pdf"),
        media_type: "application/pdf".into(),
        category: category.clone(),
        date_of_service: Some("2026-10-30".into()),
        classification: Some(serde_json::json!({ "code": classification, "n": n })),
        urgent: false,
    };
    let d1 = chan
        .upload(
            Cursor::new(big.clone()),
            &by_hkid,
            meta_for(1),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await?;
    let d2 = chan
        .upload(
            Cursor::new(little.clone()),
            &by_hkid,
            meta_for(2),
            &[],
            |_| {},
        )
        .await?;
    let d3 = chan
        .upload(
            Cursor::new(little.clone()),
            &by_passport,
            meta_for(3),
            &[share_with("dr.wong", None)],
            |_| {},
        )
        .await?;

    // Read everything back the ways readers do (any HKID spelling; the passport).
    let t = wong.timeline(&hkid_bare.to_lowercase().parse()?).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].manifest.title, format!("{title} #1"));
    let opened = wong.open_document(d1.document_id).await?;
    assert!(download_vec(&wong, &opened).await? == big);
    let t = chan.timeline(&passport).await?;
    assert_eq!(t.entries.len(), 1);
    assert_eq!(t.entries[0].document_id, d3.document_id);
    assert_eq!(t.card.and_then(|c| c.name), Some(format!("CHAN {name}")));
    let opened = chan.open_document(d2.document_id).await?;
    assert!(download_vec(&chan, &opened).await? == little);

    // Break-glass, with a reason only the institution can read.
    let for_lam = lam.find_patient(&hkid).await?.expect("patient exists");
    lam.break_glass(&for_lam, &format!("{reason}: collapsed in clinic"))
        .await?;
    let t = lam.timeline(&hkid).await?;
    assert_eq!(t.entries.len(), 2);
    assert_eq!(t.card.and_then(|c| c.birth_date), Some(birth.clone()));

    if backend == Backend::PostgresS3 {
        // Everything the hub wrote: its own folder, the bucket's objects as s3s-fs keeps them,
        // and the whole database as pg_dump sees it; while it runs and after it stopped.
        let bucket_dir = services().s3.root().join(&bucket);
        let dump = |url: &str| -> anyhow::Result<Vec<u8>> {
            let db = url.rsplit('/').next().expect("database name");
            let out = services().pg.tool("pg_dump").args(["-d", db]).output()?;
            anyhow::ensure!(out.status.success(), "pg_dump failed");
            Ok(out.stdout)
        };
        let running = (
            scanner.scan_dir(dir.path()),
            scanner.scan_dir(&bucket_dir),
            dump(&db_url)?,
        );
        hub.stop().await?;
        drop((chan, wong, lam));
        let stopped = (
            scanner.scan_dir(dir.path()),
            scanner.scan_dir(&bucket_dir),
            dump(&db_url)?,
        );
        for (data_dir, objects, sql) in [&running, &stopped] {
            assert!(
                data_dir.hits.is_empty(),
                "the hub's folder contains plaintext: {:#?}",
                data_dir.hits
            );
            assert!(
                objects.hits.is_empty(),
                "the bucket contains plaintext: {:#?}",
                objects.hits
            );
            let sql_hits = scanner.scan(sql);
            assert!(
                sql_hits.is_empty(),
                "the database contains plaintext: {sql_hits:?}"
            );
            let text = String::from_utf8_lossy(sql);
            assert!(
                text.contains("COPY public.access_log") && text.contains("COPY public.documents")
            );
            for d in [&d1, &d2, &d3] {
                let id = d.document_id.to_string();
                assert!(text.contains(&id), "the dump holds every document row");
                assert!(
                    objects.files.iter().any(|p| p.ends_with(&id)),
                    "the ciphertext of every document was scanned"
                );
            }
            assert!(
                objects.bytes > big.len(),
                "scanned fewer bytes than the uploaded plaintext"
            );
        }
    } else {
        // Everything the hub wrote: once while it runs (the WAL then holds the latest writes),
        // and again after it stopped and SQLite had the chance to checkpoint and close.
        let running = scanner.scan_dir(dir.path());
        assert!(
            running.files.iter().any(|p| p.ends_with("medshare.db-wal")),
            "the live WAL was scanned"
        );
        hub.stop().await?;
        drop((chan, wong, lam));
        let wal = dir.path().join("medshare.db-wal");
        for _ in 0..100 {
            if !wal.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let stopped = scanner.scan_dir(dir.path());
        for scan in [&running, &stopped] {
            assert!(
                scan.hits.is_empty(),
                "the hub's data folder contains plaintext: {:#?}",
                scan.hits
            );
            assert!(scan.files.iter().any(|p| p.ends_with("medshare.db")));
            for d in [&d1, &d2, &d3] {
                assert!(
                    scan.files
                        .iter()
                        .any(|p| p.ends_with(d.document_id.to_string())),
                    "the ciphertext of every document was scanned"
                );
            }
            assert!(
                scan.bytes > big.len(),
                "scanned {} files, {} bytes: fewer than the uploaded plaintext",
                scan.files.len(),
                scan.bytes
            );
        }
    }

    // Everything the process logged while the hub ran.
    let log = logs.bytes();
    let log_text = String::from_utf8_lossy(&log);
    assert!(
        log_text.contains("storage reconciled") && log_text.contains("/v1/search"),
        "the hub's logs were captured ({} bytes)",
        log.len()
    );
    let leaked = scanner.scan(&log);
    assert!(leaked.is_empty(), "the logs contain plaintext: {leaked:?}");
    Ok(())
}
