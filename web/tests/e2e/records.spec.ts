// A patient's lab trends across two laboratories, and the patient's consent recorded and
// withdrawn in the app (what `medshare consent` does).
import { expect, test } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { axe, cli, fits360, login, randomHkid, screenshots, search } from "./helpers";

/** An HL7 ORU^R01 lab report from `lab` for the patient, taken on `day` (YYYYMMDD). */
function oru(hkid: string, lab: string, day: string, results: string[]): string {
  const file = path.join(tmpdir(), `trend-${lab}-${day}-${Date.now()}.hl7`);
  const id = hkid.replace(/[()]/g, "");
  const lines = [
    `MSH|^~\\&|LAB|${lab}|||${day}093000||ORU^R01|${day}|P|2.5`,
    `PID|1||${id}^^^HKID||CHOW^MEI||19580312|F`,
    `OBR|1|||24323-8^Metabolic panel^LN|||${day}080000`,
    ...results.map((r, i) => `OBX|${i + 1}|NM|${r}|||F|||${day}080000`),
  ];
  writeFileSync(file, lines.join("\r") + "\r");
  return file;
}

test("lab trends across two laboratories; consent recorded and withdrawn in the app", async ({ page }) => {
  const hkid = randomHkid();
  const chan = cli("dr.chan");
  // January at the clinic (glucose in mg/dL), registering the patient.
  chan.run([
    "upload",
    oru(hkid, "HVC", "20260110", ["2345-7^Glucose^LN||126|mg/dL|70-99|H", "2823-3^Potassium^LN||4.2|mmol/L|3.5-5.1|N"]),
    "--patient", hkid, "--name", "CHOW Mei", "--title", "Clinic bloods January",
  ]);

  await login(page, "dr.chan");
  await search(page, hkid);
  await page.getByRole("button", { name: "Consent", exact: true }).click();
  const consent = page.getByTestId("consent");
  await expect(consent).toContainText("Registered by Harbour View Clinic (HVC)");
  await expect(page.getByTestId("consent-none")).toBeVisible();
  await page.getByLabel("Record consent to share with").selectOption("KPH");
  await page.getByRole("button", { name: "Record consent" }).click();
  await expect(page.getByTestId("consent-done")).toContainText("Kowloon Public Hospital (KPH)");
  await expect(page.getByTestId("consent-holder")).toHaveCount(1);
  await expect(page.getByTestId("consent-holder")).toContainText("Kowloon Public Hospital (KPH)");
  await axe(page, "consent");
  await screenshots(page, "consent");

  // With consent, the public hospital files its own result (mmol/L); then the clinic again,
  // with a critical potassium.
  cli("dr.ho").run([
    "upload",
    oru(hkid, "KPH", "20260210", ["14749-6^Glucose^LN||7.8|mmol/L|3.9-6.1|H"]),
    "--patient", hkid, "--title", "ED bloods February",
  ]);
  chan.run([
    "upload",
    oru(hkid, "HVC", "20260310", ["2345-7^Glucose^LN||5.5|mmol/L|3.9-6.1|N", "2823-3^Potassium^LN||6.9|mmol/L|3.5-5.1|HH"]),
    "--patient", hkid, "--title", "Clinic bloods March",
  ]);

  await search(page, hkid);
  await expect(page.getByTestId("timeline-entry")).toHaveCount(3);
  await page.getByRole("button", { name: "Lab trends", exact: true }).click();
  const glucose = page.getByTestId("trend").filter({ hasText: "Glucose" });
  await expect(glucose).toContainText("mmol/L");
  const points = glucose.getByTestId("trend-point");
  await expect(points).toHaveCount(3);
  // Oldest first, 126 mg/dL shown as 6.99 mmol/L, from two institutions.
  await expect(glucose.getByTestId("trend-value")).toHaveText([/^6\.99 mmol\/L \(H\)/, /^7\.8 mmol\/L \(H\)/, /^5\.5 mmol\/L/]);
  await expect(points.nth(0)).toContainText("126 mg/dL");
  await expect(glucose.getByTestId("trend-lab")).toHaveText([
    "Harbour View Clinic (HVC)",
    "Kowloon Public Hospital (KPH)",
    "Harbour View Clinic (HVC)",
  ]);
  await expect(glucose.getByTestId("reference-band")).toHaveCount(1);
  const potassium = page.getByTestId("trend").filter({ hasText: "Potassium" });
  await expect(potassium.getByTestId("trend-point")).toHaveCount(2);
  await expect(potassium.locator("tr.critical")).toContainText("6.9 mmol/L ⚠ Critical");
  await expect(potassium.locator(".critical-mark")).toHaveCount(1);
  await axe(page, "lab trends");
  await fits360(page, "lab trends");
  await screenshots(page, "lab-trends");

  // Upload opens with the searched patient's number filled in and already checked.
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await expect(page.locator("#upload-patient")).toHaveValue(hkid);
  await page.getByTestId("file-input").setInputFiles({ name: "note.txt", mimeType: "text/plain", buffer: Buffer.from("Review in clinic in 3 months.\n") });
  await expect(page.getByTestId("classified")).toHaveCount(1);
  await expect(page.getByRole("button", { name: "Encrypt and upload" })).toBeEnabled();
  await page.getByRole("button", { name: "Patients", exact: true }).click();

  // Withdraw the public hospital's consent.
  await page.getByRole("button", { name: "Consent", exact: true }).click();
  await page.getByTestId("consent-holder").getByRole("button", { name: "Withdraw" }).click();
  await expect(page.getByTestId("consent-done")).toContainText("Consent withdrawn from Kowloon Public Hospital (KPH)");
  await expect(page.getByTestId("consent-none")).toBeVisible();
});
