// One worker for the page's lifetime, and helpers shared by the screens.
import { CoreClient, CoreError } from "./client";
import type { I18n } from "../i18n";

export const core = new CoreClient();

/** A refusal or failure in the user's language, with the core's own wording inside. */
export function describeError(e: unknown, i18n: I18n): string {
  if (e instanceof CoreError) {
    const name = e.shape.name;
    if (name === "trust") return i18n.t("error.trust", { message: e.message });
    if (name === "locked") return i18n.t("error.locked");
    if (name === "network") return i18n.t("error.network");
    if (name === "crypto") return i18n.t("error.crypto", { message: e.message });
    if (name.startsWith("api:")) return i18n.t("error.api", { message: e.message });
    return i18n.t("error.invalid", { message: e.message });
  }
  return i18n.t("error.invalid", { message: e instanceof Error ? e.message : String(e) });
}

/** Idle minutes before the keys are wiped (settings, not secret: localStorage). */
export function idleMinutes(): number {
  const v = Number(localStorage.getItem("medshare.idleMinutes"));
  return Number.isFinite(v) && v > 0 ? v : 15;
}
