// Enrolment in the browser: a practitioner's first use on a new device with the code their
// administrator gave them (the CLI's `enroll`, through the core in the worker), certification by
// the administrator, then the first login and a record shared with them.
import { expect, test } from "@playwright/test";
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { axe, cli, fits360, hub, randomHkid, screenshots } from "./helpers";

/** RFC 6238 code for an `otpauth://totp/...` URI (what an authenticator app would show). */
function totpFromUri(uri: string): string {
  const params = new URL(uri).searchParams;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of params.get("secret")!.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const digits = Number(params.get("digits") ?? 6);
  const period = Number(params.get("period") ?? 30);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / period)));
  const algorithm = (params.get("algorithm") ?? "SHA1").toLowerCase();
  const mac = createHmac(algorithm, key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(value).padStart(digits, "0");
}

test("a new practitioner enrols in the browser, is certified, logs in and sees a record shared with them", async ({ page }) => {
  test.setTimeout(120_000);
  const admin = cli("admin.hvc");
  const suffix = Date.now() % 100000;
  const handle = `dr.enrol${suffix}`;
  const name = `LAM Enrol ${suffix}`;
  const invited = admin.run([
    "admin", "invite", "--handle", handle, "--name", name, "--profession", "doctor",
    "--registration", `M${String(10000 + (suffix % 90000))}`, "--specialty", "Cardiology",
  ]);
  const code = /Enrolment code \(give it out of band, once\): (\S+)/.exec(invited)![1];
  const practitioner = /as practitioner (\S+)/.exec(invited)![1];

  // A new device: this test's fresh browser context, nothing pinned, nothing stored.
  await page.goto(hub() + "/#sandbox");
  await page.getByRole("button", { name: "First time on this device? Enrol with a code" }).click();
  await page.getByLabel("Enrolment code").fill(code);
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.getByTestId("enrol-who")).toContainText(name);
  await expect(page.getByTestId("enrol-who")).toContainText("Harbour View Clinic");
  const pass = "a passphrase chosen in the browser";
  await page.getByLabel("New passphrase (at least 12 characters)").fill(pass);
  await page.getByLabel("The same passphrase again").fill(pass + " but not the same");
  await page.getByRole("button", { name: "Create my keys and enrol" }).click();
  await expect(page.getByTestId("enrol-error")).toContainText("differ");
  await page.getByLabel("The same passphrase again").fill(pass);
  await page.getByRole("button", { name: "Create my keys and enrol" }).click();
  const fingerprint = (await page.getByTestId("enrol-fingerprint").textContent({ timeout: 60_000 }))!.trim();
  const uri = (await page.getByTestId("enrol-totp").textContent())!.trim();
  expect(uri).toMatch(/^otpauth:\/\/totp\//);
  await axe(page, "enrolment");
  await fits360(page, "enrolment");
  await screenshots(page, "enrolment");

  // The administrator certifies the key whose fingerprint the new member read out.
  expect(admin.run(["admin", "certify", practitioner, "--fingerprint", fingerprint])).toContain("Certified");
  // A colleague at the clinic files a document for a patient and shares it with the new member.
  const chan = cli("dr.chan");
  const hkid = randomHkid();
  const file = path.join(tmpdir(), `enrol-${suffix}.txt`);
  writeFileSync(file, "Referral letter\nDate: 2026-11-20\nPlease review the echocardiogram.\n");
  chan.run(["upload", file, "--patient", hkid, "--name", "CHEUNG Enrol", "--title", "Referral for the new colleague", "--share", handle]);

  // First login on this device with the passphrase and the authenticator's code.
  await page.getByRole("button", { name: "Go to log in" }).click();
  await expect(page.getByLabel("User name")).toHaveValue(handle);
  await page.getByLabel("Passphrase", { exact: true }).fill(pass);
  await page.getByLabel("One-time code").fill(totpFromUri(uri));
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("button", { name: "Lock" })).toBeVisible({ timeout: 60_000 });
  await page.getByRole("button", { name: "Patients", exact: true }).click();
  await page.locator("#patient-number").fill(hkid);
  await page.locator("form.search button[type=submit]").click();
  await expect(page.getByTestId("timeline-entry").filter({ hasText: "Referral for the new colleague" })).toBeVisible();
});
