//! Case room routes (the MLS delivery service): thin handlers over [`crate::services::rooms`].

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::services::rooms as svc;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medshare_model::api::*;
use medshare_model::{PractitionerId, RoomBlobId, RoomId};
use serde::Deserialize;

/// Publish MLS key packages (each consumed by one invitation).
#[utoipa::path(post, path = "/v1/rooms/key-packages", tag = "rooms", security(("bearer" = [])), request_body = KeyPackageUpload, responses((status = 200, body = KeyPackageCount)))]
pub async fn upload_key_packages(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<KeyPackageUpload>,
) -> ApiResult<Json<KeyPackageCount>> {
    Ok(Json(svc::upload_key_packages(&s, &caller, req).await?))
}

/// How many of the caller's key packages are waiting.
#[utoipa::path(get, path = "/v1/rooms/key-packages", tag = "rooms", security(("bearer" = [])), responses((status = 200, body = KeyPackageCount)))]
pub async fn key_package_count(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<KeyPackageCount>> {
    Ok(Json(svc::key_package_count(&s, &caller).await?))
}

/// Claim one key package of a colleague, to add them to a room.
#[utoipa::path(post, path = "/v1/practitioners/{id}/key-package", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = ClaimedKeyPackage)))]
pub async fn claim_key_package(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<PractitionerId>,
) -> ApiResult<Json<ClaimedKeyPackage>> {
    Ok(Json(svc::claim_key_package(&s, &caller, id).await?))
}

/// Open a room.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", security(("bearer" = [])), request_body = NewRoom, responses((status = 201, body = RoomView), (status = 409, body = medshare_model::Problem)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<NewRoom>,
) -> ApiResult<(StatusCode, Json<RoomView>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::create(&s, &caller, req).await?),
    ))
}

/// The caller's rooms.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", security(("bearer" = [])), responses((status = 200, body = Vec<RoomView>)))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<RoomView>>> {
    Ok(Json(svc::list(&s, &caller).await?))
}

/// One room: owner, epoch, members, read positions.
#[utoipa::path(get, path = "/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = RoomView)))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
) -> ApiResult<Json<RoomView>> {
    Ok(Json(svc::get(&s, &caller, id).await?))
}

/// Order an MLS commit for the room's current epoch (409 if it is stale).
#[utoipa::path(post, path = "/v1/rooms/{id}/commits", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), request_body = CommitPost, responses((status = 200, body = Posted), (status = 409, body = medshare_model::Problem)))]
pub async fn commit(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
    Json(req): Json<CommitPost>,
) -> ApiResult<Json<Posted>> {
    Ok(Json(svc::commit(&s, &caller, id, req).await?))
}

/// Append an MLS application message for the room's current epoch.
#[utoipa::path(post, path = "/v1/rooms/{id}/messages", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), request_body = MessagePost, responses((status = 200, body = Posted), (status = 409, body = medshare_model::Problem), (status = 413, body = medshare_model::Problem)))]
pub async fn post(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
    Json(req): Json<MessagePost>,
) -> ApiResult<Json<Posted>> {
    Ok(Json(svc::post(&s, &caller, id, req).await?))
}

/// Paging of the room's log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Page {
    #[serde(default)]
    pub after: i64,
    #[serde(default = "default_limit")]
    pub limit: i64,
}

fn default_limit() -> i64 {
    200
}

/// A page of the room's log the caller may read, oldest first.
#[utoipa::path(get, path = "/v1/rooms/{id}/entries", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path), Page), responses((status = 200, body = RoomEntries)))]
pub async fn entries(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
    Query(p): Query<Page>,
) -> ApiResult<Json<RoomEntries>> {
    Ok(Json(svc::entries(&s, &caller, id, p.after, p.limit).await?))
}

/// The MLS welcome that added the caller.
#[utoipa::path(get, path = "/v1/rooms/{id}/welcome", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = RoomWelcome)))]
pub async fn welcome(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
) -> ApiResult<Json<RoomWelcome>> {
    Ok(Json(svc::welcome(&s, &caller, id).await?))
}

/// Record how far the caller has read.
#[utoipa::path(post, path = "/v1/rooms/{id}/read", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), request_body = ReadMark, responses((status = 204)))]
pub async fn mark_read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
    Json(req): Json<ReadMark>,
) -> ApiResult<StatusCode> {
    svc::mark_read(&s, &caller, id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Store an attachment (a voice note's ciphertext) for the room's members; the hub chooses its
/// id. The key travels in the MLS message that names it.
#[utoipa::path(post, path = "/v1/rooms/{id}/blobs", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 201, body = RoomBlobStored), (status = 403, body = medshare_model::Problem), (status = 404, body = medshare_model::Problem), (status = 413, body = medshare_model::Problem)))]
pub async fn put_blob(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<RoomId>,
    body: Body,
) -> ApiResult<(StatusCode, Json<RoomBlobStored>)> {
    let stream = crate::routes::documents::body_stream(&s, body);
    Ok((
        StatusCode::CREATED,
        Json(svc::put_blob(&s, &caller, id, Box::pin(stream)).await?),
    ))
}

/// An attachment's ciphertext, for current members of the room.
#[utoipa::path(get, path = "/v1/rooms/{id}/blobs/{blob}", tag = "rooms", security(("bearer" = [])), params(("id" = String, Path), ("blob" = String, Path)), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = medshare_model::Problem), (status = 404, body = medshare_model::Problem)))]
pub async fn get_blob(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, blob)): Path<(RoomId, RoomBlobId)>,
) -> ApiResult<Response> {
    let read = svc::get_blob(&s, &caller, id, blob).await?;
    let mut res = (StatusCode::OK, Body::from_stream(read.body)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(read.len));
    Ok(res)
}
