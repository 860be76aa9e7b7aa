import { useEffect, useState } from "react";
import { useI18n } from "../i18n";
import { core, describeError } from "../core/session";
import type { TrendView } from "../core/protocol";

type Point = TrendView["points"][number];

const W = 320;
const H = 140;
const PAD = { l: 40, r: 10, t: 10, b: 22 };

/** The reference band to draw: the newest result's range that has both bounds. */
function band(points: Point[]): [number, number] | null {
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i];
    if (p.low !== undefined && p.high !== undefined) return [p.low, p.high];
  }
  return null;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

/** A trend drawn as a line over time (SVG, no script in the markup), reference band shaded,
 *  critical values marked; the same figures in a table below for screen readers and copying. */
function Chart(props: { trend: TrendView }) {
  const i18n = useI18n();
  const { points } = props.trend;
  const ref = band(points);
  const values = points.map((p) => p.value).concat(ref ?? []);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  const span = hi - lo;
  lo -= span * 0.1;
  hi += span * 0.1;
  const times = points.map((p) => Date.parse(p.taken.length === 10 ? `${p.taken}T00:00:00Z` : p.taken) || 0);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const x = (i: number) => PAD.l + (t1 === t0 ? (W - PAD.l - PAD.r) / 2 : ((times[i] - t0) / (t1 - t0)) * (W - PAD.l - PAD.r));
  const y = (v: number) => PAD.t + (1 - (v - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
  const label = i18n.t("trends.chart", { name: props.trend.name, unit: props.trend.unit, count: points.length });
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
      {ref && (
        <rect
          className="band"
          x={PAD.l}
          width={W - PAD.l - PAD.r}
          y={y(ref[1])}
          height={Math.max(1, y(ref[0]) - y(ref[1]))}
          data-testid="reference-band"
        />
      )}
      <line className="axis" x1={PAD.l} x2={PAD.l} y1={PAD.t} y2={H - PAD.b} />
      <line className="axis" x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} />
      <text className="tick" x={PAD.l - 4} y={y(hi) + 10} textAnchor="end">
        {fmt(hi)}
      </text>
      <text className="tick" x={PAD.l - 4} y={y(lo)} textAnchor="end">
        {fmt(lo)}
      </text>
      <text className="tick" x={PAD.l} y={H - 6}>
        {i18n.date(points[0].taken.slice(0, 10))}
      </text>
      {points.length > 1 && (
        <text className="tick" x={W - PAD.r} y={H - 6} textAnchor="end">
          {i18n.date(points[points.length - 1].taken.slice(0, 10))}
        </text>
      )}
      <polyline className="line" points={points.map((p, i) => `${x(i)},${y(p.value)}`).join(" ")} />
      {points.map((p, i) =>
        p.critical ? (
          <g key={i} className="critical-mark">
            <circle cx={x(i)} cy={y(p.value)} r={6} />
            <text x={x(i)} y={y(p.value) - 9} textAnchor="middle">
              !
            </text>
          </g>
        ) : (
          <circle key={i} className={p.flag && p.flag !== "N" ? "point abnormal" : "point"} cx={x(i)} cy={y(p.value)} r={4} />
        ),
      )}
    </svg>
  );
}

/** A patient's lab trends: every analyte across laboratories, one unit, oldest first. */
export function Trends(props: { identifier: string; onOpen: (id: string) => void }) {
  const i18n = useI18n();
  const [trends, setTrends] = useState<TrendView[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    setTrends(null);
    setError(null);
    core.call("labTrends", { identifier: props.identifier }).then(
      (t) => current && setTrends(t),
      (e) => current && setError(describeError(e, i18n)),
    );
    return () => {
      current = false;
    };
  }, [props.identifier, i18n]);

  return (
    <section className="card" aria-labelledby="trends-title" data-testid="trends">
      <h2 id="trends-title">{i18n.t("trends.title")}</h2>
      <p className="muted small">{i18n.t("trends.explain")}</p>
      {!trends && !error && <p role="status">{i18n.t("trends.working")}</p>}
      {error && <p role="alert" className="error">{error}</p>}
      {trends && trends.length === 0 && <p>{i18n.t("trends.empty")}</p>}
      {trends?.map((t) => (
        <article key={`${t.loinc}-${t.unit}`} className="trend" data-testid="trend" data-loinc={t.loinc}>
          <h3>
            {i18n.has(`analyte.${t.name}`) ? i18n.t(`analyte.${t.name}` as "analyte.glucose") : t.name}{" "}
            <span className="muted small">
              {t.unit} · LOINC {t.loinc}
            </span>
          </h3>
          <Chart trend={t} />
          <div className="table-wrap">
            <table className="labs">
              <thead>
                <tr>
                  <th scope="col">{i18n.t("trends.taken")}</th>
                  <th scope="col">{i18n.t("lab.value")}</th>
                  <th scope="col">{i18n.t("trends.reported")}</th>
                  <th scope="col">{i18n.t("lab.range")}</th>
                  <th scope="col">{i18n.t("trends.laboratory")}</th>
                </tr>
              </thead>
              <tbody>
                {t.points.map((p, i) => (
                  <tr
                    key={i}
                    className={p.critical ? "critical" : p.flag && p.flag !== "N" ? "abnormal" : undefined}
                    data-testid="trend-point"
                  >
                    <th scope="row">
                      <button type="button" className="link" onClick={() => props.onOpen(p.document_id)}>
                        {p.taken.length > 10 ? i18n.dateTime(p.taken) : i18n.date(p.taken)}
                      </button>
                    </th>
                    <td data-testid="trend-value">
                      {fmt(p.value)} {t.unit}
                      {p.critical ? ` ⚠ ${i18n.t("lab.critical")}` : p.flag && p.flag !== "N" ? ` (${p.flag})` : ""}
                    </td>
                    <td>{p.reported}</td>
                    <td>{p.low !== undefined || p.high !== undefined ? `${p.low !== undefined ? fmt(p.low) : ""}–${p.high !== undefined ? fmt(p.high) : ""}` : ""}</td>
                    <td data-testid="trend-lab">
                      {p.uploader.institution_name} ({p.uploader.institution_code})
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </article>
      ))}
    </section>
  );
}
