//! Enrolment, login, logout and whoami.

use crate::{HubArg, profile, read_passphrase};
use anyhow::Context;
use clap::Args;
use medshare_client::{Hub, LoginOptions, enrol};
use medshare_crypto::passphrase;
use medshare_model::{ErrorCode, Handle};

#[derive(Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub hub: HubArg,
    /// The one-time enrolment code your administrator gave you.
    #[arg(long)]
    pub code: String,
    /// Sandbox only: cheap passphrase hashing (the hub must allow it).
    #[arg(long, hide = true)]
    pub weak_kdf: bool,
}

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub hub: HubArg,
    /// Your handle, e.g. dr.chan.
    #[arg(long, env = "MEDSHARE_HANDLE")]
    pub handle: String,
    /// One-time code from your authenticator app (asked for if needed).
    #[arg(long)]
    pub totp: Option<String>,
    /// Sandbox only: accept weak passphrase-hashing parameters from the hub.
    #[arg(long, hide = true)]
    pub weak_kdf: bool,
}

fn hub(url: &str) -> anyhow::Result<Hub> {
    Ok(Hub::new(url, profile::ca_pem()?.as_deref())?)
}

pub async fn enroll(a: EnrollArgs) -> anyhow::Result<()> {
    let hub = hub(&a.hub.hub)?;
    let pinned = profile::pinned(&a.hub.hub)?;
    let info = enrol::lookup(&hub, &a.code)
        .await
        .context("cannot look up the enrolment code")?;
    crate::say!(
        "Enrolling {} ({} {}) at {}",
        info.details.name,
        info.details.profession,
        info.details.registration,
        info.institution.name
    );
    let pass = read_passphrase("New passphrase: ", true)?;
    if pass.chars().count() < 12 {
        anyhow::bail!("choose a passphrase of at least 12 characters");
    }
    let kdf = a.weak_kdf.then(passphrase::test_kdf_params);
    let e = enrol::enrol(&hub, pinned, &a.code, &pass, kdf).await?;
    if pinned.is_none() {
        profile::pin(&a.hub.hub, &e.root_public)?;
        crate::say!(
            "Pinned the alliance root of this hub: {}",
            medshare_client::trust::root_fingerprint(&e.root_public)
        );
    }
    crate::say!("Enrolled as practitioner {}", e.practitioner_id);
    crate::say!(
        "Your key fingerprint (read it to your administrator): {}",
        e.key_fingerprint
    );
    if let Some(fp) = e.institution_fingerprint {
        crate::say!("Institution key fingerprint (read it to the alliance administrator): {fp}");
    }
    match e.totp_uri {
        Some(uri) => crate::say!("Add this to your authenticator app (shown once): {uri}"),
        None => crate::say!("This hub does not require a one-time code (sandbox)."),
    }
    crate::say!("Your administrator must now certify your key before you can work with records.");
    Ok(())
}

pub async fn login(a: LoginArgs) -> anyhow::Result<()> {
    let hub = hub(&a.hub.hub)?;
    let pinned = profile::pinned(&a.hub.hub)?;
    let handle: Handle = a.handle.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let pass = read_passphrase("Passphrase: ", false)?;
    let opts = LoginOptions {
        allow_weak_kdf: a.weak_kdf,
    };
    let mut totp = a.totp.clone();
    let client = loop {
        match medshare_client::login(&hub, pinned, &handle, &pass, totp.as_deref(), &opts).await {
            Ok(c) => break c.remember_with(profile::remembered(&a.hub.hub)?),
            Err(e) if e.code() == Some(ErrorCode::TotpRequired) && totp.is_none() => {
                totp = Some(rpassword::prompt_password("One-time code: ")?);
            }
            Err(e) => return Err(e.into()),
        }
    };
    if pinned.is_none() {
        profile::pin(&a.hub.hub, client.trust().root())?;
        crate::say!(
            "Pinned the alliance root of this hub: {}",
            medshare_client::trust::root_fingerprint(client.trust().root())
        );
    }
    profile::witness_log(client.hub()).await?;
    let path = profile::save_session(&client)?;
    crate::say!(
        "Logged in as {} (session saved in {})",
        client.handle(),
        path.display()
    );
    Ok(())
}

pub async fn logout() -> anyhow::Result<()> {
    if let Ok(c) = profile::resume()
        && let Err(e) = c.logout().await
    {
        crate::warn_user!(
            "warning: the hub could not revoke the session ({e}); it expires on its own"
        );
    }
    if profile::forget_session()? {
        crate::say!("Logged out; the session and keys were removed from this machine.");
    } else {
        crate::say!("Not logged in.");
    }
    Ok(())
}

pub async fn whoami() -> anyhow::Result<()> {
    let c = profile::session().await?;
    let me = c.me().await?;
    let d = &me.details;
    crate::say!(
        "{} — {} ({}, {})",
        me.public.handle,
        d.name,
        d.profession,
        d.registration
    );
    if let Some(s) = &d.specialty {
        crate::say!("specialty: {s}");
    }
    let roles: Vec<String> = d.roles.iter().map(|r| r.to_string()).collect();
    crate::say!("roles: {}", roles.join(", "));
    crate::say!("institution: {}", me.public.institution_id);
    crate::say!(
        "certified: {}",
        if me.public.active {
            "yes"
        } else {
            "no (ask your administrator)"
        }
    );
    crate::say!("hub: {}", c.hub().base());
    Ok(())
}
