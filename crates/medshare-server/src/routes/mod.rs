//! HTTP routes: thin handlers that extract, call a service and map the result.

mod alliance;
pub mod app;
mod audit;
mod consults;
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
use axum::routing::get;
use medshare_model::{ErrorCode, Problem};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The OpenAPI document's frame (title, error schemas, the bearer scheme). Its paths come from
/// the router itself ([`app`]): each route is registered once, from its handler's
/// `#[utoipa::path]`, so the document and the router cannot disagree.
#[derive(OpenApi)]
#[openapi(
    info(title = "medshare hub API", description = "End-to-end encrypted sharing of medical records. The hub stores ciphertext, signed public statements and routing metadata; it cannot read records."),
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
        507 => ErrorCode::InsufficientStorage,
        _ => ErrorCode::Internal,
    };
    let mut p = Problem::new(code, None);
    // Keep the framework's precise status (405, 415, 422) while using our stable code.
    p.status = status.as_u16();
    problem_response(p)
}

/// Every documented route, each registered once from its handler's `#[utoipa::path]` (method
/// and path), grouped by the layers they share.
fn api_routes(state: &AppState) -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .routes(routes!(alliance::info))
        .routes(routes!(alliance::bootstrap))
        .routes(routes!(alliance::command))
        .routes(routes!(identity::institutions))
        .routes(routes!(identity::institution))
        .routes(routes!(identity::create_enrolment))
        .routes(routes!(identity::pending))
        .routes(routes!(identity::members))
        .routes(routes!(identity::logout))
        .routes(routes!(identity::me))
        .routes(routes!(identity::directory))
        .routes(routes!(identity::practitioner))
        .routes(routes!(identity::practitioner_by_handle))
        .routes(routes!(identity::certify))
        .routes(routes!(identity::remove))
        .routes(routes!(patients::create))
        .routes(routes!(patients::lookup))
        .routes(routes!(patients::grant_consent))
        .routes(routes!(patients::revoke_consent))
        .routes(routes!(patients::declare_care))
        .routes(routes!(patients::break_glass))
        .routes(routes!(patients::search))
        .routes(routes!(documents::commit))
        .routes(routes!(documents::view))
        .routes(routes!(documents::grants, documents::share))
        .routes(routes!(documents::revoke))
        .routes(routes!(events::list))
        .routes(routes!(audit::head))
        .routes(routes!(audit::heads))
        .routes(routes!(audit::entries))
        .routes(routes!(audit::inclusion))
        .routes(routes!(audit::log))
        .routes(routes!(audit::export))
        .routes(routes!(audit::break_glass))
        .routes(routes!(audit::set_contact, audit::clear_contact))
        .routes(routes!(
            rooms::key_package_count,
            rooms::upload_key_packages
        ))
        .routes(routes!(rooms::claim_key_package))
        .routes(routes!(rooms::list, rooms::create))
        .routes(routes!(rooms::get))
        .routes(routes!(rooms::commit))
        .routes(routes!(rooms::post))
        .routes(routes!(rooms::entries))
        .routes(routes!(rooms::welcome))
        .routes(routes!(rooms::mark_read))
        .routes(routes!(consults::oncalls))
        .routes(routes!(consults::oncall, consults::set_oncall))
        .routes(routes!(consults::list, consults::request))
        .routes(routes!(consults::get))
        .routes(routes!(consults::ack))
        .routes(routes!(consults::answer))
        .routes(routes!(consults::channels, consults::add_channel))
        .routes(routes!(consults::remove_channel))
        .routes(routes!(consults::test_channel))
        .routes(routes!(consults::vapid));
    // The unauthenticated door: limited per client address.
    let door = OpenApiRouter::new()
        .routes(routes!(identity::lookup_enrolment))
        .routes(routes!(identity::redeem))
        .routes(routes!(identity::prelogin))
        .routes(routes!(identity::login))
        .routes(routes!(identity::service_login));
    // Ciphertext and event streams: bounded by the blob store's own limit, not the JSON limit,
    // and not by the JSON calls' time-out (they are long by nature).
    let streams = OpenApiRouter::new()
        .routes(routes!(documents::stage))
        .routes(routes!(documents::stage_part))
        .routes(routes!(documents::upload_progress))
        .routes(routes!(documents::complete_parts))
        .routes(routes!(documents::content))
        .routes(routes!(rooms::put_blob))
        .routes(routes!(rooms::get_blob))
        .routes(routes!(events::stream));
    let health = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready));
    let json_limit = state.config.limits.max_json_bytes;
    let door =
        door.layer(DefaultBodyLimit::max(json_limit))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::auth::limit_unauthenticated,
            ));
    let timeout = tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        std::time::Duration::from_secs(state.config.limits.request_timeout_secs.max(1)),
    );
    let api = api
        .layer(DefaultBodyLimit::max(json_limit))
        .merge(door)
        .layer(timeout);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api)
        .merge(streams.layer(DefaultBodyLimit::disable()))
        .merge(health)
}

/// The hub's router over `state`.
pub fn app(state: AppState) -> Router {
    let (routes, doc) = api_routes(&state).split_for_parts();
    let doc = std::sync::Arc::new(doc);
    routes
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(crate::metrics::scrape))
        .route("/", get(app::index))
        .route("/assets/{file}", get(app::asset))
        .route("/{file}", get(app::root_file))
        .layer(axum::middleware::map_response(problemize))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
