//! The gateway's key file on disk: written once by `medshare gateway enroll` with mode 0600,
//! refused at start if anyone else could read it. A systemd credential (`LoadCredential=` or
//! `LoadCredentialEncrypted=`) is read from `$CREDENTIALS_DIRECTORY`, which systemd protects.

use medshare_client::service::ServiceKeyFile;
use std::io::Write;
use std::path::Path;

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the key file {0} can be read by other users: run `chmod 600` on it (or use a systemd credential)"
    )]
    Permissions(String),
    #[error("the key file {0} is not a gateway key file")]
    Format(String),
    #[error("cannot write the key file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Read and check a key file.
pub fn read(path: &Path) -> Result<ServiceKeyFile, KeyFileError> {
    let shown = path.display().to_string();
    let from_credentials =
        std::env::var_os("CREDENTIALS_DIRECTORY").is_some_and(|d| path.starts_with(Path::new(&d)));
    #[cfg(unix)]
    if !from_credentials {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| KeyFileError::Read {
            path: shown.clone(),
            source,
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyFileError::Permissions(shown));
        }
    }
    let _ = from_credentials;
    let mut text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let parsed = serde_json::from_str::<ServiceKeyFile>(&text);
    zeroize::Zeroize::zeroize(&mut text);
    parsed.map_err(|_| KeyFileError::Format(shown))
}

/// Write a new key file, mode 0600; an existing file is never overwritten.
pub fn write(path: &Path, key: &ServiceKeyFile) -> Result<(), KeyFileError> {
    let shown = path.display().to_string();
    let err = |source| KeyFileError::Write {
        path: shown.clone(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    let mut text = serde_json::to_string_pretty(key).expect("a key file serialises");
    let res = f
        .write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all());
    zeroize::Zeroize::zeroize(&mut text);
    res.map_err(err)
}
