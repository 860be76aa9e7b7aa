// A patient's documents grouped by date of service, then class. The first screenful is rendered
// first and the rest on the next frame: a 200-document timeline shows its newest entries without
// waiting for React and the browser to build and lay out all of them.
import { memo, useEffect, useState } from "react";
import { useI18n } from "../i18n";
import type { DocumentInfo } from "../core/protocol";
import { classIcon, classKey } from "./classes";

/** Entries in the first render: more than a tall desktop window shows. */
const FIRST = 30;

export type Groups = [day: string, classes: [category: string, docs: DocumentInfo[]][]][];

/** Documents grouped by date of service (newest first), then by class. */
export function group(docs: DocumentInfo[]): Groups {
  const byDate = new Map<string, Map<string, DocumentInfo[]>>();
  for (const d of docs) {
    const day = d.date_of_service ?? "";
    const classes = byDate.get(day) ?? new Map<string, DocumentInfo[]>();
    const same = classes.get(d.category);
    if (same) same.push(d);
    else classes.set(d.category, [d]);
    byDate.set(day, classes);
  }
  return [...byDate.entries()]
    .sort(([a], [b]) => (a === b ? 0 : a === "" ? 1 : b === "" ? -1 : a < b ? 1 : -1))
    .map(([day, classes]) => [day, [...classes.entries()].sort(([a], [b]) => a.localeCompare(b))]);
}

/** The first `limit` entries of `groups`, in order, keeping their headings. */
function upTo(groups: Groups, limit: number): Groups {
  const out: Groups = [];
  let left = limit;
  for (const [day, classes] of groups) {
    if (left <= 0) break;
    const kept: [string, DocumentInfo[]][] = [];
    for (const [category, docs] of classes) {
      if (left <= 0) break;
      kept.push([category, docs.length <= left ? docs : docs.slice(0, left)]);
      left -= docs.length;
    }
    out.push([day, kept]);
  }
  return out;
}

/** Renders again only when the groups or the language change (`onOpen` must be stable). */
export const TimelineList = memo(function TimelineList(props: { groups: Groups; onOpen: (id: string) => void }) {
  const i18n = useI18n();
  const [limit, setLimit] = useState(FIRST);
  const total = props.groups.reduce((n, [, classes]) => n + classes.reduce((m, [, docs]) => m + docs.length, 0), 0);
  useEffect(() => {
    if (limit >= total) return;
    // After the first screenful is painted: the rest, in one render.
    let timer = 0;
    const frame = requestAnimationFrame(() => (timer = window.setTimeout(() => setLimit(Infinity))));
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [limit, total]);
  const shown = limit >= total ? props.groups : upTo(props.groups, limit);
  return (
    <ol className="timeline">
      {shown.map(([day, classes]) => (
        <li key={day}>
          <h3 className="day">{day ? i18n.date(day) : i18n.t("timeline.undated")}</h3>
          {classes.map(([category, docs]) => (
            <div key={category} className="class-group">
              <h4>
                <span aria-hidden="true" className="icon">
                  {classIcon(category)}
                </span>{" "}
                {i18n.t(classKey(category))}
              </h4>
              <ul>
                {docs.map((d) => (
                  <li key={d.document_id}>
                    <button type="button" className="entry" onClick={() => props.onOpen(d.document_id)} data-testid="timeline-entry">
                      <span className="title">{d.title}</span>
                      <span className="by">
                        {i18n.t("timeline.by", {
                          name: d.uploader.name,
                          registration: d.uploader.registration,
                          institution: d.uploader.institution_name,
                        })}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            </div>
          ))}
        </li>
      ))}
    </ol>
  );
});
