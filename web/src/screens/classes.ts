import type { Key } from "../i18n";

const KNOWN = [
  "lab-report",
  "diagnostic-imaging",
  "imaging-report",
  "ecg",
  "discharge-summary",
  "referral-letter",
  "consultation-note",
  "medication",
  "operative-note",
  "pathology-report",
  "immunisation-record",
  "clinical-photo",
] as const;

const ICONS: Record<string, string> = {
  "lab-report": "🧪",
  "diagnostic-imaging": "🩻",
  "imaging-report": "🩻",
  ecg: "💓",
  "discharge-summary": "🏥",
  "referral-letter": "✉️",
  "consultation-note": "🩺",
  medication: "💊",
  "operative-note": "🔪",
  "pathology-report": "🔬",
  "immunisation-record": "💉",
  "clinical-photo": "📷",
};

export function classKey(category: string): Key {
  return (KNOWN as readonly string[]).includes(category) ? (`class.${category}` as Key) : "class.other";
}

export function classIcon(category: string): string {
  return ICONS[category] ?? "📄";
}
