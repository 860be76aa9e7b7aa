//! Liveness and readiness.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use medshare_model::api::Health;

fn health_body() -> Health {
    Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(health_body())
}

/// The hub can reach its metadata store.
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, body = Health), (status = 503, body = medshare_model::Problem)))]
pub async fn ready(State(s): State<AppState>) -> ApiResult<Json<Health>> {
    s.store.ping().await.map_err(ApiError::from)?;
    Ok(Json(health_body()))
}
