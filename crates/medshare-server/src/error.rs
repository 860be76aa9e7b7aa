//! One API error type: a stable code rendered as RFC 9457 problem details. It never carries
//! internal error text; the cause is logged (without request data) and dropped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medshare_model::{ErrorCode, Problem};

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: Option<&'static str>,
    pub retry_after: Option<u64>,
}

/// Result alias for handlers and services.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            retry_after: None,
        }
    }

    /// With a fixed explanatory text (a literal: never request data).
    pub fn with(code: ErrorCode, detail: &'static str) -> Self {
        Self {
            code,
            detail: Some(detail),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: &'static str) -> Self {
        Self::with(ErrorCode::BadRequest, detail)
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal)
    }
}

impl From<medshare_store::StoreError> for ApiError {
    fn from(e: medshare_store::StoreError) -> Self {
        use medshare_store::StoreError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::Conflict => Self::new(ErrorCode::Conflict),
            ref other if other.is_disk_full() => {
                tracing::error!(error = %other, "metadata store: the disk is full");
                Self::new(ErrorCode::InsufficientStorage)
            }
            other => {
                tracing::error!(error = %other, "metadata store failure");
                Self::new(ErrorCode::Unavailable)
            }
        }
    }
}

impl From<medshare_blob::BlobError> for ApiError {
    fn from(e: medshare_blob::BlobError) -> Self {
        use medshare_blob::BlobError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::TooLarge { .. } => Self::new(ErrorCode::PayloadTooLarge),
            E::RangeNotSatisfiable { .. } => Self::new(ErrorCode::RangeNotSatisfiable),
            E::InvalidRange => Self::bad_request("invalid Range header"),
            E::AlreadyStaged => Self::new(ErrorCode::Conflict),
            E::Body(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Self::bad_request("the request body stalled: nothing arrived within the time limit")
            }
            E::Body(_) => Self::bad_request("the request body ended abnormally"),
            E::Io(ref io) if io.kind() == std::io::ErrorKind::StorageFull => {
                tracing::error!("blob store: the disk is full");
                Self::new(ErrorCode::InsufficientStorage)
            }
            other => {
                tracing::error!(error = %other, "blob store failure");
                Self::new(ErrorCode::Unavailable)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut p = Problem::new(self.code, self.detail.map(str::to_string));
        p.retry_after = self.retry_after;
        problem_response(p)
    }
}

/// Render a problem as `application/problem+json`.
pub fn problem_response(p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let retry = p.retry_after;
    let body = serde_json::to_vec(&p).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(s) = retry
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}
