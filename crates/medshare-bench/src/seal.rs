//! `seal`: the client's streaming age encryption and decryption, file to file, against the
//! `rage` command-line tool (and Go `age` when installed) on the same file in the same run.
//!
//! Each run: medshare seals the input (`seal_stream`, buffered file to buffered file), then every
//! tool decrypts that same ciphertext (`open_stream` for medshare, `-d -i key` for the CLIs) and
//! every tool encrypts the input to the same recipient. Outputs go to the page cache (no fsync,
//! as the CLIs do not fsync either); decrypted outputs are checked against the input's SHA-256
//! outside the timed region. Medians over `--runs`.

use crate::report::{Machine, Out, Target, median};
use crate::util::{self, MIB, find_tool, run_timed, sha256_file, write_random_file};
use anyhow::{anyhow, bail, ensure};
use medshare_crypto::EncryptionKey;
use medshare_crypto::seal::{open_stream, seal_stream};
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
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Folder for the temporary files (needs about 5x the size free); default: the system temp.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 1800)]
    timeout_secs: u64,
    /// Print the summary on stderr and a JSON record on stdout.
    #[arg(long)]
    json: bool,
}

/// Buffer size of the file reader and writer around `seal_stream`/`open_stream`.
const FILE_BUF: usize = 1024 * 1024;

#[derive(Serialize)]
struct ToolResult {
    tool: String,
    version: String,
    seal_mib_per_s: f64,
    open_mib_per_s: f64,
    seal_runs_mib_per_s: Vec<f64>,
    open_runs_mib_per_s: Vec<f64>,
}

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    machine: Machine,
    size_mib: u64,
    runs: usize,
    results: Vec<ToolResult>,
    /// medshare / reference, for seal and open, by reference tool.
    ratios: BTreeMap<String, (f64, f64)>,
    targets: Vec<Target>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.size_mib > 0 && args.runs > 0, "nothing to measure");
    let Some(rage) = find_tool("rage") else {
        eprintln!("rage is not installed; the seal benchmark compares against it.");
        eprintln!("install it with:  cargo install rage --locked");
        bail!("rage not found on PATH or in ~/.cargo/bin: cannot measure the reference");
    };
    let limit = Duration::from_secs(args.timeout_secs);
    tokio::time::timeout(limit, measure(args, rage))
        .await
        .map_err(|_| anyhow!("seal benchmark took longer than {} s", limit.as_secs()))?
}

/// One reference CLI (`rage`, or Go `age`: same flags).
struct Cli {
    name: &'static str,
    path: PathBuf,
    version: String,
    seal: Vec<Duration>,
    open: Vec<Duration>,
}

async fn measure(args: Args, rage: PathBuf) -> anyhow::Result<()> {
    let out = Out::new(args.json);
    let machine = Machine::describe();
    machine.announce(out);
    let mut clis = vec![Cli {
        name: "rage",
        version: util::tool_version(&rage, "--version").await,
        path: rage,
        seal: Vec::new(),
        open: Vec::new(),
    }];
    match find_tool("age") {
        Some(age) => clis.push(Cli {
            name: "age (Go)",
            version: util::tool_version(&age, "--version").await,
            path: age,
            seal: Vec::new(),
            open: Vec::new(),
        }),
        None => out.say("note: no `age` binary on PATH; measuring rage only"),
    }

    let size = args.size_mib * MIB;
    let work = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let dir = work.path().to_path_buf();
    let input = dir.join("input.bin");
    let step = Duration::from_secs(args.timeout_secs);
    let input_sha = {
        let input = input.clone();
        util::blocking("writing the test file", step, move || {
            write_random_file(&input, size)
        })
        .await?
    };
    let key = Arc::new(EncryptionKey::generate());
    let recipient = key.recipient();
    let key_file = dir.join("key.txt");
    std::fs::write(
        &key_file,
        format!(
            "# public key: {recipient}\n{}\n",
            key.to_secret_string().as_str()
        ),
    )?;
    out.say(format!(
        "test file: {} MiB of random bytes; {} run(s)",
        args.size_mib, args.runs
    ));

    let sealed = dir.join("medshare.age");
    let plain = dir.join("plain.out");
    let tool_sealed = dir.join("tool.age");
    let mut ms_seal = Vec::new();
    let mut ms_open = Vec::new();
    for run in 0..args.runs {
        let _ = std::fs::remove_file(&sealed);
        let (i, o, r) = (input.clone(), sealed.clone(), recipient.clone());
        ms_seal.push(util::blocking("medshare seal", step, move || seal_file(&r, &i, &o)).await?);

        let _ = std::fs::remove_file(&plain);
        let (i, o, k) = (sealed.clone(), plain.clone(), key.clone());
        ms_open.push(util::blocking("medshare open", step, move || open_file(&k, &i, &o)).await?);
        check(&plain, &input_sha, "medshare")?;

        for cli in &mut clis {
            let _ = std::fs::remove_file(&tool_sealed);
            let d = run_timed(
                cli.name,
                Command::new(&cli.path)
                    .arg("-e")
                    .arg("-r")
                    .arg(&recipient)
                    .arg("-o")
                    .arg(&tool_sealed)
                    .arg(&input),
                step,
            )
            .await?;
            cli.seal.push(d);
            let _ = std::fs::remove_file(&plain);
            let d = run_timed(
                cli.name,
                Command::new(&cli.path)
                    .arg("-d")
                    .arg("-i")
                    .arg(&key_file)
                    .arg("-o")
                    .arg(&plain)
                    .arg(&sealed),
                step,
            )
            .await?;
            cli.open.push(d);
            check(&plain, &input_sha, cli.name)?;
        }
        out.say(format!("run {} of {} done", run + 1, args.runs));
    }

    let rate = |runs: &[Duration]| -> Vec<f64> {
        runs.iter()
            .map(|d| size as f64 / MIB as f64 / d.as_secs_f64())
            .collect()
    };
    let result = |tool: &str, version: &str, seal: &[Duration], open: &[Duration]| {
        let (s, o) = (rate(seal), rate(open));
        ToolResult {
            tool: tool.into(),
            version: version.into(),
            seal_mib_per_s: median(&s),
            open_mib_per_s: median(&o),
            seal_runs_mib_per_s: s,
            open_runs_mib_per_s: o,
        }
    };
    let mut results = vec![result(
        "medshare (medshare_crypto::seal)",
        "age crate (workspace)",
        &ms_seal,
        &ms_open,
    )];
    for cli in &clis {
        results.push(result(cli.name, &cli.version, &cli.seal, &cli.open));
    }
    for r in &results {
        out.say(format!(
            "{:<34} seal {:>7.1} MiB/s   open {:>7.1} MiB/s   [{}]",
            r.tool, r.seal_mib_per_s, r.open_mib_per_s, r.version
        ));
    }
    let ours = &results[0];
    let mut ratios = BTreeMap::new();
    for r in &results[1..] {
        let pair = (
            ours.seal_mib_per_s / r.seal_mib_per_s,
            ours.open_mib_per_s / r.open_mib_per_s,
        );
        out.say(format!(
            "medshare / {}: seal {:.2}, open {:.2}",
            r.tool, pair.0, pair.1
        ));
        ratios.insert(r.tool.clone(), pair);
    }
    let (seal_ratio, open_ratio) = ratios["rage"];
    let targets = vec![
        Target::new(
            "seal_vs_rage",
            "medshare seal >= 0.90 x rage -e",
            seal_ratio,
            seal_ratio >= 0.90,
        ),
        Target::new(
            "open_vs_rage",
            "medshare open >= 0.90 x rage -d",
            open_ratio,
            open_ratio >= 0.90,
        ),
    ];
    for t in &targets {
        out.say(t.line());
    }
    out.record(&Record {
        bench: "seal",
        machine,
        size_mib: args.size_mib,
        runs: args.runs,
        results,
        ratios,
        targets,
    })
}

/// `seal_stream` from a buffered file to a buffered file, timed up to the final flush.
fn seal_file(recipient: &str, input: &Path, output: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = BufReader::with_capacity(FILE_BUF, std::fs::File::open(input)?);
    let mut w = BufWriter::with_capacity(FILE_BUF, std::fs::File::create(output)?);
    seal_stream(&[recipient.to_string()], r, &mut w)?;
    w.flush()?;
    Ok(t.elapsed())
}

/// `open_stream` from a buffered file to a buffered file, timed up to the final flush.
fn open_file(key: &EncryptionKey, input: &Path, output: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = BufReader::with_capacity(FILE_BUF, std::fs::File::open(input)?);
    let mut w = BufWriter::with_capacity(FILE_BUF, std::fs::File::create(output)?);
    open_stream(&[key], r, &mut w)?;
    w.flush()?;
    Ok(t.elapsed())
}

fn check(path: &Path, expected_sha: &str, who: &str) -> anyhow::Result<()> {
    let (sha, _) = sha256_file(path)?;
    ensure!(
        sha == expected_sha,
        "{who} decrypted to different bytes than the input"
    );
    Ok(())
}
