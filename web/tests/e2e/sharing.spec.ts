// Upload from a phone, share, see it arrive live, open it; revoke; break-glass.
import { expect, test, type Browser } from "@playwright/test";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cli, login, randomHkid, screenshots, search, seedHkid } from "./helpers";

async function phone(browser: Browser) {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: "en-GB", timezoneId: "Asia/Hong_Kong" });
  return { ctx, page: await ctx.newPage() };
}

// A one-page PDF with a text layer, and an HL7 ORU^R01 lab report naming the patient.
function pdf(text: string): Buffer {
  const objs = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    `<< /Length ${`BT /F1 12 Tf 20 100 Td (${text}) Tj ET`.length} >>\nstream\nBT /F1 12 Tf 20 100 Td (${text}) Tj ET\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, "0")} 00000 n \n`).join("")}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, "latin1");
}

function oru(hkid: string): Buffer {
  const id = hkid.replace(/[()]/g, "");
  return Buffer.from(
    [
      "MSH|^~\\&|LAB|HVC|||20261101093000||ORU^R01|1|P|2.5",
      `PID|1||${id}^^^HKID||CHEUNG^KA MING||19610402|M`,
      "OBR|1|||24331-1^Lipid panel^LN|||20261101090000",
      "OBX|1|NM|2093-3^Cholesterol^LN||6.2|mmol/L|<5.2|H|||F|||20261101090000",
      "OBX|2|NM|2823-3^Potassium^LN||6.9|mmol/L|3.5-5.1|HH|||F|||20261101090000",
    ].join("\r") + "\r",
  );
}

test("clinic uploads from a phone and shares; the cardiologist sees it live and opens it; revoke hides it", async ({ browser }) => {
  const hkid = seedHkid();
  const wong = await phone(browser);
  const chan = await phone(browser);
  await login(wong.page, "dr.wong");
  await login(chan.page, "dr.chan");
  const unreadBefore = Number((await wong.page.getByTestId("unread").textContent()) ?? "0");

  await chan.page.getByRole("button", { name: "Upload" }).click();
  await chan.page.locator("#upload-patient").fill(hkid);
  const report = pdf("Echocardiogram: EF 55 percent");
  const lab = oru(hkid);
  await chan.page.getByTestId("file-input").setInputFiles([
    { name: "echo-report.pdf", mimeType: "application/pdf", buffer: report },
    { name: "lipids.hl7", mimeType: "text/plain", buffer: lab },
  ]);
  const photo = readFileSync(path.resolve(import.meta.dirname, "../../public/icon-512.png"));
  await chan.page.getByTestId("camera-input").setInputFiles({ name: "wound.png", mimeType: "image/png", buffer: photo });
  await expect(chan.page.getByTestId("classified")).toHaveCount(3);
  // The lab report was classified in the browser, critical potassium included.
  const labItem = chan.page.getByTestId("upload-item").filter({ hasText: "lipids.hl7" });
  await expect(labItem).toContainText("Lab report");
  await expect(labItem.locator("tr.critical")).toContainText("Potassium");
  await chan.page.locator("#upload-share").selectOption("dr.wong@PPH");
  await screenshots(chan.page, "upload");
  await chan.page.getByRole("button", { name: "Encrypt and upload" }).click();
  await expect(chan.page.getByTestId("uploaded")).toHaveCount(3, { timeout: 60_000 });

  // Live, without reloading: three more unread notifications.
  await expect(wong.page.getByTestId("unread")).toHaveText(String(unreadBefore + 3), { timeout: 30_000 });
  await wong.page.getByTestId("inbox-button").click();
  await wong.page.getByTestId("event").first().getByRole("button", { name: "Open" }).click();
  const doc = wong.page.getByTestId("document");
  await expect(wong.page.getByTestId("verified")).toBeVisible();
  const title = (await doc.getByRole("heading", { level: 1 }).textContent()) ?? "";
  const [download] = await Promise.all([wong.page.waitForEvent("download"), wong.page.getByTestId("save").click()]);
  const got = readFileSync((await download.path())!);
  const sent = title.includes("wound") ? photo : title.includes("lipids") || /Lab/.test(title) ? lab : report;
  expect(Buffer.compare(got, sent), `bytes of ${title}`).toBe(0);

  // Revoke: the clinic doctor revokes every share of the lab report; it disappears for the cardiologist.
  await search(chan.page, hkid);
  await chan.page.getByTestId("timeline-entry").filter({ hasText: /lipid|Lipid|Lab/ }).first().click();
  await expect(chan.page.getByTestId("grant")).toHaveCount(1);
  await screenshots(chan.page, "document-shares");
  await chan.page.getByTestId("grant").getByRole("button", { name: "Revoke" }).click();
  await expect(chan.page.getByTestId("grant")).toContainText("revoked");
  await search(wong.page, hkid);
  const titles = await wong.page.getByTestId("timeline-entry").allTextContents();
  expect(titles.join("\n")).not.toMatch(/lipid|Lipid/);
  await wong.ctx.close();
  await chan.ctx.close();
});

test("break-glass: reason required, time limit shown, records opened", async ({ page }) => {
  // The clinic registers a new patient who consents to share with the whole alliance.
  const hkid = randomHkid();
  const chan = cli("dr.chan");
  const file = path.join(tmpdir(), `bg-${Date.now()}.pdf`);
  writeFileSync(file, pdf("Allergy: penicillin"));
  chan.run(["upload", file, "--patient", hkid, "--name", "LAI Siu Fung", "--title", "Allergy record"]);
  chan.run(["consent", "grant", "--patient", hkid, "--to", "alliance"]);

  await login(page, "dr.wong");
  await search(page, hkid);
  await expect(page.getByTestId("timeline-entry")).toHaveCount(0);
  await page.getByRole("button", { name: "Emergency access (break-glass)" }).click();
  const confirm = page.getByRole("button", { name: "Open emergency access" });
  await expect(confirm).toBeDisabled();
  await page.getByLabel("Reason (required)").fill("Unconscious in ED, allergy history needed");
  await confirm.click();
  await expect(page.getByTestId("breakglass-active")).toContainText("BREAK-GLASS ACCESS ACTIVE until");
  await expect(page.getByTestId("timeline-entry")).toContainText("Allergy record");
  await screenshots(page, "break-glass");
});
