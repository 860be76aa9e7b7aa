//! Sessions and credentials: bearer-token extraction, Argon2 hashing of the client-derived login
//! credential, TOTP checks and random tokens.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use medshare_model::{ErrorCode, PractitionerId};
use medshare_store::{PractitionerRow, PractitionerStatus};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The authenticated practitioner behind a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub practitioner: PractitionerRow,
    pub token_hash: String,
}

impl Caller {
    pub fn id(&self) -> PractitionerId {
        self.practitioner.id
    }
}

/// SHA-256 hex of a session token or enrolment code: only hashes are stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random session token.
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A fresh enrolment code: 16 random bytes as grouped base32, easy to read aloud.
pub fn new_enrolment_code() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKMNPQRSTVWXYZ0123456789";
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    let chars: Vec<u8> = b.iter().map(|x| ALPHABET[(x & 31) as usize]).collect();
    chars
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Canonical form of a typed enrolment code (case and dashes ignored).
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Argon2id for the stored credential hash. The credential is already the output of a
/// memory-hard Argon2id over the passphrase (on the client), so a leaked hash still costs an
/// attacker the client's full KDF per guess; the hub's own pass can be light, which keeps its
/// memory small (the default 19 MiB per concurrent login stays resident in the allocator).
fn credential_hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(4096, 2, 1, None).expect("static Argon2 parameters are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Argon2id hash (PHC string) of the login credential the client derived from its passphrase.
pub async fn hash_credential(credential: Vec<u8>) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordHasher;
        credential_hasher()
            .hash_password(&credential)
            .map(|h| h.to_string())
            .map_err(|_| ApiError::internal())
    })
    .await
    .map_err(|_| ApiError::internal())?
}

/// Check a credential against its stored hash.
pub async fn verify_credential(credential: Vec<u8>, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::PasswordVerifier;
        use argon2::password_hash::phc::PasswordHash;
        PasswordHash::new(&hash)
            .map(|h| credential_hasher().verify_password(&credential, &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A new TOTP secret (base32) and its `otpauth://` URI.
pub fn new_totp(handle: &str) -> ApiResult<(String, String)> {
    let secret = totp_rs::Secret::generate().to_base32();
    let t = totp(&secret, handle)?;
    let url = t.to_url().map_err(|_| ApiError::internal())?;
    Ok((secret, url))
}

fn totp(secret_b32: &str, handle: &str) -> ApiResult<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).map_err(|_| ApiError::internal())?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_issuer(Some("medshare"))
        .with_account_name(handle)
        .build()
        .map_err(|_| ApiError::internal())
}

/// Check a TOTP code (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of skew).
pub fn check_totp(secret_b32: &str, handle: &str, code: &str) -> bool {
    match totp(secret_b32, handle) {
        Ok(t) => t.check_current(code.trim()).is_some(),
        Err(_) => false,
    }
}

/// The practitioner a session admits (`None`: it does not), through the session cache
/// ([`crate::sessions`]).
pub async fn session_holder(
    state: &AppState,
    token_hash: &str,
) -> ApiResult<Option<PractitionerRow>> {
    let now = state.now();
    if let Some(p) = state.sessions.get(token_hash, now) {
        return Ok(Some(p));
    }
    let ticket = state.sessions.ticket();
    let Some(session) = state.store.session(token_hash).await? else {
        return Ok(None);
    };
    if session.revoked || session.expires_at <= now {
        return Ok(None);
    }
    let holder = state
        .store
        .practitioner(session.practitioner_id)
        .await?
        .filter(|p| p.status != PractitionerStatus::Removed);
    if let Some(p) = &holder {
        state
            .sessions
            .put(ticket, token_hash, p.clone(), session.expires_at);
    }
    Ok(holder)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::new(ErrorCode::Unauthenticated))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(ApiError::new(ErrorCode::Unauthenticated))?;
        let hash = token_hash(token.trim());
        let practitioner = session_holder(state, &hash)
            .await?
            .ok_or(ApiError::new(ErrorCode::SessionExpired))?;
        Ok(Caller {
            practitioner,
            token_hash: hash,
        })
    }
}

/// The client's address: the connection's, or (behind a trusted reverse proxy that the
/// operator names in `auth.client_ip_header`) the first address in that header.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    /// From a request's headers and extensions.
    pub fn of(parts: &Parts, state: &AppState) -> Self {
        let configured = &state.config.auth.client_ip_header;
        if !configured.is_empty()
            && let Some(ip) = parts
                .headers
                .get(configured.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return Self(ip);
        }
        Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        )
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, state))
    }
}

/// Middleware for the unauthenticated door (prelogin, login, enrolment): requests per client
/// address per minute, over which the answer is 429 with `Retry-After`.
pub async fn limit_unauthenticated(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let addr = ClientAddr::of(&parts, &state);
    if let Err(wait) = state.throttle.request(addr.0) {
        let mut e = ApiError::new(ErrorCode::TooManyRequests);
        e.retry_after = Some(wait);
        return e.into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}
