#!/usr/bin/env bash
# The README's run command: builds the web app (installing what that needs, see
# scripts/web-tools.sh), then starts the sandbox hub, which serves the app at its URL.
# Extra arguments go to `medshare demo` (e.g. --port, --data-dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-web.sh
exec cargo run --locked --release -- demo "$@"
