//! The `medshare` binary: the hub (`serve`), the sandbox (`demo`), administration, and the
//! commands a practitioner types (enroll, login, upload, search, get, share, ...).
#![forbid(unsafe_code)]

/// jemalloc returns freed memory to the system (a background thread purges pages unused for ten
/// seconds); glibc's per-thread arenas kept a long-running hub's freed memory: docs/operations.md.
#[cfg(unix)]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod commands;
mod display;
mod profile;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// End-to-end encrypted sharing of medical records between hospitals and clinics.
#[derive(Parser)]
#[command(name = "medshare", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub.
    Serve(commands::serve::ServeArgs),
    /// Print the default hub configuration (TOML).
    Config {
        #[command(subcommand)]
        what: ConfigCmd,
    },
    /// Apply pending database schema migrations (once, before starting upgraded replicas).
    Migrate(commands::maintenance::MigrateArgs),
    /// Back the hub up (metadata snapshot, every document's ciphertext, hub secret).
    Backup(commands::maintenance::BackupArgs),
    /// Restore a backup into a new, empty hub (data folder, database and bucket).
    Restore(commands::maintenance::RestoreArgs),
    /// Start a sandbox hub on 127.0.0.1 with a demo alliance, patients and documents.
    Demo(commands::demo::DemoArgs),
    /// Alliance and institution administration.
    Admin {
        #[command(subcommand)]
        command: commands::admin::AdminCmd,
    },
    /// Redeem an enrolment code: create your keys and set your passphrase.
    Enroll(commands::account::EnrollArgs),
    /// Log in and keep the session in your config folder (mode 0600).
    Login(commands::account::LoginArgs),
    /// Revoke the session and remove it from this machine.
    Logout,
    /// Show who you are logged in as.
    Whoami,
    /// Classify documents on this machine (format, LOINC class, patient, dates, lab results).
    Classify(commands::classify::ClassifyArgs),
    /// Encrypt and upload records for a patient.
    Upload(commands::records::UploadArgs),
    /// List a patient's records you may read (decrypted on this machine).
    Search(commands::records::SearchArgs),
    /// Download and decrypt a document.
    Get(commands::records::GetArgs),
    /// Share a document with a colleague.
    Share(commands::records::ShareArgs),
    /// Revoke a colleague's access to a document.
    Revoke(commands::records::RevokeArgs),
    /// Record or withdraw a patient's consent to share with an institution or the alliance.
    Consent {
        #[command(subcommand)]
        command: commands::records::ConsentCmd,
    },
    /// Declare a care relationship with a patient.
    Care(commands::records::CareArgs),
    /// Open time-limited emergency access to a patient's records (always recorded).
    BreakGlass(commands::records::BreakGlassArgs),
    /// Show notifications: shares, revocations, break-glass events.
    Inbox(commands::records::InboxArgs),
    /// Case rooms: end-to-end encrypted group discussion with colleagues (MLS).
    Room {
        #[command(subcommand)]
        command: commands::rooms::RoomCmd,
    },
    /// Urgent consults: ask a colleague or an on-call list, acknowledge, answer in a room.
    Consult {
        #[command(subcommand)]
        command: commands::consults::ConsultCmd,
    },
    /// On-call lists (specialty rotas) consults escalate along.
    Oncall {
        #[command(subcommand)]
        command: commands::consults::OncallCmd,
    },
    /// Where urgent consults reach you: signed webhooks, DingTalk robots.
    Notify {
        #[command(subcommand)]
        command: commands::consults::NotifyCmd,
    },
    /// The tamper-evident audit trail: verify it, review it, export a patient's history.
    Audit {
        #[command(subcommand)]
        command: commands::audit::AuditCmd,
    },
    /// Where a patient is told of every read of their records.
    Contact {
        #[command(subcommand)]
        command: commands::audit::ContactCmd,
    },
    /// The institution gateway: HL7 v2 (MLLP), DICOM, FHIR R4 and a watched folder into medshare.
    Gateway {
        #[command(subcommand)]
        command: commands::gateway::GatewayCmd,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the built-in defaults.
    Default,
}

/// Where the hub is (shared by commands that talk to one before login).
#[derive(Args, Clone)]
pub struct HubArg {
    /// Hub URL, e.g. https://hub.example:8443.
    #[arg(long, env = "MEDSHARE_HUB")]
    pub hub: String,
}

fn init_logging(default: &str) {
    init_logging_as(default, medshare_server::config::LogFormat::Text);
}

/// Logs to stderr, filtered by `MEDSHARE_LOG` (else `default`), as text or one JSON object
/// per line.
pub(crate) fn init_logging_as(default: &str, format: medshare_server::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDSHARE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        medshare_server::config::LogFormat::Text => builder.try_init(),
        medshare_server::config::LogFormat::Json => builder.json().try_init(),
    };
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => commands::serve::run(a).await,
            Command::Config {
                what: ConfigCmd::Default,
            } => {
                print!("{}", medshare_server::config::Config::default_toml());
                Ok(())
            }
            Command::Migrate(a) => {
                init_logging("warn");
                commands::maintenance::migrate(a).await
            }
            Command::Backup(a) => {
                init_logging("warn");
                commands::maintenance::backup(a).await
            }
            Command::Restore(a) => {
                init_logging("warn");
                commands::maintenance::restore(a).await
            }
            Command::Demo(a) => {
                init_logging("error");
                commands::demo::run(a).await
            }
            Command::Gateway { command } => {
                let run = matches!(command, commands::gateway::GatewayCmd::Run(_));
                init_logging(if run { "info" } else { "warn" });
                commands::gateway::run(command).await
            }
            Command::Classify(a) => {
                // Parsers may warn about malformed input; keep the terminal for results.
                init_logging("error");
                commands::classify::run(a)
            }
            other => {
                init_logging("warn");
                commands::dispatch(other).await
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            crate::warn_user!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Read a passphrase: `MEDSHARE_PASSPHRASE` (automation) or a prompt without echo.
pub fn read_passphrase(prompt: &str, confirm: bool) -> anyhow::Result<zeroize::Zeroizing<String>> {
    if let Ok(p) = std::env::var("MEDSHARE_PASSPHRASE") {
        return Ok(zeroize::Zeroizing::new(p));
    }
    let p = zeroize::Zeroizing::new(rpassword::prompt_password(prompt)?);
    if confirm {
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *again != *p {
            anyhow::bail!("the passphrases differ");
        }
    }
    Ok(p)
}

/// The data folder default shared by `serve` and `demo`.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("medshare-data")
}
