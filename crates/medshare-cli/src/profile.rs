//! The user's config folder: the saved session (0600) and the pinned alliance root of each hub
//! (trust on first use).

use anyhow::{Context, anyhow};
use medshare_client::audit::Witnessed;
use medshare_client::{Client, Hub, Memory, MemoryStore, Remembered, SavedSession};
use medshare_model::statements::{decode_key, encode_key};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `MEDSHARE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/medshare`, else `~/.config/medshare`.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(d) = std::env::var_os("MEDSHARE_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(d).join("medshare"));
    }
    let home =
        std::env::var_os("HOME").ok_or(anyhow!("HOME is not set: set MEDSHARE_CONFIG_DIR"))?;
    Ok(PathBuf::from(home).join(".config").join("medshare"))
}

fn ensure_dir() -> anyhow::Result<PathBuf> {
    let d = config_dir()?;
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(d)
}

fn pins_path() -> anyhow::Result<PathBuf> {
    Ok(ensure_dir()?.join("known_hubs.json"))
}

fn heads_path() -> anyhow::Result<PathBuf> {
    Ok(ensure_dir()?.join("audit_heads.json"))
}

fn read_heads() -> anyhow::Result<BTreeMap<String, Witnessed>> {
    let path = heads_path()?;
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "{} is corrupt: it holds the audit heads this machine verified",
                path.display()
            )
        }),
        Err(_) => Ok(BTreeMap::new()),
    }
}

/// The audit tree head last verified for a hub, if any.
pub fn witnessed(hub: &str) -> anyhow::Result<Option<Witnessed>> {
    Ok(read_heads()?.remove(hub.trim_end_matches('/')))
}

/// Remember a verified audit tree head for a hub.
pub fn remember(hub: &str, w: &Witnessed) -> anyhow::Result<()> {
    let mut heads = read_heads()?;
    heads.insert(hub.trim_end_matches('/').to_string(), w.clone());
    medshare_server::write_secret_file(&heads_path()?, &serde_json::to_vec_pretty(&heads)?)?;
    Ok(())
}

/// Check the hub's audit log against the head this machine verified at its last contact, and
/// remember the new one. A hub that rewrote or forked its history is refused here, on every
/// command.
pub async fn witness_log(hub: &Hub) -> anyhow::Result<Witnessed> {
    let seen = witnessed(hub.base())?;
    let (now, _) = medshare_client::audit::witness(hub, seen.as_ref())
        .await
        .map_err(|e| anyhow!("audit log check failed: {e}"))?;
    remember(hub.base(), &now)?;
    Ok(now)
}

fn memory_path() -> anyhow::Result<PathBuf> {
    Ok(ensure_dir()?.join("trust_memory.json"))
}

fn read_memories() -> anyhow::Result<BTreeMap<String, Memory>> {
    let path = memory_path()?;
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "{} is corrupt: it holds the patient and institution key epochs this machine saw                  (so a hub cannot roll them back); restore it from a backup rather than deleting it",
                path.display()
            )
        }),
        Err(_) => Ok(BTreeMap::new()),
    }
}

/// Saves a hub's remembered epochs in the config folder (0600) after every change.
struct MemoryFile {
    hub: String,
}

impl MemoryStore for MemoryFile {
    fn save(&self, memory: &Memory) -> medshare_client::Result<()> {
        let io = |_| medshare_client::ClientError::Invalid("cannot save trust_memory.json".into());
        let mut all = read_memories().map_err(io)?;
        all.insert(self.hub.clone(), memory.clone());
        let json = serde_json::to_vec_pretty(&all)
            .map_err(|_| medshare_client::ClientError::Invalid("trust memory".into()))?;
        medshare_server::write_secret_file(&memory_path().map_err(io)?, &json).map_err(|_| {
            medshare_client::ClientError::Invalid("cannot save trust_memory.json".into())
        })
    }
}

/// What this machine remembers about a hub (patient key chains, institution epochs), saved
/// back after every change: a hub can then never roll them back between commands.
pub fn remembered(hub: &str) -> anyhow::Result<Remembered> {
    let hub = hub.trim_end_matches('/').to_string();
    let memory = read_memories()?.remove(&hub).unwrap_or_default();
    Ok(Remembered::new(
        memory,
        Some(std::sync::Arc::new(MemoryFile { hub })),
    ))
}

/// Resume the saved session and check the hub's audit log (see [`witness_log`]).
pub async fn session() -> anyhow::Result<Client> {
    let c = resume()?;
    witness_log(c.hub()).await?;
    Ok(c)
}

fn session_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("session.json"))
}

/// The pinned root key of a hub, if contacted before.
pub fn pinned(hub: &str) -> anyhow::Result<Option<[u8; 32]>> {
    let path = pins_path()?;
    let pins: BTreeMap<String, String> = match std::fs::read(&path) {
        Ok(b) => {
            serde_json::from_slice(&b).with_context(|| format!("{} is corrupt", path.display()))?
        }
        Err(_) => BTreeMap::new(),
    };
    Ok(pins
        .get(hub.trim_end_matches('/'))
        .and_then(|k| decode_key(k)))
}

/// Pin a hub's root key (first contact).
pub fn pin(hub: &str, root: &[u8; 32]) -> anyhow::Result<()> {
    let path = pins_path()?;
    let mut pins: BTreeMap<String, String> = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        Err(_) => BTreeMap::new(),
    };
    pins.insert(hub.trim_end_matches('/').to_string(), encode_key(root));
    medshare_server::write_secret_file(&path, &serde_json::to_vec_pretty(&pins)?)?;
    Ok(())
}

/// Save the session (token and unlocked keys) with mode 0600.
pub fn save_session(client: &Client) -> anyhow::Result<PathBuf> {
    ensure_dir()?;
    let path = session_path()?;
    let saved = client.save();
    let mut json = serde_json::to_vec(&saved)?;
    let r = medshare_server::write_secret_file(&path, &json);
    zeroize::Zeroize::zeroize(&mut json);
    r.with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Remove the saved session.
pub fn forget_session() -> anyhow::Result<bool> {
    let path = session_path()?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Resume the saved session.
pub fn resume() -> anyhow::Result<Client> {
    let path = session_path()?;
    let mut bytes = std::fs::read(&path).map_err(|_| {
        anyhow!("not logged in: run `medshare login --hub URL --handle HANDLE` first")
    })?;
    let saved: Result<SavedSession, _> = serde_json::from_slice(&bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    let saved = saved
        .with_context(|| format!("{} is corrupt: run `medshare login` again", path.display()))?;
    if saved.expires_at <= time::OffsetDateTime::now_utc().unix_timestamp() {
        return Err(anyhow!(
            "the session has expired: run `medshare login` again"
        ));
    }
    let hub = Hub::new(&saved.hub, ca_pem()?.as_deref())?;
    // Verified timeline entries, sealed under the practitioner's own key (see
    // `medshare_client::cache`): re-opening a patient fetches only what changed.
    let cache = medshare_client::FolderCache::new(ensure_dir()?.join("timeline-cache"));
    Ok(Client::resume(&hub, &saved)?
        .remember_with(remembered(&saved.hub)?)
        .cache_timelines_in(std::sync::Arc::new(cache)))
}

/// Extra CA certificate for self-signed hubs (`MEDSHARE_CA_CERT=path.pem`).
pub fn ca_pem() -> anyhow::Result<Option<Vec<u8>>> {
    match std::env::var_os("MEDSHARE_CA_CERT") {
        Some(p) => Ok(Some(std::fs::read(&p).with_context(|| {
            format!("cannot read {}", PathBuf::from(&p).display())
        })?)),
        None => Ok(None),
    }
}
