//! A sandbox alliance, built through the real client library against a real hub: start a hub
//! in process on 127.0.0.1, create institutions and practitioners, log them in. Used by
//! `medshare demo`, the integration tests and the benchmarks.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let dir = std::path::PathBuf::from("/tmp/medshare-sandbox");
//! let hub = medshare_sandbox::TestHub::start(medshare_sandbox::sandbox_config(&dir)).await?;
//! let world = medshare_sandbox::World::build(&hub, &medshare_sandbox::story_cast()).await?;
//! let cardiologist = world.login("dr.wong").await?;
//! # let _ = cardiologist; Ok(()) }
//! ```
#![forbid(unsafe_code)]

use anyhow::{Context, anyhow};
use medshare_client::admin::{self, RootKeyFile};
use medshare_client::{Client, Hub, LoginOptions, enrol, login};
use medshare_crypto::passphrase::test_kdf_params;
use medshare_model::api::NewEnrolment;
use medshare_model::registration::{Profession, Role};
use medshare_model::{Handle, InstitutionId, PractitionerId};
use medshare_server::config::Config;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A hub configuration for a sandbox under `dir`: SQLite and blobs in the folder, TOTP on,
/// cheap KDF parameters allowed (sandbox only).
pub fn sandbox_config(dir: &Path) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("static"),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.auth.min_kdf_m_cost = 8;
    // A signed head after every batch: tampering is located to the entry.
    c.audit.head_interval_ms = 0;
    // Sandboxes run webhook receivers on plain loopback HTTP, on any port.
    c.audit.webhook_allow_http = true;
    c.outbound.allow_networks = vec!["127.0.0.0/8".into(), "::1/128".into()];
    c.outbound.allow_ports = Vec::new();
    // Every test logs its cast in from 127.0.0.1.
    c.auth.auth_requests_per_minute = 6000;
    c
}

#[cfg(feature = "test-services")]
mod backends;
#[cfg(feature = "test-services")]
pub use backends::{Backend, Services, services};

/// A hub running in this process on a loopback port.
pub struct TestHub {
    /// The loopback address it listens on.
    pub addr: SocketAddr,
    /// `http://` base URL of that address.
    pub url: String,
    /// Its data folder (database, blobs, keys).
    pub data_dir: PathBuf,
    /// The hub's clock: tests advance it instead of sleeping.
    pub clock: medshare_server::clock::Clock,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestHub {
    /// Bind first (port 0 picks a free port), then serve: ready as soon as this returns.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        Self::start_with_clock(config, medshare_server::clock::Clock::system()).await
    }

    /// [`TestHub::start`] on a given clock (replicas of one test share theirs).
    pub async fn start_with_clock(
        config: Config,
        clock: medshare_server::clock::Clock,
    ) -> anyhow::Result<Self> {
        let listener =
            std::net::TcpListener::bind(config.listen).context("cannot bind the hub's port")?;
        let addr = listener.local_addr()?;
        let data_dir = config.data_dir.clone();
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let state = medshare_server::build_state_with(config, clock.clone()).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(medshare_server::serve(state, listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            url: format!("{scheme}://{addr}"),
            data_dir,
            clock,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// A transport to this hub.
    pub fn hub(&self) -> Hub {
        Hub::new(&self.url, None).expect("plain http client")
    }

    /// The one-time bootstrap token the hub wrote at first start.
    pub fn bootstrap_token(&self) -> anyhow::Result<String> {
        Ok(
            std::fs::read_to_string(self.data_dir.join("bootstrap-token"))
                .context("the hub has no bootstrap token (already initialised?)")?
                .trim()
                .to_string(),
        )
    }

    /// Stop gracefully and wait.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// One person of the cast.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Person {
    /// Login handle.
    pub handle: String,
    /// Display name (fictional).
    pub name: String,
    /// Profession, as registered.
    pub profession: Profession,
    /// Registration number with the professional council (fictional, well-formed).
    pub registration: String,
    /// Specialty, if any.
    pub specialty: Option<String>,
    /// Roles at the institution.
    pub roles: Vec<Role>,
    /// Institution code.
    pub institution: String,
}

/// One institution of the cast; its first person listed is its administrator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstitutionSpec {
    /// Short code, e.g. `QMH`.
    pub code: String,
    /// Full name (fictional).
    pub name: String,
}

/// Who the sandbox contains.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cast {
    /// The institutions, in order of enrolment.
    pub institutions: Vec<InstitutionSpec>,
    /// Each institution's administrator must come first among its people.
    pub people: Vec<Person>,
}

fn person(
    handle: &str,
    name: &str,
    profession: Profession,
    registration: &str,
    specialty: Option<&str>,
    roles: &[Role],
    institution: &str,
) -> Person {
    Person {
        handle: handle.into(),
        name: name.into(),
        profession,
        registration: registration.into(),
        specialty: specialty.map(Into::into),
        roles: roles.to_vec(),
        institution: institution.into(),
    }
}

/// The seed story's cast: a public hospital, a private hospital and a clinic, with the
/// clinicians, administrators and a privacy officer. All names are fictional.
pub fn story_cast() -> Cast {
    use Profession::*;
    use Role::*;
    Cast {
        institutions: vec![
            InstitutionSpec {
                code: "KPH".into(),
                name: "Kowloon Public Hospital".into(),
            },
            InstitutionSpec {
                code: "PPH".into(),
                name: "Peak Private Hospital".into(),
            },
            InstitutionSpec {
                code: "HVC".into(),
                name: "Harbour View Clinic".into(),
            },
        ],
        people: vec![
            person(
                "admin.kph",
                "LAU Wing Sze",
                Administrative,
                "S0001",
                None,
                &[InstitutionAdmin],
                "KPH",
            ),
            person(
                "dr.ho",
                "HO Ka Lok",
                Doctor,
                "M10001",
                Some("Emergency Medicine"),
                &[Clinician],
                "KPH",
            ),
            person(
                "privacy.kph",
                "YIP Mei Ling",
                Administrative,
                "S0002",
                None,
                &[PrivacyOfficer],
                "KPH",
            ),
            person(
                "admin.pph",
                "CHEUNG Sau Man",
                Administrative,
                "S0101",
                None,
                &[InstitutionAdmin],
                "PPH",
            ),
            person(
                "dr.wong",
                "WONG Chi Keung",
                Doctor,
                "M20002",
                Some("Cardiology"),
                &[Clinician],
                "PPH",
            ),
            person(
                "dr.leung",
                "LEUNG Hoi Yan",
                Doctor,
                "M20003",
                Some("Endocrinology"),
                &[Clinician],
                "PPH",
            ),
            person(
                "admin.hvc",
                "TSANG Pui Kei",
                Administrative,
                "S0201",
                None,
                &[InstitutionAdmin],
                "HVC",
            ),
            person(
                "dr.chan",
                "CHAN Tai Man",
                Doctor,
                "M30003",
                Some("Family Medicine"),
                &[Clinician],
                "HVC",
            ),
            person(
                "dt.lam",
                "LAM Siu Fong",
                Dietitian,
                "DT00042",
                Some("Dietetics"),
                &[Clinician],
                "HVC",
            ),
        ],
    }
}

/// Credentials of one enrolled person (sandbox only: kept in a 0600 file by `medshare demo`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Credentials {
    /// The practitioner's id.
    pub practitioner_id: PractitionerId,
    /// Their institution's id.
    pub institution_id: InstitutionId,
    /// Login handle.
    pub handle: String,
    /// Passphrase (sandbox only).
    pub passphrase: String,
    /// Base32 TOTP secret from the enrolment's otpauth URI.
    pub totp_secret: Option<String>,
    /// Fingerprint of their signing key.
    pub key_fingerprint: String,
}

/// A seeded alliance.
#[derive(Serialize, Deserialize)]
pub struct World {
    /// The hub it was seeded on.
    pub hub_url: String,
    /// The alliance root key (sandbox only).
    pub root: RootKeyFile,
    /// The alliance root's public key clients pin.
    pub root_public: [u8; 32],
    /// Institution ids by code.
    pub institutions: BTreeMap<String, InstitutionId>,
    /// Credentials by handle.
    pub people: BTreeMap<String, Credentials>,
}

/// The current TOTP code for a base32 secret.
pub fn totp_now(secret: &str) -> anyhow::Result<String> {
    let s = totp_rs::Secret::try_from_base32(secret).map_err(|_| anyhow!("bad TOTP secret"))?;
    let t = totp_rs::Builder::new()
        .with_secret(s)
        .build()
        .map_err(|e| anyhow!("TOTP: {e}"))?;
    Ok(t.generate_current().to_string())
}

/// The base32 secret inside an `otpauth://` URI.
pub fn totp_secret_of(uri: &str) -> anyhow::Result<String> {
    let query = uri
        .split_once('?')
        .map(|(_, q)| q)
        .ok_or(anyhow!("bad otpauth URI"))?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("secret="))
        .map(str::to_string)
        .ok_or(anyhow!("otpauth URI without secret"))
}

fn enrolment(p: &Person) -> anyhow::Result<NewEnrolment> {
    Ok(NewEnrolment {
        handle: p.handle.parse::<Handle>().map_err(|e| anyhow!("{e}"))?,
        name: p.name.clone(),
        profession: p.profession,
        registration: p.registration.clone(),
        specialty: p.specialty.clone(),
        roles: p.roles.clone(),
    })
}

/// A sandbox passphrase for a handle (sandbox only, never for real accounts).
pub fn sandbox_passphrase(handle: &str) -> String {
    format!("sandbox passphrase for {handle}")
}

impl World {
    /// Initialise the alliance on a fresh hub and enrol, certify and verify the whole cast.
    pub async fn build(hub: &TestHub, cast: &Cast) -> anyhow::Result<World> {
        World::build_at(&hub.url, &hub.bootstrap_token()?, cast).await
    }

    /// [`World::build`] against any hub: its URL and the bootstrap token from its data folder.
    pub async fn build_at(url: &str, bootstrap_token: &str, cast: &Cast) -> anyhow::Result<World> {
        let h = Hub::new(url, None)?;
        let root = admin::init_alliance(&h, bootstrap_token).await?;
        let root_public = root.root()?.public();
        let mut world = World {
            hub_url: url.to_string(),
            root,
            root_public,
            institutions: BTreeMap::new(),
            people: BTreeMap::new(),
        };
        for inst in &cast.institutions {
            let mut people = cast.people.iter().filter(|p| p.institution == inst.code);
            let first = people
                .next()
                .ok_or(anyhow!("institution {} has nobody", inst.code))?;
            let (id, code) =
                admin::add_institution(&h, &world.root, &inst.name, &inst.code, enrolment(first)?)
                    .await?;
            world.institutions.insert(inst.code.clone(), id);
            let inst_fp = world.enrol(&h, first, &code.code).await?;
            admin::certify_institution(&h, &world.root, id, inst_fp.as_deref()).await?;
            let admin_client = world.login(&first.handle).await?;
            for p in people {
                let code = admin_client.invite(enrolment(p)?).await?;
                world.enrol(&h, p, &code.code).await?;
                let fp = world.people[&p.handle].key_fingerprint.clone();
                admin_client
                    .certify(code.practitioner_id, Some(&fp))
                    .await?;
            }
        }
        Ok(world)
    }

    /// Enrol one person; returns the institution key fingerprint for a first administrator.
    async fn enrol(&mut self, h: &Hub, p: &Person, code: &str) -> anyhow::Result<Option<String>> {
        let pass = sandbox_passphrase(&p.handle);
        let e = enrol::enrol(
            h,
            Some(self.root_public),
            code,
            &pass,
            Some(test_kdf_params()),
        )
        .await?;
        let totp_secret = e.totp_uri.as_deref().map(totp_secret_of).transpose()?;
        self.people.insert(
            p.handle.clone(),
            Credentials {
                practitioner_id: e.practitioner_id,
                institution_id: e.institution_id,
                handle: p.handle.clone(),
                passphrase: pass,
                totp_secret,
                key_fingerprint: e.key_fingerprint,
            },
        );
        Ok(e.institution_fingerprint)
    }

    /// Log a cast member in (computing their current TOTP code).
    pub async fn login(&self, handle: &str) -> anyhow::Result<Client> {
        self.login_at(&self.hub_url, handle).await
    }

    /// Log a cast member in at another hub URL of the same alliance (another replica).
    pub async fn login_at(&self, hub_url: &str, handle: &str) -> anyhow::Result<Client> {
        let c = self
            .people
            .get(handle)
            .ok_or(anyhow!("nobody called {handle}"))?;
        let code = c.totp_secret.as_deref().map(totp_now).transpose()?;
        let hub = Hub::new(hub_url, None)?;
        let client = login(
            &hub,
            Some(self.root_public),
            &handle.parse().map_err(|e| anyhow!("{e}"))?,
            &c.passphrase,
            code.as_deref(),
            &LoginOptions {
                allow_weak_kdf: true,
            },
        )
        .await?;
        client.context().await?;
        Ok(client)
    }

    /// Practitioner id of a cast member.
    pub fn id(&self, handle: &str) -> PractitionerId {
        self.people[handle].practitioner_id
    }

    /// A service identity (an institution gateway) of the institution whose administrator is
    /// `admin`: invited, enrolled with sandbox KDF parameters and certified. Returns its key file.
    pub async fn enrol_gateway(
        &self,
        admin: &str,
        handle: &str,
        name: &str,
    ) -> anyhow::Result<medshare_client::service::ServiceKeyFile> {
        let admin = self.login(admin).await?;
        let code = admin
            .invite(NewEnrolment {
                handle: handle.parse::<Handle>().map_err(|e| anyhow!("{e}"))?,
                name: name.into(),
                profession: Profession::Service,
                registration: "SYS1".into(),
                specialty: None,
                roles: vec![Role::Clinician],
            })
            .await?;
        let hub = Hub::new(&self.hub_url, None)?;
        let (file, e) = medshare_client::service::enrol_service(
            &hub,
            Some(self.root_public),
            &code.code,
            Some(test_kdf_params()),
        )
        .await?;
        admin
            .certify(e.practitioner_id, Some(&e.key_fingerprint))
            .await?;
        Ok(file)
    }
}
