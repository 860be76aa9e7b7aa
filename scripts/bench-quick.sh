#!/usr/bin/env bash
# The transfer, seal, audit, soak and streams benchmarks in quick mode (a few MiB, one run, no targets judged),
# end to end against their references (nginx, dd, age/rage), so they cannot rot. Debug build,
# bounded: about half a minute once built. Figures from here mean nothing; see
# docs/benchmarks.md for real runs (release build, quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh   # Go age (the seal reference when rage is absent)
bash scripts/bench-deps.sh    # nginx
cargo build -p medshare-bench --locked --quiet
bench="${CARGO_TARGET_DIR:-target}/debug/medshare-bench"
# nginx may live in /usr/sbin, which a non-root PATH lacks.
export PATH="$PATH:/usr/sbin"
for args in "transfer --quick --size-mib 4" "seal --quick --size-mib 4" "audit --quick"; do
  echo "== medshare-bench $args" >&2
  # shellcheck disable=SC2086
  timeout 180 "$bench" $args --timeout-secs 150 >/dev/null
done
# The soak's quick mode: 30 s of the mixed workload against one hub process; it fails on any
# error (its memory and p99 targets are only judged in real runs).
echo "== medshare-bench soak --quick" >&2
timeout 180 "$bench" soak --quick --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
bad = [t for t in r["targets"] if t["name"] == "soak-errors" and not t["met"]]
sys.exit("soak: errors in the quick run: %s" % r["errors"] if bad else 0)'

# Idle event streams' quick mode: 200 streams, 3 notifications; fails if one is lost.
echo "== medshare-bench streams --quick" >&2
timeout 120 "$bench" streams --quick >/dev/null
# A case room's fan-out in quick mode: 5 members, 3 messages; fails if one is lost.
echo "== medshare-bench rooms --quick" >&2
timeout 180 "$bench" rooms --quick >/dev/null
# Escalation timers in quick mode: 6 consults on one SQLite hub under a little load; fails if an
# escalation is lost or happens twice.
echo "== medshare-bench consults --quick" >&2
timeout 180 "$bench" consults --quick >/dev/null
