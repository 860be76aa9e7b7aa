// Browser tests: Debian's Chromium driven by Playwright (its own browser download cannot work
// here) against a real `medshare demo` sandbox hub that serves the built app. One worker: the
// machine has two cores and the hub needs one.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests/e2e",
  outputDir: "../target/web-e2e/results",
  timeout: 90_000,
  expect: { timeout: 20_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  globalSetup: "./tests/e2e/global-setup.ts",
  use: {
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
      ],
    },
    viewport: { width: 360, height: 780 },
    locale: "en-GB",
    timezoneId: "Asia/Hong_Kong",
    trace: "off",
  },
});
