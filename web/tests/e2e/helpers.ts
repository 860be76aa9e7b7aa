// What the browser tests share: the sandbox's people, logging in through the real form,
// screenshots under target/, and the CLI as an independent second client.
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export const hub = () => process.env.MEDSHARE_E2E_URL!;
const dir = () => process.env.MEDSHARE_E2E_DIR!;
const bin = () => process.env.MEDSHARE_E2E_BIN!;

interface World {
  people: Record<string, { passphrase: string; totp_secret?: string }>;
}

export function passphrase(handle: string): string {
  const w = JSON.parse(readFileSync(path.join(dir(), "sandbox.json"), "utf8")) as World;
  return w.people[handle].passphrase;
}

export function totp(handle: string): string {
  return execFileSync(bin(), ["demo", "totp", handle, "--data-dir", dir()]).toString().trim();
}


export async function login(page: Page, handle: string, opts: { expectError?: boolean } = {}) {
  await page.goto(hub() + "/#sandbox");
  await page.getByLabel("User name").fill(handle);
  await page.getByLabel("Passphrase", { exact: true }).fill(passphrase(handle));
  await page.getByLabel("One-time code").fill(totp(handle));
  await page.getByRole("button", { name: "Log in" }).click();
  if (!opts.expectError) await expect(page.getByRole("button", { name: "Lock" })).toBeVisible({ timeout: 60_000 });
}

const shots = path.resolve(import.meta.dirname, "../../../target/web-e2e/screenshots");

/** A screenshot at phone size (360 px) and at desktop size, for a reviewer to look at. */
export async function screenshots(page: Page, name: string) {
  mkdirSync(shots, { recursive: true });
  const before = page.viewportSize();
  await page.setViewportSize({ width: 360, height: 780 });
  await page.screenshot({ path: path.join(shots, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.screenshot({ path: path.join(shots, `${name}-desktop.png`), fullPage: true });
  if (before) await page.setViewportSize(before);
}

/** The CLI, logged in as `handle` in its own config folder: an independent client. */
export function cli(handle: string) {
  const config = mkdtempSync(path.join(tmpdir(), `medshare-cli-${handle}-`));
  const env = { ...process.env, MEDSHARE_CONFIG_DIR: config, MEDSHARE_PASSPHRASE: passphrase(handle) };
  const run = (args: string[]) => execFileSync(bin(), args, { env }).toString();
  run(["login", "--hub", hub(), "--handle", handle, "--weak-kdf", "--totp", totp(handle)]);
  return { run, config };
}

export const seedHkid = () => process.env.MEDSHARE_E2E_HKID!;

/** A fresh, valid HKID (check digit by the standard weighting), e.g. `K123456(7)`. */
export function randomHkid(): string {
  const letters = "ACDEGHKMPRVYZ";
  const letter = letters[Math.floor(Math.random() * letters.length)];
  const digits = Array.from({ length: 6 }, () => Math.floor(Math.random() * 10)).join("");
  let sum = 36 * 9 + (letter.charCodeAt(0) - 55) * 8;
  [...digits].forEach((d, i) => (sum += Number(d) * (7 - i)));
  const r = (11 - (sum % 11)) % 11;
  return `${letter}${digits}(${r === 10 ? "A" : r})`;
}

/** Search a patient number on the Patients screen and wait for the timeline. */
export async function search(page: Page, hkid: string) {
  await page.getByRole("button", { name: /^Patients$|^病人$|^患者$|^Pasien$/ }).click();
  const input = page.locator("#patient-number");
  await input.fill(hkid);
  await page.locator("form.search button[type=submit]").click();
  await expect(page.getByTestId("timeline")).toBeVisible();
  // Shown from this device's cache first, if it has one: wait for the hub's answer.
  await expect(page.getByTestId("timeline")).toHaveAttribute("aria-busy", "false");
}

/** axe-core (WCAG 2.1 A/AA) finds no serious or critical violation on the page as it is. */
export async function axe(page: Page, what: string) {
  const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`), what).toEqual([]);
}

/** The page does not scroll sideways at 360 px. */
export async function fits360(page: Page, what: string) {
  await page.setViewportSize({ width: 360, height: 780 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width, `${what} scrolls sideways at 360 px`).toBeLessThanOrEqual(360);
}
