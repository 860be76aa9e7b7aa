//! The few things that differ between a native process and a browser: where CPU-heavy work runs.
//! Everything else in the core is the same code on both.

use crate::error::{ClientError, Result};

/// Run CPU-heavy work (Argon2id, sealing) without stalling the async executor: on a blocking
/// thread natively; inline in the browser, where the app calls the core from a Web Worker so
/// the page never waits on it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ClientError::Invalid("the work was interrupted".into()))
}

/// How many threads CPU-heavy work can usefully be split across.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One: the browser's worker runs the core on a single thread.
#[cfg(target_arch = "wasm32")]
pub(crate) fn cores() -> usize {
    1
}

/// Run CPU-heavy work inline (browser: the caller is a Web Worker).
#[cfg(target_arch = "wasm32")]
pub(crate) async fn blocking<T>(f: impl FnOnce() -> T) -> Result<T> {
    Ok::<_, ClientError>(f())
}
