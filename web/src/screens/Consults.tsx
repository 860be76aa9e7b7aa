// Urgent consults: the consults this doctor asked or was reached by (state, urgency, a countdown
// to the acknowledgement deadline, who holds it now, every step as the hub reports it), each
// opened by the core (the requester's signed binding checked, the question decrypted in the
// worker); acknowledge, answer in a case room; ask a colleague or an on-call list about a
// patient. Live: the list reloads when the event stream tells of a consult step. Also the offer
// of an urgent consult after a critical lab result is uploaded (used by the upload screen).
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useI18n, type Key } from "../i18n";
import { core, describeError } from "../core/session";
import type { ConsultDetail, ConsultList, DocumentInfo, EventView, OncallView } from "../core/protocol";
import { ColleaguePicker } from "./ColleaguePicker";

/** Acknowledgement windows offered, in minutes. */
const WINDOWS = [5, 10, 15, 30, 60];

/** The wall clock, ticking every second (for the deadline countdown). */
function useNow(): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

/** Re-run `f` whenever the event stream tells of a consult step (the App forwards events). */
export function useConsultEvents(f: (e: EventView) => void) {
  useEffect(() => {
    const on = (ev: Event) => {
      const e = (ev as CustomEvent<EventView>).detail;
      if (e.kind === "consult") f(e);
    };
    window.addEventListener("medshare:event", on);
    return () => window.removeEventListener("medshare:event", on);
  }, [f]);
}

/** `HANDLE@CODE` from the colleague picker: a consult names the colleague by handle (the core
 * resolves and verifies the certificate). */
const handleOf = (target: string) => target.split("@")[0];

function countdown(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

export function Consults(props: { identifier: string; onOpenDocument: (id: string) => void; onOpenRooms: () => void }) {
  const i18n = useI18n();
  const [list, setList] = useState<ConsultList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    core.call("consults", {}).then(
      (l) => {
        setList(l);
        setError(null);
      },
      (e) => setError(describeError(e, i18n)),
    );
  }, [i18n]);
  useEffect(load, [load]);
  useConsultEvents(load);
  const mine = list?.consults.filter((c) => c.asked_by_me) ?? [];
  const received = list?.consults.filter((c) => !c.asked_by_me) ?? [];

  return (
    <>
      <section className="card" aria-labelledby="consults-title">
        <h1 id="consults-title">{i18n.t("consults.title")}</h1>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        {list === null && !error && <p role="status">{i18n.t("consults.loading")}</p>}
        <h2>{i18n.t("consults.received")}</h2>
        {list && received.length === 0 && <p className="muted">{i18n.t("consults.noneReceived")}</p>}
        <ul className="consults" data-testid="consults-received">
          {received.map((c) => (
            <ConsultItem key={c.consult_id} c={c} onChanged={load} onOpenDocument={props.onOpenDocument} onOpenRooms={props.onOpenRooms} />
          ))}
        </ul>
        <h2>{i18n.t("consults.asked")}</h2>
        {list && mine.length === 0 && <p className="muted">{i18n.t("consults.noneAsked")}</p>}
        <ul className="consults" data-testid="consults-asked">
          {mine.map((c) => (
            <ConsultItem key={c.consult_id} c={c} onChanged={load} onOpenDocument={props.onOpenDocument} onOpenRooms={props.onOpenRooms} />
          ))}
        </ul>
        {list && list.refused.length > 0 && (
          <p role="alert" className="error" data-testid="consults-refused">
            {i18n.t("consults.refused", { count: list.refused.length })}
          </p>
        )}
      </section>
      <AskConsult identifier={props.identifier} onAsked={load} />
    </>
  );
}

function ConsultItem(props: { c: ConsultDetail; onChanged: () => void; onOpenDocument: (id: string) => void; onOpenRooms: () => void }) {
  const i18n = useI18n();
  const now = useNow();
  const c = props.c;
  const [showQuestion, setShowQuestion] = useState(false);
  const [answer, setAnswer] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [docs, setDocs] = useState<Record<string, DocumentInfo>>({});
  const left = c.due_at ? new Date(c.due_at).getTime() - now : null;

  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
      props.onChanged();
    } catch (e) {
      setError(describeError(e, i18n));
    } finally {
      setBusy(false);
    }
  };
  const reveal = () => {
    setShowQuestion((v) => !v);
    // The attached documents' titles, opened by the core (they were shared with the chain).
    for (const d of c.documents) {
      if (docs[d]) continue;
      core.call("open", { documentId: d }).then(
        (info) => setDocs((all) => ({ ...all, [d]: info })),
        () => {},
      );
    }
  };
  const answerable = c.acked_by_me && c.state === "acknowledged" && !c.room_id;

  return (
    <li className={`consult${c.urgent ? " urgent" : ""}`} data-testid="consult" data-state={c.state}>
      <div className="row">
        {c.urgent && <span className="badge danger">{i18n.t("consults.urgent")}</span>}
        <strong>
          {c.asked_by_me
            ? c.oncall
              ? i18n.t("consults.toList", { list: c.oncall })
              : i18n.t("consults.to", { who: c.chain[0] ?? "" })
            : i18n.t("consults.from", { who: `${c.requester.name} — ${c.requester.institution_name}` })}
        </strong>
        <span className="badge" data-testid="consult-state">
          {i18n.t(`consults.state.${c.state}` as Key)}
        </span>
      </div>
      <p className="small muted">{i18n.t("consults.asked.at", { time: i18n.dateTime(c.created_at) })}</p>
      {c.state === "open" && c.current && (
        <p className="small" data-testid="consult-holder">
          {c.current_is_me ? i18n.t("consults.holderMe") : i18n.t("consults.holder", { who: c.current })}{" "}
          {left !== null && (
            <span className={left <= 0 ? "error" : undefined} data-testid="consult-countdown" role="timer">
              {left > 0 ? i18n.t("consults.dueIn", { time: countdown(left) }) : i18n.t("consults.overdue")}
            </span>
          )}
        </p>
      )}
      {c.acked_by && <p className="small ok">{i18n.t("consults.ackedBy", { who: c.acked_by })}</p>}
      <details>
        <summary>{i18n.t("consults.history", { count: c.history.length })}</summary>
        <ol className="small" data-testid="consult-history">
          {c.history.map((s, i) => (
            <li key={i} data-kind={s.kind}>
              {i18n.dateTime(s.at)} · {i18n.t(`consults.step.${s.kind}` as Key, { who: s.who })}
            </li>
          ))}
        </ol>
      </details>
      <button type="button" onClick={reveal} aria-expanded={showQuestion} data-testid="consult-read">
        {showQuestion ? i18n.t("consults.hideQuestion") : i18n.t("consults.readQuestion")}
      </button>
      {showQuestion && (
        <div className="question">
          <p data-testid="consult-question" className="prewrap">
            {c.question}
          </p>
          <p className="small muted">{i18n.t("consults.verified")}</p>
          {c.documents.length > 0 && (
            <ul className="small">
              {c.documents.map((d) => (
                <li key={d}>
                  <button type="button" className="link" onClick={() => props.onOpenDocument(d)}>
                    {docs[d]?.title ?? i18n.t("consults.attachment")}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {c.current_is_me && c.state === "open" && (
        <button type="button" className="primary" disabled={busy} onClick={() => run(() => core.call("ackConsult", { consultId: c.consult_id }))}>
          {i18n.t("consults.ack")}
        </button>
      )}
      {answerable && (
        <form
          className="stack"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            if (answer.trim()) void run(() => core.call("answerConsult", { consultId: c.consult_id, text: answer }));
          }}
        >
          <label className="field">
            {i18n.t("consults.answer")}
            <textarea value={answer} onChange={(e) => setAnswer(e.target.value)} rows={3} maxLength={8000} />
          </label>
          <button type="submit" disabled={busy || !answer.trim()}>
            {i18n.t("consults.answerSubmit")}
          </button>
        </form>
      )}
      {c.room_id && (
        <button type="button" className="link" onClick={props.onOpenRooms} data-testid="consult-room">
          {i18n.t("consults.openRoom")}
        </button>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </li>
  );
}

/** Ask a consult of a colleague or an on-call list, about a patient, with a question. */
function AskConsult(props: { identifier: string; onAsked: () => void }) {
  const i18n = useI18n();
  const [kind, setKind] = useState<"colleague" | "oncall">("colleague");
  const [colleague, setColleague] = useState("");
  const [institution, setInstitution] = useState("");
  const [lists, setLists] = useState<OncallView[] | null>(null);
  const [list, setList] = useState("");
  const [identifier, setIdentifier] = useState(props.identifier);
  const [question, setQuestion] = useState("");
  const [minutes, setMinutes] = useState(10);
  const [urgent, setUrgent] = useState(true);
  const [patientDocs, setPatientDocs] = useState<DocumentInfo[] | null>(null);
  const [attach, setAttach] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);

  const loadLists = async () => {
    setError(null);
    try {
      setLists(await core.call("oncallLists", { institution: institution.trim() || undefined }));
    } catch (e) {
      setLists(null);
      setError(describeError(e, i18n));
    }
  };
  const loadDocs = async () => {
    setError(null);
    try {
      setPatientDocs((await core.call("timeline", { identifier })).documents);
    } catch (e) {
      setError(describeError(e, i18n));
    }
  };
  const to = kind === "colleague" ? handleOf(colleague) : list ? `oncall:${institution.trim() ? `${institution.trim()}/` : ""}${list}` : "";
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!to || !question.trim()) return;
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await core.call("requestConsult", {
        ask: { to, identifier, question, documents: attach, ack_within_secs: minutes * 60, urgent },
      });
      setQuestion("");
      setAttach([]);
      setDone(true);
      props.onAsked();
    } catch (err) {
      setError(describeError(err, i18n));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="ask-title">
      <form className="stack" onSubmit={submit}>
        <h2 id="ask-title">{i18n.t("consults.ask")}</h2>
        <fieldset>
          <legend>{i18n.t("consults.askOf")}</legend>
          <label className="check">
            <input type="radio" name="consult-to" checked={kind === "colleague"} onChange={() => setKind("colleague")} />
            {i18n.t("consults.ofColleague")}
          </label>
          <label className="check">
            <input type="radio" name="consult-to" checked={kind === "oncall"} onChange={() => setKind("oncall")} />
            {i18n.t("consults.ofList")}
          </label>
        </fieldset>
        {kind === "colleague" ? (
          <ColleaguePicker id="consult-colleague" value={colleague} onChange={setColleague} label={i18n.t("consults.colleague")} />
        ) : (
          <div className="stack">
            <label className="field">
              {i18n.t("consults.institution")}
              <input id="consult-institution" value={institution} onChange={(e) => setInstitution(e.target.value)} autoComplete="off" />
            </label>
            <button type="button" onClick={loadLists}>
              {i18n.t("consults.loadLists")}
            </button>
            {lists && lists.length === 0 && <p className="muted">{i18n.t("consults.noLists")}</p>}
            {lists && lists.length > 0 && (
              <label className="field">
                {i18n.t("consults.list")}
                <select id="consult-list" value={list} onChange={(e) => setList(e.target.value)}>
                  <option value="">{i18n.t("consults.chooseList")}</option>
                  {lists.map((l) => (
                    <option key={l.name} value={l.name} disabled={l.expired}>
                      {i18n.t(l.expired ? "consults.listExpired" : "consults.listOption", { name: l.name, members: l.members.join(", "), owner: l.owner })}
                    </option>
                  ))}
                </select>
              </label>
            )}
          </div>
        )}
        <label className="field">
          {i18n.t("consults.patient")}
          <input id="consult-patient" value={identifier} onChange={(e) => setIdentifier(e.target.value)} autoComplete="off" spellCheck={false} required />
        </label>
        <label className="field">
          {i18n.t("consults.question")}
          <textarea id="consult-question" value={question} onChange={(e) => setQuestion(e.target.value)} rows={4} maxLength={8000} required />
        </label>
        <p className="small muted">{i18n.t("consults.sealedNote")}</p>
        <label className="field">
          {i18n.t("consults.window")}
          <select id="consult-window" value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
            {WINDOWS.map((m) => (
              <option key={m} value={m}>
                {i18n.t("consults.minutes", { count: m })}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={urgent} onChange={(e) => setUrgent(e.target.checked)} />
          {i18n.t("consults.markUrgent")}
        </label>
        <fieldset>
          <legend>{i18n.t("consults.attach")}</legend>
          <button type="button" onClick={loadDocs} disabled={!identifier.trim()}>
            {i18n.t("consults.loadDocs")}
          </button>
          {patientDocs?.map((d) => (
            <label key={d.document_id} className="check">
              <input
                type="checkbox"
                checked={attach.includes(d.document_id)}
                onChange={(e) => setAttach((all) => (e.target.checked ? [...all, d.document_id] : all.filter((x) => x !== d.document_id)))}
              />
              {d.title}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={busy || !to || !question.trim() || !identifier.trim()}>
          {i18n.t("consults.askSubmit")}
        </button>
        {done && (
          <p role="status" className="ok" data-testid="consult-asked">
            {i18n.t("consults.askedOk")}
          </p>
        )}
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}

/** After an upload: critical results found by the core's classification. Offers an urgent
 * consult to a named colleague with the documents (the CLI's `--urgent-to`); the hub learns
 * only that it is urgent. */
export function UrgentConsultOffer(props: { identifier: string; documents: { id: string; title: string }[] }) {
  const i18n = useI18n();
  const [colleague, setColleague] = useState("");
  const [minutes, setMinutes] = useState(10);
  const [busy, setBusy] = useState(false);
  const [asked, setAsked] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (props.documents.length === 0) return null;
  const ask = async () => {
    setBusy(true);
    setError(null);
    try {
      await core.call("requestConsult", {
        ask: {
          to: handleOf(colleague),
          identifier: props.identifier,
          question: i18n.t("consults.criticalQuestion", { titles: props.documents.map((d) => d.title).join("; ") }),
          documents: props.documents.map((d) => d.id),
          ack_within_secs: minutes * 60,
          urgent: true,
        },
      });
      setAsked(true);
    } catch (e) {
      setError(describeError(e, i18n));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="warning" data-testid="urgent-offer">
      <p>
        <strong>{i18n.t("consults.criticalOffer")}</strong>
      </p>
      {asked ? (
        <p role="status" className="ok">
          {i18n.t("consults.askedOk")}
        </p>
      ) : (
        <>
          <ColleaguePicker id="urgent-colleague" value={colleague} onChange={setColleague} label={i18n.t("consults.colleague")} />
          <label className="field">
            {i18n.t("consults.window")}
            <select value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
              {WINDOWS.map((m) => (
                <option key={m} value={m}>
                  {i18n.t("consults.minutes", { count: m })}
                </option>
              ))}
            </select>
          </label>
          <button type="button" className="primary" disabled={busy || !colleague} onClick={ask}>
            {i18n.t("consults.criticalAsk")}
          </button>
        </>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
