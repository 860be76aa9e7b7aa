//! `medshare gateway ...`: the institution gateway (docs/gateway.md). An administrator invites
//! it, `enroll` makes its keys on the gateway machine, the administrator certifies the
//! fingerprint, `run` serves the inputs; `status` and `retry` are the operator's view of the
//! queue and its dead letters.

use crate::{HubArg, profile};
use anyhow::Context;
use clap::{Args, Subcommand};
use medshare_client::Hub;
use medshare_gateway::Config;
use medshare_model::api::NewEnrolment;
use medshare_model::registration::{Profession, Role};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum GatewayCmd {
    /// Institution administrator: invite a gateway (a service identity of your institution).
    Invite {
        /// The gateway's handle, e.g. kph-lab-gateway.
        #[arg(long)]
        handle: String,
        /// What it is, e.g. "KPH laboratory gateway".
        #[arg(long)]
        name: String,
        /// Your institution's number for the system: SYS and 1-8 digits.
        #[arg(long, default_value = "SYS1")]
        system_number: String,
    },
    /// On the gateway machine: redeem the code, make the keys, write the key file (0600).
    Enroll(EnrollArgs),
    /// Run the gateway until SIGINT or SIGTERM.
    Run(ConfigArg),
    /// The queue: counts, the oldest waiting items and every dead letter with its reason.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        json: bool,
    },
    /// Retry dead letters (one by id, or all).
    Retry {
        #[command(flatten)]
        config: ConfigArg,
        /// The dead letter's id (see `status`).
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Print the default gateway configuration (TOML).
    Config {
        #[command(subcommand)]
        what: DefaultCmd,
    },
}

#[derive(Subcommand)]
pub enum DefaultCmd {
    /// Print the built-in defaults.
    Default,
}

#[derive(Args)]
pub struct ConfigArg {
    /// The gateway's configuration file (see `medshare gateway config default`).
    #[arg(long, env = "MEDSHARE_GATEWAY_CONFIG")]
    pub config: PathBuf,
}

#[derive(Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub hub: HubArg,
    /// The one-time enrolment code the administrator created with `gateway invite`.
    #[arg(long)]
    pub code: String,
    /// Where to write the key file (must not exist yet).
    #[arg(long)]
    pub key_file: PathBuf,
    /// The alliance root fingerprint your alliance publishes: enrolment stops if the hub's
    /// differs. Without it, the root this hub presents is pinned (trust on first use).
    #[arg(long)]
    pub root_fingerprint: Option<String>,
    /// Sandbox only: cheap key-derivation parameters (the hub must allow them).
    #[arg(long, hide = true)]
    pub weak_kdf: bool,
}

fn load(c: &ConfigArg) -> anyhow::Result<Config> {
    Config::load(&c.config)
        .context("invalid gateway configuration: compare with `medshare gateway config default`")
}

async fn open_queue(config: &Config) -> anyhow::Result<medshare_gateway::queue::Queue> {
    let path = config.data_dir.join("queue.db");
    if !path.exists() {
        anyhow::bail!("no queue at {}: has the gateway run yet?", path.display());
    }
    Ok(medshare_gateway::queue::Queue::inspect(&path, config.queue.clone()).await?)
}

fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub async fn run(cmd: GatewayCmd) -> anyhow::Result<()> {
    match cmd {
        GatewayCmd::Invite {
            handle,
            name,
            system_number,
        } => {
            let c = profile::session().await?;
            let code = c
                .invite(NewEnrolment {
                    handle: handle.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                    name,
                    profession: Profession::Service,
                    registration: system_number,
                    specialty: None,
                    roles: vec![Role::Clinician],
                })
                .await?;
            crate::say!("Invited gateway {handle} ({})", code.practitioner_id);
            crate::say!(
                "Enrolment code (give it to the gateway's operator, once): {}",
                code.code
            );
            crate::say!(
                "On the gateway machine: medshare gateway enroll --hub URL --code CODE --key-file /etc/medshare/gateway.key"
            );
            crate::say!(
                "Then certify the fingerprint it prints: medshare admin certify ID --fingerprint FP"
            );
        }
        GatewayCmd::Enroll(a) => {
            let hub = Hub::new(&a.hub.hub, profile::ca_pem()?.as_deref())?;
            if a.key_file.exists() {
                anyhow::bail!(
                    "{} already exists: a key file is never overwritten",
                    a.key_file.display()
                );
            }
            let pinned = profile::pinned(&a.hub.hub)?;
            let (root, _) = medshare_client::trust::alliance_root(&hub, pinned).await?;
            let fp = medshare_client::trust::root_fingerprint(&root);
            if let Some(want) = &a.root_fingerprint {
                let norm = |s: &str| -> String {
                    s.chars()
                        .filter(char::is_ascii_hexdigit)
                        .map(|c| c.to_ascii_lowercase())
                        .collect()
                };
                if norm(want) != norm(&fp) {
                    anyhow::bail!(
                        "the hub's alliance root ({fp}) is not the one you were given: stop and ask your alliance"
                    );
                }
            }
            let kdf = a
                .weak_kdf
                .then(medshare_crypto::passphrase::test_kdf_params);
            let (key, e) =
                medshare_client::service::enrol_service(&hub, Some(root), &a.code, kdf).await?;
            medshare_gateway::keyfile::write(&a.key_file, &key)?;
            crate::say!("Alliance root: {fp}");
            crate::say!("Enrolled gateway {} ({})", key.handle, e.practitioner_id);
            crate::say!("Key file written (mode 0600): {}", a.key_file.display());
            crate::say!(
                "Key fingerprint (read it to your institution administrator): {}",
                e.key_fingerprint
            );
            crate::say!(
                "The administrator certifies it with: medshare admin certify {} --fingerprint {}",
                e.practitioner_id,
                e.key_fingerprint
            );
        }
        GatewayCmd::Run(c) => {
            let config = load(&c)?;
            let running = medshare_gateway::start(config)
                .await
                .context("the gateway cannot start")?;
            for (what, addr) in [
                ("HL7/MLLP", running.hl7),
                ("DICOM", running.dicom),
                ("FHIR", running.fhir),
                ("metrics", running.metrics),
            ] {
                if let Some(a) = addr {
                    crate::warn_user!("medshare gateway: {what} on {a}");
                }
            }
            crate::commands::serve::shutdown_signal().await;
            crate::warn_user!("medshare gateway: stopping");
            running.stop().await;
        }
        GatewayCmd::Status { config, json } => {
            let config = load(&config)?;
            let q = open_queue(&config).await?;
            let s = q.status().await?;
            q.close().await;
            if json {
                crate::say!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            crate::say!(
                "collecting {}  ready {}  uploading {}  done {}  dead letters {}  waiting {} bytes",
                s.collecting,
                s.ready,
                s.uploading,
                s.done,
                s.dead,
                s.waiting_bytes
            );
            if !s.oldest_waiting.is_empty() {
                crate::say!("Oldest waiting:");
                for i in &s.oldest_waiting {
                    crate::say!(
                        "  #{:<8} {:7} {:9} {:11} attempts {}  since {}  {}",
                        i.id,
                        i.source,
                        i.kind,
                        i.state,
                        i.attempts,
                        when(i.created_ms),
                        i.error.as_deref().unwrap_or("")
                    );
                }
            }
            if !s.dead_letters.is_empty() {
                crate::say!("Dead letters (retry with `medshare gateway retry ID` or `--all`):");
                for i in &s.dead_letters {
                    crate::say!(
                        "  #{:<8} {:7} {:9} received {}  attempts {}  reason {}",
                        i.id,
                        i.source,
                        i.kind,
                        when(i.created_ms),
                        i.attempts,
                        i.error.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        GatewayCmd::Retry { config, id, all } => {
            if id.is_none() && !all {
                anyhow::bail!("name a dead letter's id, or --all");
            }
            let config = load(&config)?;
            let q = open_queue(&config).await?;
            let n = q.retry_dead(id).await?;
            q.close().await;
            crate::say!("{n} dead letter(s) queued again; a running gateway picks them up");
        }
        GatewayCmd::Config {
            what: DefaultCmd::Default,
        } => {
            print!("{}", Config::default_toml());
        }
    }
    Ok(())
}
