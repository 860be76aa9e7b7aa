//! Audit routes.

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::services::audit as svc;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use medshare_audit::api::{DataAccessExport, HeadResponse, InclusionResponse};
use medshare_audit::{LoggedEntry, SignedTreeHead, VisibleEntry};
use medshare_model::api::{BreakGlassRecord, PatientContact};
use medshare_model::{PatientId, PractitionerId};
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HeadQuery {
    /// A tree size the caller verified before: the response proves the log only grew since.
    pub from: Option<u64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Return items after this sequence number or tree size.
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    pub patient: Option<PatientId>,
    pub practitioner: Option<PractitionerId>,
    /// Unix seconds.
    pub since: Option<i64>,
    #[serde(default)]
    pub after: i64,
    pub limit: Option<i64>,
}

/// The current signed tree head and a consistency proof from a size seen before. Any session
/// may ask (it reveals only the number of entries and a hash); sessions are required because
/// a head may be signed on demand.
#[utoipa::path(get, path = "/v1/audit/head", tag = "audit", security(("bearer" = [])), params(HeadQuery), responses((status = 200, body = HeadResponse)))]
pub async fn head(
    State(s): State<AppState>,
    _caller: Caller,
    Query(q): Query<HeadQuery>,
) -> ApiResult<Json<HeadResponse>> {
    Ok(Json(svc::head(&s, q.from).await?))
}

/// Every signed head after a size (auditors).
#[utoipa::path(get, path = "/v1/audit/heads", tag = "audit", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = Vec<SignedTreeHead>)))]
pub async fn heads(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<SignedTreeHead>>> {
    Ok(Json(
        svc::heads(&s, &caller, q.after.max(0) as u64, q.limit).await?,
    ))
}

/// Every position of the log in order, for rebuilding the tree (auditors): entries in the
/// auditor's institution's scope in full, the others as `{seq, leaf}` only.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = Vec<VisibleEntry>)))]
pub async fn entries(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Vec<VisibleEntry>>> {
    Ok(Json(svc::entries(&s, &caller, q.after, q.limit).await?))
}

/// One entry with its inclusion proof against the current signed head (auditors).
#[utoipa::path(get, path = "/v1/audit/inclusion/{seq}", tag = "audit", security(("bearer" = [])), params(("seq" = i64, Path)), responses((status = 200, body = InclusionResponse)))]
pub async fn inclusion(
    State(s): State<AppState>,
    caller: Caller,
    Path(seq): Path<i64>,
) -> ApiResult<Json<InclusionResponse>> {
    Ok(Json(svc::inclusion(&s, &caller, seq).await?))
}

/// The privacy officer's view of the log.
#[utoipa::path(get, path = "/v1/audit/log", tag = "audit", security(("bearer" = [])), params(LogQuery), responses((status = 200, body = Vec<LoggedEntry>)))]
pub async fn log(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<Vec<LoggedEntry>>> {
    Ok(Json(
        svc::search(
            &s,
            &caller,
            q.patient,
            q.practitioner,
            q.since,
            q.after,
            q.limit,
        )
        .await?,
    ))
}

/// A patient's documents and access history, for a data access request (privacy officers).
#[utoipa::path(get, path = "/v1/audit/patients/{id}/export", tag = "audit", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = DataAccessExport)))]
pub async fn export(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
) -> ApiResult<Json<DataAccessExport>> {
    Ok(Json(svc::export(&s, &caller, id).await?))
}

/// A break-glass record with its sealed reason (the practitioner's privacy officers).
#[utoipa::path(get, path = "/v1/audit/break-glass/{id}", tag = "audit", security(("bearer" = [])), params(("id" = i64, Path)), responses((status = 200, body = BreakGlassRecord)))]
pub async fn break_glass(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<BreakGlassRecord>> {
    Ok(Json(svc::break_glass(&s, &caller, id).await?))
}

/// Register where the patient is told about reads of their records.
#[utoipa::path(put, path = "/v1/patients/{id}/contact", tag = "patients", security(("bearer" = [])), params(("id" = String, Path)), request_body = PatientContact, responses((status = 204)))]
pub async fn set_contact(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
    Json(c): Json<PatientContact>,
) -> ApiResult<StatusCode> {
    svc::set_contact(&s, &caller, id, c).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop access notices for the patient.
#[utoipa::path(delete, path = "/v1/patients/{id}/contact", tag = "patients", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 204)))]
pub async fn clear_contact(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PatientId>,
) -> ApiResult<StatusCode> {
    svc::clear_contact(&s, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
