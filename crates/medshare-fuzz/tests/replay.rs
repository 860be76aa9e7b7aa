//! Every kept crash input (`fuzz/regressions/<target>/`) and every corpus entry
//! (`fuzz/corpus/<target>/`) through its target on stable: a fixed crash stays fixed, and the
//! corpus the fuzzer built still runs clean after a change.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// The fuzzer fails an input whose parse asks for more than 128 MiB at once, as libFuzzer's
/// `-malloc_limit_mb` does.
const ONE_ALLOCATION: usize = 128 << 20;

/// Replays as the fuzzer judges: a single request over [`ONE_ALLOCATION`] is refused *and
/// remembered*, so an input whose parser asks for a declared length and then survives the
/// refusal (as `dicom-rs` does with `try_reserve`) still fails its replay; the whole process
/// is capped at 512 MiB (inputs are at most 64 KiB, so a parser that respects the input's size
/// stays far below).
struct FuzzerLimits {
    inner: cap::Cap<System>,
}

thread_local! {
    /// The largest request refused on this thread (the tests replay on several threads).
    static LARGEST_REFUSED: Cell<usize> = const { Cell::new(0) };
}

/// Remember a refused request of `size` bytes.
fn refuse(size: usize) {
    let _ = LARGEST_REFUSED.try_with(|r| r.set(r.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `cap::Cap<System>`, a correct allocator, except
// requests over the limit, which return null as an allocator that is out of memory may.
unsafe impl GlobalAlloc for FuzzerLimits {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ONE_ALLOCATION {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ONE_ALLOCATION {
            refuse(layout.size());
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `inner`.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ONE_ALLOCATION {
            refuse(new_size);
            return std::ptr::null_mut();
        }
        // SAFETY: `ptr` came from `inner`; the caller's contract is passed on.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: FuzzerLimits = FuzzerLimits {
    inner: cap::Cap::new(System, 512 << 20),
};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(read) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut total = 0;
    for (name, target) in medshare_fuzz::TARGETS {
        for path in inputs(kind, name) {
            let data = std::fs::read(&path).expect("read an input");
            eprintln!("{kind}/{name}: {}", path.display());
            LARGEST_REFUSED.set(0);
            target(&data);
            let refused = LARGEST_REFUSED.get();
            assert!(
                refused == 0,
                "{} asked for {refused} bytes at once (the fuzzer's limit is {ONE_ALLOCATION})",
                path.display()
            );
            total += 1;
        }
    }
    total
}

#[test]
fn crash_inputs_found_by_fuzzing_stay_fixed() {
    for (name, _) in medshare_fuzz::TARGETS {
        assert!(
            fuzz_dir().join("regressions").join(name).is_dir(),
            "fuzz/regressions/{name} exists (crash inputs of that target go there)"
        );
    }
    let n = replay("regressions");
    eprintln!("{n} crash inputs replayed");
}

#[test]
fn every_corpus_entry_runs_clean() {
    for (name, _) in medshare_fuzz::TARGETS {
        assert!(
            !inputs("corpus", name).is_empty(),
            "fuzz/corpus/{name} has seeds"
        );
    }
    replay("corpus");
}
