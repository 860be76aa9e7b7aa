// The page's handle on the worker: typed calls that resolve with the worker's reply.
import type { CoreErrorShape, EventView, Ops, OpName, Reply } from "./protocol";

export class CoreError extends Error {
  constructor(public readonly shape: CoreErrorShape) {
    super(shape.message);
    this.name = shape.name;
  }
}

type Pending = {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  progress?: (n: number) => void;
  early?: (v: unknown) => void;
  /** The last early result, as sent and as parsed. */
  earlyJson?: string;
  earlyValue?: unknown;
};

export class CoreClient {
  private worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  private next = 1;
  private pending = new Map<number, Pending>();
  onNotification: (e: EventView) => void = () => {};
  onStreamEnded: (error?: CoreErrorShape) => void = () => {};

  constructor() {
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const r = e.data;
      if ("event" in r) {
        if (r.event === "notification") this.onNotification(r.value);
        else if (r.event === "stream-ended") this.onStreamEnded(r.value.error);
        else if (r.event === "progress") this.pending.get(r.value.op)?.progress?.(r.value.bytes);
        else if (r.event === "early") {
          const p = this.pending.get(r.value.op);
          if (p?.early) {
            const start = performance.now();
            p.earlyJson = r.value.json;
            p.earlyValue = JSON.parse(r.value.json);
            // For the web bench: when the early result reached the page, and its parse.
            performance.measure("medshare:early:parse", { start, end: performance.now() });
            p.early(p.earlyValue);
          }
        }
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      // A final result identical to the early one resolves to the very same object, so the
      // page need not render it again.
      if (r.ok && r.json) p.resolve(r.value === p.earlyJson ? p.earlyValue : JSON.parse(r.value as string));
      else if (r.ok) p.resolve(r.value);
      else p.reject(new CoreError(r.error));
    };
  }

  /** `early`: a first result while the operation goes on (a timeline from this device's cache). */
  call<K extends OpName>(
    op: K,
    args: Ops[K][0],
    progress?: (bytes: number) => void,
    early?: (v: Ops[K][1]) => void,
  ): Promise<Ops[K][1]> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, progress, early: early as (v: unknown) => void });
      this.worker.postMessage({ id, op, args });
    });
  }
}
