// Web app benchmark (docs/benchmarks.md): starts `medshare demo` (the hub binary given by
// MEDSHARE_BIN, default target/release/medshare, else target/debug/medshare), drives Debian's
// Chromium with Playwright and prints figures: the wasm module's size, app shell cold load, login
// with the production Argon2id parameters (64 MiB) and with the sandbox's, a 200-document
// timeline cold, warm and re-opened from the IndexedDB cache after a reload, and a large file
// sealed and uploaded in the browser and downloaded and
// opened in the browser, against the CLI doing the same natively. Not a test: nothing here passes
// or fails.
//   node bench/bench.mjs [--mib 100] [--docs 200] [--timeline-only | --transfer-only] [--profile]
// --transfer-only skips the cold loads, the production login and the timeline views (only the
// large file and the CLI). --profile records a Chrome trace of the large upload and download
// with V8's sampling profiler (every thread, the worker's included) and prints where the
// browser's CPU went: by thread (from /proc) and by function (self time of the samples).
import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { brotliCompressSync, constants as zlibConstants, gzipSync } from "node:zlib";

const root = path.resolve(import.meta.dirname, "../..");
const BIN =
  process.env.MEDSHARE_BIN ??
  [path.join(root, "target/release/medshare"), path.join(root, "target/debug/medshare")].find((p) => existsSync(p));
const arg = (name, dflt) => Number(process.argv[process.argv.indexOf(name) + 1] || dflt) || dflt;
const MIB = arg("--mib", 100);
const DOCS = arg("--docs", 200);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
console.log(`hub and CLI: ${BIN}`);

// 0. The wasm modules as served (web/dist), raw, gzip -9 and brotli q11: the core (every visit)
// and the classification module (fetched by the worker on the first upload).
const assets = path.join(root, "web/dist/assets");
const mib = (n) => (n / 1048576).toFixed(2);
for (const [what, prefix] of [["core", "medshare_wasm_bg-"], ["classification module", "medshare_wasm_classify_bg-"]]) {
  const file = readdirSync(assets).find((f) => f.startsWith(prefix) && f.endsWith(".wasm"));
  if (!file) continue;
  const bytes = readFileSync(path.join(assets, file));
  const gz = gzipSync(bytes, { level: 9 }).length;
  const br = brotliCompressSync(bytes, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  console.log(`wasm ${what}: ${bytes.length} bytes raw (${mib(bytes.length)} MiB), ${gz} bytes gzip -9 (${mib(gz)} MiB), ${br} bytes brotli q11 (${mib(br)} MiB)`);
}

const port = await new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const dir = mkdtempSync(path.join(tmpdir(), "medshare-bench-web-"));
const hub = spawn(BIN, ["demo", "--data-dir", dir, "--port", String(port)], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
const url = await new Promise((res) =>
  hub.stdout.on("data", (b) => {
    out += b;
    const m = /^medshare sandbox hub: (\S+)/m.exec(out);
    if (m && /--patient '[^']+'/.test(out)) res(m[1]);
  }),
);
hub.stdout.resume();
const world = JSON.parse(readFileSync(path.join(dir, "sandbox.json"), "utf8"));

// One-time codes: the hub refuses a code twice, so wait for the next period when needed.
const usedCodes = new Set();
async function fresh(make) {
  for (;;) {
    const c = make();
    if (!usedCodes.has(c)) {
      usedCodes.add(c);
      return c;
    }
    await sleep(1000);
  }
}
const demoTotp = (h) => fresh(() => execFileSync(BIN, ["demo", "totp", h, "--data-dir", dir]).toString().trim());
function rfc6238(secretB32) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secretB32.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const h = createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

const configs = []; // removed at the end
function cli(handle, passphrase) {
  const config = mkdtempSync(path.join(tmpdir(), `medshare-bench-cli-${handle}-`));
  configs.push(config);
  const env = { ...process.env, MEDSHARE_CONFIG_DIR: config, MEDSHARE_PASSPHRASE: passphrase };
  return { config, env, run: (args) => execFileSync(BIN, args, { env, maxBuffer: 64 << 20 }).toString() };
}
async function cliLogin(handle) {
  const c = cli(handle, world.people[handle].passphrase);
  c.run(["login", "--hub", url, "--handle", handle, "--weak-kdf", "--totp", await demoTotp(handle)]);
  return c;
}

const browser = await chromium.launch({
  executablePath: process.env.MEDSHARE_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

async function login(page, handle, passphrase, code) {
  await page.getByLabel("User name").fill(handle);
  await page.getByLabel("Passphrase", { exact: true }).fill(passphrase);
  await page.getByLabel("One-time code").fill(code);
  const t0 = performance.now();
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Lock" }).waitFor({ timeout: 180_000 });
  return performance.now() - t0;
}
async function logout(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
}

// 1. Cold load: a fresh browser profile each time (nothing cached), until the login form is
// shown and the worker has fetched the core (the worker's request, seen by Playwright).
const ONLY_TIMELINE = process.argv.includes("--timeline-only");
const ONLY_TRANSFER = process.argv.includes("--transfer-only");
const PROFILE = process.argv.includes("--profile");
const loads = [];
for (let i = 0; i < (ONLY_TIMELINE || ONLY_TRANSFER ? 0 : 5); i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const t0 = performance.now();
  const wasmDone = new Promise((res) =>
    ctx.on("requestfinished", async (r) => {
      if (!r.url().endsWith(".wasm")) return;
      const resp = await r.response();
      const bytes = Number((await resp?.headerValue("content-length")) ?? NaN);
      const encoding = (await resp?.headerValue("content-encoding")) ?? "identity";
      res({ at: performance.now(), bytes, encoding, timing: r.timing() });
    }),
  );
  await page.goto(url + "/#sandbox");
  await page.getByRole("button", { name: "Log in" }).waitFor();
  const shown = performance.now() - t0;
  const w = await wasmDone;
  loads.push({ shown, load: Math.max(shown, w.at - t0), wasmMs: w.timing.responseEnd - w.timing.requestStart, wasmBytes: `${w.bytes} (${w.encoding})` });
  await ctx.close();
}
if (loads.length) console.log(`cold load, median of 5: login form shown ${median(loads.map((l) => l.shown)).toFixed(0)} ms; core fetched by the worker ${median(loads.map((l) => l.load)).toFixed(0)} ms (runs ${loads.map((l) => l.load.toFixed(0)).join(", ")}); wasm request ${median(loads.map((l) => l.wasmMs)).toFixed(0)} ms for ${loads[0].wasmBytes} bytes on the wire`);

// 2. Login with the production key derivation: a practitioner enrolled by the CLI without
// --weak-kdf (Argon2id 64 MiB), certified by the clinic's administrator.
const admin = await cliLogin("admin.hvc");
const invited = admin.run(["admin", "invite", "--handle", "bench.kdf", "--name", "BENCH Argon", "--profession", "doctor", "--registration", "M99001"]);
const code = /Enrolment code[^:]*: (\S+)/.exec(invited)[1];
const practitioner = /as practitioner (\S+)/.exec(invited)[1];
const benchPass = "bench passphrase " + randomBytes(6).toString("hex");
const enrolled = cli("bench.kdf", benchPass).run(["enroll", "--hub", url, "--code", code]);
const secret = /secret=([A-Z2-7]+)/i.exec(enrolled)?.[1];
admin.run(["admin", "certify", practitioner]);
const ctx = await browser.newContext({ acceptDownloads: true });
const page = await ctx.newPage();
await page.goto(url + "/#sandbox");
const prod = [];
for (let i = 0; i < (ONLY_TIMELINE || ONLY_TRANSFER ? 0 : 3); i++) {
  prod.push(await login(page, "bench.kdf", benchPass, secret ? await fresh(() => rfc6238(secret)) : ""));
  await logout(page);
}
if (prod.length) console.log(`login, production Argon2id (64 MiB), median of 3: ${median(prod).toFixed(0)} ms (runs ${prod.map((x) => x.toFixed(0)).join(", ")})`);
const weak = [];
for (let i = 0; i < 3; i++) {
  weak.push(await login(page, "dr.chan", world.people["dr.chan"].passphrase, await demoTotp("dr.chan")));
  if (i < 2) await logout(page);
}
console.log(`login, sandbox KDF parameters, median of 3: ${median(weak).toFixed(0)} ms`);

// 3. A patient with DOCS documents (filed natively by the CLI), the timeline in the browser:
// cold (first search on this device: full search), warm (the same search again in the session:
// a `since` search over the sealed cache) and re-opened after a reload and a new login (the
// cache's sealed record read back from IndexedDB, then a `since` search).
const chan = await cliLogin("dr.chan");
const docsDir = path.join(dir, "docs");
mkdirSync(docsDir);
const files = [];
for (let i = 0; i < DOCS; i++) {
  const f = path.join(docsDir, `note-${String(i).padStart(3, "0")}.txt`);
  writeFileSync(f, `Progress note ${i}\nDate: 2026-${String((i % 12) + 1).padStart(2, "0")}-${String((i % 28) + 1).padStart(2, "0")}\nStable.\n`);
  files.push(f);
}
const hkid = "K" + String(100000 + Math.floor(Math.random() * 800000));
const letterValue = 20; // K
let sum = 36 * 9 + letterValue * 8;
[...hkid.slice(1)].forEach((d, i) => (sum += Number(d) * (7 - i)));
const check = (11 - (sum % 11)) % 11;
const benchHkid = `${hkid}(${check === 10 ? "A" : check})`;
let t0 = performance.now();
chan.run(["upload", ...files, "--patient", benchHkid, "--name", "BENCH Patient"]);
console.log(`(filed ${DOCS} documents with the CLI in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
await logout(page);
await login(page, "dr.chan", world.people["dr.chan"].passphrase, await demoTotp("dr.chan"));
// Where the time of one view went in the worker (web/src/core/worker.ts `phases`): the sealed
// record read from IndexedDB, the cached view opened and posted, the core's view with the hub's
// changes, the write-back.
// Asked of every worker of the page (the app's core worker is the one that has them; picking
// one by its URL found none in the sixth session's release run and printed NaN).
async function workerPhases(op) {
  const found = {};
  for (const w of page.workers()) {
    const got = await w
      .evaluate((prefix) => Object.fromEntries(performance.getEntriesByType("measure")
        .filter((m) => m.name.startsWith(prefix)).map((m) => [m.name.slice(prefix.length), m.duration])), `medshare:${op}:`)
      .catch(() => ({}));
    Object.assign(found, got);
  }
  return found;
}
// The hub requests of a view (the worker's fetches are reported on the page) and their times.
const requests = [];
page.on("requestfinished", (r) => {
  if (!r.url().includes("/v1/")) return;
  const t = r.timing();
  requests.push(`${r.method()} ${new URL(r.url()).pathname.replace(/[0-9a-f-]{36}/g, ":id")} ${(t.responseEnd - t.requestStart).toFixed(0)} ms`);
});
// A view's times measured in the page (no polling): from the click to this device's cached view
// painted (its first screenful: entries after the first screenful follow on the next frame), to
// all DOCS entries painted, and to the hub's answer painted (the timeline no longer `aria-busy`).
// "Painted": the first task after the next animation frame. Entries already on screen from an
// earlier view count only once this view has started (the cached view shown, or none before).
async function timeline() {
  await page.locator("#patient-number").fill(benchHkid);
  requests.length = 0;
  await page.evaluate((docs) => {
    const r = (window.__timeline = {});
    const entries = () => document.querySelectorAll("[data-testid=timeline-entry]").length;
    const before = entries();
    const button = document.querySelector("form.search button[type=submit]");
    button.addEventListener("click", () => (r.click = performance.now()), { capture: true, once: true });
    const painted = (key) => {
      r[`${key}Committed`] ??= performance.now() - r.click; // in the DOM (React committed)
      requestAnimationFrame(() => setTimeout(() => (r[key] ??= performance.now() - r.click)));
    };
    const seen = new Set();
    const once = (key) => !seen.has(key) && seen.add(key) && painted(key);
    performance.clearMeasures("medshare:early:parse");
    const observer = new MutationObserver(() => {
      if (r.click === undefined) return;
      const busy = document.querySelector("[data-testid=timeline]")?.getAttribute("aria-busy");
      const n = entries();
      if (busy === "true" && n > 0) once("cached");
      const started = seen.has("cached") || before === 0;
      if (started && busy === "false" && n > 0) once("current");
      if (started && n >= docs) once("all");
      if (seen.has("current") && seen.has("all")) observer.disconnect();
    });
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-busy"] });
  }, DOCS);
  await page.locator("form.search button[type=submit]").click();
  await page.waitForFunction(() => window.__timeline.current !== undefined && window.__timeline.all !== undefined, null, { timeout: 120_000 });
  const times = await page.evaluate(() => {
    const parse = performance.getEntriesByName("medshare:early:parse").at(-1);
    const t = window.__timeline;
    return { ...t, early: parse ? parse.startTime - t.click : undefined, parse: parse?.duration };
  });
  const phases = await workerPhases("timeline");
  return {
    shown: times.cached ?? times.current,
    committed: times.cachedCommitted ?? times.currentCommitted,
    all: times.all,
    current: times.current,
    toPage: times.early,
    parse: times.parse,
    ...phases,
    requests: [...requests],
  };
}
const fmt = (runs, keys) => keys.map((k) => `${k} ${median(runs.map((r) => r[k] ?? NaN)).toFixed(0)}`).join(", ");
const med = (runs, k) => median(runs.map((r) => r[k] ?? NaN)).toFixed(0);
const fmtView = (runs) =>
  `first screenful painted ${med(runs, "shown")} ms, all ${DOCS} painted ${med(runs, "all")} ms, the hub's answer painted ${med(runs, "current")} ms; worker: ${fmt(runs, ["prime", "cached", "core", "persist"])}; from the click: cached view on the page ${med(runs, "toPage")} (parse ${med(runs, "parse")}), first screenful in the DOM ${med(runs, "committed")}`;
if (!ONLY_TRANSFER) {
  const cold = await timeline();
  const warm = [];
  for (let i = 0; i < 5; i++) warm.push(await timeline());
  console.log(`timeline of ${await page.getByTestId("timeline-entry").count()} documents, cold (full search, verify, decrypt, render): ${fmtView([cold])}`);
  console.log(`timeline again in the page, median of 5: ${fmtView(warm)} (hub's answer, runs ${warm.map((r) => r.current.toFixed(0)).join(", ")})`);
  const reopened = [];
  const starts = [];
  for (let i = 0; i < 3; i++) {
    await logout(page);
    await page.reload();
    await login(page, "dr.chan", world.people["dr.chan"].passphrase, await demoTotp("dr.chan"));
    starts.push((await workerPhases("start")).core ?? NaN);
    reopened.push(await timeline());
  }
  console.log(`hub requests of the last re-opened view: ${reopened.at(-1).requests.join("; ")}`);
  console.log(`timeline of ${DOCS} documents re-opened after a reload and a new login (from the IndexedDB cache), median of 3: ${fmtView(reopened)} (first screenful, runs ${reopened.map((r) => r.shown.toFixed(0)).join(", ")}); the worker had the core instantiated ${median(starts).toFixed(0)} ms after it started`);
  console.log(`load average at the end of the timeline runs: ${execFileSync("cat", ["/proc/loadavg"]).toString().trim()}`);
}

if (ONLY_TIMELINE) {
  await browser.close();
  hub.kill("SIGINT");
  await new Promise((r) => hub.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
  for (const c of configs) rmSync(c, { recursive: true, force: true });
  process.exit(0);
}

// 4. A large file: sealed in the browser and sent in parts, then downloaded and opened. Memory:
// the resident size of this bench's Chromium processes, sampled every 250 ms (the file must not be held
// whole: peak minus the figure before the upload should stay far below the file's size).
// This bench's Chromium: the processes under this Node process (Playwright starts the browser
// as its child) that are not the hub (other sessions on the machine may run their own Chromium).
const browserPids = () => {
  const children = new Map();
  for (const line of execFileSync("ps", ["-e", "-o", "pid=,ppid="]).toString().trim().split("\n")) {
    const [pid, ppid] = line.trim().split(/\s+/);
    children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const out = [];
  for (let todo = (children.get(String(process.pid)) ?? []).filter((p) => p !== String(hub.pid)); todo.length; ) {
    const p = todo.pop();
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
};
const chromiumRss = () => {
  try {
    return execFileSync("ps", ["-o", "rss=", "-p", browserPids().join(",")]).toString().split(/\s+/).filter(Boolean).reduce((a, b) => a + Number(b), 0) * 1024;
  } catch {
    return 0;
  }
};
// CPU seconds (user + system) of all Chromium processes and of the hub, from /proc: on a loaded
// machine the wall-clock figures say how long a doctor waits, these what each side costs.
const ticks = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  } catch {
    return 0;
  }
};
const cpuSeconds = () => {
  const pids = browserPids();
  const hz = 100; // USER_HZ on Linux
  return { browser: pids.reduce((a, p) => a + ticks(p), 0) / hz, hub: ticks(hub.pid) / hz };
};
const cpuSince = (c0) => {
  const c = cpuSeconds();
  return `CPU: browser ${(c.browser - c0.browser).toFixed(1)} s, hub ${(c.hub - c0.hub).toFixed(1)} s`;
};
// CPU seconds by thread (/proc/PID/task/TID: the process's type from its command line, the
// thread's name from `comm`), to say which of Chromium's threads the browser's CPU went to.
const threadTicks = () => {
  const out = new Map();
  for (const pid of browserPids()) {
    let type = "browser";
    try {
      type = /--type=([\w-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, "utf8"))?.[1] ?? "browser";
      if (type === "utility" && /NetworkService/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"))) type = "network";
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+$/, "");
        const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
        const key = `${type}/${name}`;
        out.set(key, (out.get(key) ?? 0) + Number(f[11]) + Number(f[12]));
      }
    } catch {
      // the process or thread ended meanwhile
    }
  }
  return out;
};
const threadsSince = (t0) => {
  const rows = [...threadTicks()].map(([k, v]) => [k, (v - (t0.get(k) ?? 0)) / 100]).filter(([, v]) => v >= 0.05);
  return rows.sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ");
};
// V8's sampling profiler over a Chrome trace: self time by function (wasm functions by name when
// the module keeps its name section, else by index), over every isolate (page and workers).
async function startProfile() {
  if (PROFILE) await browser.startTracing(undefined, { categories: ["disabled-by-default-v8.cpu_profiler", "v8.execute", "toplevel"] });
}
async function stopProfile(what) {
  if (!PROFILE) return;
  const trace = JSON.parse((await browser.stopTracing()).toString());
  const events = trace.traceEvents ?? trace;
  const nodes = new Map(); // `${id}:${profile id}` -> function label
  const self = new Map();
  let total = 0;
  for (const e of events) {
    if (e.name !== "ProfileChunk") continue;
    const data = e.args?.data?.cpuProfile;
    if (!data) continue;
    for (const n of data.nodes ?? []) {
      const cf = n.callFrame;
      const file = (cf.url ?? "").split("/").pop().replace(/-[\w-]{8}\.(js|wasm)$/, ".$1");
      nodes.set(`${e.id}:${n.id}`, `${cf.functionName || "(anonymous)"}${file ? ` [${file}]` : ""}`);
    }
    const deltas = e.args.data.timeDeltas ?? [];
    (data.samples ?? []).forEach((id, i) => {
      const label = nodes.get(`${e.id}:${id}`) ?? "?";
      const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
      self.set(label, (self.get(label) ?? 0) + dt);
      total += dt;
    });
  }
  const top = [...self].filter(([k]) => !["(idle)", "(program)", "(garbage collector)"].includes(k)).sort((a, b) => b[1] - a[1]).slice(0, 25);
  console.log(`profile of the ${what} (V8 samples, every isolate, ${(total / 1000).toFixed(2)} s sampled incl. idle ${((self.get("(idle)") ?? 0) / 1000).toFixed(2)} s, program ${((self.get("(program)") ?? 0) / 1000).toFixed(2)} s, GC ${((self.get("(garbage collector)") ?? 0) / 1000).toFixed(2)} s): ` +
    top.map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join("; "));
}
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, chromiumRss())), 250);
const big = path.join(dir, "big.bin");
writeFileSync(big, randomBytes(MIB * 1024 * 1024));
await page.getByRole("button", { name: "Upload" }).click();
await page.locator("#upload-patient").fill(benchHkid);
await page.getByTestId("file-input").setInputFiles(big);
await page.getByTestId("classified").waitFor({ timeout: 120_000 });
// Random bytes can look like another patient's number to the classifier: confirm as a user would.
if (await page.getByTestId("mismatch").count()) {
  console.log("(the classifier saw another patient number in the random file; confirmed)");
  await page.getByTestId("mismatch").getByRole("checkbox").check();
}
requests.length = 0;
await startProfile();
let cpu0 = cpuSeconds();
let threads0 = threadTicks();
t0 = performance.now();
const before = chromiumRss();
peak = before;
await page.getByRole("button", { name: "Encrypt and upload" }).click();
await page.getByTestId("uploaded").waitFor({ timeout: 600_000 });
const up = (performance.now() - t0) / 1000;
const upPeak = peak;
// Where the upload's time went: the worker's phases, and the hub's side of it (each request
// from its start to the end of its response, as Chromium reports it: sending the part and the
// hub staging it; with one part in flight while the next is sealed these overlap the sealing).
const hubMs = (re) => requests.filter((r) => re.test(r)).reduce((a, r) => a + Number(/ (\d+) ms$/.exec(r)[1]), 0);
const upCpu = cpuSince(cpu0);
console.log(`upload CPU by thread (s): ${threadsSince(threads0)}`);
await stopProfile("upload");
const upPhases = await workerPhases("upload");
console.log(`upload in the worker (ms): ${Object.entries(upPhases).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}; ` +
  `sealing alone (the median 1 MiB slice) ${(1000 / upPhases.sealSlice).toFixed(1)} MiB/s; the hub's requests: ${requests.filter((r) => /PUT .*parts/.test(r)).length} parts ${hubMs(/PUT .*parts/)} ms in all, complete ${hubMs(/POST .*complete/)} ms, commit ${hubMs(/POST \/v1\/documents /)} ms`);
await page.getByRole("button", { name: "Patients" }).click();
await page.locator("#patient-number").fill(benchHkid);
await page.locator("form.search button[type=submit]").click();
await page.getByTestId("timeline-entry").filter({ hasText: "big.bin" }).first().waitFor();
await startProfile();
cpu0 = cpuSeconds();
threads0 = threadTicks();
const beforeDown = chromiumRss();
peak = beforeDown;
t0 = performance.now();
await page.getByTestId("timeline-entry").filter({ hasText: "big.bin" }).first().click();
await page.getByTestId("verified").waitFor({ timeout: 600_000 });
const down = (performance.now() - t0) / 1000;
clearInterval(sampler);
const downCpu = cpuSince(cpu0);
console.log(`download CPU by thread (s): ${threadsSince(threads0)}`);
await stopProfile("download");
console.log(`upload ${upCpu}; download ${downCpu}`);
console.log(`download in the worker: ${((await workerPhases("download")).core ?? NaN).toFixed(0)} ms from the request to the last byte opened and verified`);
console.log(`browser: ${MIB} MiB sealed + uploaded in parts ${up.toFixed(1)} s (${(MIB / up).toFixed(1)} MiB/s); downloaded + opened + verified ${down.toFixed(1)} s (${(MIB / down).toFixed(1)} MiB/s)`);
console.log(`browser memory (this bench's Chromium processes, RSS): ${mib(before)} MiB before the upload, peak ${mib(upPeak)} MiB while uploading; ${mib(beforeDown)} MiB before the download, peak ${mib(peak)} MiB while downloading (the opened file is written to OPFS, web/src/core/spool.ts)`);
console.log("note: Playwright's Network domain has Chromium encode every request body for it (an upload's parts included): in a page without DevTools attached 100 MiB of 4 MiB fetch PUTs from a worker cost Chromium about 1.1 CPU s, under Playwright 6.2 (docs/benchmarks.md §7, bench/harness-cost.mjs), so the upload's figures here are the harness's as much as the app's");
await browser.close();

// The CLI, natively, on the same hub and the same file.
t0 = performance.now();
const res = chan.run(["upload", big, "--patient", benchHkid, "--title", "native big"]);
const nup = (performance.now() - t0) / 1000;
const id = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(res)?.[1];
t0 = performance.now();
chan.run(["get", id, "--output", path.join(chan.config, "copy.bin")]);
const ndown = (performance.now() - t0) / 1000;
console.log(`native CLI (${BIN}): ${MIB} MiB upload ${nup.toFixed(1)} s (${(MIB / nup).toFixed(1)} MiB/s, includes classification); get ${ndown.toFixed(1)} s (${(MIB / ndown).toFixed(1)} MiB/s); copy ${statSync(path.join(chan.config, "copy.bin")).size} bytes`);

hub.kill("SIGINT");
await new Promise((r) => hub.once("exit", r));
rmSync(dir, { recursive: true, force: true });
for (const c of configs) rmSync(c, { recursive: true, force: true });
