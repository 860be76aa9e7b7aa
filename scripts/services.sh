#!/usr/bin/env bash
# Makes sure the real services the tests start are installed, or fails loudly:
#   - PostgreSQL server binaries (initdb, pg_ctl, postgres) and client tools (createdb,
#     pg_dump, pg_restore): the tests start a throwaway cluster on 127.0.0.1;
#   - s3s-fs 0.14.1 (an S3-compatible server that checks SigV4 signatures): the tests start it
#     on a free loopback port.
# The tests themselves start and stop the services (crates/medshare-testsvc); nothing here
# runs in the background.
set -euo pipefail

S3S_VERSION=0.14.1

pg_found() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if ! pg_found || ! command -v pg_dump >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "services.sh: installing PostgreSQL"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "services.sh: PostgreSQL is missing: install it (apt-get install postgresql) and run again" >&2
    exit 1
  fi
fi
pg_found || { echo "services.sh: PostgreSQL's initdb/pg_ctl still not found" >&2; exit 1; }
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "services.sh: running as root needs the 'postgres' user (PostgreSQL refuses root)" >&2
  exit 1
fi

s3s_bin="$(command -v s3s-fs || true)"
[ -z "$s3s_bin" ] && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ] && s3s_bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
if [ -z "$s3s_bin" ] || ! cargo install --list | grep -q "^s3s-fs v${S3S_VERSION}:"; then
  echo "services.sh: installing s3s-fs ${S3S_VERSION} (about 80 s)"
  # 0.15+ needs a newer rustc; --locked keeps its tested dependency set.
  cargo install s3s-fs --version "${S3S_VERSION}" --features binary --locked --quiet
fi
echo "services.sh: PostgreSQL and s3s-fs ${S3S_VERSION} ready"
