#!/usr/bin/env bash
# The web app's tests: the binding and i18n unit tests under Node, then the browser suite
# (Playwright driving Debian's Chromium against a real `medshare demo` hub that serves the
# built app). Expects scripts/build-web.sh to have run before the hub binary was built.
# Bounded: every browser test has a 90 s limit, the whole suite 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/web-tools.sh
[ -f web/dist/index.html ] || { echo "test-web.sh: run scripts/build-web.sh first" >&2; exit 1; }
cargo build --locked -q -p medshare-cli   # the hub binary, embedding web/dist
echo "test-web.sh: unit tests (binding, i18n)" >&2
(cd web && node --test tests/unit/)
echo "test-web.sh: browser tests (screenshots in target/web-e2e/screenshots)" >&2
(cd web && timeout 600 npx playwright test)
