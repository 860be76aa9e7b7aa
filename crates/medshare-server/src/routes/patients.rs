//! Patient routes.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::services::patients as svc;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medshare_model::PatientId;
use medshare_model::api::*;

/// Register a patient under keyed-hash references.
#[utoipa::path(post, path = "/v1/patients", tag = "patients", security(("bearer" = [])), request_body = NewPatient, responses((status = 201, body = PatientView), (status = 409, body = medshare_model::Problem)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<NewPatient>,
) -> ApiResult<(StatusCode, Json<PatientView>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, req).await?),
    ))
}

/// Find a patient by keyed-hash references.
#[utoipa::path(post, path = "/v1/patients/lookup", tag = "patients", security(("bearer" = [])), request_body = PatientLookup, responses((status = 200, body = PatientView)))]
pub async fn lookup(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<PatientLookup>,
) -> ApiResult<Json<PatientView>> {
    Ok(Json(svc::lookup(&s, &caller, req).await?))
}

/// One page of the documents of a patient the caller may read, newest first (`cursor` for the
/// next page, `since` for what changed after an earlier view).
#[utoipa::path(post, path = "/v1/search", tag = "patients", security(("bearer" = [])), request_body = SearchRequest, responses((status = 200, body = SearchResult), (status = 400, body = medshare_model::Problem)))]
pub async fn search(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<SearchRequest>,
) -> ApiResult<impl axum::response::IntoResponse> {
    // Encoded by the service (a `SearchResult`), which may answer from its page cache.
    let body = crate::services::search::search(&s, &caller, req).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    ))
}

/// Record the patient's consent to share with an institution or the alliance.
#[utoipa::path(post, path = "/v1/patients/{id}/consent", tag = "patients", security(("bearer" = [])), params(("id" = String, Path)), request_body = ConsentGrant, responses((status = 204)))]
pub async fn grant_consent(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
    Json(req): Json<ConsentGrant>,
) -> ApiResult<StatusCode> {
    svc::grant_consent(&s, &caller, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Withdraw consent; the patient key moves to a new epoch.
#[utoipa::path(post, path = "/v1/patients/{id}/consent/revoke", tag = "patients", security(("bearer" = [])), params(("id" = String, Path)), request_body = ConsentRevoke, responses((status = 204)))]
pub async fn revoke_consent(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
    Json(req): Json<ConsentRevoke>,
) -> ApiResult<StatusCode> {
    svc::revoke_consent(&s, &caller, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Declare a care relationship.
#[utoipa::path(post, path = "/v1/patients/{id}/care", tag = "patients", security(("bearer" = [])), params(("id" = String, Path)), request_body = CareRequest, responses((status = 204)))]
pub async fn declare_care(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
    Json(req): Json<CareRequest>,
) -> ApiResult<StatusCode> {
    svc::declare_care(&s, &caller, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open time-limited emergency access, with a reason; privacy officers are told.
#[utoipa::path(post, path = "/v1/patients/{id}/break-glass", tag = "patients", security(("bearer" = [])), params(("id" = String, Path)), request_body = BreakGlassRequest, responses((status = 201, body = BreakGlassGranted)))]
pub async fn break_glass(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
    Json(req): Json<BreakGlassRequest>,
) -> ApiResult<(StatusCode, Json<BreakGlassGranted>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::break_glass(&s, &caller, id, req).await?),
    ))
}
