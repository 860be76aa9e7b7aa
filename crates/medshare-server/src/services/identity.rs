//! Identity: enrolment, real-name certification, membership, login and sessions.

use super::alliance::{check_enrolment, invitation};
use super::{MAX_WRAP, check_recipient, decode_b64, verify};
use crate::audit::{self, Action, Entry};
use crate::auth::{self, Caller, normalize_code, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, at};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use medshare_model::api::*;
use medshare_model::statements::{
    InstitutionEpochKey, PractitionerCert, PractitionerRevocation, decode_key,
};
use medshare_model::{ErrorCode, Handle, InstitutionId, PractitionerId};
use medshare_store::{
    InstitutionRow, PractitionerRow, PractitionerStatus, Redemption, Removal, SessionRow,
};
use std::collections::BTreeSet;

/// HMAC-SHA-256 for deriving stable decoy KDF salts.
fn hmac(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn summary(i: &InstitutionRow) -> InstitutionSummary {
    InstitutionSummary {
        institution_id: i.id,
        name: i.name.clone(),
        code: i.code.clone(),
        certified: i.cert.is_some(),
    }
}

async fn institution(state: &AppState, id: InstitutionId) -> ApiResult<InstitutionRow> {
    state
        .store
        .institution(id)
        .await?
        .ok_or_else(ApiError::not_found)
}

pub async fn institution_keys(state: &AppState, id: InstitutionId) -> ApiResult<InstitutionKeys> {
    let i = institution(state, id).await?;
    Ok(InstitutionKeys {
        summary: summary(&i),
        sign_public: i.sign_public.clone(),
        cert: i.cert.clone(),
        epochs: state.store.institution_epochs(id).await?,
    })
}

pub async fn institutions(state: &AppState) -> ApiResult<Vec<InstitutionKeys>> {
    let mut out = Vec::new();
    for i in state.store.institutions().await? {
        out.push(InstitutionKeys {
            summary: summary(&i),
            sign_public: i.sign_public.clone(),
            cert: i.cert.clone(),
            epochs: state.store.institution_epochs(i.id).await?,
        });
    }
    Ok(out)
}

/// The public face of a practitioner with their institution's certificate.
pub async fn public_of(state: &AppState, p: &PractitionerRow) -> ApiResult<PractitionerPublic> {
    let inst = institution(state, p.institution_id).await?;
    Ok(PractitionerPublic {
        practitioner_id: p.id,
        handle: p.details.handle.clone(),
        institution_id: p.institution_id,
        cert: p.cert.clone(),
        institution_cert: inst.cert,
        active: p.status == PractitionerStatus::Certified,
        revocation: p.revocation.clone(),
    })
}

pub async fn practitioner(state: &AppState, id: PractitionerId) -> ApiResult<PractitionerPublic> {
    let p = state
        .store
        .practitioner(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    public_of(state, &p).await
}

pub async fn practitioner_by_handle(
    state: &AppState,
    handle: &Handle,
) -> ApiResult<PractitionerPublic> {
    let p = state
        .store
        .practitioner_by_handle(handle)
        .await?
        .ok_or_else(ApiError::not_found)?;
    public_of(state, &p).await
}

async fn invited(state: &AppState, code: &str) -> ApiResult<PractitionerRow> {
    let p = state
        .store
        .practitioner_by_enrolment(&token_hash(&normalize_code(code)))
        .await?
        .ok_or(ApiError::with(
            ErrorCode::NotFound,
            "unknown or already used enrolment code",
        ))?;
    if p.enrolment_expires.is_some_and(|e| e <= state.now()) {
        return Err(ApiError::with(
            ErrorCode::NotFound,
            "the enrolment code has expired; ask your administrator for a new one",
        ));
    }
    Ok(p)
}

pub async fn lookup_enrolment(state: &AppState, code: &str) -> ApiResult<EnrolmentInfo> {
    let p = invited(state, code).await?;
    let i = institution(state, p.institution_id).await?;
    Ok(EnrolmentInfo {
        practitioner_id: p.id,
        institution: summary(&i),
        details: p.details,
        creates_institution_keys: p.creates_institution_keys,
    })
}

fn check_kdf(state: &AppState, kdf: &KdfParams) -> ApiResult<()> {
    let salt = decode_b64(&kdf.salt, 64, "KDF salt is not base64")?;
    if salt.len() < 16
        || kdf.m_cost < state.config.auth.min_kdf_m_cost
        || kdf.m_cost > 4 * 1024 * 1024
        || !(1..=16).contains(&kdf.t_cost)
        || !(1..=16).contains(&kdf.p_cost)
    {
        return Err(ApiError::bad_request(
            "passphrase KDF parameters are too weak or out of range",
        ));
    }
    Ok(())
}

/// The certificate a practitioner's institution signs must state exactly what was enrolled.
fn check_cert_matches(
    cert: &PractitionerCert,
    p: &PractitionerRow,
    sign_public: &str,
    recipient: &str,
) -> ApiResult<()> {
    let d = &p.details;
    let same = cert.practitioner_id == p.id
        && cert.institution_id == p.institution_id
        && cert.handle == d.handle
        && cert.name == d.name
        && cert.profession == d.profession
        && cert.registration == d.registration
        && cert.specialty == d.specialty
        && cert.roles == d.roles
        && cert.sign_public == sign_public
        && cert.recipient == recipient;
    if same {
        Ok(())
    } else {
        Err(ApiError::with(
            ErrorCode::Conflict,
            "the certificate does not match the enrolment",
        ))
    }
}

pub async fn redeem(state: &AppState, req: RedeemEnrolment) -> ApiResult<Enrolled> {
    let p = invited(state, &req.code).await?;
    check_kdf(state, &req.kdf)?;
    let credential = decode_b64(&req.credential, 64, "credential is not base64")?;
    if credential.len() != 32 {
        return Err(ApiError::bad_request("credential must be 32 bytes"));
    }
    decode_b64(
        &req.key_bundle,
        MAX_WRAP,
        "key bundle is not base64 or too large",
    )?;
    decode_key(&req.sign_public).ok_or(ApiError::bad_request(
        "signing key is not a base64 Ed25519 key",
    ))?;
    check_recipient(&req.recipient)?;

    let setup = match (p.creates_institution_keys, req.institution_setup) {
        (true, Some(s)) => {
            decode_key(&s.sign_public).ok_or(ApiError::bad_request(
                "institution key is not a base64 Ed25519 key",
            ))?;
            let epoch: InstitutionEpochKey = verify(&s.epoch_key, &s.sign_public)?;
            if epoch.epoch != 1 || epoch.institution_id != p.institution_id {
                return Err(ApiError::bad_request(
                    "the first institution key must be epoch 1 of this institution",
                ));
            }
            check_recipient(&epoch.recipient)?;
            let cert: PractitionerCert = verify(&s.admin_cert, &s.sign_public)?;
            check_cert_matches(&cert, &p, &req.sign_public, &req.recipient)?;
            decode_b64(
                &s.keyring_wrap,
                MAX_WRAP,
                "keyring wrap is not base64 or too large",
            )?;
            Some((s.sign_public, s.epoch_key, s.admin_cert, s.keyring_wrap))
        }
        (false, None) => None,
        (true, None) => {
            return Err(ApiError::bad_request(
                "this enrolment must create the institution's keys",
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::bad_request(
                "this enrolment may not create institution keys",
            ));
        }
    };
    // A service logs in with its key (`service_login`), never a passphrase and a code.
    let (totp_secret, totp_uri) =
        if state.config.auth.require_totp && !p.details.profession.is_service() {
            let (s, u) = auth::new_totp(p.details.handle.as_str())?;
            (Some(s), Some(u))
        } else {
            (None, None)
        };
    let redemption = Redemption {
        id: p.id,
        kdf: serde_json::to_string(&req.kdf).map_err(|_| ApiError::internal())?,
        credential_hash: auth::hash_credential(credential).await?,
        key_bundle: req.key_bundle,
        sign_public: req.sign_public,
        recipient: req.recipient,
        totp_secret,
        institution_setup: setup,
        now: state.now(),
    };
    let redeemed = state.store.redeem_enrolment(&redemption).await;
    state.invalidate_all().await;
    redeemed?;
    audit::record(
        state,
        Entry::new(Action::Enrol, true, "enrolment-code").by(&p),
    )
    .await?;
    Ok(Enrolled {
        practitioner_id: p.id,
        totp_uri,
    })
}

/// KDF parameters of a handle; unknown handles get stable decoy parameters so the answer does
/// not reveal who has an account.
pub async fn prelogin(state: &AppState, handle: &Handle) -> ApiResult<KdfParams> {
    if let Some(p) = state.store.practitioner_by_handle(handle).await?
        && let Some(kdf) = p.kdf
    {
        return serde_json::from_str(&kdf).map_err(|_| ApiError::internal());
    }
    let salt = hmac(&state.hub_secret, handle.as_str().as_bytes());
    Ok(KdfParams {
        salt: B64.encode(&salt[..16]),
        m_cost: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    })
}

/// A credential hash nobody can match: logins of unknown handles are verified against it, so
/// they cost the same Argon2 work as real ones and their timing reveals nothing.
async fn decoy_hash() -> ApiResult<&'static str> {
    static DECOY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DECOY
        .get_or_try_init(|| auth::hash_credential(rand::random::<[u8; 32]>().to_vec()))
        .await
        .map(String::as_str)
}

/// Log in from `addr`. Failures lock that address out for the handle with doubling back-off
/// (a stranger cannot lock the doctor out); every attempt on an account is counted atomically
/// *before* it is verified, so parallel guesses cannot slip past the account-wide backstop.
pub async fn login(
    state: &AppState,
    addr: std::net::IpAddr,
    req: LoginRequest,
) -> ApiResult<LoginResponse> {
    let invalid = || ApiError::new(ErrorCode::InvalidCredentials);
    let a = &state.config.auth;
    let credential = B64
        .decode(req.credential.as_bytes())
        .map_err(|_| invalid())?;
    let handle = req.handle.as_str();
    let _slot = state
        .throttle
        .login_slot(handle)
        .ok_or(ApiError::new(ErrorCode::TooManyRequests))?;
    let found = state.store.practitioner_by_handle(&req.handle).await?;
    let n = state.now();
    let locked = state.throttle.locked(addr, handle, n).max(
        found
            .as_ref()
            .and_then(|p| p.locked_until)
            .filter(|u| *u > n)
            .map(|u| u - n),
    );
    if let Some(wait) = locked {
        let mut entry = Entry::new(Action::LoginFailed, false, "locked");
        if let Some(p) = &found {
            entry = entry.by(p);
        }
        audit::record(state, entry).await?;
        let mut e = ApiError::new(ErrorCode::AccountLocked);
        e.retry_after = Some(wait as u64);
        return Err(e);
    }
    let Some(p) = found else {
        let _ = auth::verify_credential(credential, decoy_hash().await?.to_string()).await;
        state.throttle.failed(addr, handle, n);
        audit::record(
            state,
            Entry::new(Action::LoginFailed, false, "unknown-handle"),
        )
        .await?;
        return Err(invalid());
    };
    let failures = state.store.add_login_failure(p.id).await?;
    if let Some(secs) = crate::throttle::backoff(
        failures,
        a.account_lockout_threshold,
        a.lockout_base_secs,
        a.lockout_max_secs,
    ) {
        state.store.lock_logins(p.id, n + secs).await?;
    }
    // Services have no passphrase: their credential is never verified (see `service_login`).
    let usable = matches!(
        p.status,
        PractitionerStatus::Enrolled | PractitionerStatus::Certified
    ) && !p.details.profession.is_service();
    let hash = match &p.credential_hash {
        Some(h) if usable => h.clone(),
        _ => decoy_hash().await?.to_string(),
    };
    let password_ok = auth::verify_credential(credential, hash).await && usable;
    let totp_ok = match (&p.totp_secret, &req.totp) {
        (None, _) => true,
        (Some(s), Some(code)) => auth::check_totp(s, p.details.handle.as_str(), code),
        (Some(_), None) => false,
    };
    if !(password_ok && totp_ok) {
        state.throttle.failed(addr, handle, n);
        let basis = if password_ok {
            "bad-totp"
        } else {
            "bad-credential"
        };
        audit::record(state, Entry::new(Action::LoginFailed, false, basis).by(&p)).await?;
        if password_ok && req.totp.is_none() {
            return Err(ApiError::new(ErrorCode::TotpRequired));
        }
        return Err(invalid());
    }
    state.throttle.succeeded(addr, handle);
    let token = auth::new_token();
    let expires = state.now() + state.config.auth.session_ttl_secs;
    // Also clears the failures counted above (and any lock) in the same transaction.
    state
        .store
        .create_session(&SessionRow {
            token_hash: token_hash(&token),
            practitioner_id: p.id,
            created_at: state.now(),
            expires_at: expires,
            revoked: false,
        })
        .await?;
    audit::record(
        state,
        Entry::new(Action::LoginSucceeded, true, "passphrase+totp").by(&p),
    )
    .await?;
    Ok(LoginResponse {
        token,
        expires_at: at(expires),
        practitioner_id: p.id,
        key_bundle: p.key_bundle.unwrap_or_default(),
    })
}

/// Service logins older or newer than this (seconds) are refused.
const SERVICE_LOGIN_WINDOW: i64 = 300;

/// A service identity (an institution gateway) opens a session with a single-use statement
/// signed by its certified key: certified, not removed, a service by its certificate.
pub async fn service_login(
    state: &AppState,
    addr: std::net::IpAddr,
    req: ServiceLoginRequest,
) -> ApiResult<LoginResponse> {
    use medshare_model::statements::ServiceLogin;
    let invalid = || ApiError::new(ErrorCode::InvalidCredentials);
    let claimed: ServiceLogin = req.proof.payload_as().map_err(|_| invalid())?;
    let n = state.now();
    let key = format!("service-login:{}", claimed.practitioner_id);
    if let Some(wait) = state.throttle.locked(addr, &key, n) {
        let mut e = ApiError::new(ErrorCode::AccountLocked);
        e.retry_after = Some(wait as u64);
        return Err(e);
    }
    let found = state.store.practitioner(claimed.practitioner_id).await?;
    let p = match found {
        Some(p)
            if p.status == PractitionerStatus::Certified
                && p.cert.is_some()
                && p.details.profession.is_service() =>
        {
            p
        }
        other => {
            state.throttle.failed(addr, &key, n);
            let mut entry = Entry::new(Action::LoginFailed, false, "not-a-certified-service");
            if let Some(p) = &other {
                entry = entry.by(p);
            }
            audit::record(state, entry).await?;
            return Err(invalid());
        }
    };
    let sign_public = p.sign_public.as_deref().ok_or_else(ApiError::internal)?;
    let fresh = (claimed.issued_at - n).abs() <= SERVICE_LOGIN_WINDOW
        && (16..=128).contains(&claimed.nonce.len());
    let ok = verify::<ServiceLogin>(&req.proof, sign_public).is_ok()
        && fresh
        // Single use: the nonce table the root's commands use, in its own namespace.
        && state
            .store
            .use_root_nonce(&format!("service-login:{}", claimed.nonce), n)
            .await?;
    if !ok {
        state.throttle.failed(addr, &key, n);
        audit::record(
            state,
            Entry::new(Action::LoginFailed, false, "bad-service-proof").by(&p),
        )
        .await?;
        return Err(invalid());
    }
    state.throttle.succeeded(addr, &key);
    let token = auth::new_token();
    let expires = n + state.config.auth.session_ttl_secs;
    state
        .store
        .create_session(&SessionRow {
            token_hash: token_hash(&token),
            practitioner_id: p.id,
            created_at: n,
            expires_at: expires,
            revoked: false,
        })
        .await?;
    audit::record(
        state,
        Entry::new(Action::LoginSucceeded, true, "service-key").by(&p),
    )
    .await?;
    Ok(LoginResponse {
        token,
        expires_at: at(expires),
        practitioner_id: p.id,
        key_bundle: String::new(),
    })
}

pub async fn logout(state: &AppState, caller: &Caller) -> ApiResult<()> {
    let revoked = state.store.revoke_session(&caller.token_hash).await;
    state.invalidate_sessions().await;
    revoked?;
    state.streams.end_session(caller.id(), &caller.token_hash);
    audit::record(
        state,
        Entry::new(Action::Logout, true, "session").by(&caller.practitioner),
    )
    .await
}

pub async fn me(state: &AppState, caller: &Caller) -> ApiResult<Me> {
    let p = &caller.practitioner;
    let inst = institution(state, p.institution_id).await?;
    let alliance_wrap = match (&inst.alliance_wrap, inst.alliance_wrap_epoch) {
        (Some(w), Some(e)) if p.status == PractitionerStatus::Certified => Some(EpochWrap {
            epoch: e,
            wrap: w.clone(),
        }),
        _ => None,
    };
    Ok(Me {
        public: public_of(state, p).await?,
        details: p.details.clone(),
        keyring_wrap: p.keyring_wrap.clone(),
        alliance_wrap,
    })
}

/// Admins act only on their own institution (the policy's [`crate::policy::administer`]).
fn require_admin_of(caller: &Caller, institution: InstitutionId) -> ApiResult<()> {
    super::allow(crate::policy::administer(
        &crate::policy::Who::from(caller),
        institution,
    ))
}

pub async fn create_enrolment(
    state: &AppState,
    caller: &Caller,
    inst: InstitutionId,
    details: NewEnrolment,
) -> ApiResult<EnrolmentCode> {
    require_admin_of(caller, inst)?;
    let details = check_enrolment(&details)?;
    let (row, code) = invitation(state, inst, details, false);
    state.store.create_practitioner(&row).await?;
    Ok(code)
}

pub async fn pending(
    state: &AppState,
    caller: &Caller,
    inst: InstitutionId,
) -> ApiResult<Vec<PendingPractitioner>> {
    require_admin_of(caller, inst)?;
    Ok(state
        .store
        .practitioners_of(inst, Some(PractitionerStatus::Enrolled))
        .await?
        .into_iter()
        .map(|p| PendingPractitioner {
            practitioner_id: p.id,
            details: p.details,
            sign_public: p.sign_public.unwrap_or_default(),
            recipient: p.recipient.unwrap_or_default(),
        })
        .collect())
}

/// The alliance's certified clinicians, for choosing whom to share with (names, professions,
/// registrations and public keys are public to members: see docs/security.md). Clients verify
/// each certificate against the pinned root before showing it.
pub async fn directory(state: &AppState, caller: &Caller) -> ApiResult<Vec<PractitionerPublic>> {
    super::patients::require_clinician(caller)?;
    let mut out = Vec::new();
    for i in state.store.institutions().await? {
        for p in state
            .store
            .practitioners_of(i.id, Some(PractitionerStatus::Certified))
            .await?
        {
            if crate::policy::receive_share(&crate::policy::Who::from(&p)).is_ok() {
                out.push(public_of(state, &p).await?);
            }
        }
    }
    Ok(out)
}

/// Certified members of the institution (for key rotation).
pub async fn members(
    state: &AppState,
    caller: &Caller,
    inst: InstitutionId,
) -> ApiResult<Vec<PractitionerPublic>> {
    require_admin_of(caller, inst)?;
    let mut out = Vec::new();
    for p in state
        .store
        .practitioners_of(inst, Some(PractitionerStatus::Certified))
        .await?
    {
        out.push(public_of(state, &p).await?);
    }
    Ok(out)
}

pub async fn certify(
    state: &AppState,
    caller: &Caller,
    id: PractitionerId,
    req: CertifyRequest,
) -> ApiResult<()> {
    let p = state
        .store
        .practitioner(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    require_admin_of(caller, p.institution_id)?;
    if p.status != PractitionerStatus::Enrolled {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "only an enrolled, uncertified practitioner can be certified",
        ));
    }
    let inst = institution(state, p.institution_id).await?;
    let inst_key = inst.sign_public.ok_or_else(ApiError::internal)?;
    let cert: PractitionerCert = verify(&req.cert, &inst_key)?;
    check_cert_matches(
        &cert,
        &p,
        p.sign_public.as_deref().unwrap_or_default(),
        p.recipient.as_deref().unwrap_or_default(),
    )?;
    decode_b64(
        &req.keyring_wrap,
        MAX_WRAP,
        "keyring wrap is not base64 or too large",
    )?;
    let certified = state
        .store
        .certify_practitioner(id, &req.cert, &req.keyring_wrap)
        .await;
    state.invalidate_all().await;
    certified?;
    audit::record(
        state,
        Entry::new(Action::Certify, true, "institution-admin").by(&caller.practitioner),
    )
    .await?;
    state
        .notifier
        .publish(
            &state.store,
            id,
            EventKind::Certified {
                practitioner_id: id,
            },
        )
        .await;
    Ok(())
}

pub async fn remove(
    state: &AppState,
    caller: &Caller,
    id: PractitionerId,
    req: RemoveMemberRequest,
) -> ApiResult<()> {
    let p = state
        .store
        .practitioner(id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let who = crate::policy::Who::from(caller);
    match crate::policy::remove_member(&who, &crate::policy::Who::from(&p)) {
        Err("administrator-removes-themselves") => {
            return Err(ApiError::bad_request(
                "an administrator cannot remove themselves",
            ));
        }
        other => super::allow(other)?,
    }
    let inst = institution(state, p.institution_id).await?;
    let inst_key = inst.sign_public.ok_or_else(ApiError::internal)?;
    let epoch: InstitutionEpochKey = verify(&req.new_epoch, &inst_key)?;
    let current = state.store.institution_epochs(inst.id).await?.len() as u32;
    if epoch.institution_id != inst.id || epoch.epoch != current + 1 {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "the new key must be the next epoch of this institution",
        ));
    }
    check_recipient(&epoch.recipient)?;
    let revoked: PractitionerRevocation = verify(&req.revocation, &inst_key)?;
    if revoked.practitioner_id != id || revoked.institution_id != inst.id {
        return Err(ApiError::bad_request(
            "the revocation must name the member removed and their institution",
        ));
    }
    let remaining: BTreeSet<PractitionerId> = state
        .store
        .practitioners_of(inst.id, Some(PractitionerStatus::Certified))
        .await?
        .into_iter()
        .map(|m| m.id)
        .filter(|m| *m != id)
        .collect();
    let given: BTreeSet<PractitionerId> = req.keyrings.iter().map(|k| k.practitioner_id).collect();
    if remaining != given {
        return Err(ApiError::with(
            ErrorCode::Conflict,
            "a new keyring is needed for exactly every remaining member",
        ));
    }
    for k in &req.keyrings {
        decode_b64(&k.wrap, MAX_WRAP, "keyring wrap is not base64 or too large")?;
    }
    decode_b64(
        &req.alliance_wrap,
        MAX_WRAP,
        "alliance wrap is not base64 or too large",
    )?;
    let removed = state
        .store
        .remove_practitioner(&Removal {
            practitioner: id,
            institution: inst.id,
            new_epoch: epoch.epoch,
            statement: req.new_epoch,
            revocation: req.revocation,
            keyrings: req
                .keyrings
                .into_iter()
                .map(|k| (k.practitioner_id, k.wrap))
                .collect(),
            alliance_wrap: req.alliance_wrap,
            now: state.now(),
        })
        .await;
    state.invalidate_all().await;
    removed?;
    state.streams.end_practitioner(id);
    audit::record(
        state,
        Entry::new(Action::RemoveMember, true, "institution-admin").by(&caller.practitioner),
    )
    .await
}
