// A photographed paper lab report read on the device: the test draws a synthetic, clearly
// fictional report in the page (OffscreenCanvas, the system's DejaVu font), slightly tilted,
// and picks it with the phone-camera input. tesseract.js reads it in its own worker with the
// language data the hub serves from the app's own files (no other origin is reachable: the
// CSP forbids it and the test fails on any request elsewhere), the core classifies what was
// read, and the screen shows the class and the lab values; every value shown must be one
// printed on the page (OCR never invents one). Then it is sealed and uploaded like any file.
import { expect, test, type Page } from "@playwright/test";
import { hub, login, screenshots } from "./helpers";

/** The page, as printed (value column: what the screen may show). */
const LINES = [
  "KOWLOON CENTRAL HOSPITAL - CHEMICAL PATHOLOGY (FICTIONAL)",
  "LABORATORY REPORT",
  "Patient: CHAN Tai Man   HKID: {hkid}",
  "Specimen collected: 20/08/2025 08:15",
  "Test              Result    Units      Ref range   Flag",
  "Potassium         6.8       mmol/L     3.5-5.1     H",
  "Sodium            139       mmol/L     135-145",
  "Creatinine        120       umol/L     64-104      H",
  "Glucose           5.2       mmol/L     3.9-5.5",
  "Reported by: Dr WONG Siu Ming, pathologist (fictional)",
];
const PRINTED = new Map([
  ["potassium", "6.8"],
  ["sodium", "139"],
  ["creatinine", "120"],
  ["glucose", "5.2"],
]);

/** A phone-like photo of the page: 1654 x 2339 px (A4 at 200 dpi) on off-white paper, JPEG.
 * (Tilted pages are the native suite's subject, `medshare-ocr/tests/photos.rs`; here one
 * straight page keeps the browser test short and its reading the same on every run.) */
async function photograph(page: Page, lines: string[]): Promise<Buffer> {
  const b64 = await page.evaluate(async (lines) => {
    const canvas = new OffscreenCanvas(1654, 2339);
    const g = canvas.getContext("2d")!;
    g.fillStyle = "#f4f1ea";
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = "#1a1a1a";
    g.font = "34px 'DejaVu Sans Mono', monospace";
    lines.forEach((l, i) => g.fillText(l, 116, 210 + i * 68));
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }, lines);
  return Buffer.from(b64, "base64");
}

test("a photographed lab report is read on the device: class and values shown, none invented", async ({ page }) => {
  test.setTimeout(120_000);
  const elsewhere: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(hub()) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) elsewhere.push(r.url());
  });
  await login(page, "dr.chan");
  await page.getByRole("button", { name: "Upload" }).click();
  // A fixed, valid, fictional HKID (this run's sandbox is new): the same page on every run.
  const hkid = "Z683015(4)";
  await page.locator("#upload-patient").fill(hkid);
  const photo = await photograph(page, LINES.map((l) => l.replace("{hkid}", hkid)));

  const started = Date.now();
  await page.getByTestId("camera-input").setInputFiles({ name: "lab-photo.jpg", mimeType: "image/jpeg", buffer: photo });
  const item = page.getByTestId("upload-item");
  await expect(item.getByTestId("ocr-status")).toBeVisible();
  await expect(item.getByTestId("classified")).toContainText("Lab report", { timeout: 90_000 });
  const seconds = (Date.now() - started) / 1000;
  test.info().annotations.push({ type: "ocr seconds (first page, language data loaded cold)", description: seconds.toFixed(1) });
  console.log(`ocr.spec: photo read and classified in ${seconds.toFixed(1)} s (cold: engine and language data loaded)`);
  await expect(item.getByTestId("ocr-result")).toContainText("Read on this device");

  // Values: potassium found and critical (6.8 > 6.0 mmol/L); every value shown was printed.
  const rows = item.locator("table.labs tbody tr");
  await expect(item.locator("tr.critical")).toContainText("Potassium");
  const shown = await rows.evaluateAll((trs) =>
    trs.map((tr) => [tr.querySelector("th")!.textContent!.toLowerCase(), tr.querySelector("td")!.textContent!.trim()]),
  );
  expect(shown.map(([n]) => n).join(" ")).toMatch(/potassium.*sodium.*creatinine/);
  for (const [name, value] of shown) {
    const analyte = [...PRINTED.keys()].find((k) => name.includes(k));
    expect(analyte, `an analyte not on the page: ${name}`).toBeDefined();
    expect(Number(value), `${name}: ${value} is not the value on the page`).toBe(Number(PRINTED.get(analyte!)));
  }
  // The date of service comes from the page, day first as Hong Kong writes it.
  await expect(item.locator("input[type=date]")).toHaveValue("2025-08-20");
  await screenshots(page, "upload-ocr");

  // Sealed and uploaded like any file; nothing went anywhere but this hub.
  await page.getByRole("button", { name: "Encrypt and upload" }).click();
  await expect(item.getByTestId("uploaded")).toBeVisible({ timeout: 60_000 });
  expect(elsewhere).toEqual([]);
});
