// On-device OCR of photographed and scanned paper: tesseract.js (Tesseract 5 compiled to
// WebAssembly) in its own Web Worker, every file it needs served by the hub from the app's own
// assets (no CDN: hospital networks have no internet). This module is loaded only when the user
// picks a photo or a scan; the language data (English, Traditional and Simplified Chinese,
// LSTM "best_int" models) is fetched once and kept in IndexedDB, where tesseract.js's worker
// reads it (its own cache, database `keyval-store`).
//
// It only reads: the words and their confidences go to the classification module
// (`medshare-wasm-classify`'s `classify_ocr`), which classifies them with the same rules as the
// native CLI; the core keeps the result (`Core::intake`) as for any other file.
// Pages are prepared like the native path (`medshare-ocr`): the photo's EXIF orientation applied,
// a working size, Sauvola's local threshold, the skew Tesseract measures removed, and a page read
// poorly read again turned half round and a quarter either way, the best reading winning.
import Tesseract from "tesseract.js";
import { del, get, keys, set } from "idb-keyval";
import workerUrl from "tesseract.js/dist/worker.min.js?url";
import coreUrl from "tesseract.js-core/tesseract-core-lstm.wasm.js?url";
import coreSimdUrl from "tesseract.js-core/tesseract-core-simd-lstm.wasm.js?url";
import engUrl from "@tesseract.js-data/eng/4.0.0_best_int/eng.traineddata.gz?url";
import chiTraUrl from "@tesseract.js-data/chi_tra/4.0.0_best_int/chi_tra.traineddata.gz?url";
import chiSimUrl from "@tesseract.js-data/chi_sim/4.0.0_best_int/chi_sim.traineddata.gz?url";
import type { OcrReading, OcrReadingPage, OcrReadingWord } from "../core/protocol";

/** tesseract.js and its language data, as pinned in package.json. */
export const ENGINE = "tesseract.js 7.0.0 (tesseract-core 7.0.0, tessdata 4.0.0_best_int)";
export const LANGUAGES = ["eng", "chi_tra", "chi_sim"] as const;
const DATA: Record<(typeof LANGUAGES)[number], string> = { eng: engUrl, chi_tra: chiTraUrl, chi_sim: chiSimUrl };
/** Where the inflated language data is kept for tesseract.js (`<CACHE_PATH>/<lang>.traineddata`
 * in its IndexedDB cache). The folder name carries the assets' content hashes: a release with
 * other data uses a new folder, and the old one is dropped. */
const CACHE_PREFIX = "medshare-ocr/";
const CACHE_PATH = CACHE_PREFIX + Object.values(DATA).map((u) => /-([\w-]+)\.bin$/.exec(u)?.[1] ?? u).join(".");
/** A page read with a mean confidence below this is read again turned (as natively). */
const RETRY_BELOW = 0.6;
/** Longest side of the page image handed to Tesseract (natively 3600; the browser is slower). */
const MAX_SIDE = 2400;
/** Pages narrower than this are enlarged (small text on a low-resolution photo). */
const MIN_SIDE = 1200;

export type Stage = "loading" | "reading";
export type OnProgress = (stage: Stage, progress: number) => void;

let engine: Promise<Tesseract.Worker> | null = null;

/** Whether this browser runs WebAssembly SIMD (the faster build of the engine). */
function simd(): boolean {
  // (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)), the probe
  // wasm-feature-detect uses.
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
  return WebAssembly.validate(probe);
}

/** Make sure the language data is in the engine's cache: fetched from the hub (gzip, as
 * packaged) and inflated once. */
async function ensureLanguage(lang: (typeof LANGUAGES)[number]): Promise<void> {
  const key = `${CACHE_PATH}/${lang}.traineddata`;
  if ((await get(key)) !== undefined) return;
  const response = await fetch(DATA[lang]);
  if (!response.ok || !response.body) throw new Error(`the OCR language data ${lang} could not be loaded (HTTP ${response.status})`);
  const inflated = response.body.pipeThrough(new DecompressionStream("gzip"));
  await set(key, new Uint8Array(await new Response(inflated).arrayBuffer()));
}

/** Drop language data of earlier releases from the cache. */
async function dropOldData(): Promise<void> {
  for (const k of await keys()) {
    if (typeof k === "string" && k.startsWith(CACHE_PREFIX) && !k.startsWith(CACHE_PATH + "/")) await del(k);
  }
}

/** Start (once) the engine's worker with every language loaded. */
export function start(onProgress: OnProgress = () => {}): Promise<Tesseract.Worker> {
  engine ??= (async () => {
    onProgress("loading", 0);
    let loaded = 0;
    await Promise.all(
      LANGUAGES.map(async (code) => {
        await ensureLanguage(code);
        onProgress("loading", ++loaded / (LANGUAGES.length + 1));
      }),
    );
    void dropOldData();
    const worker = await Tesseract.createWorker(LANGUAGES.join("+"), Tesseract.OEM.LSTM_ONLY, {
      workerPath: workerUrl,
      workerBlobURL: false,
      corePath: simd() ? coreSimdUrl : coreUrl,
      // Read from the cache filled above, never written by the engine. A miss would fetch from
      // `langPath`: this hub's assets folder (a 404), never the engine's default CDN.
      cacheMethod: "readOnly",
      cachePath: CACHE_PATH,
      langPath: new URL("/assets", self.location.href).href,
      gzip: false,
    });
    // Sauvola's local threshold copes with the shadows and uneven light of phone photos.
    await worker.setParameters({ thresholding_method: "2", user_defined_dpi: "300" });
    onProgress("loading", 1);
    return worker;
  })();
  engine.catch(() => {
    engine = null;
  });
  return engine;
}

/** Draw the image upright (EXIF orientation applied by the browser), at a working size, turned
 * a further `turn` degrees clockwise; PNG for the engine. */
async function pageImage(bitmap: ImageBitmap, turn: number): Promise<Blob> {
  const long = Math.max(bitmap.width, bitmap.height);
  const scale = long > MAX_SIDE ? MAX_SIDE / long : long < MIN_SIDE ? MIN_SIDE / long : 1;
  const w = Math.round(bitmap.width * scale);
  const h = Math.round(bitmap.height * scale);
  const quarter = turn === 90 || turn === 270;
  const canvas = new OffscreenCanvas(quarter ? h : w, quarter ? w : h);
  const g = canvas.getContext("2d")!;
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.translate(canvas.width / 2, canvas.height / 2);
  g.rotate((turn * Math.PI) / 180);
  g.imageSmoothingQuality = "high";
  g.drawImage(bitmap, -w / 2, -h / 2, w, h);
  return canvas.convertToBlob({ type: "image/png" });
}

/** Tesseract's TSV: level, page, block, paragraph, line, word, left, top, width, height,
 * confidence (0-100), text. Level 5 rows are words; a change of block/paragraph/line starts a
 * line (as `medshare-ocr` reads it). */
export function parseTsv(tsv: string): OcrReadingWord[][] {
  const lines: OcrReadingWord[][] = [];
  let key = "";
  for (const row of tsv.split("\n")) {
    const f = row.split("\t");
    if (f.length < 12 || f[0] !== "5") continue;
    const text = f[11].trim();
    if (!text) continue;
    const confidence = Math.min(100, Math.max(0, Number(f[10]) || 0)) / 100;
    const k = f.slice(1, 5).join(".");
    if (k !== key) {
      lines.push([]);
      key = k;
    }
    lines[lines.length - 1].push({ text, confidence });
  }
  return lines;
}

function mean(lines: OcrReadingWord[][]): number {
  const words = lines.flat();
  return words.length ? words.reduce((s, w) => s + w.confidence, 0) / words.length : 0;
}

async function readOnce(worker: Tesseract.Worker, bitmap: ImageBitmap, turn: number): Promise<OcrReadingPage> {
  const { data } = await worker.recognize(await pageImage(bitmap, turn), { rotateAuto: true }, { text: false, tsv: true });
  return {
    rotation: turn,
    // Tesseract reports the angle it turned the page by, radians clockwise.
    skew_degrees: -((data.rotateRadians ?? 0) * 180) / Math.PI,
    lines: parseTsv(data.tsv ?? ""),
  };
}

/** Read one page image; a page read poorly is read again turned, and the best reading wins. */
export async function readBitmap(bitmap: ImageBitmap, onProgress: OnProgress = () => {}): Promise<OcrReadingPage> {
  const worker = await start(onProgress);
  onProgress("reading", 0);
  let best = await readOnce(worker, bitmap, 0);
  // Paper is taller than wide: a page photographed landscape was most likely turned a quarter,
  // so those turns are tried first (the native path measures it; here each try is a reading).
  const turns = bitmap.width > bitmap.height ? [90, 270, 180] : [180, 90, 270];
  for (const [i, turn] of turns.entries()) {
    if (mean(best.lines) >= RETRY_BELOW) break;
    onProgress("reading", (i + 1) / 4);
    const again = await readOnce(worker, bitmap, turn);
    if (mean(again.lines) > mean(best.lines)) best = again;
  }
  onProgress("reading", 1);
  return best;
}

/** Read a photo (JPEG, PNG, WebP...: whatever this browser decodes). */
export async function readImage(file: Blob, onProgress: OnProgress = () => {}): Promise<OcrReading> {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  try {
    return { engine: `${ENGINE} ${LANGUAGES.join("+")}`, pages: [await readBitmap(bitmap, onProgress)], pages_unread: 0 };
  } finally {
    bitmap.close();
  }
}
