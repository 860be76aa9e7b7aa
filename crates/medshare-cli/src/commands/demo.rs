//! `medshare demo`: a sandbox hub on 127.0.0.1 with a demo alliance (a public hospital, a
//! private hospital, a clinic), its staff, 20 synthetic patients and their documents. Running it
//! again on the same folder reuses what is there.

use crate::commands::serve::shutdown_signal;
use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use medshare_client::{Client, DocumentMeta, Share};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::records::PatientCard;
use medshare_sandbox::{TestHub, World, sandbox_config, story_cast, totp_now};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct DemoArgs {
    /// Sandbox data folder (hub database, blobs, demo credentials).
    #[arg(long, default_value = "medshare-demo", global = true)]
    pub data_dir: PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8443)]
    pub port: u16,
    #[command(subcommand)]
    pub command: Option<DemoCmd>,
}

#[derive(Subcommand)]
pub enum DemoCmd {
    /// Print the current one-time code of a sandbox user.
    Totp { handle: String },
}

const SANDBOX_FILE: &str = "sandbox.json";

fn load_world(dir: &Path) -> anyhow::Result<Option<World>> {
    match std::fs::read(dir.join(SANDBOX_FILE)) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).context(
            "the sandbox credentials file is corrupt: delete the demo folder",
        )?)),
        Err(_) => Ok(None),
    }
}

/// Synthetic patients spread over the three institutions; the first is the seed story's.
async fn seed(world: &World) -> anyhow::Result<usize> {
    let mut clients: BTreeMap<&str, Client> = BTreeMap::new();
    for h in ["dr.chan", "dr.ho", "dr.leung"] {
        clients.insert(h, world.login(h).await?);
    }
    let mut count = 0;
    for (i, p) in medshare_synth::patients(2026, 20).iter().enumerate() {
        let uploader = ["dr.chan", "dr.ho", "dr.leung"][i % 3];
        let c = &clients[uploader];
        let id: PatientIdentifier = p.hkid.parse().map_err(|e| anyhow!("synthetic HKID: {e}"))?;
        let card = PatientCard {
            name: Some(p.name.clone()),
            birth_date: Some(p.birth_date.to_string()),
            sex: Some(format!("{:?}", p.sex).to_lowercase()),
        };
        let patient = c.ensure_patient(&id, &card).await?;
        for (j, d) in p.documents.iter().enumerate() {
            // The seed story: the clinic shares the angiography report with the cardiologist.
            let shares = if i == 0 && j == 0 {
                vec![Share {
                    with: "dr.wong".parse().expect("static"),
                    institution: None,
                    expires_at: None,
                }]
            } else {
                vec![]
            };
            let meta = DocumentMeta {
                title: d.title.clone(),
                file_name: d.file_name.clone(),
                media_type: d.media_type.clone(),
                category: d.category.clone(),
                date_of_service: Some(d.date_of_service.to_string()),
                classification: None,
                urgent: false,
            };
            c.upload(
                std::io::Cursor::new(d.bytes.clone()),
                &patient,
                meta,
                &shares,
                |_| {},
            )
            .await?;
            count += 1;
        }
        // Some patients consent to share with the whole alliance.
        if i % 4 == 1 {
            c.grant_consent(&patient, &medshare_client::ConsentTarget::Alliance)
                .await?;
        }
    }
    Ok(count)
}

pub async fn run(a: DemoArgs) -> anyhow::Result<()> {
    if let Some(DemoCmd::Totp { handle }) = &a.command {
        let world = load_world(&a.data_dir)?.ok_or(anyhow!(
            "no sandbox in {}: run `medshare demo` first",
            a.data_dir.display()
        ))?;
        let c = world
            .people
            .get(handle)
            .ok_or(anyhow!("no sandbox user {handle}"))?;
        let secret = c
            .totp_secret
            .as_deref()
            .ok_or(anyhow!("{handle} has no one-time code"))?;
        crate::say!("{}", totp_now(secret)?);
        return Ok(());
    }
    let mut config = sandbox_config(&a.data_dir);
    config.listen = ([127, 0, 0, 1], a.port).into();
    let existing = load_world(&a.data_dir)?;
    if existing.is_none()
        && a.data_dir.join("medshare.db").exists()
        && !a.data_dir.join("bootstrap-token").exists()
    {
        anyhow::bail!(
            "{} holds a hub that is not a complete sandbox: choose another --data-dir or delete it",
            a.data_dir.display()
        );
    }
    let hub = TestHub::start(config).await?;
    let world = match existing {
        Some(mut w) => {
            w.hub_url = hub.url.clone();
            crate::say!("Reusing the sandbox in {}", a.data_dir.display());
            w
        }
        None => {
            crate::say!(
                "Creating a sandbox alliance in {} ...",
                a.data_dir.display()
            );
            let mut w = World::build(&hub, &story_cast()).await?;
            let n = seed(&w).await?;
            crate::say!("Seeded 20 synthetic patients with {n} documents.");
            w.hub_url = hub.url.clone();
            medshare_server::write_secret_file(
                &a.data_dir.join(SANDBOX_FILE),
                &serde_json::to_vec_pretty(&w)?,
            )?;
            w
        }
    };
    print_guide(&world, &a.data_dir);
    shutdown_signal().await;
    hub.stop().await
}

fn print_guide(w: &World, dir: &Path) {
    let d = dir.display();
    crate::say!();
    crate::say!(
        "medshare sandbox hub: {}   (SYNTHETIC DATA ONLY — sandbox passphrases and codes below)",
        w.hub_url
    );
    if medshare_server::routes::app::built() {
        crate::say!(
            "Web app: {}/#sandbox   (open it in a browser; log in as a person below)",
            w.hub_url
        );
    } else {
        crate::say!(
            "Web app: not built into this binary (run `bash scripts/build-web.sh`, then build again)"
        );
    }
    crate::say!("Each person uses their own config folder. Log in with:");
    for (handle, c) in &w.people {
        crate::say!();
        crate::say!("  # {handle}");
        crate::say!(
            "  export MEDSHARE_CONFIG_DIR=\"$HOME/.config/medshare-demo/{handle}\" MEDSHARE_PASSPHRASE='{}'",
            c.passphrase
        );
        crate::say!(
            "  medshare login --hub {} --handle {handle} --weak-kdf --totp \"$(medshare demo totp {handle} --data-dir {d})\"",
            w.hub_url
        );
    }
    crate::say!();
    crate::say!("The seed story, as dr.wong (cardiologist, Peak Private Hospital):");
    crate::say!(
        "  medshare inbox                          # the clinic shared an angiography report"
    );
    let first = medshare_synth::patients(2026, 1).remove(0);
    crate::say!(
        "  medshare search --patient '{}'     # find it by HKID",
        first.hkid
    );
    crate::say!("  medshare get DOCUMENT_ID                # decrypt it on this machine");
    crate::say!();
    crate::say!(
        "Press Ctrl-C to stop the hub; run `medshare demo --data-dir {d}` again to resume."
    );
}
