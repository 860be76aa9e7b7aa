//! Enrolment: redeem a one-time code with keys generated on this machine. For an institution's
//! first administrator, the institution's own keys are created here too.

use crate::error::{ClientError, Result};
use crate::hub::Hub;
use crate::session::KeyringJson;
use crate::trust::alliance_root;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_crypto::passphrase::{self, KeyBundle};
use medshare_crypto::seal::wrap_secret_json;
use medshare_crypto::{EncryptionKey, SigningKey};
use medshare_model::api::{
    Enrolled, EnrolmentInfo, EnrolmentLookup, InstitutionSetup, KdfParams, NewEnrolment,
    RedeemEnrolment,
};
use medshare_model::statements::{InstitutionEpochKey, PractitionerCert, encode_key, fingerprint};
use medshare_model::{InstitutionId, PractitionerId};
use std::collections::BTreeMap;

/// What enrolment produced; fingerprints are read to the administrator out of band.
#[derive(Debug)]
pub struct Enrolment {
    /// The new practitioner's id.
    pub practitioner_id: PractitionerId,
    /// Their institution.
    pub institution_id: InstitutionId,
    /// `otpauth://` URI to add to an authenticator app (absent in a sandbox without TOTP).
    pub totp_uri: Option<String>,
    /// Fingerprint of the new signing key, for the administrator who certifies it.
    pub key_fingerprint: String,
    /// For a first administrator: the institution key's fingerprint, for the alliance root.
    pub institution_fingerprint: Option<String>,
    /// The alliance root key this enrolment pinned.
    pub root_public: [u8; 32],
}

/// The certificate an institution signs for a practitioner.
pub fn practitioner_cert(
    id: PractitionerId,
    institution: InstitutionId,
    d: &NewEnrolment,
    sign_public: &[u8; 32],
    recipient: &str,
) -> PractitionerCert {
    PractitionerCert {
        practitioner_id: id,
        institution_id: institution,
        handle: d.handle.clone(),
        name: d.name.clone(),
        profession: d.profession,
        registration: d.registration.clone(),
        specialty: d.specialty.clone(),
        roles: d.roles.clone(),
        sign_public: encode_key(sign_public),
        recipient: recipient.to_string(),
        issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    }
}

/// Look up what a code is for.
pub async fn lookup(hub: &Hub, code: &str) -> Result<EnrolmentInfo> {
    hub.post(
        "/v1/enrolments/lookup",
        &EnrolmentLookup {
            code: code.to_string(),
        },
    )
    .await
}

/// Redeem `code`, setting `passphrase`. `kdf` defaults to production parameters.
pub async fn enrol(
    hub: &Hub,
    pinned_root: Option<[u8; 32]>,
    code: &str,
    passphrase: &str,
    kdf: Option<KdfParams>,
) -> Result<Enrolment> {
    let info = lookup(hub, code).await?;
    if info.details.profession.is_service() {
        return Err(ClientError::Invalid(
            "this enrolment code is for a service (a gateway): enrol it with `medshare gateway enroll`"
                .into(),
        ));
    }
    enrol_keys(
        hub,
        pinned_root,
        code,
        passphrase,
        kdf,
        &KeyBundle::generate(),
    )
    .await
}

/// [`enrol`] with keys made by the caller (a service keeps them in its key file).
pub(crate) async fn enrol_keys(
    hub: &Hub,
    pinned_root: Option<[u8; 32]>,
    code: &str,
    passphrase: &str,
    kdf: Option<KdfParams>,
    keys: &KeyBundle,
) -> Result<Enrolment> {
    let (root, _) = alliance_root(hub, pinned_root).await?;
    let info = lookup(hub, code).await?;
    let kdf = kdf.unwrap_or_else(passphrase::new_kdf_params);
    let pass = passphrase.to_string();
    let kdf2 = kdf.clone();
    let derived = crate::platform::blocking(move || passphrase::derive(&pass, &kdf2)).await??;
    let sealed = passphrase::seal_bundle(&derived.kek, &info.practitioner_id, keys);
    let recipient = keys.encryption.recipient();
    let sign_public = keys.signing.public();
    let inst_id = info.institution.institution_id;
    let (setup, inst_fp) = if info.creates_institution_keys {
        let inst_sign = SigningKey::generate();
        let epoch1 = EncryptionKey::generate();
        let epoch_key = inst_sign.sign_statement(&InstitutionEpochKey {
            institution_id: inst_id,
            epoch: 1,
            recipient: epoch1.recipient(),
            issued_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        });
        let cert = practitioner_cert(
            info.practitioner_id,
            inst_id,
            &info.details,
            &sign_public,
            &recipient,
        );
        let admin_cert = inst_sign.sign_statement(&cert);
        let ring = KeyringJson {
            institution_id: inst_id,
            epochs: BTreeMap::from([(1, epoch1.to_secret_string().to_string())]),
            signing: Some(B64.encode(*inst_sign.to_seed())),
        };
        let keyring_wrap = wrap_secret_json(&recipient, &ring)?;
        (
            Some(InstitutionSetup {
                sign_public: encode_key(&inst_sign.public()),
                epoch_key,
                admin_cert,
                keyring_wrap,
            }),
            Some(fingerprint(&inst_sign.public())),
        )
    } else {
        (None, None)
    };
    let enrolled: Enrolled = hub
        .post(
            "/v1/enrolments/redeem",
            &RedeemEnrolment {
                code: code.to_string(),
                kdf,
                credential: derived.credential_base64(),
                key_bundle: sealed,
                sign_public: encode_key(&sign_public),
                recipient,
                institution_setup: setup,
            },
        )
        .await?;
    Ok(Enrolment {
        practitioner_id: enrolled.practitioner_id,
        institution_id: inst_id,
        totp_uri: enrolled.totp_uri,
        key_fingerprint: fingerprint(&sign_public),
        institution_fingerprint: inst_fp,
        root_public: root,
    })
}
