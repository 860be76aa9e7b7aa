import { useEffect, useState, type FormEvent } from "react";
import { useI18n } from "../i18n";
import { core, describeError, idleMinutes } from "../core/session";
import type { Account } from "../core/protocol";
import { Enrol } from "./Enrol";

export function Login(props: { onLogin: (a: Account) => void; lockedHandle: string | null; sandbox: boolean }) {
  const i18n = useI18n();
  const [handle, setHandle] = useState(props.lockedHandle ?? "");
  const [passphrase, setPassphrase] = useState("");
  const [totp, setTotp] = useState("");
  const [sandbox, setSandbox] = useState(props.sandbox);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fingerprint, setFingerprint] = useState<string | null>(null);
  const [enrolling, setEnrolling] = useState(false);

  useEffect(() => {
    core.call("fingerprint", {}).then(setFingerprint, () => {});
  }, []);

  if (enrolling) {
    return (
      <Enrol
        onDone={(enrolled) => {
          if (enrolled) setHandle(enrolled);
          setEnrolling(false);
          core.call("fingerprint", {}).then(setFingerprint, () => {});
        }}
      />
    );
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const account = await core.call("login", { handle, passphrase, totp, sandbox });
      setPassphrase("");
      props.onLogin(account);
    } catch (err) {
      setError(describeError(err, i18n));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card narrow" aria-labelledby="login-title">
      <h1 id="login-title">{props.lockedHandle ? i18n.t("lock.title") : i18n.t("login.title")}</h1>
      <p className="muted">{i18n.t("app.tagline")}</p>
      {props.lockedHandle && <p role="status">{i18n.t("lock.explain", { minutes: idleMinutes() })}</p>}
      <form onSubmit={submit} className="form">
        <label>
          {i18n.t("login.handle")}
          <input
            name="handle"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            value={handle}
            onChange={(e) => setHandle(e.target.value)}
          />
        </label>
        <label>
          {i18n.t("login.passphrase")}
          <input
            name="passphrase"
            type="password"
            autoComplete="current-password"
            required
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
          />
        </label>
        <label>
          {i18n.t("login.totp")}
          <input
            name="totp"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9]{6}"
            value={totp}
            onChange={(e) => setTotp(e.target.value)}
          />
        </label>
        <label className="check">
          <input type="checkbox" checked={sandbox} onChange={(e) => setSandbox(e.target.checked)} />
          {i18n.t("login.sandbox")}
        </label>
        <button type="submit" className="primary" disabled={busy}>
          {i18n.t("login.submit")}
        </button>
        {busy && (
          <p role="status" className="muted">
            {i18n.t("login.working")}
          </p>
        )}
        {error && (
          <p role="alert" className="error" data-testid="login-error">
            {error}
          </p>
        )}
      </form>
      {!props.lockedHandle && (
        <button type="button" className="link" onClick={() => setEnrolling(true)}>
          {i18n.t("enrol.open")}
        </button>
      )}
      {fingerprint && (
        <p className="muted small">
          {i18n.t("login.root", { fingerprint })} {i18n.t("login.rootHint")}
        </p>
      )}
    </section>
  );
}
