//! Service identities (an institution gateway): enrolment without a passphrase, the key file
//! that holds the unlocked keys (the operator protects it: mode 0600, or a systemd
//! credential), and login by signing a single-use [`ServiceLogin`] statement with the certified
//! key. Writing and reading the file is the caller's business (no file I/O here).

use crate::enrol::{Enrolment, enrol_keys, lookup};
use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::session::Client;
use crate::trust::alliance_root;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::passphrase::KeyBundle;
use medshare_crypto::{EncryptionKey, SigningKey};
use medshare_model::api::{KdfParams, LoginResponse, ServiceLoginRequest};
use medshare_model::statements::{ServiceLogin, decode_key, encode_key};
use medshare_model::{Handle, InstitutionId, PractitionerId};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Format version of [`ServiceKeyFile`].
pub const KEY_FILE_VERSION: u32 = 1;

/// Everything a service needs to act: who it is, which alliance root it pinned, and its unlocked
/// secret keys. Whoever reads this file can act as the gateway: keep it 0600 (or in a systemd
/// credential) and never copy it off the machine.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct ServiceKeyFile {
    #[zeroize(skip)]
    /// Key file format version.
    pub version: u32,
    /// The hub's base URL.
    pub hub: String,
    #[zeroize(skip)]
    /// The service identity's id.
    pub practitioner_id: PractitionerId,
    #[zeroize(skip)]
    /// Its institution.
    pub institution_id: InstitutionId,
    /// Its handle.
    pub handle: String,
    /// Pinned alliance root key, base64.
    pub root_public: String,
    /// `AGE-SECRET-KEY-1...`.
    pub encryption: String,
    /// Ed25519 seed, base64.
    pub signing: String,
}

impl std::fmt::Debug for ServiceKeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceKeyFile")
            .field("hub", &self.hub)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl ServiceKeyFile {
    /// The secret keys.
    pub fn keys(&self) -> Result<KeyBundle> {
        let corrupt = || ClientError::Invalid("the gateway key file is corrupt".into());
        let seed: [u8; 32] = B64
            .decode(&self.signing)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(corrupt)?;
        Ok(KeyBundle {
            encryption: EncryptionKey::from_secret_str(&self.encryption).map_err(|_| corrupt())?,
            signing: SigningKey::from_seed(&seed),
        })
    }

    /// The pinned alliance root.
    pub fn root(&self) -> Result<[u8; 32]> {
        decode_key(&self.root_public).ok_or(ClientError::Invalid(
            "the gateway key file is corrupt".into(),
        ))
    }

    /// The service identity's handle, parsed.
    pub fn handle(&self) -> Result<Handle> {
        self.handle
            .parse()
            .map_err(|_| ClientError::Invalid("the gateway key file is corrupt".into()))
    }
}

/// Enrol a service with the one-time code its institution administrator created: keys are made
/// here and returned in the key file; the administrator then certifies the fingerprint (like a
/// practitioner's). The hub gets the usual sealed key bundle, sealed under a random secret that
/// is thrown away at once: a service never logs in with a passphrase. `kdf` defaults to
/// production parameters.
pub async fn enrol_service(
    hub: &Hub,
    pinned_root: Option<[u8; 32]>,
    code: &str,
    kdf: Option<KdfParams>,
) -> Result<(ServiceKeyFile, Enrolment)> {
    let info = lookup(hub, code).await?;
    if !info.details.profession.is_service() {
        return Err(ClientError::Invalid(
            "this enrolment code is for a person: enrol with `medshare enroll`".into(),
        ));
    }
    let keys = KeyBundle::generate();
    let mut throwaway = hex::encode(rand::random::<[u8; 32]>());
    let res = enrol_keys(hub, pinned_root, code, &throwaway, kdf, &keys).await;
    throwaway.zeroize();
    let e = res?;
    let file = ServiceKeyFile {
        version: KEY_FILE_VERSION,
        hub: hub.base().to_string(),
        practitioner_id: e.practitioner_id,
        institution_id: e.institution_id,
        handle: info.details.handle.to_string(),
        root_public: encode_key(&e.root_public),
        encryption: keys.encryption.to_secret_string().to_string(),
        signing: B64.encode(*keys.signing.to_seed()),
    };
    Ok((file, e))
}

/// Open a session as the service: sign a fresh single-use statement with the certified key.
/// The hub must be the alliance the key file pinned.
pub async fn login_service(hub: &Hub, file: &ServiceKeyFile) -> Result<Client> {
    if file.version != KEY_FILE_VERSION {
        return Err(ClientError::Invalid(
            "the gateway key file has an unknown format version".into(),
        ));
    }
    let root = file.root()?;
    alliance_root(hub, Some(root)).await?;
    let keys = file.keys()?;
    let proof = keys.signing.sign_statement(&ServiceLogin {
        practitioner_id: file.practitioner_id,
        nonce: hex::encode(rand::random::<[u8; 24]>()),
        issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    });
    let res: LoginResponse = hub
        .post("/v1/auth/service-login", &ServiceLoginRequest { proof })
        .await?;
    if res.practitioner_id != file.practitioner_id {
        return Err(ClientError::Trust(
            "the hub opened a session for someone else",
        ));
    }
    let client = Client::for_service(
        hub,
        file.practitioner_id,
        file.handle()?,
        keys,
        root,
        res.token,
        res.expires_at.unix_timestamp(),
    );
    // Unlocks the keyring and checks that the certificate is a service's and holds these keys.
    client.context().await?;
    Ok(client)
}
