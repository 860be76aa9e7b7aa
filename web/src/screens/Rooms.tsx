// Case rooms: the list with unread counts, and a room (history, text, replies, reactions,
// edits and deletions shown as such, read receipts, voice notes recorded or picked and played
// inline, documents posted from a timeline, members by their verified certificates, invite and
// remove for the owner). Everything that decrypts or signs runs in the worker (MLS in the core);
// the page gets views. Live: the room reloads when the hub's event stream names it.
import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { useI18n } from "../i18n";
import { core } from "../core/session";
import { CoreError } from "../core/client";
import type { EventView, RoomDetail, RoomLine, RoomSummary } from "../core/protocol";
import { describePerson, useColleagues } from "./ColleaguePicker";

const REACTIONS = ["👍", "✅", "❤️", "❓"];

function useErrors() {
  const i18n = useI18n();
  const [error, setError] = useState<string | null>(null);
  const fail = useCallback(
    (e: unknown) => setError(e instanceof CoreError ? i18n.t("rooms.error", { message: e.message }) : String(e)),
    [i18n],
  );
  return { error, setError, fail };
}

/** Re-run `f` whenever the event stream tells of room activity (the App forwards events). */
function useRoomEvents(f: (e: EventView) => void) {
  useEffect(() => {
    const on = (ev: Event) => {
      const e = (ev as CustomEvent<EventView>).detail;
      if (e.kind === "room-activity" || e.kind === "room-invited") f(e);
    };
    window.addEventListener("medshare:event", on);
    return () => window.removeEventListener("medshare:event", on);
  }, [f]);
}

export function Rooms(props: { documentToPost?: string | null; onPosted?: () => void }) {
  const [open, setOpen] = useState<string | null>(null);
  return open ? (
    <Room id={open} onBack={() => setOpen(null)} documentToPost={props.documentToPost} onPosted={props.onPosted} />
  ) : (
    <RoomList onOpen={setOpen} />
  );
}

function RoomList(props: { onOpen: (id: string) => void }) {
  const i18n = useI18n();
  const colleagues = useColleagues();
  const [rooms, setRooms] = useState<RoomSummary[] | null>(null);
  const [title, setTitle] = useState("");
  const [withIds, setWithIds] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const { error, setError, fail } = useErrors();
  const load = useCallback(() => {
    core.call("rooms", {}).then(setRooms, fail);
  }, [fail]);
  useEffect(load, [load]);
  useRoomEvents(load);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!title.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const id = await core.call("createRoom", { title, with: withIds });
      setTitle("");
      setWithIds([]);
      props.onOpen(id);
    } catch (err) {
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="rooms-title">
      <h1 id="rooms-title">{i18n.t("rooms.title")}</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {rooms === null && <p role="status">{i18n.t("rooms.loading")}</p>}
      {rooms?.length === 0 && <p>{i18n.t("rooms.none")}</p>}
      <ul className="events" data-testid="room-list">
        {rooms?.map((r) => (
          <li key={r.room_id}>
            <button type="button" onClick={() => props.onOpen(r.room_id)} data-testid="room-open">
              {r.title ?? i18n.t("rooms.untitled")}
            </button>
            <span className="muted small">{i18n.t("rooms.members", { count: r.members })}</span>
            {r.unread > 0 && (
              <span className="badge live" data-testid="room-unread" aria-label={i18n.t("nav.unread", { count: r.unread })}>
                {r.unread}
              </span>
            )}
          </li>
        ))}
      </ul>
      <form className="stack" onSubmit={create}>
        <h2>{i18n.t("rooms.create")}</h2>
        <label className="field">
          {i18n.t("rooms.roomTitle")}
          <input id="room-title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} required />
        </label>
        <label className="field">
          {i18n.t("rooms.with")}
          <select
            id="room-with"
            multiple
            value={withIds}
            onChange={(e) => setWithIds([...e.target.selectedOptions].map((o) => o.value))}
          >
            {colleagues.map((p) => (
              <option key={p.practitioner_id} value={p.practitioner_id}>
                {describePerson(p)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={busy}>
          {i18n.t("rooms.createSubmit")}
        </button>
      </form>
    </section>
  );
}

function duration(ms?: number): string {
  if (ms === undefined) return "";
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A voice note played inline: opened in the worker on demand, its object URL revoked after. */
function Voice(props: { roomId: string; line: RoomLine }) {
  const i18n = useI18n();
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => () => void (url && URL.revokeObjectURL(url)), [url]);
  const v = props.line.voice!;
  const play = async () => {
    setError(null);
    try {
      const blob = await core.call("openVoice", { roomId: props.roomId, seq: props.line.seq, mediaType: v.media_type });
      setUrl(URL.createObjectURL(blob));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <span className="voice">
      {i18n.t("rooms.voiceNote", { duration: duration(v.duration_ms) })}{" "}
      {url ? (
        // eslint-disable-next-line jsx-a11y/media-has-caption -- a clinician's spoken note; no captions exist
        <audio
          src={url}
          controls
          autoPlay
          data-testid="voice-player"
          aria-label={i18n.t("rooms.voicePlayer")}
          onEnded={() => {
            URL.revokeObjectURL(url);
            setUrl(null);
          }}
        />
      ) : (
        <button type="button" onClick={play} data-testid="voice-play">
          {i18n.t("rooms.play")}
        </button>
      )}
      {error && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </span>
  );
}

/** Record a voice note with MediaRecorder (permission asked on this button press) or pick one. */
function VoiceInput(props: { onVoice: (audio: Blob, durationMs?: number) => Promise<void> }) {
  const i18n = useI18n();
  const [recording, setRecording] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const rec = useRef<{ r: MediaRecorder; stream: MediaStream; started: number; parts: Blob[] } | null>(null);
  const start = async () => {
    setError(null);
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const r = new MediaRecorder(stream);
      const state = { r, stream, started: Date.now(), parts: [] as Blob[] };
      r.ondataavailable = (e) => e.data.size > 0 && state.parts.push(e.data);
      r.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        const blob = new Blob(state.parts, { type: r.mimeType });
        void props.onVoice(blob, Date.now() - state.started);
      };
      rec.current = state;
      r.start();
      setRecording(true);
    } catch {
      setError(i18n.t("rooms.micRefused"));
    }
  };
  const stop = () => {
    rec.current?.r.stop();
    rec.current = null;
    setRecording(false);
  };
  return (
    <div className="row wrap">
      {recording ? (
        <button type="button" onClick={stop} data-testid="voice-stop">
          {i18n.t("rooms.stop")}
        </button>
      ) : (
        <button type="button" onClick={start} data-testid="voice-record">
          {i18n.t("rooms.record")}
        </button>
      )}
      <label className="field">
        {i18n.t("rooms.pickAudio")}
        <input
          type="file"
          accept="audio/*"
          data-testid="voice-file"
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = "";
            if (f) void props.onVoice(f);
          }}
        />
      </label>
      {error && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </div>
  );
}

function Line(props: { roomId: string; line: RoomLine; onReply: (seq: number) => void; onChanged: () => void; fail: (e: unknown) => void }) {
  const i18n = useI18n();
  const l = props.line;
  const act = (p: Promise<unknown>) => p.then(props.onChanged, props.fail);
  let body: ReactNode;
  if (l.deleted) body = <em>{i18n.t("rooms.deleted")}</em>;
  else if (l.kind === "text")
    body = (
      <>
        {l.reply_to !== undefined && <span className="muted small">{i18n.t("rooms.replyTo", { seq: l.reply_to })} </span>}
        <span data-testid="line-text">{l.text}</span>
        {l.edited && <span className="muted small"> {i18n.t("rooms.edited")}</span>}
      </>
    );
  else if (l.kind === "voice") body = <Voice roomId={props.roomId} line={l} />;
  else if (l.kind === "document") body = <span>{i18n.t("rooms.document", { title: l.text ?? "" })}</span>;
  else if (l.kind === "info") body = <span className="muted">{i18n.t("rooms.titleSet", { title: l.text ?? "" })}</span>;
  else if (l.kind === "joined") body = <span className="muted">{i18n.t("rooms.joined")}</span>;
  else if (l.kind === "added") body = <span className="muted">{i18n.t("rooms.added", { names: l.members.join(", ") })}</span>;
  else if (l.kind === "removed") body = <span className="muted">{i18n.t("rooms.removed", { names: l.members.join(", ") })}</span>;
  else if (l.kind === "you-were-removed") body = <strong>{i18n.t("rooms.youWereRemoved")}</strong>;
  else body = <span className="muted">{i18n.t("rooms.keys")}</span>;
  const message = l.kind === "text" || l.kind === "voice" || l.kind === "document";
  return (
    <li data-testid="room-line" data-seq={l.seq} data-kind={l.kind}>
      <div className="row wrap">
        <strong>{l.sender_name}</strong>
        <time dateTime={l.at} className="muted small">
          {i18n.dateTime(l.at)}
        </time>
        <span className="muted small">#{l.seq}</span>
      </div>
      <div>{body}</div>
      {l.reactions.length > 0 && (
        <div className="small" data-testid="reactions">
          {l.reactions.map(([emoji, who], i) => (
            <span key={i} title={who}>
              {emoji}{" "}
            </span>
          ))}
        </div>
      )}
      {l.read_by.length > 0 && (
        <div className="muted small" data-testid="read-by">
          {i18n.t("rooms.readBy", { names: l.read_by.join(", ") })}
        </div>
      )}
      {message && !l.deleted && (
        <div className="row wrap">
          {REACTIONS.map((e) => (
            <button
              type="button"
              key={e}
              aria-label={i18n.t("rooms.react", { emoji: e })}
              onClick={() => act(core.call("react", { roomId: props.roomId, seq: l.seq, emoji: e }))}
            >
              {e}
            </button>
          ))}
          <button type="button" onClick={() => props.onReply(l.seq)}>
            {i18n.t("rooms.reply")}
          </button>
          {l.mine && l.kind === "text" && (
            <button
              type="button"
              onClick={() => {
                const text = window.prompt(i18n.t("rooms.edit"), l.text ?? "");
                if (text) act(core.call("editMessage", { roomId: props.roomId, seq: l.seq, text }));
              }}
            >
              {i18n.t("rooms.edit")}
            </button>
          )}
          {l.mine && l.kind !== "document" && (
            <button type="button" onClick={() => act(core.call("deleteMessage", { roomId: props.roomId, seq: l.seq }))}>
              {i18n.t("rooms.delete")}
            </button>
          )}
        </div>
      )}
    </li>
  );
}

function Room(props: { id: string; onBack: () => void; documentToPost?: string | null; onPosted?: () => void }) {
  const i18n = useI18n();
  const colleagues = useColleagues();
  const [room, setRoom] = useState<RoomDetail | null>(null);
  const [text, setText] = useState("");
  const [replyTo, setReplyTo] = useState<number | undefined>();
  const [invite, setInvite] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const { error, setError, fail } = useErrors();
  const load = useCallback(() => {
    core.call("room", { roomId: props.id }).then((r) => {
      setRoom(r);
      if (r.cursor > 0 && !r.removed) void core.call("markRoomRead", { roomId: props.id, seq: r.cursor }).catch(() => {});
    }, fail);
  }, [props.id, fail]);
  useEffect(load, [load]);
  useRoomEvents(
    useCallback(
      (e: EventView) => {
        if (!e.room_id || e.room_id === props.id) load();
      },
      [props.id, load],
    ),
  );
  const run = async (p: Promise<unknown>, done?: string) => {
    setError(null);
    try {
      await p;
      if (done) setStatus(done);
      load();
    } catch (e) {
      fail(e);
    }
  };
  const send = (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    const t = text;
    setText("");
    setReplyTo(undefined);
    void run(core.call("sendText", { roomId: props.id, text: t, replyTo }));
  };
  const members = new Set(room?.members.map((m) => m.person.practitioner_id));
  return (
    <section className="card" aria-labelledby="room-title">
      <button type="button" onClick={props.onBack}>
        {i18n.t("rooms.back")}
      </button>
      <h1 id="room-title">{room?.title ?? i18n.t("rooms.untitled")}</h1>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {status && (
        <p role="status" className="muted">
          {status}
        </p>
      )}
      {!room && !error && <p role="status">{i18n.t("rooms.loading")}</p>}
      {room && (
        <>
          <details>
            <summary>{i18n.t("rooms.membersTitle", { count: room.members.length })}</summary>
            <ul className="events" data-testid="room-members">
              {room.members.map((m) => (
                <li key={m.person.practitioner_id}>
                  <span>{describePerson(m.person)}</span>
                  {m.owner && <span className="badge">{i18n.t("rooms.owner")}</span>}
                  {room.owner_is_me && !m.owner && (
                    <button
                      type="button"
                      onClick={() =>
                        void run(
                          core.call("removeFromRoom", { roomId: props.id, who: [m.person.practitioner_id] }),
                          i18n.t("rooms.removedDone"),
                        )
                      }
                    >
                      {i18n.t("rooms.remove", { name: m.person.name })}
                    </button>
                  )}
                </li>
              ))}
            </ul>
            {room.owner_is_me && (
              <div className="row wrap">
                <label className="field">
                  {i18n.t("rooms.invite")}
                  <select id="room-invite" value={invite} onChange={(e) => setInvite(e.target.value)}>
                    <option value="">{i18n.t("share.choose")}</option>
                    {colleagues
                      .filter((p) => !members.has(p.practitioner_id))
                      .map((p) => (
                        <option key={p.practitioner_id} value={p.practitioner_id}>
                          {describePerson(p)}
                        </option>
                      ))}
                  </select>
                </label>
                <button
                  type="button"
                  disabled={!invite}
                  onClick={() => {
                    const who = invite;
                    setInvite("");
                    void run(core.call("inviteToRoom", { roomId: props.id, who: [who] }), i18n.t("rooms.invited"));
                  }}
                >
                  {i18n.t("rooms.inviteSubmit")}
                </button>
              </div>
            )}
          </details>
          <ol className="events room-lines" data-testid="room-lines">
            {room.lines.map((l) => (
              <Line key={l.seq} roomId={props.id} line={l} onReply={setReplyTo} onChanged={load} fail={fail} />
            ))}
          </ol>
          {!room.removed && (
            <>
              {props.documentToPost && (
                <p className="row wrap">
                  <button
                    type="button"
                    onClick={() =>
                      void run(core.call("postDocument", { roomId: props.id, documentId: props.documentToPost! }), i18n.t("rooms.posted")).then(
                        () => props.onPosted?.(),
                      )
                    }
                  >
                    {i18n.t("rooms.postDocument")}
                  </button>
                </p>
              )}
              <form className="stack" onSubmit={send}>
                {replyTo !== undefined && (
                  <p className="muted small">
                    {i18n.t("rooms.replyTo", { seq: replyTo })}{" "}
                    <button type="button" onClick={() => setReplyTo(undefined)}>
                      {i18n.t("rooms.cancel")}
                    </button>
                  </p>
                )}
                <label className="field">
                  {i18n.t("rooms.message")}
                  <textarea id="room-message" value={text} onChange={(e) => setText(e.target.value)} maxLength={16384} rows={2} />
                </label>
                <button type="submit">{i18n.t("rooms.send")}</button>
              </form>
              <VoiceInput
                onVoice={(audio, durationMs) =>
                  run(core.call("postVoice", { roomId: props.id, audio, durationMs }), i18n.t("rooms.voiceSent"))
                }
              />
            </>
          )}
        </>
      )}
    </section>
  );
}
