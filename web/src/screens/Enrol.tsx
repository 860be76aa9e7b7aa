import { useState, type FormEvent } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { EnrolledView, EnrolmentView } from "../core/protocol";

const MIN_PASSPHRASE = 12;

/** A practitioner's first use of the app on a device: redeem the administrator's one-time code.
 * The keys are made and sealed in the worker (the client core); this screen only ever holds the
 * code, the passphrase while it is typed, and the public results to show once. */
export function Enrol(props: { onDone: (handle: string | null) => void }) {
  const i18n = useI18n();
  const [code, setCode] = useState("");
  const [who, setWho] = useState<EnrolmentView | null>(null);
  const [passphrase, setPassphrase] = useState("");
  const [again, setAgain] = useState("");
  const [done, setDone] = useState<EnrolledView | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (err) {
      setError(describeError(err, i18n));
    } finally {
      setBusy(false);
    }
  };
  const lookup = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => setWho(await core.call("enrolment", { code })));
  };
  const enrol = (e: FormEvent) => {
    e.preventDefault();
    if (passphrase.length < MIN_PASSPHRASE) return setError(i18n.t("enrol.short"));
    if (passphrase !== again) return setError(i18n.t("enrol.mismatch"));
    void run(async () => {
      setDone(await core.call("enrol", { code, passphrase }));
      setPassphrase("");
      setAgain("");
    });
  };

  return (
    <section className="card narrow" aria-labelledby="enrol-title" data-testid="enrol">
      <h1 id="enrol-title">{i18n.t("enrol.title")}</h1>
      {!done && <p className="muted">{i18n.t("enrol.explain")}</p>}
      {!who && (
        <form onSubmit={lookup} className="form">
          <label>
            {i18n.t("enrol.code")}
            <input
              name="code"
              autoComplete="off"
              autoCapitalize="none"
              spellCheck={false}
              required
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
          </label>
          <button type="submit" className="primary" disabled={busy || !code.trim()}>
            {i18n.t("enrol.lookup")}
          </button>
        </form>
      )}
      {who && !done && (
        <form onSubmit={enrol} className="form">
          <p role="status" data-testid="enrol-who">
            {i18n.t("enrol.who", {
              name: who.name,
              profession: who.profession,
              registration: who.registration,
              institution: who.institution,
              handle: who.handle,
            })}
          </p>
          {who.creates_institution_keys && <p>{i18n.t("enrol.firstAdmin")}</p>}
          <label>
            {i18n.t("enrol.passphrase")}
            <input
              name="new-passphrase"
              type="password"
              autoComplete="new-password"
              minLength={MIN_PASSPHRASE}
              required
              value={passphrase}
              onChange={(e) => setPassphrase(e.target.value)}
            />
          </label>
          <label>
            {i18n.t("enrol.confirm")}
            <input
              name="confirm-passphrase"
              type="password"
              autoComplete="new-password"
              minLength={MIN_PASSPHRASE}
              required
              value={again}
              onChange={(e) => setAgain(e.target.value)}
            />
          </label>
          <button type="submit" className="primary" disabled={busy}>
            {i18n.t("enrol.submit")}
          </button>
          {busy && (
            <p role="status" className="muted">
              {i18n.t("enrol.working")}
            </p>
          )}
        </form>
      )}
      {done && (
        <div data-testid="enrolled">
          <p>{i18n.t("enrol.done")}</p>
          <p>
            <code data-testid="enrol-fingerprint">{done.key_fingerprint}</code>
          </p>
          {done.institution_fingerprint && (
            <p>{i18n.t("enrol.institutionFingerprint", { fingerprint: done.institution_fingerprint })}</p>
          )}
          {done.totp_uri ? (
            <>
              <p>{i18n.t("enrol.totp")}</p>
              <p>
                <code data-testid="enrol-totp">{done.totp_uri}</code>
              </p>
            </>
          ) : (
            <p>{i18n.t("enrol.noTotp")}</p>
          )}
          <button type="button" className="primary" onClick={() => props.onDone(who?.handle ?? null)}>
            {i18n.t("enrol.toLogin")}
          </button>
        </div>
      )}
      {error && (
        <p role="alert" className="error" data-testid="enrol-error">
          {error}
        </p>
      )}
      {!done && (
        <button type="button" className="link" onClick={() => props.onDone(null)}>
          {i18n.t("enrol.cancel")}
        </button>
      )}
    </section>
  );
}
