//! HTTP routes: thin handlers that extract, call a service and map the result.

mod alliance;
pub mod app;
mod audit;
mod documents;
mod events;
mod health;
mod identity;
mod patients;
mod rooms;

use crate::error::problem_response;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use medshare_model::{ErrorCode, Problem};
use utoipa::OpenApi;

/// The OpenAPI document served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "medshare hub API", description = "End-to-end encrypted sharing of medical records. The hub stores ciphertext, signed public statements and routing metadata; it cannot read records."),
    paths(
        health::health, health::ready,
        alliance::info, alliance::bootstrap, alliance::command,
        identity::institutions, identity::institution, identity::lookup_enrolment, identity::redeem,
        identity::prelogin, identity::login, identity::service_login, identity::logout, identity::me,
        identity::practitioner, identity::practitioner_by_handle, identity::directory, identity::create_enrolment,
        identity::pending, identity::members, identity::certify, identity::remove,
        patients::create, patients::lookup, patients::search, patients::grant_consent,
        patients::revoke_consent, patients::declare_care, patients::break_glass,
        documents::stage, documents::stage_part, documents::upload_progress, documents::complete_parts, documents::commit, documents::view, documents::content,
        documents::share, documents::revoke, documents::grants,
        events::list, events::stream,
        audit::head, audit::heads, audit::entries, audit::inclusion, audit::log, audit::export,
        audit::break_glass, audit::set_contact, audit::clear_contact,
        rooms::upload_key_packages, rooms::key_package_count, rooms::claim_key_package,
        rooms::create, rooms::list, rooms::get, rooms::commit, rooms::post, rooms::entries,
        rooms::welcome, rooms::mark_read,
    ),
    components(schemas(Problem, ErrorCode)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Turn every error response that is not already a problem (framework rejections such as a
/// malformed JSON body or an unknown route) into RFC 9457 problem details, dropping the
/// framework's text, which can echo request content.
async fn problemize(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return res;
    }
    let code = match status.as_u16() {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 | 405 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        416 => ErrorCode::RangeNotSatisfiable,
        400..=499 => ErrorCode::BadRequest,
        503 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    };
    let mut p = Problem::new(code, None);
    // Keep the framework's precise status (405, 415, 422) while using our stable code.
    p.status = status.as_u16();
    problem_response(p)
}

/// The hub's router over `state`.
pub fn app(state: AppState) -> Router {
    let json_limit = state.config.limits.max_json_bytes;
    let api = Router::new()
        .route("/v1/alliance", get(alliance::info))
        .route("/v1/alliance/bootstrap", post(alliance::bootstrap))
        .route("/v1/alliance/commands", post(alliance::command))
        .route("/v1/institutions", get(identity::institutions))
        .route("/v1/institutions/{id}", get(identity::institution))
        .route(
            "/v1/institutions/{id}/enrolments",
            post(identity::create_enrolment),
        )
        .route("/v1/institutions/{id}/pending", get(identity::pending))
        .route("/v1/institutions/{id}/members", get(identity::members))
        .route("/v1/auth/logout", post(identity::logout))
        .route("/v1/me", get(identity::me))
        .route("/v1/practitioners", get(identity::directory))
        .route("/v1/practitioners/{id}", get(identity::practitioner))
        .route(
            "/v1/practitioners/by-handle/{handle}",
            get(identity::practitioner_by_handle),
        )
        .route("/v1/practitioners/{id}/certify", post(identity::certify))
        .route("/v1/practitioners/{id}/remove", post(identity::remove))
        .route("/v1/patients", post(patients::create))
        .route("/v1/patients/lookup", post(patients::lookup))
        .route("/v1/patients/{id}/consent", post(patients::grant_consent))
        .route(
            "/v1/patients/{id}/consent/revoke",
            post(patients::revoke_consent),
        )
        .route("/v1/patients/{id}/care", post(patients::declare_care))
        .route("/v1/patients/{id}/break-glass", post(patients::break_glass))
        .route("/v1/search", post(patients::search))
        .route("/v1/documents", post(documents::commit))
        .route("/v1/documents/{id}", get(documents::view))
        .route(
            "/v1/documents/{id}/grants",
            get(documents::grants).post(documents::share),
        )
        .route(
            "/v1/documents/{id}/grants/{grantee}",
            delete(documents::revoke),
        )
        .route("/v1/events", get(events::list))
        .route(
            "/v1/rooms/key-packages",
            get(rooms::key_package_count).post(rooms::upload_key_packages),
        )
        .route(
            "/v1/practitioners/{id}/key-package",
            post(rooms::claim_key_package),
        )
        .route("/v1/rooms", get(rooms::list).post(rooms::create))
        .route("/v1/rooms/{id}", get(rooms::get))
        .route("/v1/rooms/{id}/commits", post(rooms::commit))
        .route("/v1/rooms/{id}/messages", post(rooms::post))
        .route("/v1/rooms/{id}/entries", get(rooms::entries))
        .route("/v1/rooms/{id}/welcome", get(rooms::welcome))
        .route("/v1/rooms/{id}/read", post(rooms::mark_read))
        .route("/v1/audit/head", get(audit::head))
        .route("/v1/audit/heads", get(audit::heads))
        .route("/v1/audit/entries", get(audit::entries))
        .route("/v1/audit/inclusion/{seq}", get(audit::inclusion))
        .route("/v1/audit/log", get(audit::log))
        .route("/v1/audit/patients/{id}/export", get(audit::export))
        .route("/v1/audit/break-glass/{id}", get(audit::break_glass))
        .route(
            "/v1/patients/{id}/contact",
            put(audit::set_contact).delete(audit::clear_contact),
        )
        .layer(DefaultBodyLimit::max(json_limit));
    // The unauthenticated door: limited per client address.
    let door = Router::new()
        .route("/v1/enrolments/lookup", post(identity::lookup_enrolment))
        .route("/v1/enrolments/redeem", post(identity::redeem))
        .route("/v1/auth/prelogin", post(identity::prelogin))
        .route("/v1/auth/login", post(identity::login))
        .route("/v1/auth/service-login", post(identity::service_login))
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::limit_unauthenticated,
        ));
    // JSON calls are bounded in time; ciphertext and event streams are not (they are long by
    // nature).
    let timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        std::time::Duration::from_secs(state.config.limits.request_timeout_secs.max(1)),
    );
    let api = api.merge(door).layer(timeout);
    // Ciphertext streams are bounded by the blob store's own limit, not the JSON limit.
    let streams = Router::new()
        .route("/v1/uploads/{id}", put(documents::stage))
        .route(
            "/v1/uploads/{id}/parts/{offset}",
            put(documents::stage_part),
        )
        .route("/v1/uploads/{id}/parts", get(documents::upload_progress))
        .route("/v1/uploads/{id}/complete", post(documents::complete_parts))
        .route("/v1/documents/{id}/content", get(documents::content))
        .route("/v1/events/stream", get(events::stream))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/openapi.json", get(openapi))
        .route("/", get(app::index))
        .route("/assets/{file}", get(app::asset))
        .route("/{file}", get(app::root_file))
        .merge(api)
        .merge(streams)
        .layer(axum::middleware::map_response(problemize))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
