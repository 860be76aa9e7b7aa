import { useEffect, useState } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { DocumentInfo, GrantView } from "../core/protocol";
import { classIcon, classKey } from "./classes";
import { ColleaguePicker, describePerson } from "./ColleaguePicker";
import { LabTable } from "./LabTable";

/** Who the document is shared with; share with another colleague; revoke. */
function Shares(props: { id: string }) {
  const i18n = useI18n();
  const [grants, setGrants] = useState<GrantView[] | null>(null);
  const [target, setTarget] = useState("");
  const [expires, setExpires] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => core.call("grants", { documentId: props.id }).then(setGrants, (e) => setError(describeError(e, i18n)));
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.id]);
  const share = async () => {
    setError(null);
    try {
      const expiresAt = expires ? new Date(expires + "T23:59:59").toISOString().replace(/\.\d{3}Z$/, "Z") : undefined;
      const p = await core.call("share", { documentId: props.id, with: target, expiresAt });
      setMessage(i18n.t("share.done", { name: describePerson(p) }));
      setTarget("");
      await load();
    } catch (e) {
      setError(describeError(e, i18n));
    }
  };
  const revoke = async (handle: string) => {
    setError(null);
    try {
      const p = await core.call("revoke", { documentId: props.id, handle });
      setMessage(i18n.t("share.revokedDone", { name: p.name }));
      await load();
    } catch (e) {
      setError(describeError(e, i18n));
    }
  };
  return (
    <section aria-labelledby="shares-title" className="shares">
      <h2 id="shares-title">{i18n.t("share.title")}</h2>
      {grants && grants.length === 0 && <p className="muted">{i18n.t("share.none")}</p>}
      <ul>
        {grants?.map((g) => (
          <li key={g.grantee.practitioner_id + g.granted_at} data-testid="grant">
            <span>
              {describePerson(g.grantee)}
              {g.expires_at && <> · {i18n.t("share.until", { date: i18n.dateTime(g.expires_at) })}</>}
              {g.revoked && <> · <em>{i18n.t("share.revoked")}</em></>}
            </span>
            {!g.revoked && (
              <button type="button" onClick={() => void revoke(g.grantee.handle)}>
                {i18n.t("share.revoke")}
              </button>
            )}
          </li>
        ))}
      </ul>
      <div className="row wrap">
        <ColleaguePicker id="doc-share" value={target} onChange={setTarget} />
        <label className="field">
          {i18n.t("upload.expires")}
          <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
        </label>
        <button type="button" className="primary" disabled={!target} onClick={() => void share()}>
          {i18n.t("share.add")}
        </button>
      </div>
      {message && <p role="status" className="ok">{message}</p>}
      {error && <p role="alert" className="error">{error}</p>}
    </section>
  );
}

function Preview(props: { doc: DocumentInfo; url: string; text: string | null }) {
  const i18n = useI18n();
  const [zoom, setZoom] = useState(1);
  const { doc, url } = props;
  if (doc.media_type === "application/pdf") {
    return <iframe className="pdf" src={url} title={`${i18n.t("doc.pdf")}: ${doc.title}`} />;
  }
  if (doc.media_type.startsWith("image/")) {
    return (
      <figure className="image">
        <div className="zoom">
          <button type="button" onClick={() => setZoom((z) => Math.max(0.25, z / 1.25))}>
            {i18n.t("doc.zoomOut")}
          </button>
          <button type="button" onClick={() => setZoom((z) => Math.min(8, z * 1.25))}>
            {i18n.t("doc.zoomIn")}
          </button>
        </div>
        <div className="scroll">
          <img src={url} alt={doc.title} style={{ width: `${zoom * 100}%` }} />
        </div>
      </figure>
    );
  }
  if (props.text !== null) {
    return <pre className="text">{props.text}</pre>;
  }
  return <p>{i18n.t("doc.noPreview")}</p>;
}

const TEXTUAL = /^(text\/|application\/(json|xml|hl7|x-hl7|fhir))/;

export function DocumentView(props: { id: string; onBack: () => void }) {
  const i18n = useI18n();
  const [doc, setDoc] = useState<DocumentInfo | null>(null);
  const [url, setUrl] = useState<string | null>(null);
  const [text, setText] = useState<string | null>(null);
  const [bytes, setBytes] = useState(0);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let objectUrl: string | null = null;
    let current = true;
    (async () => {
      try {
        const d = await core.call("open", { documentId: props.id });
        if (!current) return;
        setDoc(d);
        const blob = await core.call("download", { documentId: props.id, mediaType: d.media_type }, (n) =>
          current ? setBytes(n) : undefined,
        );
        if (!current) return;
        objectUrl = URL.createObjectURL(blob);
        setUrl(objectUrl);
        if (TEXTUAL.test(d.media_type) || d.file_name.endsWith(".hl7") || d.file_name.endsWith(".csv")) {
          setText(await blob.text());
        }
      } catch (err) {
        if (current) setError(describeError(err, i18n));
      }
    })();
    return () => {
      current = false;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      void core.call("release", { documentId: props.id }).catch(() => {});
    };
    // The language can change while a document is open without fetching it again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.id]);

  return (
    <article className="card" aria-labelledby="doc-title" data-testid="document" data-document-id={props.id}>
      <button type="button" className="link" onClick={props.onBack}>
        ← {i18n.t("doc.back")}
      </button>
      {error && (
        <p role="alert" className="error" data-testid="document-error">
          {error}
        </p>
      )}
      {doc && (
        <>
          <h1 id="doc-title">
            <span aria-hidden="true">{classIcon(doc.category)}</span> {doc.title}
          </h1>
          <p className="muted">{i18n.t(classKey(doc.category))}</p>
          <dl className="meta">
            <dt>{i18n.t("doc.uploadedBy")}</dt>
            <dd data-testid="uploader">
              {doc.uploader.name}
              {doc.uploader.specialty ? ` (${doc.uploader.specialty})` : ""}
            </dd>
            <dt>{i18n.t("doc.registration")}</dt>
            <dd>{doc.uploader.registration}</dd>
            <dt>{i18n.t("doc.institution")}</dt>
            <dd>{doc.uploader.institution_name}</dd>
            <dt>{i18n.t("doc.dateOfService")}</dt>
            <dd>{doc.date_of_service ? i18n.date(doc.date_of_service) : i18n.t("timeline.undated")}</dd>
            <dt>{i18n.t("doc.uploadedAt")}</dt>
            <dd>{i18n.dateTime(doc.uploaded_at)}</dd>
            <dt>{i18n.t("doc.file")}</dt>
            <dd>
              {doc.file_name} · {i18n.size(doc.size)}
            </dd>
          </dl>
          {(doc.modality || doc.study_description) && (
            <dl className="meta" data-testid="imaging">
              {doc.modality && (
                <>
                  <dt>DICOM</dt>
                  <dd>{doc.modality}</dd>
                </>
              )}
              {doc.study_description && (
                <>
                  <dt>{i18n.t("doc.file")}</dt>
                  <dd>{doc.study_description}</dd>
                </>
              )}
            </dl>
          )}
          {doc.observations.length > 0 && <LabTable observations={doc.observations} />}
          {!url && !error && (
            <p role="status">{i18n.t("doc.loading", { bytes: i18n.size(bytes) })}</p>
          )}
          {url && (
            <>
              <p className="verified" data-testid="verified">
                ✓ {i18n.t("doc.verified")}
              </p>
              <a className="button" href={url} download={doc.file_name} data-testid="save">
                {i18n.t("doc.download")}
              </a>
              <Preview doc={doc} url={url} text={text} />
            </>
          )}
          <Shares id={props.id} />
        </>
      )}
    </article>
  );
}
