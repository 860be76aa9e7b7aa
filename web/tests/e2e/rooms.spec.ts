// Case rooms in the app: the clinic doctor opens a room with the cardiologist, writes, records a
// voice note with the browser's microphone (Chromium's fake device) and sends an audio file; the
// cardiologist sees the room's unread count, opens it (MLS in the worker), reads, reacts, plays
// the notes inline; the owner removes him and the room leaves his list. axe and 360 px.
import { expect, test, type Browser } from "@playwright/test";
import { axe, fits360, login, screenshots } from "./helpers";

// Chromium's fake microphone (a beeping tone) with the permission prompt answered "allow".
test.use({
  launchOptions: {
    executablePath: process.env.MEDSHARE_CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--autoplay-policy=no-user-gesture-required",
    ],
  },
});

async function phone(browser: Browser) {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 780 }, locale: "en-GB", timezoneId: "Asia/Hong_Kong" });
  await ctx.grantPermissions(["microphone"]);
  return { ctx, page: await ctx.newPage() };
}

/** A real PCM WAV: `ms` milliseconds of a 440 Hz tone, 8 kHz mono 16-bit. */
function wav(ms: number): Buffer {
  const rate = 8000;
  const n = Math.floor((rate * ms) / 1000);
  const b = Buffer.alloc(44 + n * 2);
  b.write("RIFF", 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write("WAVEfmt ", 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(Math.sin((i * 440 * 2 * Math.PI) / rate) * 8000), 44 + i * 2);
  return b;
}

test("a case room between two institutions: text, voice notes recorded and picked, reactions, read receipts, removal", async ({ browser }) => {
  const chan = await phone(browser);
  const wong = await phone(browser);
  await login(chan.page, "dr.chan");
  await login(wong.page, "dr.wong");
  // The cardiologist's device publishes key packages when it first opens the rooms screen.
  await wong.page.getByRole("button", { name: "Rooms" }).click();
  await expect(wong.page.getByTestId("room-list")).toBeAttached();

  const title = `Mr C chest pain ${Date.now()}`;
  const c = chan.page;
  await c.getByRole("button", { name: "Rooms" }).click();
  await c.locator("#room-title").fill(title);
  const wongOption = c.locator("#room-with option", { hasText: "WONG Chi Keung" });
  await expect(wongOption).toBeAttached();
  await c.locator("#room-with").selectOption(await wongOption.getAttribute("value"));
  await c.getByRole("button", { name: "Open the room" }).click();
  await expect(c.getByRole("heading", { name: title })).toBeVisible();
  await c.locator("#room-message").fill("Troponin 2.1 ng/mL, ECG attached soon: views?");
  await c.getByRole("button", { name: "Send", exact: true }).click();
  await expect(c.getByTestId("line-text").filter({ hasText: "Troponin 2.1" })).toBeVisible();
  // A voice note recorded with MediaRecorder (permission asked on the button press).
  await c.getByTestId("voice-record").click();
  await expect(c.getByTestId("voice-stop")).toBeVisible();
  await c.waitForTimeout(1500);
  await c.getByTestId("voice-stop").click();
  await expect(c.getByText("Voice note sent")).toBeVisible();
  // And an audio file picked from the device.
  await c.getByTestId("voice-file").setInputFiles({ name: "dictation.wav", mimeType: "audio/wav", buffer: wav(1200) });
  await expect(c.locator('[data-kind="voice"]')).toHaveCount(2);
  // Not audio: refused with a clear error, nothing sent.
  await c.getByTestId("voice-file").setInputFiles({ name: "fake.ogg", mimeType: "audio/ogg", buffer: Buffer.from("%PDF-1.4 not audio") });
  await expect(c.getByRole("alert")).toContainText("not audio");
  await expect(c.locator('[data-kind="voice"]')).toHaveCount(2);

  // The cardiologist: the room arrives live with its unread count, opens on his device.
  const w = wong.page;
  const entry = w.getByTestId("room-list").locator("li", { hasText: title });
  await expect(entry).toBeVisible({ timeout: 30_000 });
  await expect(entry.getByTestId("room-unread")).toBeVisible();
  await entry.getByTestId("room-open").click();
  await expect(w.getByRole("heading", { name: title })).toBeVisible({ timeout: 30_000 });
  await expect(w.getByTestId("line-text").filter({ hasText: "Troponin 2.1" })).toBeVisible();
  await expect(w.getByTestId("room-members")).toContainText("CHAN");
  await expect(w.getByTestId("room-members")).toContainText("WONG Chi Keung");
  const voices = w.locator('[data-kind="voice"]');
  await expect(voices).toHaveCount(2);
  // Played inline: decrypted in the worker, a blob: URL the page revokes after use.
  for (const i of [0, 1]) {
    await voices.nth(i).getByTestId("voice-play").click();
    const audio = voices.nth(i).getByTestId("voice-player");
    await expect(audio).toBeVisible();
    expect(await audio.getAttribute("src")).toMatch(/^blob:/);
    await expect
      .poll(() => audio.evaluate((a: HTMLAudioElement) => (a.error ? -1 : a.readyState)), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(1);
  }
  await voices.nth(1).getByRole("button", { name: "React with 👍" }).click();
  await expect(voices.nth(1).getByTestId("reactions")).toContainText("👍");
  await w.locator("#room-message").fill("Start dual antiplatelets; cath lab tomorrow");
  await w.getByRole("button", { name: "Send", exact: true }).click();
  await axe(w, "room");
  await fits360(w, "room");
  await screenshots(w, "room");

  // Back on the owner's side: the reply, the reaction and a read receipt, live.
  await expect(c.getByTestId("line-text").filter({ hasText: "cath lab tomorrow" })).toBeVisible({ timeout: 30_000 });
  await expect(c.locator('[data-kind="voice"]').nth(1).getByTestId("reactions")).toContainText("👍");
  await expect(c.getByTestId("read-by").first()).toContainText("WONG Chi Keung");

  // Removal: the owner removes him; his screen says so and he can post no more.
  await c.getByText(/^Members/).click();
  await c.getByRole("button", { name: /Remove WONG Chi Keung/ }).click();
  await expect(c.getByText("Removed: they cannot read")).toBeVisible();
  await c.locator("#room-message").fill("After removal: angiogram shows LAD occlusion");
  await c.getByRole("button", { name: "Send", exact: true }).click();
  await expect(c.getByTestId("line-text").filter({ hasText: "LAD occlusion" })).toBeVisible();
  await w.reload();
  await login(w, "dr.wong");
  await w.getByRole("button", { name: "Rooms" }).click();
  await expect(w.getByTestId("room-list")).not.toContainText(title, { timeout: 20_000 });
  await axe(c, "rooms (owner)");
  await fits360(c, "rooms (owner)");
  await chan.ctx.close();
  await wong.ctx.close();
});
