//! Identity routes: institutions, enrolment, certification, login and sessions.

use crate::auth::{Caller, ClientAddr};
use crate::error::{ApiError, ApiResult};
use crate::services::identity as svc;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medshare_model::api::*;
use medshare_model::{Handle, InstitutionId, PractitionerId};

/// Every institution with its public keys and certificates.
#[utoipa::path(get, path = "/v1/institutions", tag = "identity", responses((status = 200, body = Vec<InstitutionKeys>)))]
pub async fn institutions(State(s): State<AppState>) -> ApiResult<Json<Vec<InstitutionKeys>>> {
    Ok(Json(svc::institutions(&s).await?))
}

/// One institution's public keys and certificates.
#[utoipa::path(get, path = "/v1/institutions/{id}", tag = "identity", params(("id" = String, Path)), responses((status = 200, body = InstitutionKeys)))]
pub async fn institution(
    State(s): State<AppState>,
    Path(id): Path<InstitutionId>,
) -> ApiResult<Json<InstitutionKeys>> {
    Ok(Json(svc::institution_keys(&s, id).await?))
}

/// What an enrolment code is for.
#[utoipa::path(post, path = "/v1/enrolments/lookup", tag = "identity", request_body = EnrolmentLookup, responses((status = 200, body = EnrolmentInfo)))]
pub async fn lookup_enrolment(
    State(s): State<AppState>,
    Json(req): Json<EnrolmentLookup>,
) -> ApiResult<Json<EnrolmentInfo>> {
    Ok(Json(svc::lookup_enrolment(&s, &req.code).await?))
}

/// Redeem an enrolment code with client-generated keys.
#[utoipa::path(post, path = "/v1/enrolments/redeem", tag = "identity", request_body = RedeemEnrolment, responses((status = 201, body = Enrolled)))]
pub async fn redeem(
    State(s): State<AppState>,
    Json(req): Json<RedeemEnrolment>,
) -> ApiResult<(StatusCode, Json<Enrolled>)> {
    Ok((StatusCode::CREATED, Json(svc::redeem(&s, req).await?)))
}

/// The passphrase KDF parameters for a handle.
#[utoipa::path(post, path = "/v1/auth/prelogin", tag = "auth", request_body = PreloginRequest, responses((status = 200, body = KdfParams)))]
pub async fn prelogin(
    State(s): State<AppState>,
    Json(req): Json<PreloginRequest>,
) -> ApiResult<Json<KdfParams>> {
    Ok(Json(svc::prelogin(&s, &req.handle).await?))
}

/// Log in with the derived credential and a TOTP code.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, body = LoginResponse), (status = 401, body = medshare_model::Problem), (status = 429, body = medshare_model::Problem)))]
pub async fn login(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(svc::login(&s, addr, req).await?))
}

/// A service identity (an institution gateway) opens a session with a statement signed by its
/// certified key.
#[utoipa::path(post, path = "/v1/auth/service-login", tag = "auth", request_body = ServiceLoginRequest, responses((status = 200, body = LoginResponse), (status = 401, body = medshare_model::Problem), (status = 429, body = medshare_model::Problem)))]
pub async fn service_login(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(req): Json<ServiceLoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    Ok(Json(svc::service_login(&s, addr, req).await?))
}

/// Revoke the current session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 204)))]
pub async fn logout(State(s): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    svc::logout(&s, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account, certificate and sealed keyring.
#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])), responses((status = 200, body = Me)))]
pub async fn me(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    Ok(Json(svc::me(&s, &caller).await?))
}

/// A practitioner's public keys and certificates.
#[utoipa::path(get, path = "/v1/practitioners/{id}", tag = "identity", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = PractitionerPublic)))]
pub async fn practitioner(
    State(s): State<AppState>,
    _caller: Caller,
    Path(id): Path<PractitionerId>,
) -> ApiResult<Json<PractitionerPublic>> {
    Ok(Json(svc::practitioner(&s, id).await?))
}

/// The alliance's certified clinicians (to choose whom to share with).
#[utoipa::path(get, path = "/v1/practitioners", tag = "identity", security(("bearer" = [])), responses((status = 200, body = Vec<PractitionerPublic>)))]
pub async fn directory(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PractitionerPublic>>> {
    Ok(Json(svc::directory(&s, &caller).await?))
}

/// Find a practitioner by handle.
#[utoipa::path(get, path = "/v1/practitioners/by-handle/{handle}", tag = "identity", security(("bearer" = [])), params(("handle" = String, Path)), responses((status = 200, body = PractitionerPublic)))]
pub async fn practitioner_by_handle(
    State(s): State<AppState>,
    _caller: Caller,
    Path(handle): Path<String>,
) -> ApiResult<Json<PractitionerPublic>> {
    let handle: Handle = handle.parse().map_err(|_| ApiError::not_found())?;
    Ok(Json(svc::practitioner_by_handle(&s, &handle).await?))
}

/// An institution admin invites a practitioner.
#[utoipa::path(post, path = "/v1/institutions/{id}/enrolments", tag = "identity", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewEnrolment, responses((status = 201, body = EnrolmentCode)))]
pub async fn create_enrolment(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<InstitutionId>,
    Json(req): Json<NewEnrolment>,
) -> ApiResult<(StatusCode, Json<EnrolmentCode>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create_enrolment(&s, &caller, id, req).await?),
    ))
}

/// Enrolled practitioners waiting for certification.
#[utoipa::path(get, path = "/v1/institutions/{id}/pending", tag = "identity", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = Vec<PendingPractitioner>)))]
pub async fn pending(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<InstitutionId>,
) -> ApiResult<Json<Vec<PendingPractitioner>>> {
    Ok(Json(svc::pending(&s, &caller, id).await?))
}

/// Certified members of an institution (administrators only).
#[utoipa::path(get, path = "/v1/institutions/{id}/members", tag = "identity", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = Vec<PractitionerPublic>)))]
pub async fn members(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<InstitutionId>,
) -> ApiResult<Json<Vec<PractitionerPublic>>> {
    Ok(Json(svc::members(&s, &caller, id).await?))
}

/// Certify a practitioner's keys (the real-name verification step).
#[utoipa::path(post, path = "/v1/practitioners/{id}/certify", tag = "identity", security(("bearer" = [])), params(("id" = String, Path)), request_body = CertifyRequest, responses((status = 204)))]
pub async fn certify(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PractitionerId>,
    Json(req): Json<CertifyRequest>,
) -> ApiResult<StatusCode> {
    svc::certify(&s, &caller, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member and rotate the institution key.
#[utoipa::path(post, path = "/v1/practitioners/{id}/remove", tag = "identity", security(("bearer" = [])), params(("id" = String, Path)), request_body = RemoveMemberRequest, responses((status = 204)))]
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PractitionerId>,
    Json(req): Json<RemoveMemberRequest>,
) -> ApiResult<StatusCode> {
    svc::remove(&s, &caller, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
