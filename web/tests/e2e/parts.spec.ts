// A file larger than two parts, sealed in the browser with one part in flight while the next is
// sealed (medshare-client `push_upload`), then opened in the browser: the bytes saved equal the
// bytes picked, and the CLI, an independent client, decrypts the same bytes.
import { expect, test, type Page } from "@playwright/test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cli, login, randomHkid, search } from "./helpers";

/** Sizes of the files in the download spool (OPFS `spool/<worker>/`, one origin-wide file
 * system: asked of the first worker of the page that answers). */
async function spooled(page: Page): Promise<number[]> {
  for (const w of page.workers()) {
    const sizes = await w
      .evaluate(async () => {
        const out: number[] = [];
        type Dir = { entries(): AsyncIterable<[string, FileSystemHandle]> };
        const spool = await (await navigator.storage.getDirectory()).getDirectoryHandle("spool").catch(() => null);
        if (!spool) return out;
        for await (const [, dir] of (spool as unknown as Dir).entries())
          for await (const [, f] of (dir as unknown as Dir).entries()) out.push((await (f as FileSystemFileHandle).getFile()).size);
        return out;
      })
      .catch(() => null);
    if (sizes) return sizes;
  }
  return [];
}

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
  // The opened file is on disk in the origin's private file system (web/src/core/spool.ts), not
  // held in memory, and is removed when the document is closed.
  expect(await spooled(page)).toEqual([sent.length]);
  const id0 = (await page.getByTestId("document").getAttribute("data-document-id"))!;
  await page.getByRole("button", { name: /Back to records/ }).click();
  await expect.poll(() => spooled(page)).toEqual([]);
  await page.getByTestId("timeline-entry").filter({ hasText: "echo.bin" }).click();
  await expect(page.getByTestId("verified")).toBeVisible({ timeout: 60_000 });
  expect(await page.getByTestId("document").getAttribute("data-document-id")).toBe(id0);

  const id = (await page.getByTestId("document").getAttribute("data-document-id"))!;
  const out = path.join(chan.config, "echo-copy.bin");
  chan.run(["get", id, "--output", out]);
  expect(Buffer.compare(readFileSync(out), sent)).toBe(0);
});
