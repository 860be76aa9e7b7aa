//! Tesseract engines kept for the life of the process, one pool per language set and data
//! folder. Loading `eng+chi_tra+chi_sim` takes about a second (the models are read and set up);
//! reading a page after that takes what the page takes. So an engine is loaded once and reused
//! for every page of a file and every file of a CLI run or gateway process.
//!
//! An engine reads one page at a time (Tesseract's `TessBaseAPI` is not shared between
//! threads), so callers on several threads each take one from the pool, loading another only
//! when all are busy, and give it back when done. At most [`MAX_IDLE`] idle engines are kept
//! per language set (each holds its models, about 100 MB for the three languages).
//!
//! What an engine carries from one page to the next is its settings (set once here) and
//! Tesseract's adaptive classifier, which learns the fonts of the pages it read: the same as
//! the `tesseract` CLI reading a multi-page TIFF.

use crate::{OcrError, OcrOptions};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tesseract::Tesseract;

/// Idle engines kept per language set.
pub const MAX_IDLE: usize = 4;

type Key = (Option<String>, String);

/// The engines of one language set: idle ones, and how many were ever loaded.
#[derive(Default)]
struct Slot {
    idle: Vec<Tesseract>,
    loaded: usize,
}

fn pool() -> std::sync::MutexGuard<'static, HashMap<Key, Slot>> {
    static POOL: OnceLock<Mutex<HashMap<Key, Slot>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn key(options: &OcrOptions) -> Key {
    (options.datapath.clone(), options.languages.clone())
}

/// An engine for `options`: an idle one from the pool, or a newly loaded one.
pub(crate) fn take(options: &OcrOptions) -> Result<Tesseract, OcrError> {
    let idle = pool().get_mut(&key(options)).and_then(|s| s.idle.pop());
    match idle {
        Some(t) => Ok(t),
        None => {
            // Loaded outside the lock: another thread's page need not wait for it.
            let t = load(options)?;
            pool().entry(key(options)).or_default().loaded += 1;
            Ok(t)
        }
    }
}

/// Return an engine that read a page without failing (one that failed is dropped: its state
/// is not trusted).
pub(crate) fn give_back(options: &OcrOptions, engine: Tesseract) {
    let mut pool = pool();
    let slot = pool.entry(key(options)).or_default();
    if slot.idle.len() < MAX_IDLE {
        slot.idle.push(engine);
    }
}

/// Load the models of `options` into a new engine now (the first page then reads without the
/// wait); a missing engine or language is said here.
pub fn warm_up(options: &OcrOptions) -> Result<(), OcrError> {
    let t = take(options)?;
    give_back(options, t);
    Ok(())
}

/// Engines loaded so far in this process for `options` (for tests and benchmarks).
pub fn loaded(options: &OcrOptions) -> usize {
    pool().get(&key(options)).map_or(0, |s| s.loaded)
}

/// Drop the idle engines of every language set (their models are loaded again when next
/// needed): for a benchmark's cold figure, or to give the memory back.
pub fn release_all() {
    for slot in pool().values_mut() {
        slot.idle.clear();
    }
}

fn load(options: &OcrOptions) -> Result<Tesseract, OcrError> {
    Tesseract::new(options.datapath.as_deref(), Some(&options.languages))
        .map_err(|_| OcrError::Engine(options.languages.clone()))?
        // Sauvola's local threshold copes with the shadows and uneven light of phone photos.
        .set_variable("thresholding_method", "2")
        .map_err(|_| OcrError::Recognition)?
        .set_variable("debug_file", "/dev/null")
        .map_err(|_| OcrError::Recognition)
}
