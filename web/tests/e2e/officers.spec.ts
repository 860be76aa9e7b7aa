// The privacy officer's and the institution administrator's screens, shown by role: the whole
// audit log verified in the browser, a patient's access history, break-glass review with the
// reason decrypted here, the data access export; an enrolment code, certification after the
// fingerprint check, removal of a member (what `medshare audit` and `medshare admin` do).
import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { axe, cli, fits360, hub, login, randomHkid, screenshots } from "./helpers";

test("privacy officer: verify the log, access history, break-glass review, export", async ({ page }) => {
  // The clinic files a record for a patient who consents to share with the alliance; an ED
  // doctor of the public hospital opens it by break-glass.
  const hkid = randomHkid();
  const chan = cli("dr.chan");
  const file = path.join(tmpdir(), `po-${Date.now()}.txt`);
  writeFileSync(file, "Discharge summary: asthma, salbutamol.\n");
  chan.run(["upload", file, "--patient", hkid, "--name", "MAN Ka Yan", "--title", "Discharge summary"]);
  chan.run(["consent", "grant", "--patient", hkid, "--to", "alliance"]);
  const reason = `Collapsed in ED at ${Date.now()}, no history available`;
  const ho = cli("dr.ho");
  ho.run(["break-glass", "--patient", hkid, "--reason", reason]);
  ho.run(["search", "--patient", hkid]);

  await login(page, "privacy.kph");
  // Only the officer's screens: no patient search or upload for this role.
  await expect(page.getByRole("button", { name: "Audit", exact: true })).toBeVisible();
  await expect(page.getByRole("button", { name: "Upload", exact: true })).toHaveCount(0);
  await page.getByRole("button", { name: "Verify the whole log" }).click();
  await expect(page.getByTestId("log-report")).toContainText("The log is intact", { timeout: 60_000 });

  await page.getByLabel("Patient number (optional)").fill(hkid);
  await page.getByRole("button", { name: "Access history" }).click();
  const history = page.getByTestId("access-history");
  await expect(history).toBeVisible();
  const glass = history.getByTestId("audit-entry").filter({ has: page.locator("code", { hasText: /^break-glass$/ }) });
  await expect(glass).toHaveCount(1);
  await expect(history).toContainText("HO Ka Lok (M10001, KPH)");
  await glass.getByRole("button", { name: "Review" }).click();
  await expect(page.getByTestId("breakglass-reason")).toHaveText(reason);
  await expect(page.getByTestId("breakglass-review")).toContainText("HO Ka Lok (dr.ho), M10001, Kowloon Public Hospital");
  await axe(page, "audit");
  await fits360(page, "audit");
  await screenshots(page, "audit");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Data access export" }).click()]);
  const dar = JSON.parse(readFileSync((await download.path())!, "utf8"));
  // The public hospital's officer: the accesses by its members (its break-glass included) and
  // the documents in its scope (none here: the clinic filed the only one).
  expect(dar.documents).toEqual([]);
  expect(dar.head).toBeDefined();
  expect(dar.accesses.some((a: { action: string }) => a.action === "break-glass")).toBe(true);

  // The whole log, filtered by practitioner.
  await page.getByLabel("Patient number (optional)").fill("");
  await page.getByLabel("Practitioner user name (optional)").fill("dr.ho");
  await page.getByRole("button", { name: "Show entries" }).click();
  const log = page.getByTestId("audit-log");
  await expect(log.getByTestId("audit-entry").first()).toBeVisible();
  const who = await log.getByTestId("audit-entry").locator("td:nth-child(3)").allTextContents();
  expect(new Set(who)).toEqual(new Set(["HO Ka Lok (M10001, KPH)"]));
});

test("administrator: enrolment code, certification after the fingerprint check, removal", async ({ page }) => {
  await login(page, "admin.hvc");
  await expect(page.getByRole("heading", { name: "Members of Harbour View Clinic" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Patients", exact: true })).toHaveCount(0);
  const handle = `dr.new${Date.now() % 100000}`;
  await page.getByLabel("User name").fill(handle);
  await page.getByLabel("Full name (as registered)").fill("NG Wai Man");
  await page.getByLabel("Profession").selectOption("nurse");
  await page.getByLabel("Registration number").fill(`RN${String(Date.now() % 1000000).padStart(6, "0")}`);
  await page.getByRole("button", { name: "Create enrolment code" }).click();
  const code = (await page.getByTestId("enrolment-code").locator("code").textContent())!.trim();
  expect(code.length).toBeGreaterThan(8);

  // The new member enrols with the code on their own device (the CLI).
  const config = mkdtempSync(path.join(tmpdir(), "medshare-cli-new-"));
  const out = execFileSync(process.env.MEDSHARE_E2E_BIN!, ["enroll", "--hub", hub(), "--code", code, "--weak-kdf"], {
    env: { ...process.env, MEDSHARE_CONFIG_DIR: config, MEDSHARE_PASSPHRASE: "a new member's passphrase" },
  }).toString();
  const fingerprint = /read it to your administrator\): (.+)$/m.exec(out)![1].trim();

  // Back to the members screen: it reads the waiting list again.
  await page.getByTestId("inbox-button").click();
  await page.getByRole("button", { name: "Members", exact: true }).click();
  const pending = page.getByTestId("pending").filter({ hasText: handle });
  await expect(pending).toContainText(fingerprint);
  // A fingerprint that differs is refused.
  await pending.getByLabel("Fingerprint they read out").fill("0000 0000 0000 0000");
  await pending.getByRole("button", { name: "Certify" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await pending.getByLabel("Fingerprint they read out").fill(fingerprint);
  await pending.getByRole("button", { name: "Certify" }).click();
  await expect(page.getByTestId("admin-done")).toContainText("Certified NG Wai Man");
  const member = page.getByTestId("member").filter({ hasText: handle });
  await expect(member).toBeVisible();
  await axe(page, "members");
  await fits360(page, "members");
  await screenshots(page, "members");

  await member.getByRole("button", { name: "Remove" }).click();
  await member.getByRole("button", { name: "Remove now" }).click();
  await expect(page.getByTestId("admin-done")).toContainText("Removed NG Wai Man");
  await expect(page.getByTestId("member").filter({ hasText: handle })).toHaveCount(0);
});
