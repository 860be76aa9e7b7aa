// OCR in the browser (docs/classification.md, "Time per page"): starts `medshare demo` (the hub
// binary given by MEDSHARE_BIN, default target/release/medshare, else target/debug/medshare),
// opens the app in Debian's Chromium and reads synthetic, clearly fictional pages drawn in the
// page (A4 at 200 dpi, JPEG, the system's DejaVu and Noto CJK fonts) with the app's own OCR
// module (web/src/ocr: tesseract.js with eng+chi_tra+chi_sim), as the upload screen does.
// Prints the first reading (engine and language data loaded cold from the hub), then the median
// time per page of each kind over --runs readings, with words read and mean confidence.
// Not a test: nothing here passes or fails.
// --save DIR writes each page's JPEG there, to time native Tesseract on the same images.
//   node bench/ocr.mjs [--runs 5] [--save DIR]
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
const BIN =
  process.env.MEDSHARE_BIN ??
  [path.join(root, "target/release/medshare"), path.join(root, "target/debug/medshare")].find((p) => existsSync(p));
const RUNS = Number(process.argv[process.argv.indexOf("--runs") + 1] || 5) || 5;
const SAVE = process.argv.includes("--save") ? process.argv[process.argv.indexOf("--save") + 1] : null;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const PAGES = {
  "English lab report": {
    font: "'DejaVu Sans Mono', monospace",
    lines: [
      "KOWLOON CENTRAL HOSPITAL - CHEMICAL PATHOLOGY (FICTIONAL)",
      "LABORATORY REPORT",
      "Patient: CHAN Tai Man   HKID: Z683015(4)",
      "Specimen collected: 20/08/2025 08:15",
      "Test              Result    Units      Ref range   Flag",
      "Potassium         6.8       mmol/L     3.5-5.1     H",
      "Sodium            139       mmol/L     135-145",
      "Creatinine        120       umol/L     64-104      H",
      "Glucose           5.2       mmol/L     3.9-5.5",
      "Reported by: Dr WONG Siu Ming, pathologist (fictional)",
    ],
  },
  "English discharge summary": {
    font: "'DejaVu Sans', sans-serif",
    lines: [
      "QUEEN VICTORIA HOSPITAL (fictional)",
      "DISCHARGE SUMMARY",
      "Patient: LEE Ka Ming    HKID: Z683015(4)",
      "Admission date: 14/08/2025    Discharge date: 20/08/2025",
      "DISCHARGE DIAGNOSIS: Community acquired pneumonia",
      "HOSPITAL COURSE: Treated with intravenous antibiotics,",
      "improved and afebrile for 48 hours.",
      "DISCHARGE MEDICATIONS: Amoxicillin 500 mg three times daily",
      "FOLLOW-UP: Medical clinic in 4 weeks",
    ],
  },
  "Traditional Chinese lab report": {
    font: "'Noto Sans CJK TC', 'Noto Sans CJK HK', sans-serif",
    lines: [
      "香港中央醫院 化驗報告（虛構）",
      "姓名：陳大文   身份證號碼：Z683015(4)",
      "採樣日期：2025年8月20日",
      "項目          結果     單位       參考範圍",
      "鉀            6.8      mmol/L     3.5-5.1   H",
      "鈉            139      mmol/L     135-145",
      "空腹血糖      5.2      mmol/L     3.9-5.5",
      "總膽固醇      6.1      mmol/L     <5.2      H",
      "報告醫生：黃小明（虛構）",
    ],
  },
  "Simplified Chinese lab report": {
    font: "'Noto Sans CJK SC', sans-serif",
    lines: [
      "深圳虚构医院 检验报告",
      "姓名：李小明",
      "采样日期：2025年9月3日",
      "项目          结果     单位       参考范围",
      "钾            3.9      mmol/L     3.5-5.1",
      "血红蛋白      128      g/L        130-175   L",
      "血小板        210      10^9/L     150-400",
    ],
  },
};

const port = await new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const dir = mkdtempSync(path.join(tmpdir(), "medshare-bench-ocr-"));
const hub = spawn(BIN, ["demo", "--data-dir", dir, "--port", String(port)], { stdio: ["ignore", "pipe", "inherit"] });
let out = "";
const url = await new Promise((res) =>
  hub.stdout.on("data", (b) => {
    out += b;
    const m = /^medshare sandbox hub: (\S+)/m.exec(out);
    if (m) res(m[1]);
  }),
);
hub.stdout.resume();

const browser = await chromium.launch({
  executablePath: process.env.MEDSHARE_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  await page.goto(url + "/");
  const module = readFileSync(path.join(root, "web/dist/asset-hashes.txt"), "utf8").match(/assets\/read-[\w-]+\.js/)[0];
  const read = (name) =>
    page.evaluate(
      async ({ module, page: p }) => {
        const m = await import("/" + module);
        const canvas = new OffscreenCanvas(1654, 2339);
        const g = canvas.getContext("2d");
        g.fillStyle = "#f4f1ea";
        g.fillRect(0, 0, canvas.width, canvas.height);
        g.fillStyle = "#1a1a1a";
        g.font = `34px ${p.font}`;
        p.lines.forEach((l, i) => g.fillText(l, 116, 210 + i * 68));
        const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.85 });
        const marks = {};
        const t0 = performance.now();
        const r = await m.readFile(new File([blob], "page.jpg"), (stage, progress) => {
          if (stage === "reading" && progress === 0) marks.loaded = performance.now() - t0;
        });
        const words = r.pages.flatMap((pg) => pg.lines.flat());
        let jpeg = "";
        for (const b of new Uint8Array(await blob.arrayBuffer())) jpeg += String.fromCharCode(b);
        return {
          jpeg: btoa(jpeg),
          ms: performance.now() - t0,
          loadMs: marks.loaded ?? 0,
          words: words.length,
          mean: words.reduce((s, w) => s + w.confidence, 0) / Math.max(1, words.length),
          rotation: r.pages[0].rotation,
        };
      },
      { module, page: PAGES[name] },
    );

  console.log(`hub: ${BIN}; Chromium ${browser.version()}; ${cpus().length} cores; ${new Date().toISOString()}`);
  const first = await read("English lab report");
  console.log(
    `first page, cold (language data fetched from the hub, inflated, kept in IndexedDB; engine started): ` +
      `${(first.ms / 1000).toFixed(2)} s, of which loading ${(first.loadMs / 1000).toFixed(2)} s`,
  );
  for (const name of Object.keys(PAGES)) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await read(name));
    const ms = median(runs.map((r) => r.ms));
    const r = runs[0];
    if (SAVE) {
      mkdirSync(SAVE, { recursive: true });
      writeFileSync(path.join(SAVE, name.toLowerCase().replace(/\W+/g, "-") + ".jpg"), Buffer.from(r.jpeg, "base64"));
    }
    console.log(
      `${name}: ${(ms / 1000).toFixed(2)} s per page (median of ${RUNS}; min ${(Math.min(...runs.map((x) => x.ms)) / 1000).toFixed(2)}), ` +
        `${r.words} words, mean confidence ${r.mean.toFixed(2)}, turned ${r.rotation}°`,
    );
  }
} finally {
  await browser.close();
  hub.kill("SIGINT");
  await new Promise((r) => hub.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
