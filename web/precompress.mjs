// Precompresses the built app (dist/) for the hub to serve by Accept-Encoding: next to every text
// or WebAssembly file of at least 1 KiB, `NAME.br` (brotli, quality 11) and `NAME.gz` (gzip -9),
// each kept only if smaller than the file. The hub embeds them beside the file; Subresource
// Integrity and the published hashes are of the decoded bytes, which the browser checks after
// decoding. Prints each file's raw, gzip and brotli sizes.
//   node precompress.mjs dist
import { readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const dist = path.resolve(process.argv[2] ?? "dist");
const COMPRESSIBLE = /\.(js|mjs|css|html|wasm|svg|json|webmanifest|txt)$/;

function* files(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else yield p;
  }
}

for (const file of [...files(dist)]) {
  if (/\.(br|gz)$/.test(file)) unlinkSync(file); // from an earlier run
}
for (const file of [...files(dist)]) {
  if (!COMPRESSIBLE.test(file) || file.endsWith("asset-hashes.txt")) continue;
  const raw = readFileSync(file);
  if (raw.length < 1024) continue;
  const br = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      [constants.BROTLI_PARAM_MODE]: /\.wasm$/.test(file) ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
    },
  });
  const gz = gzipSync(raw, { level: 9 });
  const sizes = [`${raw.length} raw`];
  if (gz.length < raw.length) {
    writeFileSync(file + ".gz", gz);
    sizes.push(`${gz.length} gzip`);
  }
  if (br.length < raw.length) {
    writeFileSync(file + ".br", br);
    sizes.push(`${br.length} brotli`);
  }
  console.log(`${path.relative(dist, file)}: ${sizes.join(", ")}`);
}
