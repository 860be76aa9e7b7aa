//! Administration: the alliance root's offline key file, institutions, and an institution
//! administrator's invitations, certifications and removals.

use crate::{HubArg, profile};
use anyhow::Context;
use clap::{Args, Subcommand};
use medshare_client::Hub;
use medshare_client::admin::{self, RootKeyFile};
use medshare_model::api::NewEnrolment;
use medshare_model::registration::{Profession, Role};
use medshare_model::{Handle, InstitutionId, PractitionerId};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Create the alliance root key (keep the file offline) and initialise a new hub.
    Init {
        #[command(flatten)]
        hub: HubArg,
        /// The hub's bootstrap token file (in its data folder).
        #[arg(long)]
        bootstrap_token_file: PathBuf,
        /// Where to write the root key file (mode 0600).
        #[arg(long, default_value = "alliance-root.key")]
        out: PathBuf,
    },
    /// Institutions (alliance root).
    Institution {
        #[command(subcommand)]
        command: InstitutionCmd,
    },
    /// Invite a practitioner to your institution (institution administrator).
    Invite(PersonArgs),
    /// List practitioners waiting for certification.
    Pending,
    /// Certify a practitioner's key after checking their identity: the real-name verification.
    Certify {
        practitioner: PractitionerId,
        /// The key fingerprint the practitioner read out to you.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Remove a member; the institution key is rotated.
    Remove { practitioner: PractitionerId },
}

#[derive(Subcommand)]
pub enum InstitutionCmd {
    /// Register an institution and invite its first administrator.
    Add {
        #[command(flatten)]
        hub: HubArg,
        #[arg(long)]
        root_key: PathBuf,
        #[arg(long)]
        name: String,
        /// Short code, e.g. QMH.
        #[arg(long)]
        code: String,
        #[command(flatten)]
        admin: PersonArgs,
    },
    /// Certify an institution's key (compare the fingerprint its first administrator gives).
    Certify {
        #[command(flatten)]
        hub: HubArg,
        #[arg(long)]
        root_key: PathBuf,
        institution: InstitutionId,
        #[arg(long)]
        fingerprint: Option<String>,
    },
}

#[derive(Args, Clone)]
pub struct PersonArgs {
    #[arg(long)]
    pub handle: String,
    /// Full legal name as registered.
    #[arg(long)]
    pub name: String,
    /// doctor, dentist, nurse, pharmacist, dietitian, physiotherapist, radiographer, administrative, service (a gateway).
    #[arg(long)]
    pub profession: Profession,
    /// Professional registration number, e.g. M12345 for the Medical Council of Hong Kong.
    #[arg(long)]
    pub registration: String,
    #[arg(long)]
    pub specialty: Option<String>,
    /// clinician, institution-admin, privacy-officer (repeatable).
    #[arg(long = "role", default_value = "clinician")]
    pub roles: Vec<Role>,
}

impl PersonArgs {
    fn enrolment(&self) -> anyhow::Result<NewEnrolment> {
        let registration = self
            .profession
            .validate_registration(&self.registration)
            .map_err(anyhow::Error::msg)?;
        Ok(NewEnrolment {
            handle: self.handle.parse::<Handle>().map_err(anyhow::Error::msg)?,
            name: self.name.clone(),
            profession: self.profession,
            registration,
            specialty: self.specialty.clone(),
            roles: self.roles.clone(),
        })
    }
}

fn read_root(path: &PathBuf) -> anyhow::Result<RootKeyFile> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the root key file {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a medshare root key file", path.display()))
}

fn hub(url: &str) -> anyhow::Result<Hub> {
    Ok(Hub::new(url, profile::ca_pem()?.as_deref())?)
}

pub async fn run(c: AdminCmd) -> anyhow::Result<()> {
    match c {
        AdminCmd::Init {
            hub: h,
            bootstrap_token_file,
            out,
        } => {
            if out.exists() {
                anyhow::bail!(
                    "{} already exists: refusing to overwrite a root key",
                    out.display()
                );
            }
            let token = std::fs::read_to_string(&bootstrap_token_file)
                .with_context(|| format!("cannot read {}", bootstrap_token_file.display()))?;
            let root = admin::init_alliance(&hub(&h.hub)?, &token).await?;
            medshare_server::write_secret_file(&out, &serde_json::to_vec_pretty(&root)?)?;
            profile::pin(&h.hub, &root.root()?.public())?;
            crate::say!(
                "Alliance initialised. Root key written to {} (mode 0600): keep it offline.",
                out.display()
            );
            crate::say!("Root fingerprint: {}", root.fingerprint()?);
        }
        AdminCmd::Institution {
            command:
                InstitutionCmd::Add {
                    hub: h,
                    root_key,
                    name,
                    code,
                    admin: person,
                },
        } => {
            let root = read_root(&root_key)?;
            let (id, code_out) =
                admin::add_institution(&hub(&h.hub)?, &root, &name, &code, person.enrolment()?)
                    .await?;
            crate::say!("Institution {name} registered as {id}");
            crate::say!(
                "Enrolment code for its first administrator (give it out of band, once): {}",
                code_out.code
            );
            crate::say!("It expires at {}", code_out.expires_at);
        }
        AdminCmd::Institution {
            command:
                InstitutionCmd::Certify {
                    hub: h,
                    root_key,
                    institution,
                    fingerprint,
                },
        } => {
            let root = read_root(&root_key)?;
            if fingerprint.is_none() {
                crate::warn_user!(
                    "warning: no --fingerprint given: compare the fingerprint below with the administrator's"
                );
            }
            let fp = admin::certify_institution(
                &hub(&h.hub)?,
                &root,
                institution,
                fingerprint.as_deref(),
            )
            .await?;
            crate::say!("Institution {institution} certified (key {fp})");
        }
        AdminCmd::Invite(p) => {
            let c = profile::session().await?;
            let code = c.invite(p.enrolment()?).await?;
            crate::say!(
                "Invited {} as practitioner {}",
                p.handle,
                code.practitioner_id
            );
            crate::say!("Enrolment code (give it out of band, once): {}", code.code);
            crate::say!("It expires at {}", code.expires_at);
        }
        AdminCmd::Pending => {
            let c = profile::session().await?;
            let pending = c.pending().await?;
            if pending.is_empty() {
                crate::say!("Nobody is waiting for certification.");
            }
            for p in pending {
                let fp = medshare_model::statements::decode_key(&p.sign_public)
                    .map(|k| medshare_model::statements::fingerprint(&k))
                    .unwrap_or_default();
                crate::say!(
                    "{}  {}  {} ({} {})  key {}",
                    p.practitioner_id,
                    p.details.handle,
                    p.details.name,
                    p.details.profession,
                    p.details.registration,
                    fp
                );
            }
        }
        AdminCmd::Certify {
            practitioner,
            fingerprint,
        } => {
            let c = profile::session().await?;
            if fingerprint.is_none() {
                crate::warn_user!(
                    "warning: no --fingerprint given: compare the fingerprint below with the practitioner's"
                );
            }
            let fp = c.certify(practitioner, fingerprint.as_deref()).await?;
            crate::say!("Certified {practitioner} (key {fp})");
        }
        AdminCmd::Remove { practitioner } => {
            let c = profile::session().await?;
            c.remove_member(practitioner).await?;
            crate::say!("Removed {practitioner}; the institution key was rotated to a new epoch.");
        }
    }
    Ok(())
}
