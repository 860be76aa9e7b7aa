import { useEffect, useRef, useState, type DragEvent } from "react";
import { useI18n, type Key } from "../i18n";
import { core, describeError } from "../core/session";
import type { DocumentInfo, IdentifierCheck, IntakeView } from "../core/protocol";
import { ColleaguePicker } from "./ColleaguePicker";
import { classKey } from "./classes";
import { LabTable } from "./LabTable";
import { UrgentConsultOffer } from "./Consults";
import { OcrNote, classifyAgain, readIfNeeded, type OcrState } from "./UploadOcr";

const CLASSES = [
  "lab-report",
  "imaging-report",
  "diagnostic-imaging",
  "ecg",
  "discharge-summary",
  "referral-letter",
  "consultation-note",
  "medication",
  "operative-note",
  "pathology-report",
  "immunisation-record",
  "clinical-photo",
  "other",
];

interface Item {
  key: string;
  file: File;
  intake?: IntakeView;
  title: string;
  category: string;
  date: string;
  urgent: boolean;
  mismatch: boolean;
  acceptMismatch: boolean;
  sent: number;
  done?: DocumentInfo;
  error?: string;
  /** Photos and scans: the on-device reading (see UploadOcr.tsx). */
  ocr?: OcrState;
}

let nextKey = 1;

export function Upload(props: { identifier: string; onIdentifier: (v: string) => void; onDone: () => void }) {
  const i18n = useI18n();
  const [items, setItems] = useState<Item[]>([]);
  const [shareWith, setShareWith] = useState("");
  const [expires, setExpires] = useState("");
  const [name, setName] = useState("");
  const [birth, setBirth] = useState("");
  const [check, setCheck] = useState<IdentifierCheck | null>(null);
  const [busy, setBusy] = useState(false);
  const camera = useRef<HTMLInputElement>(null);
  const picker = useRef<HTMLInputElement>(null);

  const update = (key: string, patch: Partial<Item>) =>
    setItems((all) => all.map((it) => (it.key === key ? { ...it, ...patch } : it)));

  const checkIdentifier = async (v: string) => {
    props.onIdentifier(v);
    const c = v.trim() ? await core.call("checkIdentifier", { text: v }) : null;
    setCheck(c);
    if (c?.valid) {
      for (const it of items) {
        if (it.intake) update(it.key, { mismatch: await core.call("namesOtherPatient", { key: it.key, identifier: v }) });
      }
    }
  };

  // The number of the patient just searched comes filled in: check it as if typed.
  useEffect(() => {
    if (props.identifier.trim()) void checkIdentifier(props.identifier);
    // Once, on opening the screen; later edits go through the input's onChange.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const add = async (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      const key = `f${nextKey++}`;
      const item: Item = { key, file, title: file.name, category: "other", date: "", urgent: false, mismatch: false, acceptMismatch: false, sent: 0 };
      setItems((all) => [...all, item]);
      try {
        let intake = await core.call("classify", { key, file });
        intake = (await readIfNeeded(key, file, (ocr) => update(key, { ocr })))?.intake ?? intake;
        const mismatch = check?.valid ? await core.call("namesOtherPatient", { key, identifier: props.identifier }) : false;
        update(key, {
          intake,
          title: intake.title,
          category: intake.category,
          date: intake.date_of_service ?? "",
          urgent: intake.urgent,
          mismatch,
        });
      } catch (e) {
        update(key, { error: describeError(e, i18n) });
      }
    }
  };

  const remove = (key: string) => {
    void core.call("forgetFile", { key });
    setItems((all) => all.filter((it) => it.key !== key));
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) void add(e.dataTransfer.files);
  };

  const submit = async () => {
    setBusy(true);
    const shares = shareWith ? [{ with: shareWith, expires_at: expires ? new Date(expires + "T23:59:59").toISOString().replace(/\.\d{3}Z$/, "Z") : undefined }] : [];
    for (const it of items.filter((i) => i.intake && !i.done)) {
      update(it.key, { error: undefined });
      try {
        const doc = await core.call(
          "upload",
          {
            key: it.key,
            file: it.file,
            identifier: props.identifier,
            choices: {
              title: it.title,
              category: it.category,
              date_of_service: it.date || undefined,
              urgent: it.urgent,
              accept_identifier_mismatch: it.acceptMismatch,
              shares,
              new_patient: { name: name || undefined, birth_date: birth || undefined },
            },
          },
          (n) => update(it.key, { sent: n }),
        );
        update(it.key, { done: doc, sent: it.file.size });
      } catch (e) {
        update(it.key, { error: describeError(e, i18n) });
        // A refused upload keeps the file classified so the user can correct and retry.
        try {
          const intake = (await classifyAgain(it.key, it.file, it.ocr))?.intake ?? (await core.call("classify", { key: it.key, file: it.file }));
          update(it.key, { intake });
        } catch {
          /* shown above */
        }
      }
    }
    setBusy(false);
  };

  const ready = check?.valid && items.some((i) => i.intake && !i.done) && items.every((i) => !i.mismatch || i.acceptMismatch || i.done);

  return (
    <section className="card" aria-labelledby="upload-title">
      <h1 id="upload-title">{i18n.t("upload.title")}</h1>
      <div className="form">
        <label>
          {i18n.t("upload.patient")}
          <input
            id="upload-patient"
            value={props.identifier}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={check ? !check.valid : undefined}
            onChange={(e) => void checkIdentifier(e.target.value)}
          />
        </label>
        <details>
          <summary>{i18n.t("upload.newPatient")}</summary>
          <label>
            {i18n.t("upload.patientName")}
            <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
          </label>
          <label>
            {i18n.t("upload.birthDate")}
            <input type="date" value={birth} onChange={(e) => setBirth(e.target.value)} />
          </label>
        </details>
        <div className="dropzone" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="dropzone">
          <button type="button" onClick={() => picker.current?.click()}>
            {i18n.t("upload.pick")}
          </button>
          <button type="button" onClick={() => camera.current?.click()}>
            📷 {i18n.t("upload.camera")}
          </button>
          <span className="muted">{i18n.t("upload.drop")}</span>
          <input ref={picker} type="file" multiple hidden data-testid="file-input" aria-label={i18n.t("upload.pick")} onChange={(e) => e.target.files && void add(e.target.files)} />
          <input
            ref={camera}
            type="file"
            accept="image/*"
            capture="environment"
            hidden
            data-testid="camera-input"
            aria-label={i18n.t("upload.camera")}
            onChange={(e) => e.target.files && void add(e.target.files)}
          />
        </div>
        {items.length === 0 && <p className="muted">{i18n.t("upload.none")}</p>}
        <ul className="uploads">
          {items.map((it) => (
            <li key={it.key} className="upload-item" data-testid="upload-item">
              <div className="row">
                <strong>{it.file.name}</strong>
                <span className="muted small">{i18n.size(it.file.size)}</span>
                {!it.done && (
                  <button type="button" className="link" onClick={() => remove(it.key)}>
                    {i18n.t("upload.remove")}
                  </button>
                )}
              </div>
              {it.ocr && <OcrNote state={it.ocr} />}
              {it.intake && (
                <>
                  <p className="small" data-testid="classified">
                    {i18n.t("upload.classified", { class: i18n.t(classKey(it.intake.category)), confidence: Math.round(it.intake.confidence * 100) })}
                  </p>
                  {it.intake.critical && <p className="error">{i18n.t("upload.critical")}</p>}
                  <label>
                    {i18n.t("upload.fileTitle")}
                    <input value={it.title} onChange={(e) => update(it.key, { title: e.target.value })} />
                  </label>
                  <label>
                    {i18n.t("upload.class")}
                    <select value={it.category} onChange={(e) => update(it.key, { category: e.target.value })}>
                      {CLASSES.map((c) => (
                        <option key={c} value={c}>
                          {i18n.t(`class.${c}` as Key)}
                        </option>
                      ))}
                    </select>
                  </label>
                  <label>
                    {i18n.t("upload.date")}
                    <input type="date" value={it.date} onChange={(e) => update(it.key, { date: e.target.value })} />
                  </label>
                  <label className="check">
                    <input type="checkbox" checked={it.urgent} onChange={(e) => update(it.key, { urgent: e.target.checked })} />
                    {i18n.t("upload.urgent")}
                  </label>
                  {it.intake.observations.length > 0 && <LabTable observations={it.intake.observations} />}
                  {it.mismatch && (
                    <div className="warning" role="alert" data-testid="mismatch">
                      <p>{i18n.t("upload.mismatch", { patient: props.identifier })}</p>
                      <label className="check">
                        <input type="checkbox" checked={it.acceptMismatch} onChange={(e) => update(it.key, { acceptMismatch: e.target.checked })} />
                        {i18n.t("upload.acceptMismatch")}
                      </label>
                    </div>
                  )}
                </>
              )}
              {(busy || it.done) && (
                <progress max={it.file.size || 1} value={it.sent} aria-label={i18n.t("upload.progress", { file: it.file.name })} />
              )}
              {it.done && (
                <p className="ok" role="status" data-testid="uploaded">
                  ✓ {i18n.t("upload.done", { title: it.done.title })}
                </p>
              )}
              {it.error && (
                <p className="error" role="alert">
                  {it.error}
                </p>
              )}
            </li>
          ))}
        </ul>
        <UrgentConsultOffer
          identifier={props.identifier}
          documents={items.flatMap((i) => (i.done && i.intake?.critical ? [{ id: i.done.document_id, title: i.done.title }] : []))}
        />
        <fieldset>
          <legend>{i18n.t("upload.shareWith")}</legend>
          <ColleaguePicker id="upload-share" value={shareWith} onChange={setShareWith} />
          <label>
            {i18n.t("upload.expires")}
            <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
          </label>
        </fieldset>
        <button type="button" className="primary" disabled={!ready || busy} onClick={submit}>
          {i18n.t("upload.submit")}
        </button>
      </div>
    </section>
  );
}
