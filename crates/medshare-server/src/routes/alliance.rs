//! Alliance routes.

use crate::error::ApiResult;
use crate::services::alliance::{self, RootOutcome};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use medshare_model::api::{AllianceInfo, BootstrapRequest, EnrolmentCode, RootCommandRequest};

/// The alliance root key clients pin on first contact.
#[utoipa::path(get, path = "/v1/alliance", tag = "alliance", responses((status = 200, body = AllianceInfo)))]
pub async fn info(State(s): State<AppState>) -> ApiResult<Json<AllianceInfo>> {
    Ok(Json(alliance::info(&s).await?))
}

/// One-time: install the alliance root key, proven by the token in the hub's data folder.
#[utoipa::path(post, path = "/v1/alliance/bootstrap", tag = "alliance", request_body = BootstrapRequest, responses((status = 204), (status = 409, body = medshare_model::Problem)))]
pub async fn bootstrap(
    State(s): State<AppState>,
    Json(req): Json<BootstrapRequest>,
) -> ApiResult<StatusCode> {
    alliance::bootstrap(&s, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A command signed by the alliance root (register or certify an institution).
#[utoipa::path(post, path = "/v1/alliance/commands", tag = "alliance", request_body = RootCommandRequest, responses((status = 201, body = EnrolmentCode), (status = 204)))]
pub async fn command(
    State(s): State<AppState>,
    Json(req): Json<RootCommandRequest>,
) -> ApiResult<Response> {
    Ok(match alliance::command(&s, req).await? {
        RootOutcome::Enrolment(code) => (StatusCode::CREATED, Json(code)).into_response(),
        RootOutcome::Done => StatusCode::NO_CONTENT.into_response(),
    })
}
