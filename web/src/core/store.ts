// What this device keeps between visits, in IndexedDB (used by the worker only):
// - the hub's trust anchors (pinned alliance root, witnessed audit head): public, kept plain;
// - what the core remembers about patients (key chains, references): sealed by the core to
//   the practitioner's own key, so it opens only after that practitioner logs in;
// - the timeline cache (verified entries per patient): records sealed by the core under a key
//   derived from the practitioner's key, named by a keyed derivation (no patient in the name).
// Nothing secret is ever stored: no passphrase, no key, no session token.

const DB = "medshare";
const STORE = "kv";

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = f(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result as T);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export function get<T>(key: string): Promise<T | undefined> {
  return run<T | undefined>("readonly", (s) => s.get(key));
}

export function put(key: string, value: unknown): Promise<void> {
  return run<void>("readwrite", (s) => s.put(value, key)).then(() => undefined);
}
