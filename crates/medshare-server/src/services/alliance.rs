//! Alliance set-up: the one-time bootstrap of the root key and the commands only the root may
//! sign (registering and certifying institutions).

use super::{MAX_WRAP, check_recipient, decode_b64, verify};
use crate::audit::{self, Action, Entry};
use crate::auth::{new_enrolment_code, normalize_code, token_hash};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, at};
use medshare_model::api::{
    AllianceInfo, BootstrapRequest, EnrolmentCode, NewEnrolment, RootCommandRequest,
};
use medshare_model::registration::Role;
use medshare_model::statements::{
    AllianceKey, InstitutionCert, RootAction, RootCommand, decode_key, fingerprint,
};
use medshare_model::{ErrorCode, PractitionerId};
use medshare_store::{InstitutionRow, NewPractitioner};

/// Root commands older or newer than this (seconds) are refused.
const COMMAND_WINDOW: i64 = 300;

pub async fn info(state: &AppState) -> ApiResult<AllianceInfo> {
    let a = state.store.alliance().await?.ok_or(ApiError::with(
        ErrorCode::Unavailable,
        "the alliance is not initialised yet: run `medshare admin init`",
    ))?;
    let public = decode_key(&a.root_public).ok_or_else(ApiError::internal)?;
    Ok(AllianceInfo {
        root_fingerprint: fingerprint(&public),
        root_public: a.root_public,
        alliance_key: a.alliance_key,
    })
}

pub async fn bootstrap(state: &AppState, req: BootstrapRequest) -> ApiResult<()> {
    let expected = state
        .bootstrap_token
        .lock()
        .map_err(|_| ApiError::internal())?
        .clone();
    let Some(expected) = expected else {
        return Err(ApiError::new(ErrorCode::AlreadyBootstrapped));
    };
    let given = token_hash(req.bootstrap_token.trim());
    if given != token_hash(expected.as_str()) {
        audit::record(state, Entry::new(Action::Bootstrap, false, "bad-token")).await?;
        return Err(ApiError::new(ErrorCode::InvalidCredentials));
    }
    decode_key(&req.root_public).ok_or(ApiError::bad_request(
        "root key is not a base64 Ed25519 key",
    ))?;
    let key: AllianceKey = verify(&req.alliance_key, &req.root_public)?;
    check_recipient(&key.recipient)?;
    state
        .store
        .bootstrap(&req.root_public, &req.alliance_key, state.now())
        .await
        .map_err(|e| match e {
            medshare_store::StoreError::Conflict => ApiError::new(ErrorCode::AlreadyBootstrapped),
            other => other.into(),
        })?;
    *state
        .bootstrap_token
        .lock()
        .map_err(|_| ApiError::internal())? = None;
    let _ = std::fs::remove_file(state.config.data_dir.join("bootstrap-token"));
    audit::record(
        state,
        Entry::new(Action::Bootstrap, true, "bootstrap-token"),
    )
    .await?;
    Ok(())
}

/// Validate enrolment details: handle, name and the registration number for the profession.
pub fn check_enrolment(d: &NewEnrolment) -> ApiResult<NewEnrolment> {
    let name = d.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request("name must be 1-200 characters"));
    }
    let registration = d
        .profession
        .validate_registration(&d.registration)
        .map_err(|_| {
            ApiError::bad_request("registration number does not match the profession's format")
        })?;
    if d.specialty
        .as_ref()
        .is_some_and(|s| s.chars().count() > 100)
    {
        return Err(ApiError::bad_request(
            "specialty must be at most 100 characters",
        ));
    }
    if d.roles.is_empty() {
        return Err(ApiError::bad_request("at least one role is required"));
    }
    if d.roles.contains(&Role::Clinician) && !d.profession.is_clinical() {
        return Err(ApiError::bad_request(
            "administrative staff cannot hold the clinician role",
        ));
    }
    // A service (gateway) files records for its institution: it never administers or audits.
    if d.profession.is_service() && d.roles != [Role::Clinician] {
        return Err(ApiError::bad_request(
            "a service identity holds the clinician role only",
        ));
    }
    Ok(NewEnrolment {
        name: name.to_string(),
        registration,
        ..d.clone()
    })
}

/// A fresh invitation row and the code to hand over.
pub fn invitation(
    state: &AppState,
    institution: medshare_model::InstitutionId,
    details: NewEnrolment,
    creates_institution_keys: bool,
) -> (NewPractitioner, EnrolmentCode) {
    let code = new_enrolment_code();
    let expires = state.now() + state.config.auth.enrolment_ttl_secs;
    let id = PractitionerId::new();
    (
        NewPractitioner {
            id,
            institution_id: institution,
            details,
            enrolment_hash: token_hash(&normalize_code(&code)),
            enrolment_expires: expires,
            creates_institution_keys,
            created_at: state.now(),
        },
        EnrolmentCode {
            practitioner_id: id,
            code,
            expires_at: at(expires),
        },
    )
}

/// Outcome of a root command.
pub enum RootOutcome {
    Enrolment(EnrolmentCode),
    Done,
}

pub async fn command(state: &AppState, req: RootCommandRequest) -> ApiResult<RootOutcome> {
    let alliance = state
        .store
        .alliance()
        .await?
        .ok_or(ApiError::new(ErrorCode::Unavailable))?;
    let cmd: RootCommand = verify(&req.command, &alliance.root_public)?;
    if (cmd.issued_at - state.now()).abs() > COMMAND_WINDOW {
        return Err(ApiError::with(
            ErrorCode::BadSignature,
            "the command is too old or from the future: check the clock",
        ));
    }
    if cmd.nonce.len() < 16
        || cmd.nonce.len() > 128
        || !state.store.use_root_nonce(&cmd.nonce, state.now()).await?
    {
        return Err(ApiError::with(
            ErrorCode::BadSignature,
            "the command was already used",
        ));
    }
    let outcome = match cmd.action {
        RootAction::AddInstitution {
            institution_id,
            name,
            code,
            admin,
        } => {
            let name = name.trim().to_string();
            let code = code.trim().to_ascii_uppercase();
            if name.is_empty() || name.len() > 200 {
                return Err(ApiError::bad_request(
                    "institution name must be 1-200 characters",
                ));
            }
            if !(2..=16).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(ApiError::bad_request(
                    "institution code must be 2-16 letters or digits",
                ));
            }
            let mut admin = check_enrolment(&admin)?;
            if !admin.roles.contains(&Role::InstitutionAdmin) {
                admin.roles.push(Role::InstitutionAdmin);
            }
            let (invite, code_out) = invitation(state, institution_id, admin, true);
            let row = InstitutionRow {
                id: institution_id,
                name,
                code,
                sign_public: None,
                cert: None,
                alliance_wrap: None,
                alliance_wrap_epoch: None,
                created_at: state.now(),
            };
            state.store.create_institution(&row, &invite).await?;
            RootOutcome::Enrolment(code_out)
        }
        RootAction::CertifyInstitution {
            cert,
            alliance_wrap,
        } => {
            let claimed: InstitutionCert = verify(&cert, &alliance.root_public)?;
            let inst = state
                .store
                .institution(claimed.institution_id)
                .await?
                .ok_or_else(ApiError::not_found)?;
            // The root certifies the key the institution's first admin created, nothing else.
            if inst.sign_public.as_deref() != Some(claimed.sign_public.as_str())
                || inst.name != claimed.name
                || inst.code != claimed.code
            {
                return Err(ApiError::with(
                    ErrorCode::Conflict,
                    "the certificate does not match the institution's registered key",
                ));
            }
            decode_b64(&alliance_wrap, MAX_WRAP, "alliance wrap is not base64")?;
            let epochs = state.store.institution_epochs(inst.id).await?;
            let epoch = epochs.len() as u32;
            if epoch == 0 {
                return Err(ApiError::with(
                    ErrorCode::Conflict,
                    "the institution has no keys yet",
                ));
            }
            let certified = state
                .store
                .certify_institution(inst.id, &cert, &alliance_wrap, epoch)
                .await;
            // Search pages carry institution certificates.
            state.invalidate_all().await;
            certified?;
            RootOutcome::Done
        }
    };
    audit::record(
        state,
        Entry::new(Action::RootCommand, true, "root-signature"),
    )
    .await?;
    Ok(outcome)
}
