#!/usr/bin/env bash
# The crates the browser uses must build for wasm32-unknown-unknown. Installs the target with
# rustup when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "wasm-check.sh: installing the wasm32-unknown-unknown target" >&2
  rustup target add wasm32-unknown-unknown >&2
fi
for crate in medshare-model medshare-crypto medshare-classify medshare-audit medshare-client; do
  echo "wasm-check.sh: cargo build -p $crate --target wasm32-unknown-unknown" >&2
  cargo build --locked -q -p "$crate" --target wasm32-unknown-unknown
done
