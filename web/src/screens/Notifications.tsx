// Notification settings: this doctor's channels (e-mail, webhook, DingTalk robot, chat incoming
// webhook, and this browser through Web Push) with their delivery record and failures; add,
// remove, send a test; and the browser's own notifications while the app is open. No channel
// ever carries health information: the hub sends one fixed sentence and a link.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useI18n, type Key } from "../i18n";
import { core, describeError } from "../core/session";
import type { ChannelInfo } from "../core/protocol";

const KINDS = ["email", "webhook", "dingtalk", "chat-webhook"] as const;

/** base64url (the hub's VAPID key) to the bytes `applicationServerKey` takes. */
function base64UrlBytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Resolves with the active service worker registration, or fails after `ms`. */
function serviceWorkerReady(ms: number): Promise<ServiceWorkerRegistration> {
  return Promise.race([
    navigator.serviceWorker.ready,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no service worker")), ms)),
  ]);
}

export function Notifications() {
  const i18n = useI18n();
  const [channels, setChannels] = useState<ChannelInfo[] | null>(null);
  const [kind, setKind] = useState<(typeof KINDS)[number]>("email");
  const [address, setAddress] = useState("");
  const [secret, setSecret] = useState("");
  const [shownSecret, setShownSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pushError, setPushError] = useState<string | null>(null);
  const [permission, setPermission] = useState<string>(() => ("Notification" in window ? Notification.permission : "unsupported"));

  const load = useCallback(() => {
    core.call("notifyChannels", {}).then(setChannels, (e) => setError(describeError(e, i18n)));
  }, [i18n]);
  useEffect(load, [load]);

  const run = async (f: () => Promise<unknown>, ok?: string) => {
    setBusy(true);
    setError(null);
    setStatus(null);
    try {
      await f();
      if (ok) setStatus(ok);
      load();
    } catch (e) {
      setError(describeError(e, i18n));
    } finally {
      setBusy(false);
    }
  };

  const add = (e: FormEvent) => {
    e.preventDefault();
    if (!address.trim()) return;
    setShownSecret(null);
    void run(async () => {
      const made = await core.call("addNotifyChannel", { kind, address, secret: secret.trim() || undefined });
      setAddress("");
      setSecret("");
      if (made.secret) setShownSecret(made.secret);
    }, i18n.t("notifications.added"));
  };

  /** Subscribe this browser with the hub's VAPID key and register the subscription. */
  const subscribePush = async () => {
    setPushError(null);
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      setPushError(i18n.t("notifications.pushUnsupported"));
      return;
    }
    setBusy(true);
    try {
      const p = await Notification.requestPermission();
      setPermission(p);
      if (p !== "granted") {
        setPushError(i18n.t("notifications.permissionRefused"));
        return;
      }
      const reg = await serviceWorkerReady(10_000);
      const key = await core.call("vapidKey", {});
      const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(key) });
      const json = sub.toJSON();
      if (!json.endpoint || !json.keys?.p256dh || !json.keys?.auth) throw new Error("incomplete subscription");
      await core.call("addPushChannel", { endpoint: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth });
      setStatus(i18n.t("notifications.added"));
      load();
    } catch (e) {
      setPushError(i18n.t("notifications.pushFailed", { message: e instanceof Error ? e.message : String(e) }));
    } finally {
      setBusy(false);
    }
  };

  const allowBrowser = async () => {
    if (!("Notification" in window)) return;
    setPermission(await Notification.requestPermission());
  };

  return (
    <section className="card" aria-labelledby="notifications-title">
      <h1 id="notifications-title">{i18n.t("notifications.title")}</h1>
      <p className="muted small">{i18n.t("notifications.intro")}</p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {status && (
        <p role="status" className="ok">
          {status}
        </p>
      )}
      {shownSecret && (
        <p className="warning" data-testid="channel-secret">
          {i18n.t("notifications.secretOnce")} <code>{shownSecret}</code>
        </p>
      )}
      {channels === null && !error && <p role="status">{i18n.t("notifications.loading")}</p>}
      {channels?.length === 0 && <p className="muted">{i18n.t("notifications.none")}</p>}
      {channels && channels.length > 0 && (
        <button type="button" onClick={load} disabled={busy}>
          {i18n.t("notifications.refresh")}
        </button>
      )}
      <ul className="events" data-testid="channels">
        {channels?.map((c) => (
          <li key={c.channel_id} data-testid="channel" data-kind={c.kind}>
            <div className="row">
              <strong>{i18n.t(`notifications.kind.${c.kind}` as Key)}</strong>
              <span className="small address">{c.kind === "web-push" ? i18n.t("notifications.thisBrowser") : c.address}</span>
            </div>
            <p className="small muted">
              {c.last_delivered_at
                ? i18n.t("notifications.delivered", { time: i18n.dateTime(c.last_delivered_at) })
                : i18n.t("notifications.neverDelivered")}
              {c.pending > 0 && ` · ${i18n.t("notifications.pending", { count: c.pending })}`}
            </p>
            {c.disabled_at && (
              <p className="error" role="alert" data-testid="channel-disabled">
                {i18n.t("notifications.disabled", { time: i18n.dateTime(c.disabled_at) })}
              </p>
            )}
            {(c.last_error || c.failed > 0) && (
              <p className="error small" data-testid="channel-failure">
                {i18n.t("notifications.failure", {
                  error: c.last_error ?? "",
                  time: c.last_failed_at ? i18n.dateTime(c.last_failed_at) : "",
                  count: c.failed,
                })}
              </p>
            )}
            <div className="row">
              <button
                type="button"
                disabled={busy || !!c.disabled_at}
                onClick={() => run(() => core.call("testNotifyChannel", { channelId: c.channel_id }), i18n.t("notifications.testQueued"))}
              >
                {i18n.t("notifications.test")}
              </button>
              <button
                type="button"
                disabled={busy}
                aria-label={i18n.t("notifications.removeLabel", { kind: i18n.t(`notifications.kind.${c.kind}` as Key) })}
                onClick={() => run(() => core.call("removeNotifyChannel", { channelId: c.channel_id }), i18n.t("notifications.removed"))}
              >
                {i18n.t("notifications.remove")}
              </button>
            </div>
          </li>
        ))}
      </ul>
      <form className="stack" onSubmit={add}>
        <h2>{i18n.t("notifications.add")}</h2>
        <label className="field">
          {i18n.t("notifications.kind")}
          <select id="channel-kind" value={kind} onChange={(e) => setKind(e.target.value as (typeof KINDS)[number])}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {i18n.t(`notifications.kind.${k}` as Key)}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          {kind === "email" ? i18n.t("notifications.email") : i18n.t("notifications.url")}
          <input
            id="channel-address"
            type={kind === "email" ? "email" : "url"}
            value={address}
            onChange={(e) => setAddress(e.target.value)}
            autoComplete="off"
            required
          />
        </label>
        {(kind === "dingtalk" || kind === "webhook") && (
          <label className="field">
            {kind === "dingtalk" ? i18n.t("notifications.dingtalkSecret") : i18n.t("notifications.webhookSecret")}
            <input id="channel-secret" value={secret} onChange={(e) => setSecret(e.target.value)} autoComplete="off" required={kind === "dingtalk"} />
          </label>
        )}
        <button type="submit" disabled={busy}>
          {i18n.t("notifications.addSubmit")}
        </button>
      </form>
      <div className="stack">
        <h2>{i18n.t("notifications.browser")}</h2>
        <p className="small muted">{i18n.t("notifications.pushNote")}</p>
        <button type="button" onClick={subscribePush} disabled={busy} data-testid="push-subscribe">
          {i18n.t("notifications.pushSubscribe")}
        </button>
        {pushError && (
          <p role="alert" className="error" data-testid="push-error">
            {pushError}
          </p>
        )}
        <p className="small" data-testid="browser-permission">
          {i18n.t("notifications.permission", { state: i18n.t(`notifications.permission.${permission}` as Key) })}
        </p>
        {permission === "default" && (
          <button type="button" onClick={allowBrowser}>
            {i18n.t("notifications.allowBrowser")}
          </button>
        )}
      </div>
    </section>
  );
}
