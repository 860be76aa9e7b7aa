#!/usr/bin/env bash
# Runs the README's run command exactly as written (taken from the README, not copied here),
# waits until the sandbox hub is seeded and answers /health, then stops it with Ctrl-C (SIGINT)
# and checks that it exits cleanly. Proves on every CI run that a new user's first command works.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=$(awk '/^## Run/{f=1;next} f&&/^    [^ ]/{sub(/^    /,"");print;exit}' README.md)
[ -n "$cmd" ] || { echo "readme-run: no command under '## Run' in README.md" >&2; exit 1; }
echo "readme-run: $cmd"

fresh_dir=0
[ -e medshare-demo ] || fresh_dir=1
log=$(mktemp)
cleanup() {
  [ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null || true
  rm -f "$log" "$log.headers"
  if [ "$fresh_dir" = 1 ]; then rm -rf medshare-demo; fi
}
trap cleanup EXIT

setsid bash -c "$cmd" >"$log" 2>&1 &
pid=$!
# A fresh clone compiles the release binary first: allow for it.
for _ in $(seq 1 1800); do
  if grep -q '^medshare sandbox hub: ' "$log"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "readme-run: the command exited before the sandbox was ready:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 1
done
grep -q '^medshare sandbox hub: ' "$log" || { echo "readme-run: no sandbox after 30 min" >&2; tail -n 40 "$log" >&2; exit 1; }
url=$(grep -o '^medshare sandbox hub: [^ ]*' "$log" | awk '{print $4}')
body=$(curl -fsS "$url/health") || { echo "readme-run: $url/health did not answer" >&2; exit 1; }
echo "readme-run: $url/health -> $body"
# The web app is served at / with its Content-Security-Policy.
page=$(curl -fsS -D "$log.headers" "$url/") || { echo "readme-run: $url/ did not answer" >&2; exit 1; }
grep -q '<div id="root">' <<<"$page" || { echo "readme-run: $url/ is not the web app (was it built?)" >&2; exit 1; }
grep -qi "^content-security-policy: .*script-src 'self' 'wasm-unsafe-eval'" "$log.headers" \
  || { echo "readme-run: $url/ lacks the app's Content-Security-Policy" >&2; exit 1; }
rm -f "$log.headers"
echo "readme-run: $url/ serves the web app"
# Ctrl-C to the whole process group, as a terminal would.
kill -INT -- "-$pid"
for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$pid" 2>/dev/null; then echo "readme-run: the sandbox did not stop on Ctrl-C" >&2; exit 1; fi
wait "$pid" && rc=0 || rc=$?
unset pid
[ "$rc" = 0 ] || { echo "readme-run: the sandbox exited with status $rc after Ctrl-C" >&2; tail -n 20 "$log" >&2; exit 1; }
echo "readme-run: ok (sandbox seeded, /health answered, clean stop)"
