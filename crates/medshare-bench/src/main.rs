//! `medshare-bench`: the project's benchmarks, as one binary with a subcommand each. It owns
//! the measurements behind `docs/benchmarks.md` and nothing else: it starts its own hubs on
//! 127.0.0.1 (in process, or as a child process of this same binary), seeds them through the
//! real client library, and compares against reference tools (nginx, `rage`, Go `age`) run in
//! the same invocation.
//!
//! - `search`: many concurrent practitioners turning a patient number into a decrypted,
//!   verified timeline of 200 documents; latency percentiles and throughput.
//! - `transfer`: upload and download of a large file through a hub running as a separate
//!   process, against nginx serving the same size file; the hub's peak RSS.
//! - `seal`: streaming age seal and open of a large file, against the `rage` (and Go `age`)
//!   command-line tools.
//! - `audit`: append throughput of the Merkle audit log (batched vs one transaction per
//!   entry) and what an append adds to search and upload latency.
//! - `scale pg-search | replicas | blobs | revocation`: the scale-out deployment on real
//!   PostgreSQL and s3s-fs: search over 10 million documents' metadata, one vs two hub
//!   replicas, S3 vs folder blob throughput, how soon a revocation on one replica is refused
//!   by another.
//! - `classify`: document classification throughput over a mixed ~200 MB folder, and a
//!   500 MB DICOM study classified from its header alone.
//! - `gateway`: the institution gateway: DICOM C-STORE to durable encrypted upload
//!   (instances/s, C-STORE round trips, Nagle stalls), HL7 ORU throughput and ACK latency.
//! - `soak`: a mixed workload (logins, timelines, downloads, uploads, shares, inbox, live
//!   streams) for minutes against one hub or two replicas: errors, memory over time, p99 drift.
//! - `consults`: escalation timer accuracy under load (how late each escalation reaches the
//!   next recipient after its deadline), exactly one escalation per step with two replicas.
//! - `hub` (hidden): the hub process that `transfer` and `soak` spawn.
//!
//! Every subcommand prints a human summary; with `--json` the summary goes to stderr and one
//! JSON record to stdout. Every subcommand is bounded in time (`--timeout-secs`) and only ever
//! talks to 127.0.0.1. Build with `--release` before trusting any figure.
#![forbid(unsafe_code)]

/// jemalloc returns freed memory to the system (a background thread purges pages unused for ten
/// seconds); glibc's per-thread arenas kept a long-running hub's freed memory: docs/operations.md.
#[cfg(all(unix, not(feature = "system-allocator")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod audit;
mod classify;
mod consults;
mod gateway;
mod hub;
mod report;
mod revocation;
mod rooms;
mod scale;
mod seal;
mod search;
mod soak;
mod streams;
mod transfer;
mod util;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "medshare-bench",
    version,
    about = "medshare benchmarks (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Concurrent "patient number -> decrypted timeline" latency against an in-process hub.
    Search(search::Args),
    /// Upload/download throughput through a hub process vs nginx; the hub's peak RSS.
    Transfer(transfer::Args),
    /// Streaming seal/open speed vs the `rage` (and Go `age`) CLI.
    Seal(seal::Args),
    /// Audit log append throughput and the latency it adds to search and upload.
    Audit(audit::Args),
    /// Scale-out figures on real PostgreSQL and S3 (s3s-fs): 10M-document search, replicas,
    /// blob throughput.
    Scale {
        #[command(subcommand)]
        command: scale::Cmd,
    },
    /// Classification throughput (files/s, MiB/s) and a large DICOM study's header-only time.
    Classify(classify::Args),
    /// The institution gateway: DICOM ingest to filed studies, HL7 ACK latency and throughput.
    Gateway(gateway::Args),
    /// A mixed workload for minutes against one hub or two replicas: errors, memory, p99.
    Soak(soak::Args),
    /// Message fan-out in a case room: from the send to every member holding the plaintext.
    Rooms(rooms::Args),
    /// Idle live event streams: hub memory per stream, delivery with all open, memory after.
    Streams(streams::Args),
    /// Escalation timer accuracy under load: how late escalations reach the next recipient,
    /// and exactly one per step with two replicas.
    Consults(consults::Args),
    /// Run a sandbox hub on 127.0.0.1:0 until stdin closes or SIGTERM (used by `transfer`).
    #[command(hide = true)]
    Hub {
        /// Folder for the hub's database, blobs and bootstrap token.
        #[arg(long)]
        data_dir: PathBuf,
        /// Where to write the chosen port once the hub is ready to serve.
        #[arg(long)]
        port_file: PathBuf,
        /// A JSON hub configuration to use instead of the sandbox's.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Search(a) => search::run(a).await,
            Command::Transfer(a) => transfer::run(a).await,
            Command::Seal(a) => seal::run(a).await,
            Command::Audit(a) => audit::run(a).await,
            Command::Scale { command } => scale::run(command).await,
            Command::Classify(a) => classify::run(a).await,
            Command::Gateway(a) => gateway::run(a).await,
            Command::Soak(a) => soak::run(a).await,
            Command::Streams(a) => streams::run(a).await,
            Command::Rooms(a) => rooms::run(a).await,
            Command::Consults(a) => consults::run(a).await,
            Command::Hub {
                data_dir,
                port_file,
                config,
            } => hub::run(&data_dir, &port_file, config.as_deref()).await,
        }
    });
    // Do not wait for blocking tasks abandoned by a timeout.
    runtime.shutdown_background();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
