// Reads a picked file on this device: photos through the browser's own image decoders, scanned
// PDFs page by page (./scan.ts, page images taken out by the classification module), then the
// OCR engine (./engine.ts). Loaded only when a file needs reading.
import type { OcrReading } from "../core/protocol";
import { readImage, type OnProgress } from "./engine";
import { readScan, type PageSource } from "./scan";
import { OcrUnsupported } from "./errors";

export { OcrUnsupported };

/** Read a photo (any image this browser decodes) or a scanned PDF (its pages from `scanPages`,
 * the worker's `scanPage`) into words with confidences. */
export async function readFile(file: File, onProgress: OnProgress, scanPages?: PageSource): Promise<OcrReading> {
  const head = new Uint8Array(await file.slice(0, 5).arrayBuffer());
  if (String.fromCharCode(...head) === "%PDF-") {
    if (!scanPages) throw new OcrUnsupported("scanned PDFs are read with the classification module: none was given");
    return readScan(scanPages, onProgress);
  }
  return readImage(file, onProgress);
}
