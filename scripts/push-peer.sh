#!/usr/bin/env bash
# An independent Web Push receiver for the Web Push notification test: PyPI's http_ece (RFC 8188
# / 8291 decryption) and py_vapid (RFC 8292), pinned, in a virtual environment in a cache folder
# outside git. Idempotent. Logs go to stderr; the last line on stdout is the venv's python, so
# test.sh can do
#   export MEDSHARE_PUSH_PEER="$(bash scripts/push-peer.sh)"
# and the test runs "$MEDSHARE_PUSH_PEER scripts/push-receiver.py".
set -euo pipefail
ECE=1.2.1
VAPID=1.9.6
VENV="${MEDSHARE_PUSH_PEER_VENV:-$HOME/.cache/medshare-push-peer}"
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('http_ece') != '$ECE' or m.version('py_vapid') != '$VAPID')" 2>/dev/null; then
  echo "push-peer.sh: installing http_ece $ECE and py_vapid $VAPID into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "http_ece==$ECE" "py_vapid==$VAPID" >&2
fi
echo "$VENV/bin/python"
