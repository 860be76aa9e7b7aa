#!/usr/bin/env bash
# The one test command: prepares what the tests need on a fresh machine, then runs every test.
#   bash scripts/test.sh            all tests
#   bash scripts/test.sh -p CRATE   passes extra arguments to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v age >/dev/null 2>&1 || need_apt+=(age)            # interop: our age files open with the reference tool
command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)  # the synthetic PDFs must be real PDFs
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_apt[*]}: install them (apt-get install ${need_apt[*]}) and run again" >&2
    exit 1
  fi
fi

bash scripts/services.sh  # PostgreSQL + s3s-fs for the scale-out tests (installs or fails loudly)
export MEDSHARE_TEST_MATERIAL="$(bash scripts/test-material.sh)"  # real DICOM/HL7/FHIR for medshare-classify
bash scripts/wasm-check.sh  # browser crates build for wasm32
bash scripts/build-web.sh   # the web app, before the hub is built so it embeds it
cargo test --workspace --locked "$@"
bash scripts/test-web.sh    # binding + i18n unit tests, then the browser suite (Chromium)
