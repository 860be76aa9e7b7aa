// Times medshare-classify compiled to wasm32-unknown-unknown over every file of a folder, as
// `medshare-bench classify --wasm` does natively. Usage: node run.mjs MODULE.wasm FOLDER RUNS
// Prints one JSON line: files, bytes, seconds (median of RUNS), and per-class counts.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const [wasmPath, folder, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const module = await WebAssembly.compile(readFileSync(wasmPath));
// The module links wasm-bindgen's placeholders (randomness for ids, never used to classify):
// each is a function that fails loudly if classification ever reaches it.
const imports = {};
for (const imp of WebAssembly.Module.imports(module)) {
  imports[imp.module] ??= {};
  imports[imp.module][imp.name] = () => {
    throw new Error(`unexpected call to ${imp.module}.${imp.name}`);
  };
}
const instance = await WebAssembly.instantiate(module, imports);
const { alloc, dealloc, classify, memory } = instance.exports;
const files = readdirSync(folder).sort().map((f) => readFileSync(join(folder, f)));
const bytes = files.reduce((n, b) => n + b.length, 0);
const counts = {};
function pass(record) {
  for (const b of files) {
    const p = alloc(b.length);
    new Uint8Array(memory.buffer, p, b.length).set(b);
    const code = classify(p, b.length);
    dealloc(p, b.length);
    if (record) counts[code] = (counts[code] || 0) + 1;
  }
}
pass(true); // warm-up: compile tiers, grow memory
const times = [];
for (let i = 0; i < runs; i++) {
  const t = process.hrtime.bigint();
  pass(false);
  times.push(Number(process.hrtime.bigint() - t) / 1e9);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ files: files.length, bytes, seconds: times[Math.floor(times.length / 2)], counts }));
