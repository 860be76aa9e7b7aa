//! Administration: the alliance root (initialise the hub, register and certify institutions)
//! and institution administrators (invite, certify and remove members, rotating the
//! institution key).

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::session::{Client, KeyringJson};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::blind::SearchKey;
use medshare_crypto::chain;
use medshare_crypto::seal::wrap_secret_json;
use medshare_crypto::{EncryptionKey, SigningKey};
use medshare_model::api::*;
use medshare_model::statements::{
    AllianceKey, InstitutionCert, InstitutionEpochKey, PractitionerRevocation, RootAction,
    RootCommand, decode_key, fingerprint,
};
use medshare_model::{InstitutionId, PractitionerId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use zeroize::{Zeroize, ZeroizeOnDrop};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The alliance root's secrets: kept offline by the operator (file mode 0600).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RootKeyFile {
    /// Ed25519 seed of the alliance root, base64.
    pub root_seed: String,
    /// Patient reference HMAC key, base64.
    pub search_key: String,
    /// `AGE-SECRET-KEY-1...` of the alliance-wide key.
    pub alliance_identity: String,
}

impl RootKeyFile {
    /// The root signing key.
    pub fn root(&self) -> Result<SigningKey> {
        let seed: [u8; 32] = B64
            .decode(&self.root_seed)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(ClientError::Invalid("the root key file is corrupt".into()))?;
        Ok(SigningKey::from_seed(&seed))
    }

    /// Fingerprint of the root public key.
    pub fn fingerprint(&self) -> Result<String> {
        Ok(fingerprint(&self.root()?.public()))
    }
}

/// Create the alliance's root secrets and install the root public key on a fresh hub.
pub async fn init_alliance(hub: &Hub, bootstrap_token: &str) -> Result<RootKeyFile> {
    let root = SigningKey::generate();
    let alliance = EncryptionKey::generate();
    let search = SearchKey::generate();
    let alliance_key = root.sign_statement(&AllianceKey {
        recipient: alliance.recipient(),
        issued_at: now(),
    });
    hub.post_unit(
        "/v1/alliance/bootstrap",
        &BootstrapRequest {
            bootstrap_token: bootstrap_token.trim().to_string(),
            root_public: medshare_model::statements::encode_key(&root.public()),
            alliance_key,
        },
    )
    .await?;
    Ok(RootKeyFile {
        root_seed: B64.encode(*root.to_seed()),
        search_key: search.to_base64().to_string(),
        alliance_identity: alliance.to_secret_string().to_string(),
    })
}

async fn root_command(
    hub: &Hub,
    root: &SigningKey,
    action: RootAction,
) -> Result<reqwest::Response> {
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let command = root.sign_statement(&RootCommand {
        nonce: hex::encode(nonce),
        issued_at: now(),
        action,
    });
    let res = hub
        .request(reqwest::Method::POST, "/v1/alliance/commands")
        .json(&RootCommandRequest { command })
        .send()
        .await?;
    Hub::check(res).await
}

/// Register an institution and invite its first administrator.
pub async fn add_institution(
    hub: &Hub,
    root: &RootKeyFile,
    name: &str,
    code: &str,
    admin: NewEnrolment,
) -> Result<(InstitutionId, EnrolmentCode)> {
    let id = InstitutionId::new();
    let res = root_command(
        hub,
        &root.root()?,
        RootAction::AddInstitution {
            institution_id: id,
            name: name.to_string(),
            code: code.to_string(),
            admin,
        },
    )
    .await?;
    Ok((id, res.json().await?))
}

/// Certify an institution's key after comparing its fingerprint out of band, and seal the
/// alliance secrets to it.
pub async fn certify_institution(
    hub: &Hub,
    root: &RootKeyFile,
    id: InstitutionId,
    expected_fingerprint: Option<&str>,
) -> Result<String> {
    let keys: InstitutionKeys = hub.get(&format!("/v1/institutions/{id}")).await?;
    let sign_b64 = keys.sign_public.ok_or(ClientError::Invalid(
        "the institution's first administrator has not enrolled yet".into(),
    ))?;
    let sign =
        decode_key(&sign_b64).ok_or(ClientError::Trust("the institution key is malformed"))?;
    let fp = fingerprint(&sign);
    if let Some(expected) = expected_fingerprint
        && normalize_fp(expected) != normalize_fp(&fp)
    {
        return Err(ClientError::Trust(
            "the institution key's fingerprint does not match the one you were given",
        ));
    }
    let signer = root.root()?;
    let cert = InstitutionCert {
        institution_id: id,
        name: keys.summary.name.clone(),
        code: keys.summary.code.clone(),
        sign_public: sign_b64,
        issued_at: now(),
    };
    let signed = signer.sign_statement(&cert);
    let verified = chain::verify_institution(&signer.public(), &signed)?;
    let latest = keys.epochs.last().ok_or(ClientError::Invalid(
        "the institution has no key yet".into(),
    ))?;
    let epoch = chain::verify_epoch_key(&verified, latest)
        .map_err(|_| ClientError::Trust("the institution's key is not signed by it"))?;
    let secrets = AllianceSecrets {
        search_key: root.search_key.clone(),
        alliance_identity: root.alliance_identity.clone(),
    };
    let alliance_wrap = wrap_secret_json(&epoch.recipient, &secrets)?;
    root_command(
        hub,
        &signer,
        RootAction::CertifyInstitution {
            cert: signed,
            alliance_wrap,
        },
    )
    .await?;
    Ok(fp)
}

fn normalize_fp(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl Client {
    /// Invite a practitioner to this administrator's institution.
    pub async fn invite(&self, details: NewEnrolment) -> Result<EnrolmentCode> {
        let inst = self.context().await?.institution.cert.institution_id;
        self.hub
            .post(&format!("/v1/institutions/{inst}/enrolments"), &details)
            .await
    }

    /// Practitioners waiting for certification.
    pub async fn pending(&self) -> Result<Vec<PendingPractitioner>> {
        let inst = self.context().await?.institution.cert.institution_id;
        self.hub
            .get(&format!("/v1/institutions/{inst}/pending"))
            .await
    }

    fn keyring_for(&self, admin: bool) -> Result<KeyringJson> {
        let ctx = self.ctx_sync()?;
        let signing = ctx
            .institution_signing
            .as_ref()
            .ok_or(ClientError::Invalid(
                "only an institution administrator can do this".into(),
            ))?;
        Ok(KeyringJson {
            institution_id: ctx.institution.cert.institution_id,
            epochs: ctx
                .epochs
                .iter()
                .map(|(e, k)| (*e, k.to_secret_string().to_string()))
                .collect(),
            signing: admin.then(|| B64.encode(*signing.to_seed())),
        })
    }

    fn ctx_sync(&self) -> Result<&crate::session::Context> {
        self.ctx_get()
            .ok_or(ClientError::Invalid("keys not unlocked".into()))
    }

    /// Certify an enrolled practitioner: the real-name verification. `expected_fingerprint` is
    /// what the practitioner read out from their `enroll`.
    pub async fn certify(
        &self,
        id: PractitionerId,
        expected_fingerprint: Option<&str>,
    ) -> Result<String> {
        let ctx = self.context().await?;
        let signing = ctx
            .institution_signing
            .as_ref()
            .ok_or(ClientError::Invalid(
                "only an institution administrator can certify".into(),
            ))?;
        let p = self
            .pending()
            .await?
            .into_iter()
            .find(|p| p.practitioner_id == id)
            .ok_or(ClientError::Invalid(
                "no enrolled practitioner with that id is waiting for certification".into(),
            ))?;
        let sign = decode_key(&p.sign_public)
            .ok_or(ClientError::Trust("the practitioner's key is malformed"))?;
        medshare_crypto::parse_recipient(&p.recipient)?;
        let fp = fingerprint(&sign);
        if let Some(expected) = expected_fingerprint
            && normalize_fp(expected) != normalize_fp(&fp)
        {
            return Err(ClientError::Trust(
                "the practitioner's key fingerprint does not match the one they gave you",
            ));
        }
        let cert = crate::enrol::practitioner_cert(
            id,
            ctx.institution.cert.institution_id,
            &p.details,
            &sign,
            &p.recipient,
        );
        let admin = p
            .details
            .roles
            .contains(&medshare_model::registration::Role::InstitutionAdmin);
        let ring = self.keyring_for(admin)?;
        let keyring_wrap = wrap_secret_json(&p.recipient, &ring)?;
        self.hub
            .post_unit(
                &format!("/v1/practitioners/{id}/certify"),
                &CertifyRequest {
                    cert: signing.sign_statement(&cert),
                    keyring_wrap,
                },
            )
            .await?;
        Ok(fp)
    }

    /// The certified members of this administrator's institution besides themselves, each
    /// verified to the pinned root and certified by this institution (the hub's list is only
    /// where to look).
    pub async fn members(&self) -> Result<Vec<chain::VerifiedPractitioner>> {
        let ctx = self.context().await?;
        let inst = ctx.institution.cert.institution_id;
        let list: Vec<PractitionerPublic> = self
            .hub
            .get(&format!("/v1/institutions/{inst}/members"))
            .await?;
        let mut out = Vec::new();
        for p in &list {
            let v = self.trust().practitioner(p)?;
            if v.cert.institution_id != inst {
                return Err(ClientError::Trust(
                    "the hub listed a member of another institution",
                ));
            }
            if v.cert.practitioner_id != ctx.me.cert.practitioner_id {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.cert.name.cmp(&b.cert.name));
        Ok(out)
    }

    /// Remove a member and rotate the institution key: a new epoch sealed to everyone who stays.
    pub async fn remove_member(&self, id: PractitionerId) -> Result<()> {
        let ctx = self.context().await?;
        let signing = ctx
            .institution_signing
            .as_ref()
            .ok_or(ClientError::Invalid(
                "only an institution administrator can remove members".into(),
            ))?;
        let inst = ctx.institution.cert.institution_id;
        let members: Vec<PractitionerPublic> = self
            .hub
            .get(&format!("/v1/institutions/{inst}/members"))
            .await?;
        let next = ctx.epochs.keys().max().copied().unwrap_or(0) + 1;
        let new_key = EncryptionKey::generate();
        let statement = signing.sign_statement(&InstitutionEpochKey {
            institution_id: inst,
            epoch: next,
            recipient: new_key.recipient(),
            issued_at: now(),
        });
        let mut epochs: BTreeMap<u32, String> = ctx
            .epochs
            .iter()
            .map(|(e, k)| (*e, k.to_secret_string().to_string()))
            .collect();
        epochs.insert(next, new_key.to_secret_string().to_string());
        let mut keyrings = Vec::new();
        for m in members.iter().filter(|m| m.practitioner_id != id) {
            let v = self.trust.practitioner(m)?;
            let admin = v
                .cert
                .roles
                .contains(&medshare_model::registration::Role::InstitutionAdmin);
            let ring = KeyringJson {
                institution_id: inst,
                epochs: epochs.clone(),
                signing: admin.then(|| B64.encode(*signing.to_seed())),
            };
            keyrings.push(MemberKeyring {
                practitioner_id: m.practitioner_id,
                wrap: wrap_secret_json(&v.cert.recipient, &ring)?,
            });
        }
        let secrets = AllianceSecrets {
            search_key: ctx.search_key.to_base64().to_string(),
            alliance_identity: ctx.alliance.to_secret_string().to_string(),
        };
        let alliance_wrap = wrap_secret_json(&new_key.recipient(), &secrets)?;
        let revocation = signing.sign_statement(&PractitionerRevocation {
            practitioner_id: id,
            institution_id: inst,
            revoked_at: now(),
        });
        self.hub
            .post_unit(
                &format!("/v1/practitioners/{id}/remove"),
                &RemoveMemberRequest {
                    new_epoch: statement,
                    revocation,
                    keyrings,
                    alliance_wrap,
                },
            )
            .await
    }
}
