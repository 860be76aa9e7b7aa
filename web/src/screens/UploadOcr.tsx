// Photographed and scanned paper on the upload screen: a file the core says needs reading (a
// photo, a PDF without a text layer) is read on this device by the OCR engine (web/src/ocr,
// loaded only now), and what was read is classified in the worker (`classifyOcr`: the
// classification module's `classify_ocr`, kept by the core's `intake`), the same rules as the
// CLI. The image and the text never leave the device in clear: the file is sealed as any other,
// the classification travels sealed in its manifest.
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { OcrIntakeView, OcrReading } from "../core/protocol";
import type { Stage } from "../ocr/engine";

export interface OcrState {
  status: "reading" | "done" | "failed";
  stage?: Stage;
  /** 0..1 within the stage. */
  progress?: number;
  view?: OcrIntakeView;
  /** Kept to classify again (e.g. after a refused upload) without reading again. */
  reading?: OcrReading;
  error?: unknown;
}

/** Compressed size of the language data the engine loads once (eng, chi_tra, chi_sim). */
export const LANGUAGE_DATA_MB = 6.3;

/** If the file classified under `key` is a photo or a scan, read it on this device and classify
 * what was read; `onState` follows the reading. `null` when the file needs no reading. */
export async function readIfNeeded(key: string, file: File, onState: (s: OcrState) => void): Promise<OcrIntakeView | null> {
  if (!(await core.call("needsOcr", { key }))) return null;
  onState({ status: "reading", stage: "loading", progress: 0 });
  try {
    const ocr = await import("../ocr/read");
    const reading = await ocr.readFile(
      file,
      (stage, progress) => onState({ status: "reading", stage, progress }),
      (index) => core.call("scanPage", { file, index }),
    );
    const view = await core.call("classifyOcr", { key, file, reading });
    onState({ status: "done", view, reading });
    return view;
  } catch (e) {
    // The classification without OCR stays (a photo, at low confidence); the user is told.
    onState({ status: "failed", error: e });
    return null;
  }
}

/** Classify again from a reading already made. */
export async function classifyAgain(key: string, file: File, state: OcrState | undefined): Promise<OcrIntakeView | null> {
  if (!state?.reading) return null;
  return core.call("classifyOcr", { key, file, reading: state.reading });
}

/** What the reading found, and how surely: shown under the file on the upload screen. */
export function OcrNote(props: { state: OcrState }) {
  const i18n = useI18n();
  const s = props.state;
  if (s.status === "reading") {
    const percent = Math.round((s.progress ?? 0) * 100);
    return (
      <p className="small muted" role="status" data-testid="ocr-status">
        {s.stage === "loading" ? i18n.t("ocr.loading", { mb: LANGUAGE_DATA_MB }) : i18n.t("ocr.reading", { percent })}
        <progress max={1} value={s.progress ?? 0} aria-label={i18n.t("ocr.title")} />
      </p>
    );
  }
  if (s.status === "failed") {
    return (
      <p className="warning" role="alert" data-testid="ocr-failed">
        {i18n.t("ocr.failed", { message: describeError(s.error, i18n) })}
      </p>
    );
  }
  const v = s.view!;
  return (
    <div data-testid="ocr-result">
      <p className="small">
        {i18n.t("ocr.read", { words: v.words, confidence: Math.round(v.mean_confidence * 100) })}
      </p>
      {v.low_confidence && (
        <p className="warning" role="alert" data-testid="ocr-low-confidence">
          {i18n.t("ocr.lowConfidence")}
        </p>
      )}
      {v.skipped_lines > 0 && (
        <p className="small muted" data-testid="ocr-skipped">
          {i18n.t("ocr.skipped", { count: v.skipped_lines })}
        </p>
      )}
    </div>
  );
}
