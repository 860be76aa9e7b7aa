#!/usr/bin/env bash
# The README's run command: installs the Debian packages the build links (Tesseract for the
# CLI's OCR, scripts/system-deps.sh), builds the web app (installing what that needs, see
# scripts/web-tools.sh), then starts the sandbox hub, which serves the app at its URL.
# Extra arguments go to `medshare demo` (e.g. --port, --data-dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/build-web.sh
exec cargo run --locked --release -- demo "$@"
