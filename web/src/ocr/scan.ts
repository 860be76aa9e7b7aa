// Scanned PDFs (no text layer) read on this device: the classification module takes each page's
// image out of the PDF (`scanned_page` in crates/medshare-wasm-classify/src/scan.rs, the native
// OCR's own extraction, `medshare_classify::scan`), one page at a time through the worker; here
// the page is drawn (JPEG by the browser's decoder, grey or RGB pixels in strips) at the engine's
// working size and read like a photo (./engine.ts). Bounds: the first 20 pages (the module's
// `scan::MAX_PAGES`), 40 million pixels a page; pages past them, or whose image is not decoded
// here (JBIG2, CCITT fax, JPEG 2000), are counted in the reading (`pages_unread`) and said in the
// classification's evidence. A scan with no readable page is an error the upload screen shows.
import type { OcrReading, OcrReadingPage } from "../core/protocol";
import { ENGINE, LANGUAGES, readBitmap, type OnProgress } from "./engine";
import { OcrUnsupported } from "./errors";

/** One page of a scanned PDF, as the worker hands it over (`scanPage`). */
export interface ScanPage {
  /** Pages in the document, and how many of them are read (the first 20). */
  pages: number;
  readable: number;
  kind: "jpeg" | "gray" | "rgb" | "none";
  width: number;
  height: number;
  data: Uint8Array;
}

export type PageSource = (index: number) => Promise<ScanPage>;

/** Longest side a page is drawn at before the engine's own scaling (engine.ts's working size). */
const DRAW_SIDE = 2400;
/** Rows converted to RGBA at a time: a page's full RGBA copy is never made. */
const STRIP_ROWS = 256;

/** The page as a bitmap for the engine, or null when this browser cannot decode it. */
async function bitmapOf(p: ScanPage): Promise<ImageBitmap | null> {
  if (p.kind === "jpeg") {
    return createImageBitmap(new Blob([p.data as BlobPart], { type: "image/jpeg" })).catch(() => null);
  }
  if (p.kind !== "gray" && p.kind !== "rgb") return null;
  const { width: w, height: h, data } = p;
  const scale = Math.min(1, DRAW_SIDE / Math.max(w, h));
  const canvas = new OffscreenCanvas(Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)));
  const g = canvas.getContext("2d")!;
  g.imageSmoothingQuality = "high";
  const channels = p.kind === "rgb" ? 3 : 1;
  for (let y0 = 0; y0 < h; y0 += STRIP_ROWS) {
    const rows = Math.min(STRIP_ROWS, h - y0);
    const strip = new ImageData(w, rows);
    const rgba = strip.data;
    const base = y0 * w * channels;
    for (let i = 0, n = w * rows; i < n; i++) {
      const s = base + i * channels;
      const o = i * 4;
      if (channels === 1) {
        rgba[o] = rgba[o + 1] = rgba[o + 2] = data[s];
      } else {
        rgba[o] = data[s];
        rgba[o + 1] = data[s + 1];
        rgba[o + 2] = data[s + 2];
      }
      rgba[o + 3] = 255;
    }
    const bitmap = await createImageBitmap(strip);
    g.drawImage(bitmap, 0, y0 * scale, w * scale, rows * scale);
    bitmap.close();
  }
  return createImageBitmap(canvas);
}

/** Read the pages of a scanned PDF, one at a time: each page image taken out by `source` (the
 * worker's `scanPage`), drawn, read; progress runs over all pages. */
export async function readScan(source: PageSource, onProgress: OnProgress = () => {}): Promise<OcrReading> {
  const first = await source(0);
  const pages: OcrReadingPage[] = [];
  let unread = first.pages - first.readable;
  for (let i = 0; i < first.readable; i++) {
    const page = i === 0 ? first : await source(i);
    const bitmap = await bitmapOf(page);
    if (!bitmap) {
      unread++;
      continue;
    }
    try {
      pages.push(
        await readBitmap(bitmap, (stage, progress) =>
          onProgress(stage, stage === "reading" ? (i + progress) / first.readable : progress),
        ),
      );
    } finally {
      bitmap.close();
    }
  }
  if (pages.length === 0) {
    throw new OcrUnsupported("no page of this scan could be read on this device (its images are in an encoding the browser does not decode): use the CLI (medshare classify)");
  }
  return { engine: `${ENGINE} ${LANGUAGES.join("+")}`, pages, pages_unread: unread };
}
