// A file larger than two parts, sealed in the browser with one part in flight while the next is
// sealed (medshare-client `push_upload`), then opened in the browser: the bytes saved equal the
// bytes picked, and the CLI, an independent client, decrypts the same bytes.
import { expect, test } from "@playwright/test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cli, login, randomHkid, search } from "./helpers";

test("a file of three parts goes up with a part in flight and comes back byte for byte", async ({ page }) => {
  const hkid = randomHkid();
  const chan = cli("dr.chan");
  // The patient registered by the CLI with a first note.
  const note = path.join(chan.config, "note.txt");
  writeFileSync(note, "Echocardiogram booked.\n");
  chan.run(["upload", note, "--patient", hkid, "--name", "LAU Wing", "--title", "Echo booking"]);
  // 9 MiB and a bit: three 4 MiB parts of ciphertext, not a multiple of age's 64 KiB chunk nor
  // of the app's 1 MiB slice.
  const sent = randomBytes(9 * 1024 * 1024 + 12_345);

  await login(page, "dr.chan");
  await search(page, hkid);
  await page.getByRole("button", { name: "Upload", exact: true }).click();
  await expect(page.locator("#upload-patient")).toHaveValue(hkid);
  await page.getByTestId("file-input").setInputFiles({ name: "echo.bin", mimeType: "application/octet-stream", buffer: sent });
  await expect(page.getByTestId("classified")).toHaveCount(1);
  // Random bytes can look like another patient's number to the classifier: confirm as a user would.
  if (await page.getByTestId("mismatch").count()) await page.getByTestId("mismatch").getByRole("checkbox").check();
  await page.getByRole("button", { name: "Encrypt and upload" }).click();
  await expect(page.getByTestId("uploaded")).toHaveCount(1, { timeout: 60_000 });

  await search(page, hkid);
  await page.getByTestId("timeline-entry").filter({ hasText: "echo.bin" }).click();
  await expect(page.getByTestId("verified")).toBeVisible({ timeout: 60_000 });
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("save").click()]);
  const saved = readFileSync((await download.path())!);
  expect(saved.length).toBe(sent.length);
  expect(Buffer.compare(saved, sent)).toBe(0);

  const id = (await page.getByTestId("document").getAttribute("data-document-id"))!;
  const out = path.join(chan.config, "echo-copy.bin");
  chan.run(["get", id, "--output", out]);
  expect(Buffer.compare(readFileSync(out), sent)).toBe(0);
});
