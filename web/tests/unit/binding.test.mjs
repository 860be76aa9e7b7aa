// The binding layer under Node: the generated module loads, conversions hand the app the
// generated types' shapes, and errors carry the stable kinds the app translates.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";

const pkg = path.resolve(import.meta.dirname, "../../src/core/pkg");
const m = await import(path.join(pkg, "medshare_wasm.js"));
m.initSync({ module: readFileSync(path.join(pkg, "medshare_wasm_bg.wasm")) });

// Optional fields arrive as `undefined`; compare what JSON would carry.
const plain = (v) => JSON.parse(JSON.stringify(v));

test("identifiers are checked with the core's rules", () => {
  assert.deepEqual(plain(m.check_identifier("A123456(3)")), { valid: true, kind: "hkid" });
  assert.deepEqual(plain(m.check_identifier("a1234563")), { valid: true, kind: "hkid" });
  assert.deepEqual(plain(m.check_identifier("A123456(4)")), { valid: false, problem: "hkid-check-digit" });
  assert.deepEqual(plain(m.check_identifier("A12")), { valid: false, problem: "hkid-format" });
  assert.deepEqual(plain(m.check_identifier("PASSPORT:GB:123456789")), { valid: true, kind: "passport" });
  assert.deepEqual(plain(m.check_identifier("MRN:QMH:000123")), { valid: true, kind: "mrn" });
  assert.equal(m.check_identifier("PASSPORT:123").problem, "passport");
});

test("trust anchors round-trip and a corrupt pinned root is refused", () => {
  const root = Buffer.alloc(32, 7).toString("base64");
  const audit = { log_key: "ab".repeat(32), size: 42, root: "cd".repeat(32) };
  const core = new m.Core("http://127.0.0.1:9", { root, audit });
  assert.deepEqual(plain(core.trusted()), { root, audit });
  assert.equal(core.unlocked(), false);
  assert.match(m.root_fingerprint(root), /\S+/);
  assert.throws(() => new m.Core("http://127.0.0.1:9", { root: "bm90IGEga2V5" }), (e) => e.name === "invalid");
});

test("a locked core refuses work with the `locked` kind, and a bad document id is `invalid`", async () => {
  const core = new m.Core("http://127.0.0.1:9", undefined);
  await assert.rejects(core.timeline("A123456(3)"), (e) => e.name === "locked");
  await assert.rejects(core.cached_timeline("A123456(3)"), (e) => e.name === "locked");
  await assert.rejects(core.open("x"), (e) => e.name === "locked");
  assert.throws(() => core.sealed_memory(), (e) => e.name === "locked");
});

test("an unreachable hub is a `network` error", async () => {
  const core = new m.Core("http://127.0.0.1:9", undefined);
  await assert.rejects(core.login("dr.wong", "x", "123456", undefined, true), (e) => e.name === "network");
});
