#!/usr/bin/env bash
# The one test command: prepares what the tests need on a fresh machine, then runs every test.
#   bash scripts/test.sh            all tests
#   bash scripts/test.sh -p CRATE   only those crates' tests (extra arguments go to `cargo test`;
#                                   the browser suite runs with the full set only)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-deps.sh  # Debian packages: OCR (Tesseract + language data), fonts, age, poppler-utils
bash scripts/services.sh  # PostgreSQL + s3s-fs for the scale-out tests (installs or fails loudly)
export MEDSHARE_TEST_MATERIAL="$(bash scripts/test-material.sh)"  # real DICOM/HL7/FHIR for medshare-classify
export MEDSHARE_GATEWAY_PEERS="$(bash scripts/gateway-peers.sh)"  # dcmtk, mllp_send, pynetdicom, simple-hl7, FHIR validator/clients for medshare-gateway
export MEDSHARE_SCHEMATHESIS="$(bash scripts/schemathesis.sh)"  # the API against its own schema
export MEDSHARE_SMTPD="$(bash scripts/smtp-peer.sh)"  # aiosmtpd (PyPI) for the e-mail notification test
export MEDSHARE_PUSH_PEER="$(bash scripts/push-peer.sh)"  # http_ece + py_vapid (PyPI): the independent Web Push receiver
bash scripts/wasm-check.sh  # browser crates build for wasm32
bash scripts/build-web.sh   # the web app, before the hub is built so it embeds it
if [ $# -eq 0 ]; then
  cargo test --workspace --locked
  bash scripts/test-web.sh    # binding + i18n unit tests, then the browser suite (Chromium)
else
  # `--workspace` would override `-p`: only what was asked for.
  cargo test --locked "$@"
fi
