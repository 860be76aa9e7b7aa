// A file the on-device OCR cannot read; named like the core's errors (`invalid`), which the app
// translates.
export class OcrUnsupported extends Error {
  constructor(message: string) {
    super(message);
    this.name = "invalid";
  }
}
