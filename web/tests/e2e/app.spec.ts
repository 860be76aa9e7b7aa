// The app as a whole: a hub with another alliance root is refused, every language renders the
// timeline, the phone layout fits 360 px, and axe-core finds no serious or critical violation.
import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { axe, fits360, hub, login, screenshots, search, seedHkid } from "./helpers";

const dict = (lang: string) =>
  JSON.parse(readFileSync(path.resolve(import.meta.dirname, `../../src/i18n/${lang}.json`), "utf8")) as Record<string, string>;

test("a hub serving another alliance root than the one pinned is refused", async ({ page }) => {
  await page.goto(hub() + "/#sandbox");
  // This device pinned a different root before (as if the hub substituted its keys since).
  await page.evaluate(async (origin) => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open("medshare", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("kv");
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    await new Promise<void>((res, rej) => {
      const tx = db.transaction("kv", "readwrite");
      tx.objectStore("kv").put({ root: btoa(String.fromCharCode(...new Array(32).fill(9))) }, `trusted:${origin}`);
      tx.oncomplete = () => res();
      tx.onerror = () => rej(tx.error);
    });
    db.close();
  }, new URL(hub()).origin);
  await login(page, "dr.wong", { expectError: true });
  await expect(page.getByTestId("login-error")).toContainText("Refused");
  await expect(page.getByTestId("login-error")).toContainText("pinned");
  await expect(page.getByRole("button", { name: "Lock" })).toHaveCount(0);
});

test("every language renders the timeline", async ({ page }) => {
  await login(page, "dr.wong");
  await search(page, seedHkid());
  for (const lang of ["en", "zh-HK", "zh-CN", "id"]) {
    const d = dict(lang);
    await page.locator(".lang select").selectOption(lang);
    await expect(page.locator("#timeline-title")).toContainText(d["timeline.title"]);
    await expect(page.getByTestId("timeline")).toContainText(d["class.imaging-report"]);
    await expect(page.locator("html")).toHaveAttribute("lang", lang);
    await screenshots(page, `timeline-${lang}`);
  }
  await page.locator(".lang select").selectOption("en");
});

test("phone layout at 360 px and no serious accessibility violations", async ({ page }) => {
  await page.goto(hub() + "/#sandbox");
  await fits360(page, "login");
  await axe(page, "login");
  await screenshots(page, "login");
  await login(page, "dr.wong");
  await search(page, seedHkid());
  await fits360(page, "timeline");
  await axe(page, "timeline");
  await screenshots(page, "timeline");
  await page.getByTestId("timeline-entry").first().click();
  await expect(page.getByTestId("verified")).toBeVisible();
  await fits360(page, "document");
  await axe(page, "document");
  await page.getByRole("button", { name: "Upload" }).click();
  await fits360(page, "upload");
  await axe(page, "upload");
  await page.getByTestId("inbox-button").click();
  await fits360(page, "inbox");
  await axe(page, "inbox");
  // Keyboard: the first focusable element is the skip link, and it leads to the main content.
  const first = await page.evaluate(() => document.querySelector("a[href], button, input, select, textarea")?.className);
  expect(first).toBe("skip");
  await page.locator("a.skip").focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/#main$/);
});

test("the idle lock wipes the keys and asks to log in again", async ({ page }) => {
  await page.goto(hub() + "/#sandbox");
  await page.evaluate(() => localStorage.setItem("medshare.idleMinutes", "0.02"));
  await login(page, "dr.wong");
  await expect(page.getByRole("heading", { name: "Locked" })).toBeVisible({ timeout: 10_000 });
  await expect(page.getByLabel("User name")).toHaveValue("dr.wong");
  await page.evaluate(() => localStorage.removeItem("medshare.idleMinutes"));
});

test("installable: manifest and icons served, the service worker caches the app shell only", async ({ page }) => {
  await page.goto(hub() + "/#sandbox");
  const manifest = await (await page.request.get(hub() + "/manifest.webmanifest")).json();
  expect(manifest.display).toBe("standalone");
  for (const icon of manifest.icons as { src: string; type: string }[]) {
    const r = await page.request.get(hub() + icon.src);
    expect(r.ok(), icon.src).toBe(true);
    expect(r.headers()["content-type"]).toContain(icon.type.split("+")[0]);
  }
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  // Use the app: log in, open a patient's records and a document.
  await login(page, "dr.wong");
  await search(page, seedHkid());
  await page.getByTestId("timeline-entry").first().click();
  await expect(page.getByTestId("verified")).toBeVisible();
  const cached = await page.evaluate(async () => {
    const out: string[] = [];
    for (const name of await caches.keys()) {
      for (const req of await (await caches.open(name)).keys()) out.push(new URL(req.url).pathname);
    }
    return out;
  });
  expect(cached).toContain("/");
  expect(cached.some((p) => p.endsWith(".wasm"))).toBe(true);
  // Nothing from the API (records, manifests, keys, events) and nothing but the app's files.
  expect(cached.filter((p) => p.startsWith("/v1"))).toEqual([]);
  expect(cached.filter((p) => p !== "/" && !p.startsWith("/assets/") && !/^\/[\w.-]+\.(png|svg|webmanifest)$/.test(p))).toEqual([]);
});
