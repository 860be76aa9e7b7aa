//! Logged-in clients: login, the saved session (0600 on disk, written by the CLI), and the
//! unlocked context: institution keyring, alliance secrets and the caller's own certificate.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::trust::{Trust, alliance_root};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::blind::SearchKey;
use medshare_crypto::chain::{VerifiedInstitution, VerifiedPractitioner};
use medshare_crypto::passphrase::{self, KeyBundle};
use medshare_crypto::seal::unwrap_secret_json;
use medshare_crypto::{EncryptionKey, SigningKey};
use medshare_model::api::{
    AllianceSecrets, KdfParams, LoginRequest, LoginResponse, Me, PreloginRequest,
};
use medshare_model::identifiers::PatientIdentifier;
use medshare_model::registration::Role;
use medshare_model::statements::{decode_key, encode_key};
use medshare_model::{ErrorCode, Handle, InstitutionId, PatientRef, PractitionerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::OnceCell;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The institution keyring sealed to each member: every epoch's encryption key, and for
/// administrators the institution signing key.
#[derive(Serialize, Deserialize)]
pub struct KeyringJson {
    /// The institution the keyring belongs to.
    pub institution_id: InstitutionId,
    /// Epoch number -> `AGE-SECRET-KEY-1...`.
    pub epochs: BTreeMap<u32, String>,
    /// Ed25519 seed of the institution signing key, base64 (administrators only).
    pub signing: Option<String>,
}

impl Drop for KeyringJson {
    fn drop(&mut self) {
        for v in self.epochs.values_mut() {
            v.zeroize();
        }
        self.signing.zeroize();
    }
}

/// What a session keeps on disk so later commands need no passphrase: the token and the
/// unlocked keys. The CLI writes it with mode 0600 and deletes it on logout.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SavedSession {
    /// The hub's base URL.
    pub hub: String,
    /// Session token.
    pub token: String,
    #[zeroize(skip)]
    /// The practitioner logged in.
    pub practitioner_id: PractitionerId,
    /// Their handle.
    pub handle: String,
    /// Pinned alliance root key, base64.
    pub root_public: String,
    /// `AGE-SECRET-KEY-1...`.
    pub encryption: String,
    /// Ed25519 seed, base64.
    pub signing: String,
    /// When the session ends (Unix seconds).
    pub expires_at: i64,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("hub", &self.hub)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// Keys unlocked from the keyring and alliance wrap.
pub struct Context {
    /// Our own certificate (verified).
    pub me: VerifiedPractitioner,
    /// Our institution's certificate (verified).
    pub institution: VerifiedInstitution,
    /// The institution's encryption keys, by epoch.
    pub epochs: BTreeMap<u32, EncryptionKey>,
    /// The institution signing key (administrators only).
    pub institution_signing: Option<SigningKey>,
    /// The alliance's patient-number search key.
    pub search_key: SearchKey,
    /// The alliance key (alliance-wide consent).
    pub alliance: EncryptionKey,
}

impl Context {
    /// The keyed-hash reference of a patient identifier.
    pub fn patient_ref(&self, id: &PatientIdentifier) -> PatientRef {
        self.search_key.patient_ref(id)
    }
}

/// A logged-in practitioner.
pub struct Client {
    pub(crate) hub: Hub,
    pub(crate) me: PractitionerId,
    pub(crate) handle: Handle,
    pub(crate) keys: KeyBundle,
    pub(crate) trust: Trust,
    token: String,
    expires_at: i64,
    ctx: OnceCell<Context>,
    /// A service identity (institution gateway), logged in with its key: marked in everything
    /// it signs, and its certificate must say so.
    pub(crate) service: bool,
    /// Where verified timeline entries are cached (see [`crate::cache`]); none: no cache.
    pub(crate) cache: Option<crate::cache::TimelineCaches>,
}

/// Login options.
#[derive(Clone, Debug, Default)]
pub struct LoginOptions {
    /// Accept KDF parameters below production strength (sandbox only): otherwise a hub could
    /// lower them to make the passphrase cheap to guess.
    pub allow_weak_kdf: bool,
}

/// Log in: derive the credential and key-encryption key from the passphrase on this machine,
/// present the credential and TOTP code, and unlock the key bundle.
pub async fn login(
    hub: &Hub,
    pinned_root: Option<[u8; 32]>,
    handle: &Handle,
    passphrase: &str,
    totp: Option<&str>,
    opts: &LoginOptions,
) -> Result<Client> {
    let (root, _) = alliance_root(hub, pinned_root).await?;
    let kdf: KdfParams = hub
        .post(
            "/v1/auth/prelogin",
            &PreloginRequest {
                handle: handle.clone(),
            },
        )
        .await?;
    if !opts.allow_weak_kdf && !passphrase::is_production_strength(&kdf) {
        return Err(ClientError::Trust(
            "the hub asked for a weak passphrase KDF",
        ));
    }
    let pass = passphrase.to_string();
    let derived = crate::platform::blocking(move || {
        let mut pass = pass;
        let d = passphrase::derive(&pass, &kdf);
        pass.zeroize();
        d
    })
    .await??;
    let res: LoginResponse = hub
        .post(
            "/v1/auth/login",
            &LoginRequest {
                handle: handle.clone(),
                credential: derived.credential_base64(),
                totp: totp.map(str::to_string),
            },
        )
        .await?;
    let keys = passphrase::open_bundle(&derived.kek, &res.practitioner_id, &res.key_bundle)?;
    Ok(Client {
        hub: hub.with_token(&res.token),
        me: res.practitioner_id,
        handle: handle.clone(),
        keys,
        trust: Trust::new(root),
        token: res.token,
        expires_at: res.expires_at.unix_timestamp(),
        ctx: OnceCell::new(),
        service: false,
        cache: None,
    })
}

impl Client {
    /// Resume a saved session (no passphrase needed; the hub still checks the token).
    pub fn resume(hub: &Hub, s: &SavedSession) -> Result<Self> {
        let root = decode_key(&s.root_public)
            .ok_or(ClientError::Invalid("the saved session is corrupt".into()))?;
        let seed: [u8; 32] = B64
            .decode(&s.signing)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(ClientError::Invalid("the saved session is corrupt".into()))?;
        Ok(Self {
            hub: hub.with_token(&s.token),
            me: s.practitioner_id,
            handle: s
                .handle
                .parse()
                .map_err(|_| ClientError::Invalid("the saved session is corrupt".into()))?,
            keys: KeyBundle {
                encryption: EncryptionKey::from_secret_str(&s.encryption)?,
                signing: SigningKey::from_seed(&seed),
            },
            trust: Trust::new(root),
            token: s.token.clone(),
            expires_at: s.expires_at,
            ctx: OnceCell::new(),
            service: false,
            cache: None,
        })
    }

    /// A service identity's session (see [`crate::service`]).
    pub(crate) fn for_service(
        hub: &Hub,
        me: PractitionerId,
        handle: Handle,
        keys: KeyBundle,
        root: [u8; 32],
        token: String,
        expires_at: i64,
    ) -> Self {
        Self {
            hub: hub.with_token(&token),
            me,
            handle,
            keys,
            trust: Trust::new(root),
            token,
            expires_at,
            ctx: OnceCell::new(),
            service: true,
            cache: None,
        }
    }

    /// When the hub will end this session (unix seconds).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Everything needed to resume later.
    pub fn save(&self) -> SavedSession {
        SavedSession {
            hub: self.hub.base().to_string(),
            token: self.token.clone(),
            practitioner_id: self.me,
            handle: self.handle.to_string(),
            root_public: encode_key(self.trust.root()),
            encryption: self.keys.encryption.to_secret_string().to_string(),
            signing: B64.encode(*self.keys.signing.to_seed()),
            expires_at: self.expires_at,
        }
    }

    /// The practitioner logged in.
    pub fn id(&self) -> PractitionerId {
        self.me
    }

    /// Their handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The hub this session talks to.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The verified certificates and remembered facts.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Hold the hub to what this client remembered before (patient key chains, institution
    /// epochs), saving every new fact to `memory`'s store.
    pub fn remember_with(mut self, memory: crate::memory::Remembered) -> Self {
        self.trust.set_memory(memory);
        self
    }

    /// Cache verified timeline entries in `store`: [`Client::timeline`] then fetches only what
    /// changed since the last view of a patient.
    pub fn cache_timelines_in(
        mut self,
        store: std::sync::Arc<dyn crate::cache::CacheStore>,
    ) -> Self {
        self.cache = Some(crate::cache::TimelineCaches::new(store));
        self
    }

    /// This practitioner's own encryption recipient.
    pub fn recipient(&self) -> String {
        self.keys.encryption.recipient()
    }

    /// Revoke the session on the hub.
    pub async fn logout(&self) -> Result<()> {
        self.hub
            .post_unit("/v1/auth/logout", &serde_json::json!({}))
            .await
    }

    /// The account as the hub describes it.
    pub async fn me(&self) -> Result<Me> {
        self.hub.get("/v1/me").await
    }

    pub(crate) fn ctx_get(&self) -> Option<&Context> {
        self.ctx.get()
    }

    /// Unlock the institution keyring and alliance secrets (once per client).
    pub async fn context(&self) -> Result<&Context> {
        self.ctx.get_or_try_init(|| self.load_context()).await
    }

    async fn load_context(&self) -> Result<Context> {
        let me = self.me().await?;
        if !me.public.active {
            return Err(ClientError::Api(medshare_model::Problem::new(
                ErrorCode::NotCertified,
                None,
            )));
        }
        let verified = self.trust.practitioner(&me.public)?;
        // The hub must not be able to make us use keys other than the ones we hold.
        if verified.cert.recipient != self.keys.encryption.recipient()
            || verified.sign_public != self.keys.signing.public()
        {
            return Err(ClientError::Trust(
                "your certificate does not match your own keys",
            ));
        }
        if verified.cert.profession.is_service() != self.service {
            return Err(ClientError::Trust(
                "a service logs in with its key and a person with a passphrase, never the other way",
            ));
        }
        let (institution, _) = self
            .trust
            .institution(&self.hub, me.public.institution_id)
            .await?;
        let wrap = me.keyring_wrap.ok_or(ClientError::Trust(
            "no institution keyring has been sealed to you",
        ))?;
        let ring: KeyringJson = unwrap_secret_json(&self.keys.encryption, &wrap)?;
        if ring.institution_id != me.public.institution_id {
            return Err(ClientError::Trust(
                "the keyring belongs to another institution",
            ));
        }
        let mut epochs = BTreeMap::new();
        for (e, secret) in &ring.epochs {
            epochs.insert(*e, EncryptionKey::from_secret_str(secret)?);
        }
        // Our own keyring knows our institution's newest epoch: the hub cannot hide it.
        if let Some(newest) = epochs.keys().next_back() {
            self.trust
                .memory()
                .institution_epoch(me.public.institution_id, *newest)?;
        }
        let institution_signing = match &ring.signing {
            Some(s) => {
                let seed: [u8; 32] = B64
                    .decode(s)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or(ClientError::Trust("the keyring is malformed"))?;
                let k = SigningKey::from_seed(&seed);
                if k.public() != institution.sign_public {
                    return Err(ClientError::Trust(
                        "the keyring's signing key is not the institution's",
                    ));
                }
                Some(k)
            }
            None => None,
        };
        let aw = me.alliance_wrap.ok_or(ClientError::Trust(
            "your institution has not received the alliance keys yet",
        ))?;
        let ident = epochs.get(&aw.epoch).ok_or(ClientError::Trust(
            "the alliance keys are sealed to an institution key you do not hold",
        ))?;
        let secrets: AllianceSecrets = unwrap_secret_json(ident, &aw.wrap)?;
        let alliance = EncryptionKey::from_secret_str(&secrets.alliance_identity)?;
        let (_, alliance_key) = alliance_root(&self.hub, Some(*self.trust.root())).await?;
        if alliance.recipient() != alliance_key.recipient {
            return Err(ClientError::Trust(
                "the alliance key does not match the root-signed one",
            ));
        }
        Ok(Context {
            me: verified,
            institution,
            epochs,
            institution_signing,
            search_key: SearchKey::from_base64(&secrets.search_key)?,
            alliance,
        })
    }

    /// Whether this practitioner holds a role (from the verified certificate).
    pub async fn has_role(&self, role: Role) -> Result<bool> {
        Ok(self.context().await?.me.cert.roles.contains(&role))
    }
}
