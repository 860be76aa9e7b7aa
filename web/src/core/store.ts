// What this device keeps between visits, in IndexedDB (used by the worker only):
// - the hub's trust anchors (pinned alliance root, witnessed audit head): public, kept plain;
// - what the core remembers about patients (key chains, references): sealed by the core to
//   the practitioner's own key, so it opens only after that practitioner logs in;
// - the timeline cache (verified entries per patient): records sealed by the core under a key
//   derived from the practitioner's key, named by a keyed derivation (no patient in the name).
// Nothing secret is ever stored: no passphrase, no key, no session token.

const DB = "medshare";
const STORE = "kv";

// One connection for the worker's life (opening the database costs more than a small read);
// closed and reopened if another version of the app upgrades the database.
let connection: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  connection ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => {
      const db = req.result;
      db.onversionchange = () => {
        db.close();
        connection = null;
      };
      db.onclose = () => (connection = null);
      resolve(db);
    };
    req.onerror = () => {
      connection = null;
      reject(req.error);
    };
  });
  return connection;
}

async function run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest | void): Promise<T> {
  const db = await open();
  return new Promise<T>((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = f(tx.objectStore(STORE));
    tx.oncomplete = () => resolve((req ? req.result : undefined) as T);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export function get<T>(key: string): Promise<T | undefined> {
  return run<T | undefined>("readonly", (s) => s.get(key));
}

export function put(key: string, value: unknown): Promise<void> {
  return run<void>("readwrite", (s) => s.put(value, key)).then(() => undefined);
}

/** Several values written in one transaction: all or none. */
export function putAll(entries: Array<[key: string, value: unknown]>): Promise<void> {
  return run<void>("readwrite", (s) => {
    for (const [key, value] of entries) s.put(value, key);
  }).then(() => undefined);
}
