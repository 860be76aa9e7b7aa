// The seed story in the browser: the cardiologist logs in on a phone-sized screen, sees the
// clinic's angiography report in the inbox, opens it (verified and decrypted in the browser),
// and the bytes equal what the CLI, an independent client, decrypts.
import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { cli, login, screenshots } from "./helpers";

test("cardiologist opens the clinic's angiography report", async ({ page }) => {
  await login(page, "dr.wong");
  await expect(page.getByText("WONG Chi Keung · Peak Private Hospital")).toBeVisible();
  await expect(page.getByTestId("unread")).toHaveText(/[1-9]/);
  await screenshots(page, "search");

  await page.getByTestId("inbox-button").click();
  // The oldest share in the inbox is the seed story's (other tests add newer ones).
  const seedShare = page.getByTestId("event").filter({ hasText: "A document was shared with you" }).last();
  await expect(seedShare).toBeVisible();
  await screenshots(page, "inbox");
  await seedShare.getByRole("button", { name: "Open" }).click();

  const doc = page.getByTestId("document");
  await expect(doc.getByRole("heading", { level: 1 })).toContainText("Coronary angiography report");
  await expect(page.getByTestId("uploader")).toContainText("CHAN Tai Man");
  await expect(doc).toContainText("M30003");
  await expect(doc).toContainText("Harbour View Clinic");
  await expect(page.getByTestId("verified")).toBeVisible();
  await screenshots(page, "document");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("save").click()]);
  const saved = readFileSync((await download.path())!);
  expect(saved.subarray(0, 5).toString()).toBe("%PDF-");

  const id = (await doc.getAttribute("data-document-id"))!;
  const wong = cli("dr.wong");
  const out = path.join(wong.config, "cli-copy.pdf");
  wong.run(["get", id, "--output", out]);
  expect(Buffer.compare(saved, readFileSync(out))).toBe(0);
});

test("the patient number is checked as it is typed", async ({ page }) => {
  await login(page, "dr.wong");
  const input = page.getByLabel(/Patient number/);
  await input.fill("A123456(4)");
  await expect(page.locator("#patient-number-hint")).toHaveText(/check digit does not match/);
  await expect(page.getByRole("button", { name: "Search" })).toBeDisabled();
  await input.fill("A123456(3)");
  await expect(page.locator("#patient-number-hint")).toHaveText("Valid HKID");
  await expect(page.getByRole("button", { name: "Search" })).toBeEnabled();
});
