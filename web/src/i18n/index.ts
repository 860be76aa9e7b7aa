// Every visible string goes through `t`. English defines the keys; TypeScript refuses a
// dictionary that lacks one (the `Messages` type), and tests/unit/i18n.test.mjs checks the
// same at run time, with placeholders. Dates use the user's locale and 24-hour time.
import { createContext, useContext } from "react";
import en from "./en.json";
import zhHK from "./zh-HK.json";
import zhCN from "./zh-CN.json";
import id from "./id.json";

export type Key = keyof typeof en;
type Messages = Record<Key, string>;

export const LANGUAGES = {
  en: { label: "English", messages: en as Messages },
  "zh-HK": { label: "繁體中文（香港）", messages: zhHK satisfies Messages },
  "zh-CN": { label: "简体中文", messages: zhCN satisfies Messages },
  id: { label: "Bahasa Indonesia", messages: id satisfies Messages },
} as const;

export type Lang = keyof typeof LANGUAGES;

export function pickLanguage(saved: string | null, preferred: readonly string[]): Lang {
  const all = Object.keys(LANGUAGES) as Lang[];
  if (saved && all.includes(saved as Lang)) return saved as Lang;
  for (const p of preferred) {
    if (all.includes(p as Lang)) return p as Lang;
    if (p.startsWith("zh")) return /TW|HK|MO|Hant/i.test(p) ? "zh-HK" : "zh-CN";
    const base = p.split("-")[0];
    if (all.includes(base as Lang)) return base as Lang;
  }
  return "en";
}

export interface I18n {
  lang: Lang;
  t: (key: Key, params?: Record<string, string | number>) => string;
  /** Whether a key computed at run time (e.g. `analyte.<name>`) exists. */
  has: (key: string) => key is Key;
  date: (iso: string) => string;
  dateTime: (iso: string) => string;
  size: (bytes: number) => string;
}

export function makeI18n(lang: Lang): I18n {
  const messages = LANGUAGES[lang].messages;
  const dateFmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium" });
  const dateTimeFmt = new Intl.DateTimeFormat(lang, {
    dateStyle: "medium",
    timeStyle: "short",
    hourCycle: "h23",
  });
  // A bare date (YYYY-MM-DD) is a calendar day, not an instant: formatted in UTC. Made once:
  // a formatter per call cost a timeline of 200 days a large part of its rendering.
  const dayFmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" });
  const num = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  return {
    lang,
    t(key, params) {
      let s = messages[key] ?? key;
      if (params) for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
      return s;
    },
    has(key): key is Key {
      return key in messages;
    },
    date(iso) {
      const d = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(iso + "T00:00:00Z") : new Date(iso);
      return isNaN(d.getTime()) ? iso : /^\d{4}-\d{2}-\d{2}$/.test(iso) ? dayFmt.format(d) : dateFmt.format(d);
    },
    dateTime(iso) {
      const d = new Date(iso);
      return isNaN(d.getTime()) ? iso : dateTimeFmt.format(d);
    },
    size(bytes) {
      const units = ["B", "KB", "MB", "GB"];
      let v = bytes;
      let u = 0;
      while (v >= 1024 && u < units.length - 1) {
        v /= 1024;
        u++;
      }
      return `${num.format(v)} ${units[u]}`;
    },
  };
}

export const I18nContext = createContext<I18n>(makeI18n("en"));
export const useI18n = () => useContext(I18nContext);
