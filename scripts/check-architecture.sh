#!/usr/bin/env bash
# Zero knowledge as a build property: the hub crates must not depend on age, the client crypto
# crate, the classifier or MLS (the hub relays room messages it never interprets). Prints the
# offending path and fails if one does.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for hub in medshare-server medshare-store medshare-blob; do
  tree=$(cargo tree -p "$hub" -e normal --prefix none --locked)
  bad=$(printf '%s\n' "$tree" | grep -E '^(age|medshare-crypto|medshare-classify|medshare-client|medshare-ocr|tesseract|openmls) v' | sort -u || true)
  if [ -n "$bad" ]; then
    echo "FAIL: $hub depends on: $bad" >&2
    status=1
  else
    echo "ok: $hub depends on none of age, medshare-crypto, medshare-classify, medshare-client, medshare-ocr, tesseract, openmls"
  fi
done
# The product binary links no test harness (test services, the malicious hub).
tree=$(cargo tree -p medshare-cli -e normal --prefix none --locked)
bad=$(printf '%s\n' "$tree" | grep -E '^(medshare-testsvc|medshare-hostile) v' | sort -u || true)
if [ -n "$bad" ]; then
  echo "FAIL: the medshare binary links test harness code: $bad" >&2
  status=1
else
  echo "ok: the medshare binary links no test harness (medshare-testsvc, medshare-hostile)"
fi
exit $status
