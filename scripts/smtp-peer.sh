#!/usr/bin/env bash
# A real SMTP server for the e-mail notification test: PyPI's aiosmtpd, pinned, in a virtual
# environment in a cache folder outside git. Idempotent. Logs go to stderr; the last line on
# stdout is the venv's python, so test.sh can do
#   export MEDSHARE_SMTPD="$(bash scripts/smtp-peer.sh)"
# and the test runs "$MEDSHARE_SMTPD -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR".
set -euo pipefail
VERSION=1.4.6
VENV="${MEDSHARE_SMTPD_VENV:-$HOME/.cache/medshare-smtpd}"
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('aiosmtpd') != '$VERSION')" 2>/dev/null; then
  echo "smtp-peer.sh: installing aiosmtpd $VERSION into $VENV" >&2
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "aiosmtpd==$VERSION" >&2
fi
echo "$VENV/bin/python"
