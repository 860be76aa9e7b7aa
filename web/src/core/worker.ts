// The Web Worker that holds the medshare client core (Rust, compiled to WebAssembly). All long
// work runs here (Argon2id at login, opening documents, verifying), so the page never freezes;
// unlocked keys exist only in this worker's memory and are wiped on lock and logout.
/// <reference lib="webworker" />
import init, { Core, check_identifier, root_fingerprint, type Trusted } from "./pkg/medshare_wasm";
import wasmUrl from "./pkg/medshare_wasm_bg.wasm?url";
import type { CoreErrorShape, EventView, Ops, OpName, Reply, Request } from "./protocol";
import * as store from "./store";
import { classify as classifyFile, classifyRead } from "./classifier";
import { scannedPage } from "./classifier";
import { consultHandlers } from "./consults-worker";
import { release, releaseAll, spool } from "./spool";

declare const self: DedicatedWorkerGlobalScope;

const ready = init({ module_or_path: wasmUrl }).then(() => phases("start", { core: performance.now() }));
const origin = self.location.origin;
const CLASSIFY_BYTES = 64 * 1024 * 1024;
const PIECE = 1024 * 1024;
const trustKey = `trusted:${origin}`;
let core: Core | null = null;
let handle: string | null = null;

async function getCore(): Promise<Core> {
  await ready;
  if (!core) {
    const trusted = await store.get<Trusted>(trustKey);
    core = new Core(origin, trusted ?? undefined);
  }
  return core;
}

/** Where a sealed timeline record is kept: its name is derived from the practitioner's key. */
const cacheKey = (name: string) => `cache:${origin}:${name}`;

/** Keep this device's room state (MLS groups, histories), sealed to the practitioner's key. */
async function persistRooms(c: Core): Promise<void> {
  if (handle && c.unlocked()) await store.put(`rooms:${origin}:${handle}`, await c.sealed_rooms());
}

/** Keep the trust anchors, the sealed memory and the timeline records the core wrote after
 * every operation that may move them. */
async function persist(c: Core): Promise<void> {
  const writes: Array<[string, unknown]> = [[trustKey, c.trusted()]];
  if (handle && c.unlocked()) {
    writes.push([`memory:${origin}:${handle}`, c.sealed_memory()]);
    for (const name of c.cache_writes()) {
      const sealed = c.cache_record(name);
      if (sealed) writes.push([cacheKey(name), sealed]);
    }
  }
  await store.putAll(writes); // one transaction
}

/** Bring the patient's cached timeline (sealed) from IndexedDB into the core before a view, so
 * that the core asks the hub only for what changed since. */
async function primeTimeline(c: Core, identifier: string): Promise<void> {
  const name = await c.timeline_cache_name(identifier);
  if (!name) return;
  const sealed = await store.get<Uint8Array>(cacheKey(name));
  if (sealed) c.prime_cache(name, sealed);
}

/** The cached view of the number being typed, prepared before the search is asked for (local
 * work only: the sealed record opened, no hub request); taken by the next `timeline` of it. */
let prepared: { identifier: string; view: Promise<string | undefined> } | null = null;

/** The patient's timeline as this device verified it before (JSON), from the sealed record. */
async function cachedView(c: Core, identifier: string): Promise<string | undefined> {
  await primeTimeline(c, identifier);
  return (await c.cached_timeline(identifier)) ?? undefined;
}

/** Where the worker's time went in an operation, as User Timing measures (`medshare:<op>:<phase>`)
 * that the web bench reads (web/bench/bench.mjs); names and durations only, nothing else. */
function phases(op: string, ms: Record<string, number>): void {
  for (const [phase, duration] of Object.entries(ms)) {
    const name = `medshare:${op}:${phase}`;
    performance.clearMeasures(name);
    performance.measure(name, { start: performance.now() - duration, duration });
  }
}

/** A result the core handed over as JSON: posted as the string, parsed on the page. */
class Json {
  constructor(readonly text: string) {}
}
const asJson = <T>(text: string) => new Json(text) as unknown as T;

function post(reply: Reply): void {
  self.postMessage(reply);
}

function errorShape(e: unknown): CoreErrorShape {
  if (e instanceof Error) return { name: e.name || "invalid", message: e.message };
  return { name: "invalid", message: String(e) };
}

type Handler<K extends OpName> = (args: Ops[K][0], id: number) => Promise<Ops[K][1]>;

const handlers: { [K in OpName]: Handler<K> } = {
  async login({ handle: h, passphrase, totp, sandbox }) {
    const c = await getCore();
    const sealed = await store.get<Uint8Array>(`memory:${origin}:${h.trim()}`);
    const account = await c.login(h, passphrase, totp || undefined, sealed ?? undefined, sandbox);
    handle = h.trim();
    c.load_rooms((await store.get<Uint8Array>(`rooms:${origin}:${handle}`)) ?? new Uint8Array());
    await persist(c);
    return account;
  },
  async logout() {
    const c = await getCore();
    prepared = null;
    await releaseAll();
    try {
      await persist(c);
    } finally {
      await c.logout();
      handle = null;
    }
  },
  async lock() {
    const c = await getCore();
    prepared = null;
    await releaseAll();
    await persist(c);
    c.lock();
  },
  async timeline({ identifier }, id) {
    const c = await getCore();
    const t0 = performance.now();
    const ready = prepared?.identifier === identifier ? prepared.view : null;
    prepared = null;
    if (!ready) await primeTimeline(c, identifier);
    const t1 = performance.now();
    // The view this device verified before, shown at once; the hub's changes replace it below
    // (a document revoked meanwhile disappears on this same view).
    const cached = ready ? await ready : ((await c.cached_timeline(identifier)) ?? undefined);
    if (cached) post({ id: 0, event: "early", value: { op: id, json: cached } });
    const t2 = performance.now();
    const t = await c.timeline(identifier);
    const t3 = performance.now();
    await persist(c);
    phases("timeline", { prime: t1 - t0, cached: t2 - t1, core: t3 - t2, persist: performance.now() - t3 });
    return asJson<Ops["timeline"][1]>(t);
  },
  async open({ documentId }) {
    const c = await getCore();
    const d = await c.open(documentId);
    await persist(c);
    return d;
  },
  async download({ documentId, mediaType }, id) {
    const c = await getCore();
    // The plaintext goes to disk as it is opened (./spool.ts), never held whole in memory.
    const out = await spool(documentId, mediaType);
    let bytes = 0;
    let told = 0;
    const t0 = performance.now();
    try {
      await c.download(documentId, (piece: Uint8Array) => {
        out.write(piece);
        bytes += piece.length;
        // The core hands over 64 KiB pieces: tell the page at most once a MiB (each message
        // re-renders its progress bar).
        if (bytes - told >= PIECE) {
          told = bytes;
          post({ id: 0, event: "progress", value: { op: id, bytes } });
        }
      });
    } catch (e) {
      // Only a fully verified download is handed over; a failed one is removed.
      await out.discard();
      throw e;
    }
    post({ id: 0, event: "progress", value: { op: id, bytes } });
    phases("download", { core: performance.now() - t0 });
    return out.finish();
  },
  async release({ documentId }) {
    await release(documentId);
  },
  async inbox({ since }) {
    const c = await getCore();
    return c.inbox(since);
  },
  async follow({ since }) {
    const c = await getCore();
    c.follow(since, (e: EventView) => post({ id: 0, event: "notification", value: e }))
      .then(() => post({ id: 0, event: "stream-ended", value: {} }))
      .catch((e) => post({ id: 0, event: "stream-ended", value: { error: errorShape(e) } }));
  },
  async witness() {
    const c = await getCore();
    const h = await c.witness();
    await persist(c);
    return h;
  },
  async classify({ key, file }) {
    const c = await getCore();
    // Classification reads at most the first 64 MiB (the core's limit); the rest is not needed.
    const prefix = new Uint8Array(await file.slice(0, CLASSIFY_BYTES).arrayBuffer());
    return c.intake(key, await classifyFile(prefix, file.size), file.name);
  },
  async namesOtherPatient({ key, identifier }) {
    return (await getCore()).names_other_patient(key, identifier);
  },
  async forgetFile({ key }) {
    (await getCore()).forget_file(key);
  },
  async upload({ key, file, identifier, choices }, id) {
    const c = await getCore();
    const t0 = performance.now();
    await c.begin_upload(key, identifier, choices);
    // The file is read in slices and sealed as it goes: never one whole copy in memory. The core
    // sends each full part while the following slices are sealed, so one slice and two parts
    // are held at a time.
    // Where the time goes (User Timing measures, docs/benchmarks.md §7): `read`, waiting for
    // slices; `seal`, in the core (sealing, hashing, and waiting for the part before the last);
    // `finish`, the last part, the hub's whole-file check and the commit.
    // Slices are read synchronously (`FileReaderSync`, workers only): an asynchronous read is
    // fed to this thread in small tasks, which wait behind the sealing and on a loaded machine
    // behind everything else, so a read started early did not arrive early.
    const reader = new FileReaderSync();
    let waited = 0;
    let sealing = 0;
    const pushes: number[] = [];
    for (let at = 0; at < file.size; at += PIECE) {
      const t = performance.now();
      const piece = new Uint8Array(reader.readAsArrayBuffer(file.slice(at, at + PIECE)));
      const t1 = performance.now();
      await c.push_upload(key, piece);
      const t3 = performance.now();
      waited += t1 - t;
      sealing += t3 - t1;
      pushes.push(t3 - t1);
      post({ id: 0, event: "progress", value: { op: id, bytes: Math.min(file.size, at + PIECE) } });
    }
    const t2 = performance.now();
    const doc = await c.finish_upload(key);
    // Three slices in four only seal (a 4 MiB part is sent every fourth): the median push is
    // the core's sealing time for one slice, without the hub.
    const median = pushes.length ? [...pushes].sort((a, b) => a - b)[pushes.length >> 1] : 0;
    phases("upload", { begin: t2 - t0 - waited - sealing, read: waited, seal: sealing, finish: performance.now() - t2, sealSlice: median });
    await persist(c);
    return doc;
  },
  async colleagues() {
    return (await getCore()).colleagues();
  },
  async share({ documentId, with: w, expiresAt }) {
    return (await getCore()).share(documentId, w, expiresAt || undefined);
  },
  async revoke({ documentId, handle: h }) {
    return (await getCore()).revoke(documentId, h);
  },
  async grants({ documentId }) {
    return (await getCore()).grants(documentId);
  },
  async breakGlass({ identifier, reason }) {
    const c = await getCore();
    const until = await c.break_glass(identifier, reason);
    await persist(c);
    return until;
  },
  async declareCare({ identifier }) {
    return (await getCore()).declare_care(identifier);
  },
  async labTrends({ identifier }) {
    const c = await getCore();
    await primeTimeline(c, identifier);
    const t = await c.lab_trends(identifier);
    await persist(c);
    return t;
  },
  async consent({ identifier }) {
    return (await getCore()).consent(identifier);
  },
  async grantConsent({ identifier, to }) {
    const c = await getCore();
    await c.grant_consent(identifier, to);
    await persist(c);
  },
  async revokeConsent({ identifier, to }) {
    const c = await getCore();
    await c.revoke_consent(identifier, to);
    await persist(c);
  },
  async verifyLog() {
    const c = await getCore();
    const r = await c.verify_log();
    await persist(c);
    return r;
  },
  async auditLog({ patient, practitioner, since }) {
    return (await getCore()).audit_log(patient || undefined, practitioner || undefined, since);
  },
  async breakGlassReview({ id }) {
    return (await getCore()).break_glass_review(id);
  },
  async accessExport({ identifier }) {
    const bytes = await (await getCore()).access_export(identifier);
    return new Blob([bytes as BlobPart], { type: "application/json" });
  },
  async invite({ member }) {
    return (await getCore()).invite(member);
  },
  async pending() {
    return (await getCore()).pending();
  },
  async certify({ practitionerId, fingerprint }) {
    return (await getCore()).certify(practitionerId, fingerprint || undefined);
  },
  async members() {
    return (await getCore()).members();
  },
  async removeMember({ practitionerId }) {
    return (await getCore()).remove_member(practitionerId);
  },
  async rooms() {
    const c = await getCore();
    const r = await c.rooms();
    await persistRooms(c);
    return r;
  },
  async room({ roomId }) {
    const c = await getCore();
    const r = await c.room(roomId);
    await persistRooms(c);
    return r;
  },
  async createRoom({ title, with: w }) {
    const c = await getCore();
    try {
      return await c.create_room(title, w);
    } finally {
      await persistRooms(c);
    }
  },
  async sendText({ roomId, text, replyTo }) {
    const c = await getCore();
    try {
      return await c.send_text(roomId, text, replyTo);
    } finally {
      await persistRooms(c);
    }
  },
  async react({ roomId, seq, emoji }) {
    const c = await getCore();
    try {
      return await c.react(roomId, seq, emoji);
    } finally {
      await persistRooms(c);
    }
  },
  async editMessage({ roomId, seq, text }) {
    const c = await getCore();
    try {
      return await c.edit_message(roomId, seq, text);
    } finally {
      await persistRooms(c);
    }
  },
  async deleteMessage({ roomId, seq }) {
    const c = await getCore();
    try {
      return await c.delete_message(roomId, seq);
    } finally {
      await persistRooms(c);
    }
  },
  async markRoomRead({ roomId, seq }) {
    return (await getCore()).mark_room_read(roomId, seq);
  },
  async postDocument({ roomId, documentId }) {
    const c = await getCore();
    try {
      return await c.post_document(roomId, documentId);
    } finally {
      await persistRooms(c);
    }
  },
  async inviteToRoom({ roomId, who }) {
    const c = await getCore();
    try {
      return await c.invite_to_room(roomId, who);
    } finally {
      await persistRooms(c);
    }
  },
  async removeFromRoom({ roomId, who }) {
    const c = await getCore();
    try {
      return await c.remove_from_room(roomId, who);
    } finally {
      await persistRooms(c);
    }
  },
  async postVoice({ roomId, audio, durationMs }) {
    const c = await getCore();
    const bytes = new Uint8Array(await audio.arrayBuffer());
    try {
      return await c.post_voice(roomId, bytes, durationMs);
    } finally {
      bytes.fill(0);
      await persistRooms(c);
    }
  },
  async openVoice({ roomId, seq, mediaType }) {
    const bytes = await (await getCore()).open_voice(roomId, seq);
    return new Blob([bytes as BlobPart], { type: mediaType });
  },
  async checkIdentifier({ text }) {
    await ready;
    return check_identifier(text);
  },
  async fingerprint() {
    await ready;
    const t = await store.get<Trusted>(trustKey);
    return t?.root ? root_fingerprint(t.root) : null;
  },
  async enrolment({ code }) {
    return (await getCore()).enrolment(code);
  },
  async enrol({ code, passphrase }) {
    const c = await getCore();
    const done = await c.enrol(code, passphrase);
    await store.put(trustKey, c.trusted()); // the alliance root pinned on this first contact
    return done;
  },
  ...consultHandlers(getCore, persistRooms),
  async needsOcr({ key }) {
    return (await getCore()).needs_ocr(key);
  },
  async classifyOcr({ key, file, reading }) {
    const c = await getCore();
    const prefix = new Uint8Array(await file.slice(0, CLASSIFY_BYTES).arrayBuffer());
    // Classified by the classification module, kept by the core as any other file's.
    const { classification, ...read } = await classifyRead(prefix, file.size, reading);
    return { ...read, intake: c.intake(key, classification, file.name) };
  },
  async prepareTimeline({ identifier }) {
    const c = await getCore();
    if (!c.unlocked()) return;
    const view = cachedView(c, identifier).catch(() => undefined);
    prepared = { identifier, view };
    await view;
  },
  async scanPage({ file, index }) {
    // The whole PDF (a byte past the limit, for the module to refuse a larger one).
    return scannedPage(new Uint8Array(await file.slice(0, CLASSIFY_BYTES + 1).arrayBuffer()), index);
  },
};

self.onmessage = async (e: MessageEvent<Request>) => {
  const { id, op, args } = e.data;
  try {
    const handler = handlers[op] as Handler<OpName>;
    const value: unknown = await handler(args as never, id);
    post(value instanceof Json ? { id, ok: true, value: value.text, json: true } : { id, ok: true, value });
  } catch (err) {
    post({ id, ok: false, error: errorShape(err) });
  }
};
