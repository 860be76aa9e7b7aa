// The timeline cache in IndexedDB: a timeline re-opened after a reload and a new login asks the
// hub only for what changed (`since`) and shows the same entries; a document revoked meanwhile
// disappears; IndexedDB holds nothing that names the patient (number, name, titles).
import { expect, test, type Page } from "@playwright/test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cli, hub, passphrase, randomHkid, search, totp } from "./helpers";

/** The bodies of the timeline searches the page's worker sends, in order. */
function searches(page: Page): Array<Record<string, unknown>> {
  const bodies: Array<Record<string, unknown>> = [];
  page.context().on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/v1/search") bodies.push(JSON.parse(r.postData() ?? "{}"));
  });
  return bodies;
}

/** A reload (a new worker, keys gone), then a new login through the form. */
async function reloadAndLogin(page: Page, handle: string) {
  await page.reload();
  await page.getByLabel("User name").fill(handle);
  await page.getByLabel("Passphrase", { exact: true }).fill(passphrase(handle));
  await page.getByLabel("One-time code").fill(totp(handle));
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("button", { name: "Lock" })).toBeVisible({ timeout: 60_000 });
}

/** Every key and value of the app's IndexedDB, values as text (bytes as Latin-1). */
async function indexedDbText(page: Page): Promise<Array<{ key: string; value: string }>> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open("medshare");
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const all = <T,>(f: (s: IDBObjectStore) => IDBRequest<T>) =>
      new Promise<T>((resolve, reject) => {
        const r = f(db.transaction("kv").objectStore("kv"));
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
    const keys = await all((s) => s.getAllKeys());
    const values = await all((s) => s.getAll());
    db.close();
    const text = (v: unknown) =>
      v instanceof Uint8Array ? Array.from(v, (b) => String.fromCharCode(b)).join("") : JSON.stringify(v);
    return keys.map((k, i) => ({ key: String(k), value: text(values[i]) }));
  });
}

test("a re-opened timeline comes from the IndexedDB cache: since search, revoked dropped, nothing in clear", async ({ page }) => {
  const hkid = randomHkid();
  const name = "TSANG Wing Kei";
  const chan = cli("dr.chan");
  const ids: string[] = [];
  for (const title of ["Cachetest clinic letter", "Cachetest progress note"]) {
    const file = path.join(tmpdir(), `cache-${Date.now()}-${ids.length}.txt`);
    writeFileSync(file, `${title}\nPatient ${name} ${hkid}\nStable, review in two weeks.\n`);
    const out = chan.run(["upload", file, "--patient", hkid, "--name", name, "--title", title, "--share", "dr.wong@PPH"]);
    ids.push(/^([0-9a-f-]{36})\s/m.exec(out)![1]);
  }
  const sent = searches(page);

  await page.goto(hub() + "/#sandbox");
  await reloadAndLogin(page, "dr.wong");
  await search(page, hkid);
  const entries = page.getByTestId("timeline-entry");
  await expect(entries).toHaveCount(2);
  const first = (await entries.allTextContents()).sort();
  expect(sent.length).toBeGreaterThan(0);
  expect(sent.at(-1)!.since, "the first view on this device searches in full").toBeUndefined();

  // Reloaded: the keys are gone, the sealed cache stays; the view asks only for changes.
  await reloadAndLogin(page, "dr.wong");
  const before = sent.length;
  await search(page, hkid);
  await expect(entries).toHaveCount(2);
  expect((await entries.allTextContents()).sort()).toEqual(first);
  expect(sent.length).toBeGreaterThan(before);
  expect(sent.at(-1)!.since, "a re-opened timeline asks only for what changed").toEqual(expect.any(String));

  // Revoked meanwhile: the view from the cache may show it for a moment, the hub's answer on the
  // same view drops it (search waits for that answer); the other entry still there.
  chan.run(["revoke", ids[0], "--with", "dr.wong"]);
  await reloadAndLogin(page, "dr.wong");
  await search(page, hkid);
  expect(await entries.count(), "the revoked document is gone once the hub has answered").toBe(1);
  await expect(entries).toContainText("Cachetest progress note");
  expect(sent.at(-1)!.since).toEqual(expect.any(String));

  // Nothing in IndexedDB names the patient: not the number in any form, the name or a title.
  const stored = await indexedDbText(page);
  expect(stored.some((r) => r.key.startsWith("cache:")), "a timeline record is kept").toBe(true);
  const plain = hkid.replace(/[()]/g, "");
  const all = stored.map((r) => `${r.key}\n${r.value}`).join("\n");
  for (const secret of [hkid, plain, plain.slice(0, 7), name, "TSANG", "Cachetest", ...ids]) {
    expect(all.includes(secret), `IndexedDB holds ${secret} in clear`).toBe(false);
  }
});
