import { useCallback, useEffect, useState } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { ConsentView } from "../core/protocol";

/** The patient's consent: who may read their records (as the signed patient key chain says),
 *  granting it to an institution or the whole alliance, withdrawing it — `medshare consent`. */
export function Consent(props: { identifier: string }) {
  const i18n = useI18n();
  const [view, setView] = useState<ConsentView | null>(null);
  const [to, setTo] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setView(await core.call("consent", { identifier: props.identifier }));
    } catch (e) {
      setError(describeError(e, i18n));
    }
  }, [props.identifier, i18n]);
  useEffect(() => {
    setView(null);
    setError(null);
    setDone(null);
    void load();
  }, [load]);

  const change = async (op: "grantConsent" | "revokeConsent", target: string, label: string) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await core.call(op, { identifier: props.identifier, to: target });
      setDone(i18n.t(op === "grantConsent" ? "consent.granted" : "consent.revoked", { who: label }));
      setTo("");
      await load();
    } catch (e) {
      setError(describeError(e, i18n));
    } finally {
      setBusy(false);
    }
  };

  const alliance = i18n.t("consent.alliance");
  // The registering institution always holds the key (shown above, not withdrawable here).
  const others = view ? view.institutions.filter((i) => i.code !== view.registered_by.code) : [];
  const held = new Set(others.map((i) => i.code));
  const choices = view ? view.choices.filter((c) => !held.has(c.code) && c.code !== view.registered_by.code) : [];
  return (
    <section className="card" aria-labelledby="consent-title" data-testid="consent">
      <h2 id="consent-title">{i18n.t("consent.title")}</h2>
      <p className="muted small">{i18n.t("consent.explain")}</p>
      {!view && !error && <p role="status">{i18n.t("consent.working")}</p>}
      {view && (
        <>
          <p>{i18n.t("consent.registered", { institution: `${view.registered_by.name} (${view.registered_by.code})` })}</p>
          <h3>{i18n.t("consent.holders")}</h3>
          {!view.alliance && others.length === 0 && <p data-testid="consent-none">{i18n.t("consent.none")}</p>}
          <ul className="holders">
            {view.alliance && (
              <li data-testid="consent-holder">
                <span>{alliance}</span>
                <button type="button" disabled={busy} onClick={() => void change("revokeConsent", "alliance", alliance)}>
                  {i18n.t("consent.withdraw")}
                </button>
              </li>
            )}
            {others.map((i) => (
              <li key={i.institution_id} data-testid="consent-holder">
                <span>
                  {i.name} ({i.code})
                </span>
                <button type="button" disabled={busy} onClick={() => void change("revokeConsent", i.code, `${i.name} (${i.code})`)}>
                  {i18n.t("consent.withdraw")}
                </button>
              </li>
            ))}
          </ul>
          <form
            className="row wrap"
            onSubmit={(e) => {
              e.preventDefault();
              const c = view.choices.find((x) => x.code === to);
              if (to) void change("grantConsent", to, to === "alliance" ? alliance : c ? `${c.name} (${c.code})` : to);
            }}
          >
            <label>
              {i18n.t("consent.to")}
              <select id="consent-to" value={to} onChange={(e) => setTo(e.target.value)}>
                <option value="">{i18n.t("consent.choose")}</option>
                {!view.alliance && <option value="alliance">{alliance}</option>}
                {choices.map((c) => (
                  <option key={c.code} value={c.code}>
                    {c.name} ({c.code})
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" className="primary" disabled={!to || busy}>
              {i18n.t("consent.grant")}
            </button>
          </form>
          <p className="muted small">{i18n.t("consent.note")}</p>
        </>
      )}
      {done && (
        <p role="status" className="ok" data-testid="consent-done">
          {done}
        </p>
      )}
      {error && <p role="alert" className="error">{error}</p>}
    </section>
  );
}
