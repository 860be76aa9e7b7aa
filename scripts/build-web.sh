#!/usr/bin/env bash
# Builds the web app into web/dist, which the hub embeds when it is built next: the client core
# to WebAssembly (cargo, wasm-bindgen, wasm-opt -Oz), then the TypeScript app (tsc, Vite), then
# brotli and gzip copies of the text and wasm files (web/precompress.mjs) for the hub to serve.
# Prints the SHA-256 of every asset (web/dist/asset-hashes.txt) for publishing with a release.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/web-tools.sh

echo "build-web.sh: client core and classification module -> wasm32" >&2
# Two modules: the core (medshare-wasm), loaded on every visit, and classification
# (medshare-wasm-classify: every document parser), loaded by the worker on the first upload.
cargo build --locked -q --profile wasm -p medshare-wasm -p medshare-wasm-classify --target wasm32-unknown-unknown
for crate in medshare_wasm medshare_wasm_classify; do
  case $crate in medshare_wasm) pkg=web/src/core/pkg ;; *) pkg=web/src/core/pkg-classify ;; esac
  rm -rf "$pkg"
  wasm-bindgen --target web --out-dir "$pkg" "target/wasm32-unknown-unknown/wasm/$crate.wasm"
  # binaryen from npm (pinned in web/package-lock.json): Debian's version 108 rewrites the
  # externref table into a form Chromium rejects. The features are those rustc's target emits.
  # MEDSHARE_WASM_NAMES=1 keeps the functions' names (wasm-opt -g), for a profile of the app
  # (web/bench/bench.mjs --profile); releases are built without.
  web/node_modules/.bin/wasm-opt -Oz ${MEDSHARE_WASM_NAMES:+-g} --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$pkg/${crate}_bg.wasm" -o "$pkg/${crate}_bg.wasm"
  node -e 'WebAssembly.compile(require("fs").readFileSync(process.argv[1])).catch(e=>{console.error("build-web.sh: the optimised module does not compile: "+e.message);process.exit(1)})' "$pkg/${crate}_bg.wasm"
  echo "build-web.sh: $crate: $(wc -c <"$pkg/${crate}_bg.wasm") bytes, $(gzip -9c "$pkg/${crate}_bg.wasm" | wc -c) gzip -9" >&2
done

echo "build-web.sh: app -> web/dist" >&2
(cd web && npm run -s build >&2)
# Brotli and gzip copies beside each text/wasm file, served by the hub on Accept-Encoding.
(cd web && node precompress.mjs dist >&2)
# The published hashes are of the files as the browser runs them (decoded), like SRI.
(cd web/dist && find . -type f ! -name asset-hashes.txt ! -name '*.br' ! -name '*.gz' -print0 | sort -z | xargs -0 sha256sum >asset-hashes.txt)
echo "build-web.sh: built web/dist ($(du -sh web/dist | cut -f1)); hashes in web/dist/asset-hashes.txt" >&2
