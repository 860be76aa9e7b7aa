import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { IdentifierCheck, TimelineView } from "../core/protocol";
import { TimelineList, group } from "./TimelineList";
import { Trends } from "./Trends";
import { Consent } from "./Consent";

/** Emergency access: reason required, time limit shown, clearly marked. */
function BreakGlass(props: { identifier: string; onOpened: (until: string) => void }) {
  const i18n = useI18n();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | null>(null);
  if (!open) {
    return (
      <button type="button" className="danger" onClick={() => setOpen(true)}>
        {i18n.t("breakglass.open")}
      </button>
    );
  }
  const confirm = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      props.onOpened(await core.call("breakGlass", { identifier: props.identifier, reason }));
      setOpen(false);
      setReason("");
    } catch (err) {
      setError(describeError(err, i18n));
    }
  };
  return (
    <form className="breakglass form" onSubmit={confirm} aria-labelledby="bg-title">
      <h2 id="bg-title">{i18n.t("breakglass.open")}</h2>
      <p>{i18n.t("breakglass.explain")}</p>
      <label>
        {i18n.t("breakglass.reason")}
        <textarea required value={reason} onChange={(e) => setReason(e.target.value)} rows={3} />
      </label>
      <div className="row">
        <button type="submit" className="danger" disabled={!reason.trim()}>
          {i18n.t("breakglass.confirm")}
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          {i18n.t("breakglass.cancel")}
        </button>
      </div>
      {error && <p role="alert" className="error">{error}</p>}
    </form>
  );
}

export function Patients(props: { onOpen: (id: string) => void; onSearched: (identifier: string) => void }) {
  const i18n = useI18n();
  const [text, setText] = useState("");
  const [check, setCheck] = useState<IdentifierCheck | null>(null);
  const [timeline, setTimeline] = useState<TimelineView | null>(null);
  /** Whether the timeline shown is the hub's answer (not yet: this device's cached view). */
  const [upToDate, setUpToDate] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [glassUntil, setGlassUntil] = useState<string | null>(null);
  const [searched, setSearched] = useState("");
  const [panel, setPanel] = useState<"trends" | "consent" | null>(null);

  useEffect(() => {
    if (!text.trim()) {
      setCheck(null);
      return;
    }
    let current = true;
    core.call("checkIdentifier", { text }).then((c) => {
      if (!current) return;
      setCheck(c);
      // A valid number: this device's cached view of it is made ready before the search.
      if (c.valid) core.call("prepareTimeline", { identifier: text }).catch(() => undefined);
    });
    return () => {
      current = false;
    };
  }, [text]);

  const search = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!check?.valid) return;
    setBusy(true);
    setError(null);
    const show = (t: TimelineView, isCurrent: boolean) => {
      setTimeline(t);
      setUpToDate(isCurrent);
      if (text !== searched) setPanel(null);
      setSearched(text);
    };
    try {
      // This device's cached view first (if any), then the hub's answer replaces it.
      show(await core.call("timeline", { identifier: text }, undefined, (cached) => show(cached, false)), true);
      props.onSearched(text);
    } catch (err) {
      setTimeline(null);
      setError(describeError(err, i18n));
    } finally {
      setBusy(false);
    }
  };

  const groups = useMemo(() => (timeline ? group(timeline.documents) : []), [timeline]);
  const onOpenRef = useRef(props.onOpen);
  onOpenRef.current = props.onOpen;
  const open = useCallback((id: string) => onOpenRef.current(id), []);
  const hint = check
    ? check.valid
      ? i18n.t(`search.valid.${check.kind}` as "search.valid.hkid")
      : i18n.t(`search.problem.${check.problem}` as "search.problem.hkid-format")
    : "";

  return (
    <>
      <section className="card" aria-labelledby="search-title">
        <h1 id="search-title">{i18n.t("search.title")}</h1>
        <form className="search" onSubmit={search}>
          <label htmlFor="patient-number">{i18n.t("search.label")}</label>
          <div className="row">
            <input
              id="patient-number"
              name="patient"
              autoComplete="off"
              autoCapitalize="characters"
              spellCheck={false}
              value={text}
              aria-invalid={check ? !check.valid : undefined}
              aria-describedby="patient-number-hint"
              onChange={(e) => setText(e.target.value)}
            />
            <button type="submit" className="primary" disabled={!check?.valid || busy}>
              {i18n.t("search.submit")}
            </button>
          </div>
          <p id="patient-number-hint" className={check && !check.valid ? "error small" : "ok small"} aria-live="polite">
            {hint}
          </p>
        </form>
        {busy && <p role="status">{i18n.t("search.working")}</p>}
        {glassUntil && (
          <p className="breakglass-banner" role="status" data-testid="breakglass-active">
            {i18n.t("breakglass.active", { time: i18n.dateTime(glassUntil) })}
          </p>
        )}
        {error && (
          <p role="alert" className="error" data-testid="search-error">
            {error}
          </p>
        )}
      </section>
      {timeline && (
        <section className="card" aria-labelledby="timeline-title" aria-busy={!upToDate} data-testid="timeline">
          <h2 id="timeline-title">
            {i18n.t("timeline.title")}{" "}
            <span className="muted small">{i18n.t("timeline.count", { count: timeline.documents.length })}</span>
          </h2>
          {timeline.patient.name && (
            <p className="patient">
              {i18n.t("timeline.patient", { name: timeline.patient.name })}
              {timeline.patient.birth_date && <> · {i18n.t("timeline.born", { date: i18n.date(timeline.patient.birth_date) })}</>}
            </p>
          )}
          {timeline.documents.length === 0 && <p>{i18n.t("timeline.empty")}</p>}
          <div className="row wrap">
            <button
              type="button"
              aria-expanded={panel === "trends"}
              aria-controls="trends-panel"
              onClick={() => setPanel(panel === "trends" ? null : "trends")}
            >
              {i18n.t("trends.open")}
            </button>
            <button
              type="button"
              aria-expanded={panel === "consent"}
              aria-controls="consent-panel"
              onClick={() => setPanel(panel === "consent" ? null : "consent")}
            >
              {i18n.t("consent.open")}
            </button>
            <button
              type="button"
              onClick={() => void core.call("declareCare", { identifier: searched }).then(() => search(), (e) => setError(describeError(e, i18n)))}
            >
              {i18n.t("care.declare")}
            </button>
            <BreakGlass
              identifier={searched}
              onOpened={(until) => {
                setGlassUntil(until);
                void search();
              }}
            />
          </div>
          <TimelineList key={searched} groups={groups} onOpen={open} />
        </section>
      )}
      {timeline && panel === "trends" && (
        <div id="trends-panel">
          <Trends identifier={searched} onOpen={props.onOpen} />
        </div>
      )}
      {timeline && panel === "consent" && (
        <div id="consent-panel">
          <Consent identifier={searched} />
        </div>
      )}
    </>
  );
}
