#!/usr/bin/env bash
# Real outside peers for the gateway's tests, installed with the ordinary package clients into
# a cache outside git. Idempotent: a complete cache is reused. Logs go to stderr; the last line
# on stdout is the cache folder, so test.sh can do
#   export MEDSHARE_GATEWAY_PEERS="$(bash scripts/gateway-peers.sh)"
# Layout of the cache:
#   venv/    python: hl7 0.4.5 (mllp_send), pynetdicom 3.0.4 + pydicom 3.0.2 (storescu, echoscu),
#            fhir.resources 8.3.0 (validator), fhirclient 4.4.0 (client)
#   node/    npm: simple-hl7 3.3.0 (MLLP client), fhir-kit-client 2.0.3 (FHIR client)
# and Debian's dcmtk (storescu, echoscu) on the PATH (installed as root when missing).
set -euo pipefail
CACHE="${MEDSHARE_GATEWAY_PEERS_CACHE:-$HOME/.cache/medshare-gateway-peers}"
STAMP="$CACHE/.complete-v1"
log() { echo "gateway-peers.sh: $*" >&2; }

if ! command -v storescu >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "installing dcmtk (apt)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcmtk >/dev/null
  else
    log "dcmtk is missing: install it (apt-get install dcmtk) and run again"
    exit 1
  fi
fi

if [ -f "$STAMP" ]; then
  echo "$CACHE"
  exit 0
fi
for tool in python3 npm node; do
  command -v "$tool" >/dev/null 2>&1 || { log "$tool is required"; exit 1; }
done
mkdir -p "$CACHE"
log "python peers (pip, venv)"
rm -rf "$CACHE/venv"
python3 -m venv "$CACHE/venv"
"$CACHE/venv/bin/pip" install -q --disable-pip-version-check \
  hl7==0.4.5 pynetdicom==3.0.4 pydicom==3.0.2 fhir.resources==8.3.0 fhirclient==4.4.0 >&2
log "node peers (npm)"
rm -rf "$CACHE/node" && mkdir -p "$CACHE/node"
(cd "$CACHE/node" && npm install -q --no-audit --no-fund --prefix . simple-hl7@3.3.0 fhir-kit-client@2.0.3 >/dev/null)
touch "$STAMP"
log "ready in $CACHE"
echo "$CACHE"
