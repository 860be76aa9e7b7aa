// Reads a picked file on this device: photos through the browser's own image decoders, then
// the OCR engine (./engine.ts). Loaded only when a file needs reading.
import type { OcrReading } from "../core/protocol";
import { readImage, type OnProgress } from "./engine";

export class OcrUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = "invalid";
  }
}

/** Read a photo (any image this browser decodes) into words with confidences. */
export async function readFile(file: File, onProgress: OnProgress): Promise<OcrReading> {
  const head = new Uint8Array(await file.slice(0, 5).arrayBuffer());
  if (String.fromCharCode(...head) === "%PDF-") {
    throw new OcrUnsupported("scanned PDFs are not read in the browser yet: use the CLI (medshare classify) or upload a photo of the page");
  }
  return readImage(file, onProgress);
}
