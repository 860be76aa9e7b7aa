import { useEffect, useState } from "react";
import { useI18n } from "../i18n";
import { core } from "../core/session";
import type { Person } from "../core/protocol";

let cache: Promise<Person[]> | null = null;

/** Certified colleagues across the alliance, each shown by their verified certificate. */
export function useColleagues(): Person[] {
  const [list, setList] = useState<Person[]>([]);
  useEffect(() => {
    cache ??= core.call("colleagues", {}).catch((e) => {
      cache = null;
      throw e;
    });
    cache.then(setList, () => {});
  }, []);
  return list;
}

export const describePerson = (p: Person) =>
  `${p.name}${p.specialty ? `, ${p.specialty}` : ""} — ${p.institution_name} (${p.registration})`;

/** `handle@INSTITUTION`: the share also requires the colleague's institution, as verified. */
export const shareTarget = (p: Person) => `${p.handle}@${p.institution_code}`;

export function ColleaguePicker(props: { id: string; value: string; onChange: (v: string) => void; label?: string }) {
  const i18n = useI18n();
  const colleagues = useColleagues();
  return (
    <label className="field">
      {props.label ?? i18n.t("share.colleague")}
      <select id={props.id} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        <option value="">{i18n.t("share.choose")}</option>
        {colleagues.map((p) => (
          <option key={p.practitioner_id} value={shareTarget(p)}>
            {describePerson(p)}
          </option>
        ))}
      </select>
    </label>
  );
}
