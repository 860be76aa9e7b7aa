// Fails when any language lacks a key English has, has a key English lacks, drops a
// placeholder, or leaves a string empty; and when the app's sources use a key no dictionary has.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const dir = path.resolve(import.meta.dirname, "../../src/i18n");
const load = (l) => JSON.parse(readFileSync(path.join(dir, `${l}.json`), "utf8"));
const en = load("en");
const LANGS = ["zh-HK", "zh-CN", "id"];
const placeholders = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

for (const lang of LANGS) {
  test(`${lang} has every key, no extra key, and the same placeholders`, () => {
    const d = load(lang);
    const missing = Object.keys(en).filter((k) => !(k in d));
    const extra = Object.keys(d).filter((k) => !(k in en));
    assert.deepEqual(missing, [], `${lang} lacks ${missing.join(", ")}`);
    assert.deepEqual(extra, [], `${lang} has keys English lacks: ${extra.join(", ")}`);
    for (const [k, v] of Object.entries(en)) {
      assert.ok(d[k].trim().length > 0, `${lang} ${k} is empty`);
      assert.deepEqual(placeholders(d[k]), placeholders(v), `${lang} ${k} placeholders`);
    }
  });
}

test("every key the sources use literally exists in English", () => {
  const src = path.resolve(import.meta.dirname, "../../src");
  const files = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = path.join(d, f);
      if (statSync(p).isDirectory()) {
        if (f !== "pkg") walk(p);
      } else if (/\.tsx?$/.test(f)) files.push(p);
    }
  };
  walk(src);
  const used = new Set();
  for (const f of files) {
    for (const m of readFileSync(f, "utf8").matchAll(/\bt\(\s*"([a-zA-Z0-9.\-]+)"/g)) used.add(m[1]);
  }
  assert.ok(used.size > 20, "the scan found the keys");
  const unknown = [...used].filter((k) => !(k in en));
  assert.deepEqual(unknown, []);
});
