// The classification module (crates/medshare-wasm-classify), fetched, compiled and instantiated
// by the worker the first time the user picks a file to upload, then kept for the visit. It
// carries every document parser (PDF, DICOM, DOCX, HL7, FHIR, EXIF): about as big as the rest
// of the core and needed by no other screen, so the core that every visit downloads and
// compiles stays without it. Only the module's small JavaScript glue is part of the worker.
import init, { classify as classifyBytes, classify_ocr, type OcrClassified, type OcrReading } from "./pkg-classify/medshare_wasm_classify";
import { scanned_page } from "./pkg-classify/medshare_wasm_classify";
import type { ScanPage } from "../ocr/scan";
import wasmUrl from "./pkg-classify/medshare_wasm_classify_bg.wasm?url";

let loading: Promise<unknown> | null = null;

function load(): Promise<unknown> {
  loading ??= init({ module_or_path: wasmUrl }).catch((e: unknown) => {
    loading = null; // a failed fetch (offline) is tried again on the next file
    throw e;
  });
  return loading;
}

/** The file's classification from its first bytes, as JSON for the core's `intake`: opaque to
 * the worker (it is health information and is never looked at here). */
export async function classify(prefix: Uint8Array, totalLen: number): Promise<string> {
  await load();
  return classifyBytes(prefix, totalLen);
}

/** A photo's or scan's classification from its first bytes and what the on-device OCR read
 * (web/src/ocr): `classification` is JSON for the core's `intake`, as above. */
export async function classifyRead(prefix: Uint8Array, totalLen: number, reading: OcrReading): Promise<OcrClassified> {
  await load();
  return classify_ocr(prefix, totalLen, reading);
}

/** Page `index` of a scanned PDF: its image as the PDF stores it (JPEG) or as pixels, for the
 * on-device OCR (web/src/ocr/scan.ts); `pdf` is the whole file. */
export async function scannedPage(pdf: Uint8Array, index: number): Promise<ScanPage> {
  await load();
  const p = scanned_page(pdf, index);
  try {
    return { pages: p.pages, readable: p.readable, kind: p.kind as ScanPage["kind"], width: p.width, height: p.height, data: p.data };
  } finally {
    p.free();
  }
}
