import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { I18nContext, LANGUAGES, makeI18n, pickLanguage, type Lang } from "./i18n";
import { core, idleMinutes } from "./core/session";
import type { Account, EventView } from "./core/protocol";
import { Login } from "./screens/Login";
import { Patients } from "./screens/Patients";
import { DocumentView } from "./screens/DocumentView";
import { Inbox } from "./screens/Inbox";
import { Upload } from "./screens/Upload";
import { Audit } from "./screens/Audit";
import { Admin } from "./screens/Admin";
import { Rooms } from "./screens/Rooms";
import { Consults } from "./screens/Consults";
import { Notifications } from "./screens/Notifications";

type View =
  | { kind: "patients" }
  | { kind: "inbox" }
  | { kind: "upload" }
  | { kind: "audit" }
  | { kind: "admin" }
  | { kind: "rooms" }
  | { kind: "consults" }
  | { kind: "notifications" }
  | { kind: "document"; id: string; back: View };

/** The screen a role starts on: clinicians their patients, officers the log, admins members. */
function home(a: Account): View {
  if (a.roles.includes("clinician")) return { kind: "patients" };
  if (a.roles.includes("privacy-officer")) return { kind: "audit" };
  if (a.roles.includes("institution-admin")) return { kind: "admin" };
  return { kind: "inbox" };
}

export function App() {
  const [lang, setLang] = useState<Lang>(() =>
    pickLanguage(localStorage.getItem("medshare.lang"), navigator.languages ?? [navigator.language]),
  );
  const i18n = useMemo(() => makeI18n(lang), [lang]);
  const [account, setAccount] = useState<Account | null>(null);
  const [locked, setLocked] = useState<string | null>(null);
  const [view, setView] = useState<View>({ kind: "patients" });
  const [events, setEvents] = useState<EventView[]>([]);
  const [unread, setUnread] = useState(0);
  const [live, setLive] = useState(false);
  const [patient, setPatient] = useState("");
  const lastSeq = useRef(0);
  const sandbox = location.hash.includes("sandbox");

  useEffect(() => {
    document.documentElement.lang = lang;
    localStorage.setItem("medshare.lang", lang);
  }, [lang]);

  // Live notifications: backlog from the inbox, then the hub's event stream; reconnect with the
  // last sequence number seen when the stream drops.
  const follow = useCallback(() => {
    core.call("follow", { since: lastSeq.current }).then(() => setLive(true), () => setLive(false));
  }, []);
  useEffect(() => {
    if (!account) return;
    let stopped = false;
    core.onNotification = (e) => {
      if (e.seq <= lastSeq.current) return;
      lastSeq.current = e.seq;
      // Open screens that follow something live (case rooms) listen for this.
      window.dispatchEvent(new CustomEvent("medshare:event", { detail: e }));
      setEvents((prev) => [e, ...prev]);
      setUnread((n) => n + 1);
      // A consult step is shown even while the app is visible (it may be urgent).
      if ((document.hidden || e.kind === "consult") && "Notification" in window && Notification.permission === "granted") {
        // No health information: what kind of event, never a title or a patient.
        new Notification(i18n.t("notify.title"), {
          body: i18n.t(e.kind === "shared" ? "notify.shared" : e.kind === "consult" ? "notify.consult" : "notify.other"),
          tag: `medshare-${e.seq}`,
        });
      }
    };
    core.onStreamEnded = () => {
      setLive(false);
      if (!stopped) setTimeout(() => !stopped && follow(), 2000);
    };
    core.call("inbox", { since: 0 }).then((backlog) => {
      if (stopped) return;
      const sorted = [...backlog].sort((a, b) => b.seq - a.seq);
      lastSeq.current = sorted[0]?.seq ?? 0;
      setEvents(sorted);
      setUnread(sorted.filter((e) => e.kind === "shared").length);
      follow();
    });
    return () => {
      stopped = true;
    };
  }, [account, follow, i18n]);

  // Idle lock: the worker wipes the keys after `idleMinutes` without input.
  useEffect(() => {
    if (!account) return;
    const minutes = idleMinutes();
    let timer = 0;
    const arm = () => {
      clearTimeout(timer);
      timer = window.setTimeout(() => {
        core.call("lock", {}).finally(() => {
          setLocked(account.me.handle);
          setAccount(null);
        });
      }, minutes * 60_000);
    };
    const kinds = ["pointerdown", "keydown", "touchstart", "wheel"] as const;
    kinds.forEach((k) => window.addEventListener(k, arm, { passive: true }));
    arm();
    return () => {
      clearTimeout(timer);
      kinds.forEach((k) => window.removeEventListener(k, arm));
    };
  }, [account]);

  const onLogin = (a: Account) => {
    setAccount(a);
    setLocked(null);
    setView(home(a));
  };
  const clinician = account?.roles.includes("clinician") ?? false;
  const logout = async () => {
    await core.call("logout", {}).catch(() => {});
    setAccount(null);
    setEvents([]);
    setUnread(0);
    lastSeq.current = 0;
  };
  const lock = async () => {
    await core.call("lock", {});
    setLocked(account?.me.handle ?? null);
    setAccount(null);
  };

  return (
    <I18nContext.Provider value={i18n}>
      <a className="skip" href="#main">
        {i18n.t("nav.skip")}
      </a>
      <header className="top">
        <div className="brand">
          <span className="logo" aria-hidden="true">
            ⛨
          </span>
          <span>{i18n.t("app.name")}</span>
          {sandbox && <span className="badge sandbox">{i18n.t("app.sandbox")}</span>}
        </div>
        <label className="lang">
          <span className="sr-only">{i18n.t("nav.language")}</span>
          <select
            value={lang}
            onChange={(e) => setLang(e.target.value as Lang)}
            aria-label={lang === "en" ? "Language" : `${i18n.t("nav.language")} / Language`}
          >
            {(Object.keys(LANGUAGES) as Lang[]).map((l) => (
              <option key={l} value={l}>
                {LANGUAGES[l].label}
              </option>
            ))}
          </select>
        </label>
        {account && (
          <nav className="nav" aria-label={i18n.t("app.name")}>
            <span className="who">
              {account.me.name} · {account.me.institution_name}
            </span>
            {clinician && (
              <>
                <button type="button" onClick={() => setView({ kind: "patients" })} aria-current={view.kind === "patients"}>
                  {i18n.t("nav.patients")}
                </button>
                <button type="button" onClick={() => setView({ kind: "upload" })} aria-current={view.kind === "upload"}>
                  {i18n.t("nav.upload")}
                </button>
                <button type="button" onClick={() => setView({ kind: "rooms" })} aria-current={view.kind === "rooms"}>
                  {i18n.t("nav.rooms")}
                </button>
                <button type="button" onClick={() => setView({ kind: "consults" })} aria-current={view.kind === "consults"}>
                  {i18n.t("nav.consults")}
                </button>
              </>
            )}
            {account.roles.includes("privacy-officer") && (
              <button type="button" onClick={() => setView({ kind: "audit" })} aria-current={view.kind === "audit"}>
                {i18n.t("nav.audit")}
              </button>
            )}
            {account.roles.includes("institution-admin") && (
              <button type="button" onClick={() => setView({ kind: "admin" })} aria-current={view.kind === "admin"}>
                {i18n.t("nav.admin")}
              </button>
            )}
            <button
              type="button"
              onClick={() => {
                setView({ kind: "inbox" });
                setUnread(0);
              }}
              aria-current={view.kind === "inbox"}
              data-testid="inbox-button"
            >
              {i18n.t("nav.inbox")}
              {unread > 0 && (
                <span className="count" data-testid="unread" aria-label={i18n.t("nav.unread", { count: unread })}>
                  {unread}
                </span>
              )}
            </button>
            <button type="button" onClick={() => setView({ kind: "notifications" })} aria-current={view.kind === "notifications"}>
              {i18n.t("nav.notifications")}
            </button>
            <button type="button" onClick={lock}>
              {i18n.t("nav.lock")}
            </button>
            <button type="button" onClick={logout}>
              {i18n.t("nav.logout")}
            </button>
          </nav>
        )}
      </header>
      <main id="main">
        {!account && <Login onLogin={onLogin} lockedHandle={locked} sandbox={sandbox} />}
        {/* Kept mounted (hidden) so the timeline survives opening a document: nothing that
            names a patient is written to storage. */}
        {account && clinician && (
          <div hidden={view.kind !== "patients"}>
            <Patients onOpen={(id) => setView({ kind: "document", id, back: { kind: "patients" } })} onSearched={setPatient} />
          </div>
        )}
        {account && view.kind === "upload" && (
          <Upload identifier={patient} onIdentifier={setPatient} onDone={() => setView({ kind: "patients" })} />
        )}
        {account && view.kind === "inbox" && (
          <Inbox events={events} live={live} onOpen={(id) => setView({ kind: "document", id, back: view })} />
        )}
        {account && view.kind === "rooms" && <Rooms />}
        {account && view.kind === "consults" && (
          <Consults
            identifier={patient}
            onOpenDocument={(id) => setView({ kind: "document", id, back: { kind: "consults" } })}
            onOpenRooms={() => setView({ kind: "rooms" })}
          />
        )}
        {account && view.kind === "notifications" && <Notifications />}
        {account && view.kind === "audit" && <Audit />}
        {account && view.kind === "admin" && <Admin account={account} />}
        {account && view.kind === "document" && <DocumentView id={view.id} onBack={() => setView(view.back)} />}
      </main>
    </I18nContext.Provider>
  );
}
