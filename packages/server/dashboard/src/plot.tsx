// A line plot of points (x, y) drawn as SVG: linear axes with rounded ticks, a marker per point.

/** About `count` round tick values spanning [min, max]. */
export function ticks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) return [];
  if (min === max) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 2 });
const fmt = (v: number) =>
  Math.abs(v) >= 1e4
    ? compact.format(v)
    : Math.abs(v) < 1e-3 && v !== 0
      ? v.toExponential(1)
      : String(v);
/** Above this many points the line alone is drawn: markers would only blot it. */
const MARKERS_UP_TO = 200;

export function LinePlot({
  points,
  xLabel,
  yLabel,
}: {
  points: readonly { x: number; y: number; label: string }[];
  xLabel: string;
  yLabel: string;
}) {
  const W = 640;
  const H = 320;
  const m = { left: 70, right: 20, top: 16, bottom: 46 };
  if (points.length === 0) return <p class="muted">No finished points with this metric yet.</p>;
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const xs = sorted.map((p) => p.x);
  const ys = sorted.map((p) => p.y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * (W - m.left - m.right);
  const sy = (y: number) => H - m.bottom - ((y - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  return (
    <svg
      class="plot"
      viewBox={`0 0 ${W} ${H}`}
      role="img"
      aria-label={`${yLabel} against ${xLabel}, ${points.length} points`}
    >
      {ticks(x0, x1).map((t) => (
        <g key={`x${t}`}>
          <line class="grid" x1={sx(t)} x2={sx(t)} y1={m.top} y2={H - m.bottom} />
          <text class="tick" x={sx(t)} y={H - m.bottom + 16} text-anchor="middle">
            {fmt(t)}
          </text>
        </g>
      ))}
      {ticks(y0, y1).map((t) => (
        <g key={`y${t}`}>
          <line class="grid" x1={m.left} x2={W - m.right} y1={sy(t)} y2={sy(t)} />
          <text class="tick" x={m.left - 6} y={sy(t) + 4} text-anchor="end">
            {fmt(t)}
          </text>
        </g>
      ))}
      <text class="axis-label" x={(W + m.left) / 2} y={H - 8} text-anchor="middle">
        {xLabel}
      </text>
      <text
        class="axis-label"
        transform={`translate(14,${(H - m.bottom + m.top) / 2}) rotate(-90)`}
        text-anchor="middle"
      >
        {yLabel}
      </text>
      <path
        class="line"
        d={sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x)},${sy(p.y)}`).join(' ')}
      />
      {sorted.length > MARKERS_UP_TO
        ? null
        : sorted.map((p) => (
            <circle key={p.label} class="mark" cx={sx(p.x)} cy={sy(p.y)} r="3.5">
              <title>
                {p.label}: {yLabel} = {p.y}
              </title>
            </circle>
          ))}
    </svg>
  );
}
