//! Client errors. Display texts tell the user what went wrong without echoing record content.

use medshare_model::Problem;

/// Anything a client operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub answered with a problem.
    #[error("{}{}", .0.title, .0.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Api(Problem),
    /// The hub could not be reached or spoke nonsense.
    #[error("cannot talk to the hub: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    /// A key, seal or statement operation failed.
    Crypto(#[from] medshare_crypto::CryptoError),
    /// A signature, certificate or pinned key did not check out: the hub may be misbehaving.
    #[error("refused: {0}")]
    Trust(&'static str),
    #[error("{0}")]
    /// Bad input or a state the operation cannot proceed from (the message says which).
    Invalid(String),
    #[error(transparent)]
    /// Reading or writing a local file failed.
    Io(#[from] std::io::Error),
    /// The document cannot be filed as asked (see [`crate::intake`]).
    #[error(transparent)]
    Intake(#[from] crate::intake::IntakeError),
}

impl ClientError {
    /// The problem code, if the hub refused.
    pub fn code(&self) -> Option<medshare_model::ErrorCode> {
        match self {
            Self::Api(p) => Some(p.code),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
