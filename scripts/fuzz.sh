#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, nightly) of every parser of outside input:
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default 60 s, every target
# Targets are the functions of crates/medshare-fuzz (fuzz/fuzz_targets/*.rs wrap them). New
# corpus entries go to fuzz/corpus/<target>/ (minimised at the end, commit them); a crash
# stops that target and leaves its input in fuzz/artifacts/<target>/: fix the bug at its root,
# then copy the input to fuzz/regressions/<target>/ so the stable replay test (cargo test -p
# medshare-fuzz, part of scripts/test.sh) keeps it fixed. One line per target goes to
# fuzz/report.tsv: target, seconds, executions, corpus size, crashes.
#
# Limits: inputs up to 64 KiB; one allocation over 128 MiB or a process over 1 GiB of RSS is a
# crash (the memory a single document can make a parser use is bounded), and so is one input
# taking over 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(classify identifiers statements sealed audit range api_json scan)
fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked

cd fuzz
for t in "${targets[@]}"; do cargo +nightly fuzz build -O --debug-assertions "$t"; done
: > report.tsv.new
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t" "regressions/$t"
  log=$(mktemp)
  set +e
  cargo +nightly fuzz run -O --debug-assertions "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -malloc_limit_mb=128 \
    -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  crashes=$(find "artifacts/$t" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    status=1
    echo "fuzz.sh: $t stopped (exit $rc); input in fuzz/artifacts/$t/" >&2
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -n 8 >&2 || true
  fi
  # Keep the corpus small: only the inputs that add coverage.
  cargo +nightly fuzz cmin -O --debug-assertions "$t" "corpus/$t" -- -max_len=65536 \
    -rss_limit_mb=1024 -malloc_limit_mb=128 -timeout=10 >/dev/null 2>&1 || true
  size=$(find "corpus/$t" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$secs" "${runs:-0}" "$size" "$crashes" | tee -a report.tsv.new
  rm -f "$log"
done
mv report.tsv.new report.tsv
exit $status
