import { useI18n } from "../i18n";
import type { IntakeView } from "../core/protocol";

type Observation = IntakeView["observations"][number];

/** Lab observations with units, reference ranges and flags; critical values stand out. */
export function LabTable(props: { observations: Observation[] }) {
  const i18n = useI18n();
  return (
    <div className="table-wrap">
      <table className="labs">
        <caption>{i18n.t("upload.observations")}</caption>
        <thead>
          <tr>
            <th scope="col">{i18n.t("lab.test")}</th>
            <th scope="col">{i18n.t("lab.value")}</th>
            <th scope="col">{i18n.t("lab.unit")}</th>
            <th scope="col">{i18n.t("lab.range")}</th>
            <th scope="col">{i18n.t("lab.flag")}</th>
          </tr>
        </thead>
        <tbody>
          {props.observations.map((o, i) => (
            <tr key={i} className={o.critical ? "critical" : o.flag && o.flag !== "N" ? "abnormal" : undefined}>
              <th scope="row">
                {o.name}
                {o.loinc && <span className="muted small"> {o.loinc}</span>}
              </th>
              <td>{o.value}</td>
              <td>{o.unit ?? ""}</td>
              <td>{o.reference_range ?? ""}</td>
              <td>{o.critical ? `⚠ ${i18n.t("lab.critical")}` : o.flag ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
