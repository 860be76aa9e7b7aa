import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { Account, EnrolmentCodeView, PendingView, Person } from "../core/protocol";

const PROFESSIONS = ["doctor", "dentist", "nurse", "pharmacist", "dietitian", "physiotherapist"] as const;
const ROLES = ["clinician", "institution-admin", "privacy-officer"] as const;

/** The institution administrator's screen: enrolment codes for new members, certifying a
 *  member's key after checking who they are, removing a member — `medshare admin`. */
export function Admin(props: { account: Account }) {
  const i18n = useI18n();
  const me = props.account.me;
  const [pending, setPending] = useState<PendingView[] | null>(null);
  const [members, setMembers] = useState<Person[] | null>(null);
  const [code, setCode] = useState<EnrolmentCodeView | null>(null);
  const [form, setForm] = useState({ handle: "", name: "", profession: "doctor", registration: "", specialty: "" });
  const [roles, setRoles] = useState<string[]>(["clinician"]);
  const [fingerprints, setFingerprints] = useState<Record<string, string>>({});
  const [confirm, setConfirm] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setPending(await core.call("pending", {}));
      setMembers(await core.call("members", {}));
    } catch (e) {
      setError(describeError(e, i18n));
    }
  }, [i18n]);
  useEffect(() => {
    void load();
  }, [load]);

  const act = async (f: () => Promise<string>) => {
    setError(null);
    setDone(null);
    try {
      setDone(await f());
      await load();
    } catch (e) {
      setError(describeError(e, i18n));
    }
  };

  const invite = (e: FormEvent) => {
    e.preventDefault();
    setCode(null);
    void act(async () => {
      const c = await core.call("invite", {
        member: { ...form, specialty: form.specialty.trim() || undefined, roles },
      });
      setCode(c);
      setForm({ handle: "", name: "", profession: "doctor", registration: "", specialty: "" });
      return i18n.t("admin.invited", { handle: form.handle });
    });
  };

  return (
    <>
      <section className="card" aria-labelledby="invite-title">
        <h1 id="invite-title">{i18n.t("admin.title", { institution: me.institution_name })}</h1>
        <h2>{i18n.t("admin.invite")}</h2>
        <form className="form" onSubmit={invite}>
          <label>
            {i18n.t("admin.handle")}
            <input required value={form.handle} onChange={(e) => setForm({ ...form, handle: e.target.value })} autoComplete="off" />
          </label>
          <label>
            {i18n.t("admin.name")}
            <input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} autoComplete="off" />
          </label>
          <label>
            {i18n.t("admin.profession")}
            <select value={form.profession} onChange={(e) => setForm({ ...form, profession: e.target.value })}>
              {PROFESSIONS.map((p) => (
                <option key={p} value={p}>
                  {i18n.t(`profession.${p}` as "profession.doctor")}
                </option>
              ))}
            </select>
          </label>
          <label>
            {i18n.t("admin.registration")}
            <input required value={form.registration} onChange={(e) => setForm({ ...form, registration: e.target.value })} autoComplete="off" />
          </label>
          <label>
            {i18n.t("admin.specialty")}
            <input value={form.specialty} onChange={(e) => setForm({ ...form, specialty: e.target.value })} autoComplete="off" />
          </label>
          <fieldset className="roles">
            <legend>{i18n.t("admin.roles")}</legend>
            {ROLES.map((r) => (
              <label key={r} className="check">
                <input
                  type="checkbox"
                  checked={roles.includes(r)}
                  onChange={(e) => setRoles(e.target.checked ? [...roles, r] : roles.filter((x) => x !== r))}
                />
                {i18n.t(`role.${r}` as "role.clinician")}
              </label>
            ))}
          </fieldset>
          <button type="submit" className="primary" disabled={roles.length === 0}>
            {i18n.t("admin.createCode")}
          </button>
        </form>
        {code && (
          <div className="code" data-testid="enrolment-code" role="status">
            <p>{i18n.t("admin.codeShown")}</p>
            <p>
              <code className="big">{code.code}</code>
            </p>
            <p className="small">{i18n.t("admin.codeExpires", { time: i18n.dateTime(code.expires_at) })}</p>
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="pending-title">
        <h2 id="pending-title">{i18n.t("admin.pending")}</h2>
        <p className="muted small">{i18n.t("admin.pendingExplain")}</p>
        {pending && pending.length === 0 && <p>{i18n.t("admin.noPending")}</p>}
        <ul className="holders">
          {pending?.map((p) => (
            <li key={p.practitioner_id} data-testid="pending">
              <span>
                {p.name} ({p.handle}) · {i18n.t(`profession.${p.profession}` as "profession.doctor")} {p.registration}
                <br />
                <small className="muted">
                  {i18n.t("admin.keyOnHub")} <code>{p.fingerprint}</code>
                </small>
              </span>
              <label>
                {i18n.t("admin.readOut")}
                <input
                  value={fingerprints[p.practitioner_id] ?? ""}
                  onChange={(e) => setFingerprints({ ...fingerprints, [p.practitioner_id]: e.target.value })}
                  autoComplete="off"
                  spellCheck={false}
                />
              </label>
              <button
                type="button"
                className="primary"
                disabled={!fingerprints[p.practitioner_id]?.trim()}
                onClick={() =>
                  void act(async () => {
                    const fp = await core.call("certify", { practitionerId: p.practitioner_id, fingerprint: fingerprints[p.practitioner_id] });
                    return i18n.t("admin.certified", { name: p.name, fingerprint: fp });
                  })
                }
              >
                {i18n.t("admin.certify")}
              </button>
            </li>
          ))}
        </ul>
      </section>

      <section className="card" aria-labelledby="members-title">
        <h2 id="members-title">{i18n.t("admin.members")}</h2>
        <ul className="holders">
          {members?.map((m) => (
            <li key={m.practitioner_id} data-testid="member">
              <span>
                {m.name} ({m.handle}) · {m.registration}
                {m.specialty ? ` · ${m.specialty}` : ""}
              </span>
              {confirm === m.practitioner_id ? (
                <>
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      void act(async () => {
                        await core.call("removeMember", { practitionerId: m.practitioner_id });
                        setConfirm(null);
                        return i18n.t("admin.removed", { name: m.name });
                      })
                    }
                  >
                    {i18n.t("admin.confirmRemove")}
                  </button>
                  <button type="button" onClick={() => setConfirm(null)}>
                    {i18n.t("breakglass.cancel")}
                  </button>
                </>
              ) : (
                <button type="button" onClick={() => setConfirm(m.practitioner_id)}>
                  {i18n.t("admin.remove")}
                </button>
              )}
            </li>
          ))}
        </ul>
        {confirm && <p className="small">{i18n.t("admin.removeExplain")}</p>}
      </section>
      {done && (
        <p role="status" className="ok card" data-testid="admin-done">
          {done}
        </p>
      )}
      {error && (
        <p role="alert" className="error card">
          {error}
        </p>
      )}
    </>
  );
}
