// Builds the app into dist/ for the hub to embed: hashed asset names, no inline script (the
// hub's CSP forbids it), Subresource Integrity on every script and stylesheet the shell loads,
// and a service worker that caches the app shell only (never records, never keys).
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

function sri(bytes: string | Uint8Array): string {
  return "sha384-" + createHash("sha384").update(bytes).digest("base64");
}

/** Adds integrity attributes to the shell's scripts, preloads and stylesheets. */
function subresourceIntegrity(): Plugin {
  return {
    name: "medshare-sri",
    apply: "build",
    enforce: "post",
    // After Vite's own post plugins: they fill in the dependency lists of dynamic imports
    // (the OCR module's) in generateBundle, which changes the entry chunk's bytes.
    generateBundle: { order: "post", handler(_options, bundle) {
      const html = bundle["index.html"];
      if (!html || html.type !== "asset") return;
      let text = String(html.source);
      text = text.replace(/<(script|link)([^>]*?)(src|href)="\/([^"]+)"([^>]*)>/g, (tag, el, before, attr, file, after) => {
        const item = bundle[file];
        if (!item || /integrity=/.test(tag)) return tag;
        const bytes = item.type === "chunk" ? item.code : item.source;
        const cross = /crossorigin/.test(tag) ? "" : " crossorigin";
        return `<${el}${before}${attr}="/${file}"${after.replace(/\/?$/, "")} integrity="${sri(bytes)}"${cross}>`;
      });
      html.source = text;
    } },
  };
}

/** tesseract.js's worker and core, and the language data (web/src/ocr/engine.ts). */
const OCR_ASSET = /^assets\/(worker\.min-[\w-]+\.js|tesseract-core[\w-]*\.wasm-[\w-]+\.js|\w+\.traineddata-[\w-]+\.bin)$/;

/** Emits sw.js listing the app shell's files (hashed names) to cache. */
function shellServiceWorker(): Plugin {
  return {
    name: "medshare-sw",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle)
        .filter((f) => f !== "sw.js" && !f.endsWith(".map"))
        // The OCR engine and its language data (megabytes) load only when a photo is read.
        .filter((f) => !OCR_ASSET.test(f))
        .map((f) => "/" + f)
        .sort();
      const version = createHash("sha256").update(files.join("\n")).digest("hex").slice(0, 16);
      const sw = `// medshare app shell cache ${version}: the app's own files only. Records, keys and
// every /v1 request always go to the network and are never stored here.
const CACHE = "medshare-shell-${version}";
const SHELL = ${JSON.stringify(["/", ...files.filter((f) => f !== "/index.html")])};
// The hub's API bypasses this worker altogether where the browser has the Static Routing API
// (Chromium 123+): otherwise every request, each 4 MiB upload part and the event stream included,
// is first dispatched to this worker (started again if the browser had stopped it) only to be
// let through to the network.
const ROUTES = [{ condition: { urlPattern: "/v1/*" }, source: "network" }];
self.addEventListener("install", (e) => {
  const routes = e.addRoutes ? e.addRoutes(ROUTES).catch(() => {}) : Promise.resolve();
  e.waitUntil(Promise.all([routes, caches.open(CACHE).then((c) => c.addAll(SHELL))]).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!SHELL.includes(url.pathname)) return;
  // The shell: network first (a new release is picked up at once), the cache when offline.
  e.respondWith(
    fetch(e.request).catch(() => caches.match(e.request).then((r) => r || Response.error())),
  );
});
`;
      // Web Push: show the hub's fixed sentence, open the app on a tap (sw-push.js).
      const push = readFileSync(new URL("./sw-push.js", import.meta.url), "utf8");
      this.emitFile({ type: "asset", fileName: "sw.js", source: sw + push });
    },
  };
}

export default defineConfig({
  plugins: [react(), subresourceIntegrity(), shellServiceWorker()],
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    rollupOptions: {
      output: {
        // OCR language data is packaged gzip-compressed (`eng.traineddata.gz`); the app inflates
        // it itself. Not named `.gz`: that suffix marks the hub's precompressed copies.
        assetFileNames: (a) =>
          (a.names?.[0] ?? "").endsWith(".traineddata.gz") ? "assets/[name]-[hash].bin" : "assets/[name]-[hash][extname]",
      },
    },
  },
  worker: { format: "es" },
});
