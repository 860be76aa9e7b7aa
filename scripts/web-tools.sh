#!/usr/bin/env bash
# Installs what building and testing the web app needs, on a fresh machine: the wasm32 target
# (rustup), wasm-bindgen-cli at exactly the version of the `wasm-bindgen` crate in Cargo.lock
# (cargo install), Debian's chromium (browser tests), and the app's npm packages from the
# committed lockfile (npm ci; binaryen's wasm-opt among them). Fails loudly if something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "web-tools.sh: installing the wasm32-unknown-unknown target" >&2
  rustup target add wasm32-unknown-unknown >&2
fi

want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
[ -n "$want" ] || { echo "web-tools.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "web-tools.sh: installing wasm-bindgen-cli $want (have: ${have:-none})" >&2
  # Not --locked: the CLI's own lockfile pins crates this toolchain cannot build.
  cargo install -q wasm-bindgen-cli --version "$want" --force >&2
fi

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# Fonts so screenshots show Chinese text and the class icons instead of empty boxes.
[ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need_apt+=(fonts-noto-color-emoji)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "web-tools.sh: installing ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "web-tools.sh: missing ${need_apt[*]}: apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi

# npm ci only when the lockfile changed since the last install.
stamp=web/node_modules/.medshare-lock.sha256
sum=$(sha256sum web/package-lock.json | awk '{print $1}')
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  echo "web-tools.sh: npm ci (web/)" >&2
  (cd web && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$sum" >"$stamp"
fi
