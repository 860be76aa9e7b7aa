//! The one error type of this crate. No variant ever carries key material or plaintext.

use medshare_model::statements::StatementError;

/// Why a cryptographic operation failed.
///
/// `Display` texts are fixed strings (or an I/O error from the caller's own reader or writer),
/// so they are safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// None of the given identities can open the ciphertext.
    #[error("none of the available keys can open this ciphertext")]
    NoMatchingKey,
    /// The ciphertext is corrupt, truncated or was altered.
    #[error("ciphertext is corrupt, truncated or was altered")]
    Decrypt,
    /// The key bundle did not open: wrong passphrase, or the bundle was altered or belongs to
    /// someone else.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// A key (secret, public or recipient) is malformed.
    #[error("key is malformed")]
    BadKey,
    /// A signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A statement was signed by another key than the expected one.
    #[error("statement was signed by an unexpected key")]
    WrongSigner,
    /// A statement is of another kind than expected.
    #[error("statement is of the wrong kind")]
    WrongKind,
    /// Something that should be encoded data is not.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A certificate chain does not hang together.
    #[error("certificate chain mismatch: {0}")]
    ChainMismatch(&'static str),
    /// Passphrase KDF parameters are out of the accepted range.
    #[error("passphrase KDF parameters refused: {0}")]
    BadKdfParams(&'static str),
    /// Encrypting needs at least one recipient.
    #[error("no recipients to encrypt to")]
    NoRecipients,
    /// Encryption failed (e.g. incompatible recipients).
    #[error("encryption failed")]
    Encrypt,
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<StatementError> for CryptoError {
    fn from(e: StatementError) -> Self {
        match e {
            StatementError::WrongKind { .. } => Self::WrongKind,
            StatementError::Payload => Self::Malformed("statement payload"),
            StatementError::Signature => Self::BadSignature,
        }
    }
}
