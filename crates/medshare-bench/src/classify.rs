//! `classify`: document classification throughput over a mixed folder (synthetic PDF, PNG, CSV
//! and HL7 documents from `medshare-synth` beside real DICOM, HL7 and FHIR files from the
//! outside test material), and the time to classify one very large DICOM study, whose pixel
//! data is never read.
//!
//! The folder is built once under `--dir` (default: the system temp) from a fixed seed, files are
//! read from the page cache (one untimed warm-up pass), then classified single-threaded:
//! "end to end" times reading each file (at most the CLI's 64 MiB prefix) plus classifying it;
//! "in memory" times `classify` alone over bytes already read. Medians over `--runs`.

use crate::report::{CpuMeter, Machine, Out, median};
use crate::util::MIB;
use anyhow::{Context, ensure};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Total size of the mixed folder, MiB.
    #[arg(long, default_value_t = 200)]
    size_mib: u64,
    /// Size of the large DICOM study, MiB (header + declared pixel data).
    #[arg(long, default_value_t = 500)]
    dicom_mib: u64,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Folder for the generated files; default: the system temp.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Outside material (scripts/test-material.sh); default: $MEDSHARE_TEST_MATERIAL.
    #[arg(long, env = "MEDSHARE_TEST_MATERIAL")]
    material: PathBuf,
    /// Also time the same folder under Node.js with this module (built from
    /// crates/medshare-bench-wasm for wasm32-unknown-unknown, release).
    #[arg(long)]
    wasm: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

/// The classification prefix every client reads (the client core's intake step).
const PREFIX: u64 = medshare_client::intake::MAX_CLASSIFY_BYTES;

#[derive(Serialize)]
struct Record {
    machine: Machine,
    files: usize,
    bytes: u64,
    by_format: BTreeMap<String, (usize, u64)>,
    end_to_end_files_per_s: f64,
    end_to_end_mib_per_s: f64,
    in_memory_files_per_s: f64,
    in_memory_mib_per_s: f64,
    large_dicom_mib: u64,
    large_dicom_prefix_ms: f64,
    large_dicom_in_memory_ms: f64,
    wasm: Option<WasmRun>,
    cpu: crate::report::CpuShare,
}

#[derive(Serialize, serde::Deserialize)]
struct WasmRun {
    files: usize,
    bytes: u64,
    seconds: f64,
    counts: BTreeMap<String, usize>,
    #[serde(default)]
    node: String,
}

/// The driver script Node runs (kept beside the module's source).
const RUN_MJS: &str = include_str!("../../medshare-bench-wasm/run.mjs");

/// Classify every file of `folder` under Node with `module`; check the classes match native.
fn wasm_run(
    module: &Path,
    folder: &Path,
    runs: usize,
    native: &BTreeMap<String, usize>,
) -> anyhow::Result<WasmRun> {
    let script = folder.with_file_name("run.mjs");
    std::fs::write(&script, RUN_MJS)?;
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(module)
        .arg(folder)
        .arg(runs.to_string())
        .output()
        .context("cannot run node (apt-get install nodejs)")?;
    ensure!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut r: WasmRun = serde_json::from_slice(&out.stdout)?;
    ensure!(
        &r.counts == native,
        "wasm classes differ from native: {:?} vs {native:?}",
        r.counts
    );
    r.node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    Ok(r)
}

fn material_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    ensure!(
        dir.join(".complete-v1").is_file(),
        "no test material in {}: run scripts/test-material.sh",
        dir.display()
    );
    let mut out = Vec::new();
    for sub in [
        "pydicom",
        "pynetdicom",
        "simple-hl7",
        "hl7-standard",
        "hl7py",
        "medplum",
    ] {
        let mut stack = vec![dir.join(sub)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let p = e?.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Fill `dir` with about `size` bytes: synthetic documents and outside material, round robin.
fn build_folder(dir: &Path, size: u64, material: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let outside: Vec<Vec<u8>> = material_files(material)?
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut seed = 1;
    let mut k = 0usize;
    while total < size {
        for p in medshare_synth::patients(seed, 50) {
            for d in p.documents {
                let path = dir.join(format!("s{seed}-{}-{}", files.len(), d.file_name));
                std::fs::write(&path, &d.bytes)?;
                total += d.bytes.len() as u64;
                files.push(path);
                // One outside file per synthetic one keeps the mix about even by count.
                let o = &outside[k % outside.len()];
                k += 1;
                let path = dir.join(format!("m{}", files.len()));
                std::fs::write(&path, o)?;
                total += o.len() as u64;
                files.push(path);
            }
        }
        seed += 1;
    }
    Ok(files)
}

/// A DICOM study of `size` bytes: CT_small's header followed by one uncompressed pixel data
/// element declared (and written) at the full remaining length.
fn large_dicom(path: &Path, size: u64, material: &Path) -> anyhow::Result<()> {
    let ct = std::fs::read(material.join("pydicom/CT_small.dcm"))?;
    let at = ct
        .windows(4)
        .rposition(|w| w == [0xE0, 0x7F, 0x10, 0x00])
        .context("CT_small has no pixel data")?;
    let head = &ct[..at];
    let pixels = size.saturating_sub(head.len() as u64 + 12) & !1;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(head)?;
    f.write_all(&[0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0])?;
    f.write_all(&(u32::try_from(pixels)?).to_le_bytes())?;
    let chunk = vec![0x5Au8; MIB as usize];
    let mut left = pixels;
    while left > 0 {
        let n = left.min(MIB);
        f.write_all(&chunk[..n as usize])?;
        left -= n;
    }
    f.flush()?;
    Ok(())
}

fn read_prefix(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut b = Vec::new();
    std::fs::File::open(path)?
        .take(PREFIX)
        .read_to_end(&mut b)?;
    Ok(b)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let limit = Duration::from_secs(a.timeout_secs);
    tokio::time::timeout(limit, tokio::task::spawn_blocking(move || measure(a)))
        .await
        .context("classify benchmark timed out")??
}

fn measure(a: Args) -> anyhow::Result<()> {
    let out = Out::new(a.json);
    let machine = Machine::describe();
    machine.announce(out);
    let tmp = tempfile::Builder::new()
        .prefix("medshare-bench-classify")
        .tempdir_in(a.dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let files = build_folder(&tmp.path().join("mixed"), a.size_mib * MIB, &a.material)?;
    let big = tmp.path().join("large-study.dcm");
    large_dicom(&big, a.dicom_mib * MIB, &a.material)?;

    // Warm-up (untimed): page cache, and the per-format census.
    let mut by_format: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let mut bytes = 0u64;
    let mut contents = Vec::with_capacity(files.len());
    for f in &files {
        let b = read_prefix(f)?;
        let c = medshare_classify::classify(&b);
        let e = by_format.entry(format!("{:?}", c.format)).or_default();
        e.0 += 1;
        e.1 += b.len() as u64;
        bytes += b.len() as u64;
        contents.push(b);
    }
    out.say(format!(
        "mixed folder: {} files, {:.1} MiB: {}",
        files.len(),
        bytes as f64 / MIB as f64,
        by_format
            .iter()
            .map(|(k, (n, b))| format!("{k} {n} ({:.1} MiB)", *b as f64 / MIB as f64))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let cpu = CpuMeter::start();
    let mut e2e = Vec::new();
    let mut mem = Vec::new();
    for _ in 0..a.runs.max(1) {
        let t = Instant::now();
        let mut n = 0usize;
        for f in &files {
            let b = read_prefix(f)?;
            n += usize::from(medshare_classify::classify(&b).confidence >= 0.0);
        }
        ensure!(n == files.len());
        e2e.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for b in &contents {
            std::hint::black_box(medshare_classify::classify(b));
        }
        mem.push(t.elapsed().as_secs_f64());
    }
    let (e2e, mem) = (median(&e2e), median(&mem));
    let mib = bytes as f64 / MIB as f64;
    out.say(format!(
        "end to end (read + classify): {:.0} files/s, {:.1} MiB/s ({e2e:.2} s)",
        files.len() as f64 / e2e,
        mib / e2e
    ));
    out.say(format!(
        "in memory (classify only):    {:.0} files/s, {:.1} MiB/s ({mem:.2} s)",
        files.len() as f64 / mem,
        mib / mem
    ));

    // The large study: as the CLI does it (prefix read), and from a buffer holding all of it.
    let mut prefix_ms = Vec::new();
    for _ in 0..a.runs.max(1) {
        let t = Instant::now();
        let c = medshare_classify::classify(&read_prefix(&big)?);
        prefix_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(
            c.modality == Some(medshare_classify::Modality::CT),
            "large study misclassified"
        );
    }
    let whole = std::fs::read(&big)?;
    let mut mem_ms = Vec::new();
    for _ in 0..a.runs.max(1) {
        let t = Instant::now();
        let c = medshare_classify::classify(&whole);
        mem_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        ensure!(c.skipped.is_empty(), "large study header incomplete");
    }
    let (prefix_ms, mem_ms) = (median(&prefix_ms), median(&mem_ms));
    out.say(format!(
        "{} MiB DICOM study: {prefix_ms:.1} ms read 64 MiB prefix + classify, {mem_ms:.2} ms classify from memory",
        a.dicom_mib
    ));
    let wasm = match &a.wasm {
        Some(module) => {
            // The codes medshare-bench-wasm returns, computed natively for comparison.
            let mut native: BTreeMap<String, usize> = BTreeMap::new();
            for b in &contents {
                *native
                    .entry(medshare_bench_wasm::code(b).to_string())
                    .or_default() += 1;
            }
            let r = wasm_run(module, &tmp.path().join("mixed"), a.runs.max(1), &native)?;
            let mib = r.bytes as f64 / MIB as f64;
            out.say(format!(
                "wasm under Node {} (classify only, same classes as native): {:.0} files/s, {:.1} MiB/s ({:.2} s)",
                r.node,
                r.files as f64 / r.seconds,
                mib / r.seconds,
                r.seconds
            ));
            Some(r)
        }
        None => None,
    };
    let cpu = cpu.finish();
    out.say(cpu.line());
    out.record(&Record {
        machine,
        files: files.len(),
        bytes,
        by_format,
        end_to_end_files_per_s: files.len() as f64 / e2e,
        end_to_end_mib_per_s: mib / e2e,
        in_memory_files_per_s: files.len() as f64 / mem,
        in_memory_mib_per_s: mib / mem,
        large_dicom_mib: a.dicom_mib,
        large_dicom_prefix_ms: prefix_ms,
        large_dicom_in_memory_ms: mem_ms,
        wasm,
        cpu,
    })
}
