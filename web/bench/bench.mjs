// Web app benchmark (docs/benchmarks.md): starts `medshare demo` (the hub binary given by
// MEDSHARE_BIN, default target/release/medshare), drives Debian's Chromium with Playwright and
// prints figures: app shell cold load, login, a patient's timeline, and a 100 MB file sealed and
// uploaded in the browser and downloaded and opened in the browser, against the CLI doing the
// same natively. Not a test: nothing here passes or fails.
//   node bench/bench.mjs [--mib 100]
import { chromium } from "playwright-core";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";

const root = path.resolve(import.meta.dirname, "../..");
const BIN = process.env.MEDSHARE_BIN ?? path.join(root, "target/release/medshare");
const MIB = Number(process.argv[process.argv.indexOf("--mib") + 1] || 100) || 100;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const port = await new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const dir = mkdtempSync(path.join(tmpdir(), "medshare-bench-web-"));
const hub = spawn(BIN, ["demo", "--data-dir", dir, "--port", String(port)], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
const url = await new Promise((res) => hub.stdout.on("data", (b) => {
  out += b;
  const m = /^medshare sandbox hub: (\S+)/m.exec(out);
  if (m && /--patient '[^']+'/.test(out)) res(m[1]);
}));
hub.stdout.resume();
const hkid = /--patient '([^']+)'/.exec(out)[1];
const world = JSON.parse(readFileSync(path.join(dir, "sandbox.json"), "utf8"));
const totp = (h) => execFileSync(BIN, ["demo", "totp", h, "--data-dir", dir]).toString().trim();

const browser = await chromium.launch({
  executablePath: process.env.MEDSHARE_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

async function login(page, handle) {
  await page.getByLabel("User name").fill(handle);
  await page.getByLabel("Passphrase", { exact: true }).fill(world.people[handle].passphrase);
  await page.getByLabel("One-time code").fill(totp(handle));
  const t0 = performance.now();
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("button", { name: "Lock" }).waitFor({ timeout: 120_000 });
  return performance.now() - t0;
}

// 1. Cold load: a fresh browser profile each time (nothing cached), until the core answered.
const loads = [];
for (let i = 0; i < 5; i++) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const t0 = performance.now();
  await page.goto(url + "/#sandbox");
  await page.getByRole("button", { name: "Log in" }).waitFor();
  // The worker has loaded and instantiated the core when it answers the root fingerprint.
  await page.waitForFunction(() => performance.getEntriesByType("resource").some((r) => r.name.endsWith(".wasm") && r.responseEnd > 0));
  const load = performance.now() - t0;
  const wasm = await page.evaluate(() => performance.getEntriesByType("resource").find((r) => r.name.endsWith(".wasm")));
  loads.push({ load, wasmMs: wasm.responseEnd - wasm.startTime, wasmBytes: wasm.encodedBodySize });
  await ctx.close();
}
console.log(`cold load (shell + worker + core fetched), median of 5: ${median(loads.map((l) => l.load)).toFixed(0)} ms; wasm transfer ${median(loads.map((l) => l.wasmMs)).toFixed(0)} ms for ${loads[0].wasmBytes} bytes`);

// 2. Login and 3. the seed patient's timeline.
const ctx = await browser.newContext({ acceptDownloads: true });
const page = await ctx.newPage();
await page.goto(url + "/#sandbox");
const logins = [];
for (let i = 0; i < 3; i++) {
  logins.push(await login(page, "dr.chan"));
  if (i < 2) {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor();
  }
}
console.log(`login (sandbox KDF parameters, as enrolled by the demo), median of 3: ${median(logins).toFixed(0)} ms`);
const tl = [];
for (let i = 0; i < 5; i++) {
  await page.locator("#patient-number").fill(hkid);
  const t0 = performance.now();
  await page.locator("form.search button[type=submit]").click();
  await page.getByTestId("timeline").waitFor();
  await page.waitForFunction(() => !document.querySelector('[role="status"]')?.textContent?.includes("…"));
  tl.push(performance.now() - t0);
}
const docs = await page.getByTestId("timeline-entry").count();
console.log(`timeline of ${docs} documents (search, verify, decrypt manifests), median of 5: ${median(tl).toFixed(0)} ms`);

// 4. A large file: sealed in the browser and sent in parts, then downloaded and opened.
const big = path.join(dir, "big.bin");
writeFileSync(big, randomBytes(MIB * 1024 * 1024));
await page.getByRole("button", { name: "Upload" }).click();
await page.locator("#upload-patient").fill(hkid);
await page.getByTestId("file-input").setInputFiles(big);
await page.getByTestId("classified").waitFor({ timeout: 120_000 });
let t0 = performance.now();
await page.getByRole("button", { name: "Encrypt and upload" }).click();
await page.getByTestId("uploaded").waitFor({ timeout: 600_000 });
const up = (performance.now() - t0) / 1000;
await page.locator("form.search button[type=submit]").count();
await page.getByRole("button", { name: "Patients" }).click();
await page.locator("form.search button[type=submit]").click();
await page.getByTestId("timeline-entry").filter({ hasText: "big.bin" }).first().waitFor();
t0 = performance.now();
await page.getByTestId("timeline-entry").filter({ hasText: "big.bin" }).first().click();
await page.getByTestId("verified").waitFor({ timeout: 600_000 });
const down = (performance.now() - t0) / 1000;
console.log(`browser: ${MIB} MiB sealed + uploaded in parts ${up.toFixed(1)} s (${(MIB / up).toFixed(1)} MiB/s); downloaded + opened + verified ${down.toFixed(1)} s (${(MIB / down).toFixed(1)} MiB/s)`);
await browser.close();

// The CLI, natively, on the same hub.
const config = mkdtempSync(path.join(tmpdir(), "medshare-bench-cli-"));
const env = { ...process.env, MEDSHARE_CONFIG_DIR: config, MEDSHARE_PASSPHRASE: world.people["dr.chan"].passphrase };
execFileSync(BIN, ["login", "--hub", url, "--handle", "dr.chan", "--weak-kdf", "--totp", totp("dr.chan")], { env });
t0 = performance.now();
const res = execFileSync(BIN, ["upload", big, "--patient", hkid, "--title", "native big"], { env }).toString();
const nup = (performance.now() - t0) / 1000;
const id = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/.exec(res)?.[1];
t0 = performance.now();
execFileSync(BIN, ["get", id, "--output", path.join(config, "copy.bin")], { env });
const ndown = (performance.now() - t0) / 1000;
console.log(`native CLI: ${MIB} MiB upload ${nup.toFixed(1)} s (${(MIB / nup).toFixed(1)} MiB/s, includes classification); get ${ndown.toFixed(1)} s (${(MIB / ndown).toFixed(1)} MiB/s); copy ${statSync(path.join(config, "copy.bin")).size} bytes`);

hub.kill("SIGINT");
await new Promise((r) => hub.once("exit", r));
rmSync(dir, { recursive: true, force: true });
rmSync(config, { recursive: true, force: true });
