import { useState } from "react";
import { useI18n, type Key } from "../i18n";
import type { EventView } from "../core/protocol";

export function Inbox(props: { events: EventView[]; live: boolean; onOpen: (id: string) => void }) {
  const i18n = useI18n();
  // Permission is asked only when the user presses the button (a user gesture), never on load.
  const [permission, setPermission] = useState(() => ("Notification" in window ? Notification.permission : "denied"));
  return (
    <section className="card" aria-labelledby="inbox-title">
      <h1 id="inbox-title">
        {i18n.t("inbox.title")}{" "}
        <span className={props.live ? "badge live" : "badge"} role="status">
          {props.live ? i18n.t("inbox.live") : i18n.t("inbox.offline")}
        </span>
      </h1>
      {permission === "default" && (
        <p className="row wrap">
          <span className="muted small">{i18n.t("inbox.notifyExplain")}</span>
          <button
            type="button"
            onClick={() => void Notification.requestPermission().then(setPermission, () => setPermission(Notification.permission))}
          >
            {i18n.t("inbox.notifyOn")}
          </button>
        </p>
      )}
      {props.events.length === 0 && <p>{i18n.t("inbox.empty")}</p>}
      <ul className="events">
        {props.events.map((e) => (
          <li key={e.seq} data-testid="event">
            <span className="what">{i18n.t(`event.${e.kind}` as Key)}</span>
            <time dateTime={e.at} className="muted small">
              {i18n.dateTime(e.at)}
            </time>
            {e.document_id && e.kind !== "revoked" && (
              <button type="button" onClick={() => props.onOpen(e.document_id!)}>
                {i18n.t("inbox.open")}
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
