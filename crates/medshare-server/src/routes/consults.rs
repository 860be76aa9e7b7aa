//! Urgent consult and on-call list routes: thin handlers over [`crate::services::consults`].

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::services::consults as svc;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medshare_model::consults::{ConsultAnswer, ConsultView, NewConsult, OncallList, OncallListSet};
use medshare_model::{ConsultId, InstitutionId};

/// An institution's on-call lists.
#[utoipa::path(get, path = "/v1/institutions/{id}/oncall", tag = "consults", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = Vec<OncallList>)))]
pub async fn oncalls(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<InstitutionId>,
) -> ApiResult<Json<Vec<OncallList>>> {
    Ok(Json(svc::oncalls(&s, &caller, id).await?))
}

/// One on-call list: its members in order, then its owner.
#[utoipa::path(get, path = "/v1/institutions/{id}/oncall/{name}", tag = "consults", security(("bearer" = [])), params(("id" = String, Path), ("name" = String, Path)), responses((status = 200, body = OncallList), (status = 404, body = medshare_model::Problem)))]
pub async fn oncall(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(InstitutionId, String)>,
) -> ApiResult<Json<OncallList>> {
    Ok(Json(svc::oncall(&s, &caller, id, &name).await?))
}

/// Set or replace an on-call list (the institution's administrators).
#[utoipa::path(put, path = "/v1/institutions/{id}/oncall/{name}", tag = "consults", security(("bearer" = [])), params(("id" = String, Path), ("name" = String, Path)), request_body = OncallListSet, responses((status = 200, body = OncallList), (status = 403, body = medshare_model::Problem)))]
pub async fn set_oncall(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(InstitutionId, String)>,
    Json(req): Json<OncallListSet>,
) -> ApiResult<Json<OncallList>> {
    Ok(Json(svc::set_oncall(&s, &caller, id, &name, req).await?))
}

/// Ask a consult of a colleague or an on-call list.
#[utoipa::path(post, path = "/v1/consults", tag = "consults", security(("bearer" = [])), request_body = NewConsult, responses((status = 201, body = ConsultView), (status = 409, body = medshare_model::Problem), (status = 413, body = medshare_model::Problem)))]
pub async fn request(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<NewConsult>,
) -> ApiResult<(StatusCode, Json<ConsultView>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::request(&s, &caller, req).await?),
    ))
}

/// Consults the caller asked or was reached by.
#[utoipa::path(get, path = "/v1/consults", tag = "consults", security(("bearer" = [])), responses((status = 200, body = Vec<ConsultView>)))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ConsultView>>> {
    Ok(Json(svc::list(&s, &caller).await?))
}

/// One consult with its history.
#[utoipa::path(get, path = "/v1/consults/{id}", tag = "consults", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = ConsultView), (status = 404, body = medshare_model::Problem)))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<ConsultId>,
) -> ApiResult<Json<ConsultView>> {
    Ok(Json(svc::get(&s, &caller, id).await?))
}

/// Acknowledge a consult that reached the caller.
#[utoipa::path(post, path = "/v1/consults/{id}/ack", tag = "consults", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = ConsultView), (status = 403, body = medshare_model::Problem), (status = 409, body = medshare_model::Problem)))]
pub async fn ack(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<ConsultId>,
) -> ApiResult<Json<ConsultView>> {
    Ok(Json(svc::ack(&s, &caller, id).await?))
}

/// Record the room the consult is answered in.
#[utoipa::path(post, path = "/v1/consults/{id}/answer", tag = "consults", security(("bearer" = [])), params(("id" = String, Path)), request_body = ConsultAnswer, responses((status = 200, body = ConsultView), (status = 409, body = medshare_model::Problem)))]
pub async fn answer(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<ConsultId>,
    Json(req): Json<ConsultAnswer>,
) -> ApiResult<Json<ConsultView>> {
    Ok(Json(svc::answer(&s, &caller, id, req).await?))
}
