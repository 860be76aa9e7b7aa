#!/usr/bin/env bash
# Schemathesis (PyPI), pinned, in a virtual environment in a cache folder outside git.
# Idempotent. Logs go to stderr; the last line on stdout is the path of its `st` command, so
# test.sh can do   export MEDSHARE_SCHEMATHESIS="$(bash scripts/schemathesis.sh)"
set -euo pipefail
VERSION=4.32.5
VENV="${MEDSHARE_SCHEMATHESIS_VENV:-$HOME/.cache/medshare-schemathesis}"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "schemathesis.sh: installing schemathesis $VERSION into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q "schemathesis==$VERSION" >&2
fi
echo "$VENV/bin/st"
