//! Urgent consult, on-call list and notification channel routes: thin handlers over
//! [`crate::services::consults`] and [`crate::services::channels`].

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::services::channels as channels_svc;
use crate::services::consults as svc;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medshare_model::consults::{
    ChannelCreated, ChannelView, ConsultAnswer, ConsultView, NewChannel, NewConsult, OncallList,
    OncallListSet, VapidKey,
};
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

/// The caller's notification channels, with their delivery record (failures included).
#[utoipa::path(get, path = "/v1/notify/channels", tag = "consults", security(("bearer" = [])), responses((status = 200, body = Vec<ChannelView>)))]
pub async fn channels(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ChannelView>>> {
    Ok(Json(channels_svc::list(&s, &caller).await?))
}

/// The hub's VAPID public key: the `applicationServerKey` a browser subscribes with before
/// adding a `web-push` channel.
#[utoipa::path(get, path = "/v1/notify/vapid", tag = "consults", security(("bearer" = [])), responses((status = 200, body = VapidKey)))]
pub async fn vapid(State(s): State<AppState>, _caller: Caller) -> Json<VapidKey> {
    Json(VapidKey {
        public_key: s.vapid.public_key().to_string(),
    })
}

/// Add a notification channel (a signed webhook, a DingTalk robot, a chat incoming webhook,
/// an e-mail address or a Web Push subscription).
#[utoipa::path(post, path = "/v1/notify/channels", tag = "consults", security(("bearer" = [])), request_body = NewChannel, responses((status = 201, body = ChannelCreated), (status = 400, body = medshare_model::Problem), (status = 409, body = medshare_model::Problem)))]
pub async fn add_channel(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<NewChannel>,
) -> ApiResult<(StatusCode, Json<ChannelCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(channels_svc::add(&s, &caller, req).await?),
    ))
}

/// Remove one of the caller's channels.
#[utoipa::path(delete, path = "/v1/notify/channels/{id}", tag = "consults", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 204), (status = 404, body = medshare_model::Problem)))]
pub async fn remove_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<StatusCode> {
    channels_svc::remove(&s, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test notification on one of the caller's channels (queued like any other).
#[utoipa::path(post, path = "/v1/notify/channels/{id}/test", tag = "consults", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 202), (status = 404, body = medshare_model::Problem)))]
pub async fn test_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<uuid::Uuid>,
) -> ApiResult<StatusCode> {
    channels_svc::test(&s, &caller, id).await?;
    Ok(StatusCode::ACCEPTED)
}
