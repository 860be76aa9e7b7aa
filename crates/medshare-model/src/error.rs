//! Stable machine-readable error codes and their RFC 9457 problem-details form.

use serde::{Deserialize, Serialize};

/// Every error the API can return. The code is stable; the text never carries request data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthenticated,
    InvalidCredentials,
    TotpRequired,
    AccountLocked,
    /// Too many requests from this address, or too much in progress at once.
    TooManyRequests,
    SessionExpired,
    NotCertified,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    RangeNotSatisfiable,
    BadSignature,
    AlreadyBootstrapped,
    Internal,
    Unavailable,
    /// The hub's disk (blob folder or database) is full: nothing was kept; try again once an
    /// administrator has made room.
    InsufficientStorage,
}

impl ErrorCode {
    /// The HTTP status this code is served with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest | Self::BadSignature => 400,
            Self::Unauthenticated
            | Self::InvalidCredentials
            | Self::TotpRequired
            | Self::SessionExpired => 401,
            Self::NotCertified | Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict | Self::AlreadyBootstrapped => 409,
            Self::PayloadTooLarge => 413,
            Self::RangeNotSatisfiable => 416,
            Self::AccountLocked | Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
            Self::InsufficientStorage => 507,
        }
    }

    /// A short, fixed, human-readable title.
    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "The request is malformed",
            Self::Unauthenticated => "Log in first",
            Self::InvalidCredentials => "Wrong handle, passphrase or one-time code",
            Self::TotpRequired => "A one-time code from your authenticator is required",
            Self::AccountLocked => "Too many failed logins; try again later",
            Self::TooManyRequests => "Too many requests; try again later",
            Self::SessionExpired => "The session has expired or was revoked; log in again",
            Self::NotCertified => "Your keys have not been certified by your institution yet",
            Self::Forbidden => "You may not access this",
            Self::NotFound => "Not found",
            Self::Conflict => "Conflicts with existing data",
            Self::PayloadTooLarge => "The request body is too large",
            Self::RangeNotSatisfiable => "The requested range is outside the content",
            Self::BadSignature => "A signature or certificate does not verify",
            Self::AlreadyBootstrapped => "The alliance is already initialised",
            Self::Internal => "Internal error",
            Self::Unavailable => "Temporarily unavailable",
            Self::InsufficientStorage => "The hub's storage is full; nothing was kept",
        }
    }

    /// The code as it appears in `code` and in the problem `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TotpRequired => "totp_required",
            Self::AccountLocked => "account_locked",
            Self::TooManyRequests => "too_many_requests",
            Self::SessionExpired => "session_expired",
            Self::NotCertified => "not_certified",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::BadSignature => "bad_signature",
            Self::AlreadyBootstrapped => "already_bootstrapped",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::InsufficientStorage => "insufficient_storage",
        }
    }
}

/// RFC 9457 problem details, as every API error is served (`application/problem+json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:medshare:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: ErrorCode,
    /// Fixed explanatory text chosen by the hub; never echoes request content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Seconds to wait before retrying (lockout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem for `code` with an optional fixed detail.
    pub fn new(code: ErrorCode, detail: Option<String>) -> Self {
        Self {
            kind: format!("urn:medshare:problem:{}", code.as_str()),
            title: code.title().to_string(),
            status: code.status(),
            code,
            detail,
            retry_after: None,
        }
    }
}
