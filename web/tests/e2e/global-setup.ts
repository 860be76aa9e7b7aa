// Starts the real hub binary as `medshare demo` (a seeded sandbox alliance) on a free loopback
// port for the whole run, and stops it at the end. Tests find it through MEDSHARE_E2E_* variables.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export const BIN = process.env.MEDSHARE_BIN ?? path.resolve(import.meta.dirname, "../../../target/debug/medshare");

export default async function globalSetup(): Promise<() => Promise<void>> {
  const dir = mkdtempSync(path.join(tmpdir(), "medshare-e2e-"));
  const port = await freePort();
  const child: ChildProcess = spawn(BIN, ["demo", "--data-dir", dir, "--port", String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`medshare demo did not start:\n${out}`)), 180_000);
    child.stdout!.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /^medshare sandbox hub: (\S+)/m.exec(out);
      if (m && /--patient '[^']+'/.test(out)) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`medshare demo exited (${code}):\n${out}`)));
  });
  // The seed story's patient, as the demo prints it ("medshare search --patient '...'").
  await new Promise((r) => setTimeout(r, 300));
  child.stdout!.resume();
  process.env.MEDSHARE_E2E_URL = url;
  process.env.MEDSHARE_E2E_DIR = dir;
  process.env.MEDSHARE_E2E_HKID = /--patient '([^']+)'/.exec(out)![1];
  process.env.MEDSHARE_E2E_BIN = BIN;
  return async () => {
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  };
}
