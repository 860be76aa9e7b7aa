// Where an opened download is written as it is decrypted, so that the browser never holds the
// whole file in memory: a file in this origin's private file system (OPFS), written with a
// synchronous access handle (workers only), handed to the page as a disk-backed `File` (the
// save link and the inline viewer read it from disk). Where OPFS is missing, the pieces are kept
// as a `Blob` as before.
//
// The plaintext is on this device's disk while the document is open, in the browser profile's
// storage for this origin (no other site can read it; Chromium spills large Blobs to its profile
// directory too). It is removed when the page closes the document, on lock and logout, and, for a
// tab that was closed without either, by the next worker that starts: each worker keeps its files
// in a folder named after a Web Lock it holds while it lives, and sweeps folders whose lock is not
// held by any worker of the origin.
/// <reference lib="webworker" />

const LOCK = "medshare:spool:";
const me = crypto.randomUUID();
let root: Promise<FileSystemDirectoryHandle | null> | null = null;
/** Files of this worker by document: removed by `release`. */
const open = new Map<string, string[]>();

function folder(): Promise<FileSystemDirectoryHandle | null> {
  root ??= (async () => {
    try {
      if (!("createSyncAccessHandle" in FileSystemFileHandle.prototype)) return null;
      // Held until this worker ends (the promise never settles).
      await new Promise<void>((granted) => {
        void navigator.locks.request(LOCK + me, () => {
          granted();
          return new Promise<never>(() => {});
        });
      });
      const spool = await (await navigator.storage.getDirectory()).getDirectoryHandle("spool", { create: true });
      await sweep(spool);
      return await spool.getDirectoryHandle(me, { create: true });
    } catch {
      return null; // no OPFS (or no Web Locks) here: downloads are kept in memory
    }
  })();
  return root;
}

/** Remove the folders of workers that no longer run (their lock is free). */
async function sweep(spool: FileSystemDirectoryHandle): Promise<void> {
  const held = new Set(((await navigator.locks.query()).held ?? []).map((l) => l.name));
  const stale: string[] = [];
  for await (const name of (spool as unknown as { keys(): AsyncIterable<string> }).keys()) {
    if (!held.has(LOCK + name)) stale.push(name);
  }
  for (const name of stale) await spool.removeEntry(name, { recursive: true }).catch(() => {});
}

export interface Spool {
  /** Append the next piece of plaintext (the spool's from then on: not to be changed). */
  write(piece: Uint8Array): void;
  /** The whole file, once every byte was verified. */
  finish(): Promise<Blob>;
  /** Drop what was written (a failed or refused download). */
  discard(): Promise<void>;
}

/** A place for the plaintext of `documentId`, typed `mediaType` for the page's viewer. */
export async function spool(documentId: string, mediaType: string): Promise<Spool> {
  const dir = await folder();
  if (!dir) {
    const parts: Uint8Array[] = [];
    return {
      write: (piece) => void parts.push(piece),
      finish: async () => new Blob(parts as BlobPart[], { type: mediaType }),
      discard: async () => void (parts.length = 0),
    };
  }
  const name = crypto.randomUUID();
  const handle = await dir.getFileHandle(name, { create: true });
  const access = await handle.createSyncAccessHandle();
  let at = 0;
  let closed = false;
  const close = () => {
    if (!closed) access.close();
    closed = true;
  };
  return {
    write(piece) {
      at += access.write(piece, { at });
    },
    async finish() {
      access.flush();
      close();
      open.set(documentId, [...(open.get(documentId) ?? []), name]);
      const file = await handle.getFile();
      // A typed view of the same bytes on disk (no copy), for the viewer.
      return file.slice(0, file.size, mediaType);
    },
    async discard() {
      close();
      await dir.removeEntry(name).catch(() => {});
    },
  };
}

/** The page closed the document: remove its opened files. */
export async function release(documentId: string): Promise<void> {
  const dir = await folder();
  const names = open.get(documentId) ?? [];
  open.delete(documentId);
  if (dir) for (const name of names) await dir.removeEntry(name).catch(() => {});
}

/** Lock and logout: remove every file this worker opened. */
export async function releaseAll(): Promise<void> {
  for (const documentId of [...open.keys()]) await release(documentId);
}
