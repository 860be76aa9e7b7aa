//! Document routes: ciphertext in, ciphertext out (with HTTP Range), shares and revocations.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::services::documents as svc;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medshare_blob::ByteRange;
use medshare_model::api::*;
use medshare_model::{DocumentId, PractitionerId, UploadId};

/// The request body as a stream that fails once the client has sent nothing for
/// `limits.body_stall_secs`: a stalled upload ends, its staged data is removed and its
/// connection and staging slot are freed.
pub(crate) fn body_stream(
    s: &AppState,
    body: Body,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use futures::StreamExt;
    let stall = std::time::Duration::from_secs(s.config.limits.body_stall_secs.max(1));
    tokio_stream::StreamExt::timeout(body.into_data_stream(), stall).map(|r| match r {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the request body stalled",
        )),
    })
}

/// How much of a refused request body the hub still reads (and discards) before it answers, and
/// for how long: enough for an upload refused part-way (a full disk, a quota) to end with the
/// answer rather than with its connection closed under the client's write, which loses the
/// answer (the client cannot read a response after a failed write). A larger or slower rest (a
/// stalled body waits no more than this) is not read:
/// the connection closes, as before.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A request body handed to a service, whose unread rest the route can still drain when the
/// service refuses it part-way.
struct Refusable(std::sync::Arc<std::sync::Mutex<medshare_blob::ByteStream>>);

impl Refusable {
    fn new(
        body: impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    ) -> (medshare_blob::ByteStream, Self) {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(
            Box::pin(body) as medshare_blob::ByteStream
        ));
        let reader = shared.clone();
        let stream = futures::stream::poll_fn(move |cx| {
            reader.lock().expect("poisoned").as_mut().poll_next(cx)
        });
        (Box::pin(stream), Self(shared))
    }

    /// Run `service`; if it fails, read what is left of the body (bounded by [`DRAIN_BYTES`] and
    /// [`DRAIN_TIME`]) before its error is answered.
    async fn on_refusal<T>(
        self,
        service: impl std::future::Future<Output = ApiResult<T>>,
    ) -> ApiResult<T> {
        let outcome = service.await;
        if outcome.is_err() {
            let shared = self.0;
            let mut left = DRAIN_BYTES;
            let drain = futures::future::poll_fn(move |cx| {
                let mut body = shared.lock().expect("poisoned");
                loop {
                    match body.as_mut().poll_next(cx) {
                        std::task::Poll::Ready(Some(Ok(b))) if (b.len() as u64) < left => {
                            left -= b.len() as u64;
                        }
                        std::task::Poll::Ready(_) => return std::task::Poll::Ready(()),
                        std::task::Poll::Pending => return std::task::Poll::Pending,
                    }
                }
            });
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        }
        outcome
    }
}

/// Stream ciphertext (an age file) into staging.
#[utoipa::path(put, path = "/v1/uploads/{id}", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 201, body = Uploaded), (status = 413, body = medshare_model::Problem)))]
pub async fn stage(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<UploadId>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Uploaded>)> {
    let (stream, rest) = Refusable::new(body_stream(&s, body));
    let staged = rest.on_refusal(svc::stage(&s, &caller, id, stream)).await?;
    Ok((StatusCode::CREATED, Json(staged)))
}

/// Stage the part of an upload that starts at `offset` (browsers, which cannot stream a request
/// body): parts arrive in order, at most 16 MiB each; `complete` joins them.
#[utoipa::path(put, path = "/v1/uploads/{id}/parts/{offset}", tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("offset" = u64, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = UploadProgress), (status = 409, body = medshare_model::Problem), (status = 413, body = medshare_model::Problem)))]
pub async fn stage_part(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, offset)): Path<(UploadId, u64)>,
    body: Body,
) -> ApiResult<Json<UploadProgress>> {
    let (stream, rest) = Refusable::new(body_stream(&s, body));
    let progress = rest
        .on_refusal(svc::stage_part(&s, &caller, id, offset, stream))
        .await?;
    Ok(Json(progress))
}

/// How much of an upload sent in parts the hub holds (to resume after a lost connection).
#[utoipa::path(get, path = "/v1/uploads/{id}/parts", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = UploadProgress)))]
pub async fn upload_progress(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<UploadId>,
) -> ApiResult<Json<UploadProgress>> {
    Ok(Json(svc::upload_progress(&s, &caller, id).await?))
}

/// Join an upload's parts into one staged upload, hashed whole, ready to commit.
#[utoipa::path(post, path = "/v1/uploads/{id}/complete", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 201, body = Uploaded), (status = 404, body = medshare_model::Problem)))]
pub async fn complete_parts(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<UploadId>,
) -> ApiResult<(StatusCode, Json<Uploaded>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::complete_parts(&s, &caller, id).await?),
    ))
}

/// Commit a staged upload as a document, with its signed binding, key wraps and shares.
#[utoipa::path(post, path = "/v1/documents", tag = "documents", security(("bearer" = [])), request_body = CommitDocument, responses((status = 201, body = DocumentView)))]
pub async fn commit(
    State(s): State<AppState>,
    caller: Caller,
    Json(req): Json<CommitDocument>,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    Ok((
        StatusCode::CREATED,
        Json(svc::commit(&s, &caller, req).await?),
    ))
}

/// A document's metadata, sealed manifest, binding and the caller's key wraps.
#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = DocumentDetail), (status = 403, body = medshare_model::Problem)))]
pub async fn view(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<DocumentId>,
) -> ApiResult<Json<DocumentDetail>> {
    let (document, uploader) = svc::view(&s, &caller, id).await?;
    Ok(Json(DocumentDetail { document, uploader }))
}

/// A single `bytes=` range (parsed by `http-range-header` in [`ByteRange::parse_header`]);
/// several ranges are ignored, as RFC 9110 allows a server to (the whole ciphertext is served
/// instead).
fn parse_range(headers: &HeaderMap) -> ApiResult<Option<ByteRange>> {
    let Some(v) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request("invalid Range header");
    let text = v.to_str().map_err(|_| bad())?;
    ByteRange::parse_header(text).map_err(|_| bad())
}

/// The ciphertext, streamed; supports a single HTTP byte range.
#[utoipa::path(get, path = "/v1/documents/{id}/content", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 206), (status = 416, body = medshare_model::Problem)))]
pub async fn content(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<DocumentId>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = parse_range(&headers)?;
    let partial = range.is_some();
    let read = svc::content(&s, &caller, id, range).await?;
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut res = (status, Body::from_stream(read.body)).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(read.len));
    if partial {
        let cr = format!(
            "bytes {}-{}/{}",
            read.start,
            read.start + read.len - 1,
            read.total_size
        );
        h.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&cr).map_err(|_| ApiError::internal())?,
        );
    }
    Ok(res)
}

/// Share a document: the caller sealed its key to the grantee.
#[utoipa::path(post, path = "/v1/documents/{id}/grants", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), request_body = NewGrant, responses((status = 204)))]
pub async fn share(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<DocumentId>,
    Json(g): Json<NewGrant>,
) -> ApiResult<StatusCode> {
    svc::share(&s, &caller, id, g).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The shares of a document.
#[utoipa::path(get, path = "/v1/documents/{id}/grants", tag = "documents", security(("bearer" = [])), params(("id" = String, Path)), responses((status = 200, body = Vec<GrantInfo>)))]
pub async fn grants(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<DocumentId>,
) -> ApiResult<Json<Vec<GrantInfo>>> {
    Ok(Json(svc::grants(&s, &caller, id).await?))
}

/// Revoke a share: the hub stops serving it and deletes the key wrap.
#[utoipa::path(delete, path = "/v1/documents/{id}/grants/{grantee}", tag = "documents", security(("bearer" = [])), params(("id" = String, Path), ("grantee" = String, Path)), responses((status = 204)))]
pub async fn revoke(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, grantee)): Path<(DocumentId, PractitionerId)>,
) -> ApiResult<StatusCode> {
    svc::revoke(&s, &caller, id, grantee).await?;
    Ok(StatusCode::NO_CONTENT)
}
