//! Every kept crash input (`fuzz/regressions/<target>/`) and every corpus entry
//! (`fuzz/corpus/<target>/`) through its target on stable: a fixed crash stays fixed, and the
//! corpus the fuzzer built still runs clean after a change.

use std::path::{Path, PathBuf};

/// The fuzzer fails an input whose parse allocates more than 128 MiB at once; on stable the
/// whole test process is capped instead (inputs are at most 64 KiB, so a parser that respects
/// the input's size stays far below), and an input that asks for more aborts the test.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, 512 << 20);

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
            target(&data);
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
