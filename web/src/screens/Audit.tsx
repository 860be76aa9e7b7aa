import { useState, type FormEvent } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { AuditEntryView, BreakGlassReview, LogReport } from "../core/protocol";

/** What a patient's access history lists: reads of their records and emergency access. */
const ACCESS = new Set(["patient.search", "document.fetch-manifest", "document.fetch-content", "break-glass"]);

function who(e: AuditEntryView, hub: string): string {
  return e.actor ? `${e.actor.name} (${e.actor.registration}, ${e.actor.institution_code})` : hub;
}

/** The privacy officer's screen: verify the whole log here, the log in this institution's
 *  scope with filters, a patient's access history, break-glass review, the DAR export. */
export function Audit() {
  const i18n = useI18n();
  const [report, setReport] = useState<LogReport | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [patient, setPatient] = useState("");
  const [practitioner, setPractitioner] = useState("");
  const [since, setSince] = useState("");
  const [entries, setEntries] = useState<AuditEntryView[] | null>(null);
  const [history, setHistory] = useState(false);
  const [busy, setBusy] = useState(false);
  const [review, setReview] = useState<BreakGlassReview | null>(null);
  const [error, setError] = useState<string | null>(null);

  const verify = async () => {
    setVerifying(true);
    setError(null);
    try {
      setReport(await core.call("verifyLog", {}));
    } catch (e) {
      setError(describeError(e, i18n));
    } finally {
      setVerifying(false);
    }
  };

  const show = async (accessOnly: boolean, e?: FormEvent) => {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    setReview(null);
    try {
      const list = await core.call("auditLog", {
        patient: patient.trim() || undefined,
        practitioner: accessOnly ? undefined : practitioner.trim() || undefined,
        since: since ? Date.parse(`${since}T00:00:00Z`) / 1000 : undefined,
      });
      setEntries(accessOnly ? list.filter((x) => ACCESS.has(x.action)) : list);
      setHistory(accessOnly);
    } catch (err) {
      setEntries(null);
      setError(describeError(err, i18n));
    } finally {
      setBusy(false);
    }
  };

  const exportDar = async () => {
    setError(null);
    try {
      const blob = await core.call("accessExport", { identifier: patient.trim() });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `access-export-${new Date().toISOString().slice(0, 10)}.json`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (err) {
      setError(describeError(err, i18n));
    }
  };

  const open = async (id: number) => {
    setError(null);
    try {
      setReview(await core.call("breakGlassReview", { id }));
    } catch (err) {
      setError(describeError(err, i18n));
    }
  };

  return (
    <>
      <section className="card" aria-labelledby="verify-title">
        <h1 id="verify-title">{i18n.t("audit.title")}</h1>
        <p className="muted small">{i18n.t("audit.verifyExplain")}</p>
        <button type="button" className="primary" onClick={verify} disabled={verifying}>
          {i18n.t("audit.verify")}
        </button>
        {verifying && <p role="status">{i18n.t("audit.verifying")}</p>}
        {report && (
          <div data-testid="log-report" role="status">
            <p>{i18n.t("audit.rebuilt", { entries: report.entries, heads: report.heads_checked })}</p>
            {report.hidden > 0 && <p className="muted small">{i18n.t("audit.hidden", { count: report.hidden })}</p>}
            {report.intact ? (
              <p className="verified">✓ {i18n.t("audit.intact")}</p>
            ) : (
              <>
                <p className="error">{i18n.t("audit.tampered", { count: report.findings.length })}</p>
                <ul>
                  {report.findings.map((f, i) => (
                    <li key={i} className="error">
                      {f}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="log-title">
        <h2 id="log-title">{i18n.t("audit.log")}</h2>
        <form className="form" onSubmit={(e) => show(false, e)}>
          <label>
            {i18n.t("audit.patient")}
            <input value={patient} onChange={(e) => setPatient(e.target.value)} autoComplete="off" spellCheck={false} />
          </label>
          <label>
            {i18n.t("audit.practitioner")}
            <input value={practitioner} onChange={(e) => setPractitioner(e.target.value)} autoComplete="off" spellCheck={false} />
          </label>
          <label>
            {i18n.t("audit.since")}
            <input type="date" value={since} onChange={(e) => setSince(e.target.value)} />
          </label>
          <div className="row wrap">
            <button type="submit" className="primary" disabled={busy}>
              {i18n.t("audit.show")}
            </button>
            <button type="button" disabled={busy || !patient.trim()} onClick={() => void show(true)}>
              {i18n.t("audit.history")}
            </button>
            <button type="button" disabled={!patient.trim()} onClick={() => void exportDar()}>
              {i18n.t("audit.export")}
            </button>
          </div>
        </form>
        {busy && <p role="status">{i18n.t("audit.loading")}</p>}
        {error && <p role="alert" className="error">{error}</p>}
        {entries && (
          <div className="table-wrap">
            <table className="labs" data-testid={history ? "access-history" : "audit-log"}>
              <caption>{i18n.t(history ? "audit.historyCaption" : "audit.logCaption", { count: entries.length })}</caption>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">{i18n.t("audit.when")}</th>
                  <th scope="col">{i18n.t("audit.who")}</th>
                  <th scope="col">{i18n.t("audit.action")}</th>
                  <th scope="col">{i18n.t("audit.outcome")}</th>
                  <th scope="col">{i18n.t("audit.basis")}</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((e) => (
                  <tr key={e.seq} data-testid="audit-entry" className={e.outcome === "denied" || e.break_glass !== undefined ? "abnormal" : undefined}>
                    <td>{e.seq}</td>
                    <td>{i18n.dateTime(e.at)}</td>
                    <td>{who(e, i18n.t("audit.hub"))}</td>
                    <td>
                      <code>{e.action}</code>
                    </td>
                    <td>{e.outcome}</td>
                    <td>
                      {e.purpose}
                      {e.break_glass !== undefined && (
                        <>
                          {" "}
                          <button type="button" className="link" onClick={() => void open(e.break_glass!)}>
                            {i18n.t("audit.review")}
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {entries && entries.length === 0 && <p>{i18n.t("audit.none")}</p>}
      </section>

      {review && (
        <section className="card breakglass" aria-labelledby="review-title" data-testid="breakglass-review">
          <h2 id="review-title">{i18n.t("audit.reviewTitle", { id: review.id })}</h2>
          <dl className="meta">
            <dt>{i18n.t("audit.who")}</dt>
            <dd>
              {review.practitioner.name} ({review.practitioner.handle}), {review.practitioner.registration},{" "}
              {review.practitioner.institution_name}
            </dd>
            <dt>{i18n.t("audit.opened")}</dt>
            <dd>{i18n.dateTime(review.opened_at)}</dd>
            <dt>{i18n.t("audit.expires")}</dt>
            <dd>{i18n.dateTime(review.expires_at)}</dd>
            <dt>{i18n.t("audit.reason")}</dt>
            <dd data-testid="breakglass-reason">{review.reason}</dd>
          </dl>
          <p className="muted small">{i18n.t("audit.reasonNote")}</p>
        </section>
      )}
    </>
  );
}
