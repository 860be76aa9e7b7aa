#!/usr/bin/env bash
# What the benchmarks compare against, installed when missing (as root), or a loud failure:
#   nginx   `medshare-bench transfer` downloads the same file from nginx in the same run
# (`dd` is coreutils; Go `age` comes with scripts/system-deps.sh; `rage` is optional in --quick
# mode and installed with `cargo install rage --locked` for full runs, see docs/benchmarks.md.)
set -euo pipefail
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "bench-deps.sh: nginx is missing: run as root, or apt-get install nginx" >&2
  exit 1
fi
echo "bench-deps.sh: installing nginx" >&2
apt-get update -qq >/dev/null
# The package's own service is not wanted: the benchmark starts nginx itself on a free port.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends nginx >/dev/null
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { echo "bench-deps.sh: nginx did not install" >&2; exit 1; }
