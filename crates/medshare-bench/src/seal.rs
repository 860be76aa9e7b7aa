//! `seal`: the client's streaming age encryption and decryption, file to file, against the
//! `rage` command-line tool (and Go `age` when installed) on the same file in the same run.
//!
//! Each run, for each tool in turn: encrypt the input to one recipient, then decrypt one and
//! the same ciphertext (sealed by medshare at the start of the run), each once to a file and once
//! to `/dev/null` (separating crypto from page-cache writes). medshare uses
//! `seal_stream`/`open_stream` between 64 KiB-buffered files (age's chunk size, so each chunk is
//! one `write`, as in rage); the CLIs get `-o FILE` or `-o /dev/null`. Nothing is fsynced (the CLIs do not fsync either), but dirty pages are flushed
//! (`sync`, untimed) before each measurement; decrypted files are checked against the input's
//! SHA-256 outside the timed region. Medians over `--runs`.
//!
//! A second in-process tool, `medshare client path`, is what `Client::upload`/`download` run:
//! `medshare_crypto::stream::seal_hashed`/`open_hashed`, which also compute SHA-256 of the
//! plaintext and BLAKE3 of the ciphertext (on their own threads) — more work than the CLIs do.
//!
//! `--quick` (CI): 8 MiB, one run, no targets; Go `age` stands in when `rage` is missing.

use crate::report::{CpuMeter, CpuShare, Machine, Out, Target, median};
use crate::util::{self, MIB, find_tool, run_timed, settle, sha256_file, write_random_file};
use anyhow::{anyhow, bail, ensure};
use medshare_crypto::seal::{open_stream, seal_stream};
use medshare_crypto::stream::{open_hashed, seal_hashed};
use medshare_crypto::{DigestAlgorithm, EncryptionKey};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// Size of the file sealed and opened, MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Folder for the temporary files (needs about 4x the size free); default: the system temp.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
    /// Small and fast (CI): 8 MiB, one run, no targets judged.
    #[arg(long)]
    quick: bool,
}

/// Buffer size of the file reader and writer around `seal_stream`/`open_stream`. One age chunk:
/// each sealed chunk (64 KiB + 16) bypasses the writer's buffer and is written at once. A 1 MiB
/// buffer made file output about 2x slower on the reference machine (docs/benchmarks.md).
const FILE_BUF: usize = 64 * 1024;

const MEDSHARE: &str = "medshare";
const MEDSHARE_CLIENT: &str = "medshare client path";

/// The four measurements made of every tool.
const OPS: [(Op, Sink); 4] = [
    (Op::Seal, Sink::File),
    (Op::Seal, Sink::Null),
    (Op::Open, Sink::File),
    (Op::Open, Sink::Null),
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Seal,
    Open,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Sink {
    File,
    Null,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Seal => "seal",
            Op::Open => "open",
        }
    }
}

impl Sink {
    fn name(self) -> &'static str {
        match self {
            Sink::File => "file",
            Sink::Null => "null",
        }
    }
}

/// One tool's medians and runs, MiB/s, keyed `seal_file`, `seal_null`, `open_file`, `open_null`.
#[derive(Serialize)]
struct ToolResult {
    tool: String,
    version: String,
    median_mib_per_s: BTreeMap<String, f64>,
    runs_mib_per_s: BTreeMap<String, Vec<f64>>,
}

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    machine: Machine,
    cpu: CpuShare,
    size_mib: u64,
    runs: usize,
    results: Vec<ToolResult>,
    /// medshare / reference tool, keyed like the results.
    ratios: BTreeMap<String, BTreeMap<String, f64>>,
    targets: Vec<Target>,
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    if args.quick {
        args.size_mib = args.size_mib.min(8);
        args.runs = 1;
    }
    ensure!(args.size_mib > 0 && args.runs > 0, "nothing to measure");
    let reference = find_tool("rage").or_else(|| args.quick.then(|| find_tool("age")).flatten());
    let Some(rage) = reference else {
        eprintln!("rage is not installed; the seal benchmark compares against it.");
        eprintln!("install it with:  cargo install rage --locked");
        bail!("rage not found on PATH or in ~/.cargo/bin: cannot measure the reference");
    };
    let limit = Duration::from_secs(args.timeout_secs);
    tokio::time::timeout(limit, measure(args, rage))
        .await
        .map_err(|_| anyhow!("seal benchmark took longer than {} s", limit.as_secs()))?
}

/// A tool under test: medshare in process (plain, or the client's hashing pipeline), or a CLI
/// with age's flags.
struct Tool {
    name: &'static str,
    version: String,
    cli: Option<PathBuf>,
    hashed: bool,
}

/// What every measurement needs to know.
struct Files {
    input: PathBuf,
    input_sha: String,
    /// The ciphertext every tool decrypts (sealed by medshare).
    sealed: PathBuf,
    /// Where encryptions go (when to a file).
    tool_sealed: PathBuf,
    /// Where decryptions go (when to a file).
    plain: PathBuf,
    key: Arc<EncryptionKey>,
    key_file: PathBuf,
    limit: Duration,
}

async fn measure(args: Args, rage: PathBuf) -> anyhow::Result<()> {
    let out = Out::new(args.json);
    let machine = Machine::describe();
    machine.announce(out);
    let meter = CpuMeter::start();
    let mut tools = vec![
        Tool {
            name: MEDSHARE,
            version: "medshare_crypto::seal, age crate 0.12 (workspace build)".into(),
            cli: None,
            hashed: false,
        },
        Tool {
            name: MEDSHARE_CLIENT,
            version: "medshare_crypto::stream (+ plaintext SHA-256 and ciphertext BLAKE3; chunks sealed on all cores)".into(),
            cli: None,
            hashed: true,
        },
    ];
    let rage_is_go_age = rage.file_name().is_some_and(|n| n == "age");
    if rage_is_go_age {
        out.say("note: quick mode without rage: Go `age` is the reference");
    } else {
        tools.push(Tool {
            name: "rage",
            version: util::tool_version(&rage, "--version").await,
            cli: Some(rage),
            hashed: false,
        });
    }
    match find_tool("age") {
        Some(age) => tools.push(Tool {
            name: "age (Go)",
            version: format!("age {}", util::tool_version(&age, "--version").await),
            cli: Some(age),
            hashed: false,
        }),
        None => out.say("note: no `age` binary on PATH; measuring rage only"),
    }

    let size = args.size_mib * MIB;
    let work = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let dir = work.path().to_path_buf();
    let limit = Duration::from_secs(args.timeout_secs);
    let input = dir.join("input.bin");
    let input_sha = {
        let input = input.clone();
        util::blocking("writing the test file", limit, move || {
            write_random_file(&input, size)
        })
        .await?
    };
    let key = Arc::new(EncryptionKey::generate());
    let key_file = dir.join("key.txt");
    std::fs::write(
        &key_file,
        format!(
            "# public key: {}\n{}\n",
            key.recipient(),
            key.to_secret_string().as_str()
        ),
    )?;
    let files = Files {
        input,
        input_sha,
        sealed: dir.join("medshare.age"),
        tool_sealed: dir.join("tool.age"),
        plain: dir.join("plain.out"),
        key,
        key_file,
        limit,
    };
    out.say(format!(
        "test file: {} MiB of random bytes; {} run(s)",
        args.size_mib, args.runs
    ));

    let mut timings: BTreeMap<(usize, Op, Sink), Vec<Duration>> = BTreeMap::new();
    for run in 0..args.runs {
        // The ciphertext all tools decrypt in this run.
        let _ = std::fs::remove_file(&files.sealed);
        settle();
        let (i, o, r) = (
            files.input.clone(),
            files.sealed.clone(),
            files.key.recipient(),
        );
        util::blocking("medshare seal", limit, move || seal_file(&r, &i, Some(&o))).await?;
        for (t, tool) in tools.iter().enumerate() {
            for (op, sink) in OPS {
                let d = one(tool, op, sink, &files).await?;
                timings.entry((t, op, sink)).or_default().push(d);
            }
        }
        out.say(format!("run {} of {} done", run + 1, args.runs));
    }

    let rate = |d: &Duration| size as f64 / MIB as f64 / d.as_secs_f64();
    let mut results = Vec::new();
    for (t, tool) in tools.iter().enumerate() {
        let mut med = BTreeMap::new();
        let mut runs = BTreeMap::new();
        for (op, sink) in OPS {
            let key = format!("{}_{}", op.name(), sink.name());
            let r: Vec<f64> = timings[&(t, op, sink)].iter().map(rate).collect();
            med.insert(key.clone(), median(&r));
            runs.insert(key, r);
        }
        out.say(format!(
            "{:<10} seal->file {:>7.1}  seal->null {:>7.1}  open->file {:>7.1}  open->null {:>7.1} \
             MiB/s  [{}]",
            tool.name,
            med["seal_file"],
            med["seal_null"],
            med["open_file"],
            med["open_null"],
            tool.version
        ));
        results.push(ToolResult {
            tool: tool.name.into(),
            version: tool.version.clone(),
            median_mib_per_s: med,
            runs_mib_per_s: runs,
        });
    }
    // Ratios of each in-process tool to each CLI, keyed by the CLI ("rage", "age (Go)") for
    // plain medshare and "client path / CLI" for the hashing pipeline.
    let mut ratios = BTreeMap::new();
    for (ours, prefix) in [(&results[0], ""), (&results[1], "client path / ")] {
        for r in &results[2..] {
            let rs: BTreeMap<String, f64> = ours
                .median_mib_per_s
                .iter()
                .map(|(k, v)| (k.clone(), v / r.median_mib_per_s[k]))
                .collect();
            out.say(format!(
                "{:<20} / {:<9} seal->file {:.2}  seal->null {:.2}  open->file {:.2}  \
                 open->null {:.2}",
                ours.tool,
                r.tool,
                rs["seal_file"],
                rs["seal_null"],
                rs["open_file"],
                rs["open_null"]
            ));
            ratios.insert(format!("{prefix}{}", r.tool), rs);
        }
    }
    let mut targets = Vec::new();
    if !args.quick {
        for (key, who) in [("rage", "medshare"), ("client path / rage", "client path")] {
            let vs = &ratios[key];
            targets.push(Target::new(
                &format!(
                    "{}seal_vs_rage",
                    if who == "medshare" { "" } else { "client_" }
                ),
                &format!("{who} seal >= 0.90 x rage -e (file to file)"),
                vs["seal_file"],
                vs["seal_file"] >= 0.90,
            ));
            targets.push(Target::new(
                &format!(
                    "{}open_vs_rage",
                    if who == "medshare" { "" } else { "client_" }
                ),
                &format!("{who} open >= 0.90 x rage -d (file to file)"),
                vs["open_file"],
                vs["open_file"] >= 0.90,
            ));
        }
    }
    for t in &targets {
        out.say(t.line());
    }
    let cpu = meter.finish();
    out.say(cpu.line());
    out.record(&Record {
        bench: "seal",
        machine,
        cpu,
        size_mib: args.size_mib,
        runs: args.runs,
        results,
        ratios,
        targets,
    })
}

/// One timed measurement of one tool; decrypted files are checked afterwards.
async fn one(tool: &Tool, op: Op, sink: Sink, f: &Files) -> anyhow::Result<Duration> {
    let target = match (op, sink) {
        (_, Sink::Null) => None,
        (Op::Seal, Sink::File) => Some(f.tool_sealed.clone()),
        (Op::Open, Sink::File) => Some(f.plain.clone()),
    };
    if let Some(t) = &target {
        let _ = std::fs::remove_file(t);
    }
    settle();
    let what = format!("{} {}->{}", tool.name, op.name(), sink.name());
    let elapsed = match &tool.cli {
        None => {
            let (key, out) = (f.key.clone(), target.clone());
            let input = match op {
                Op::Seal => f.input.clone(),
                Op::Open => f.sealed.clone(),
            };
            let hashed = tool.hashed;
            util::blocking(&what, f.limit, move || match (op, hashed) {
                (Op::Seal, false) => seal_file(&key.recipient(), &input, out.as_deref()),
                (Op::Open, false) => open_file(&key, &input, out.as_deref()),
                (Op::Seal, true) => seal_file_hashed(&key.recipient(), &input, out.as_deref()),
                (Op::Open, true) => open_file_hashed(&key, &input, out.as_deref()),
            })
            .await?
        }
        Some(cli) => {
            let mut cmd = Command::new(cli);
            match op {
                Op::Seal => cmd.arg("-e").arg("-r").arg(f.key.recipient()),
                Op::Open => cmd.arg("-d").arg("-i").arg(&f.key_file),
            };
            cmd.arg("-o")
                .arg(target.as_deref().unwrap_or(Path::new("/dev/null")))
                .arg(match op {
                    Op::Seal => &f.input,
                    Op::Open => &f.sealed,
                });
            run_timed(&what, &mut cmd, f.limit).await?
        }
    };
    if let (Op::Open, Some(t)) = (op, &target) {
        let (sha, _) = sha256_file(t)?;
        ensure!(
            sha == f.input_sha,
            "{} decrypted to different bytes than the input",
            tool.name
        );
    }
    Ok(elapsed)
}

/// The output of a medshare measurement: a buffered file, or nowhere.
fn writer(output: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match output {
        Some(p) => Box::new(BufWriter::with_capacity(
            FILE_BUF,
            std::fs::File::create(p)?,
        )),
        None => Box::new(std::io::sink()),
    })
}

/// `seal_stream` from a buffered file, timed up to the final flush.
fn seal_file(recipient: &str, input: &Path, output: Option<&Path>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = BufReader::with_capacity(FILE_BUF, std::fs::File::open(input)?);
    let mut w = writer(output)?;
    seal_stream(&[recipient.to_string()], r, &mut w)?;
    w.flush()?;
    Ok(t.elapsed())
}

/// `open_stream` from a buffered file, timed up to the final flush.
fn open_file(key: &EncryptionKey, input: &Path, output: Option<&Path>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = BufReader::with_capacity(FILE_BUF, std::fs::File::open(input)?);
    let mut w = writer(output)?;
    open_stream(&[key], r, &mut w)?;
    w.flush()?;
    Ok(t.elapsed())
}

/// The client's path: `seal_hashed` (plaintext and ciphertext hashed on their own threads)
/// straight from and to files (it reads and writes 1 MiB at a time itself), timed up to the
/// final flush.
fn seal_file_hashed(
    recipient: &str,
    input: &Path,
    output: Option<&Path>,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = std::fs::File::open(input)?;
    let w: Box<dyn Write + Send> = match output {
        Some(p) => Box::new(std::fs::File::create(p)?),
        None => Box::new(std::io::sink()),
    };
    seal_hashed(&[recipient.to_string()], r, w, |_| {})?;
    Ok(t.elapsed())
}

/// The client's path: `open_hashed`, as [`seal_file_hashed`].
fn open_file_hashed(
    key: &EncryptionKey,
    input: &Path,
    output: Option<&Path>,
) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = std::fs::File::open(input)?;
    let w: Box<dyn Write + Send> = match output {
        Some(p) => Box::new(std::fs::File::create(p)?),
        None => Box::new(std::io::sink()),
    };
    open_hashed(key, r, w, DigestAlgorithm::Blake3, |_| {})?;
    Ok(t.elapsed())
}
