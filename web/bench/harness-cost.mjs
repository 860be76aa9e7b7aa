// Web bench helper (docs/benchmarks.md §7): does Chromium spend CPU on 25 x 4 MiB fetch PUTs from a worker by itself, or only under
// Playwright's CDP? Runs the same page twice: plain headless Chromium (no DevTools client) and
// under Playwright; reports CPU by thread from /proc. Not a test.
//   cd web && node bench/harness-cost.mjs
import { createServer } from "node:http";
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, readdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
const worker = `onmessage = async () => { const buf = new Uint8Array(4<<20); crypto.getRandomValues(buf.subarray(0,65536));
  const t0 = performance.now(); for (let i=0;i<25;i++){ const b = buf.slice(); await (await fetch('/sink',{method:'PUT',body:b})).text(); }
  postMessage(performance.now()-t0); };`;
const html = `<script>const w=new Worker('/w.js');w.onmessage=e=>fetch('/done?ms='+e.data);w.postMessage(0);</script>`;
let done;
const server = createServer((req, res) => {
  if (req.url === "/w.js") { res.setHeader("content-type","text/javascript"); return res.end(worker); }
  if (req.url === "/") { res.setHeader("content-type","text/html"); return res.end(html); }
  if (req.url.startsWith("/done")) { res.end(); done?.(req.url); return; }
  req.on("data", () => {}); req.on("end", () => res.end("ok"));
}).listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const url = `http://127.0.0.1:${server.address().port}/`;
const desc = (root) => { const ch = new Map(); for (const l of execFileSync("ps",["-e","-o","pid=,ppid="]).toString().trim().split("\n")) { const [p,pp]=l.trim().split(/\s+/); ch.set(pp,[...(ch.get(pp)??[]),p]); } const out=[]; for (let t=[String(root)];t.length;){const p=t.pop();out.push(p);t.push(...(ch.get(p)??[]));} return out; };
const threads = (root) => { const m = new Map(); for (const pid of desc(root)) { try { const type = /--type=([\w-]+)/.exec(readFileSync(`/proc/${pid}/cmdline`,"utf8"))?.[1] ?? "browser"; for (const tid of readdirSync(`/proc/${pid}/task`)) { const s = readFileSync(`/proc/${pid}/task/${tid}/stat`,"utf8"); const name = s.slice(s.indexOf("(")+1, s.lastIndexOf(")")).replace(/\d+$/,""); const f = s.slice(s.lastIndexOf(") ")+2).split(" "); const k=`${type}/${name}`; m.set(k,(m.get(k)??0)+(+f[11])+(+f[12])); } } catch {} } return m; };
const fmt = (m) => [...m].filter(([,v])=>v>=5).sort((a,b)=>b[1]-a[1]).map(([k,v])=>`${k} ${(v/100).toFixed(2)}`).join(", ");
// 1. plain
{
  const ud = mkdtempSync(path.join(tmpdir(), "s711-exp-"));
  const ms = new Promise((r) => (done = r));
  const c = spawn((process.env.MEDSHARE_CHROMIUM ?? "/usr/bin/chromium"), ["--headless","--no-sandbox","--disable-gpu","--no-first-run",`--user-data-dir=${ud}`, url], { stdio: "ignore" });
  const u = await ms; await new Promise(r=>setTimeout(r,300));
  console.log(`plain chromium: ${u}; CPU by thread (s): ${fmt(threads(c.pid))}`);
  c.kill(); await new Promise(r=>c.once("exit",r));
  rmSync(ud, { recursive: true, force: true });
}
// 2. Playwright
{
  const { chromium } = await import("playwright-core");
  const b = await chromium.launch({ executablePath: (process.env.MEDSHARE_CHROMIUM ?? "/usr/bin/chromium"), args: ["--headless","--no-sandbox","--disable-gpu"] });
  const page = await b.newPage();
  const ms = new Promise((r) => (done = r));
  const before = threads(process.pid);
  await page.goto(url);
  const u = await ms; await new Promise(r=>setTimeout(r,300));
  const after = threads(process.pid); for (const [k,v] of after) after.set(k, v - (before.get(k)??0));
  console.log(`under Playwright: ${u}; CPU by thread (s, this node process included as browser/node): ${fmt(after)}`);
  await b.close();
}
server.close();
