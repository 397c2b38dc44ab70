// The scan as an SVG: magnetisation and heat capacity against temperature, side by side, each
// point with its error bar, beside the exact curves: Onsager's infinite lattice for the
// magnetisation, Kaufman's finite lattice of the same size for the heat capacity. Vega-Lite does
// the layout (scales, axes, ticks, legend); Vega renders it headless with `renderer: 'none'`,
// which needs neither a browser nor node-canvas. Vega draws every label as plain text, so
// subscripts (k_B, T_c) are set afterwards, as SVG tspans ({@link withSubscripts}).

import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { exactHeatCapacity, onsagerMagnetization } from './critical.js';
import { ONSAGER_TC } from './metropolis.js';

/** One temperature of a scan, as the plot needs it: values with their standard errors. */
export interface PlotRow {
  readonly temperature: number;
  readonly absM: number;
  readonly absM_err: number;
  /** Heat capacity per spin, in units of k_B. */
  readonly C: number;
  readonly C_err: number;
}

/** What the plot shows besides the points. */
export interface PlotOptions {
  /** Lattice side, for the title and the exact finite-lattice heat capacity. */
  readonly L: number;
  /** The estimated T_c (peak of C), drawn as a dashed rule. */
  readonly criticalTemperature: number;
  /** Its standard error, drawn as a band around the rule and given in the legend. */
  readonly criticalTemperatureError?: number;
}

const BLUE = '#1f77b4';
const ORANGE = '#d9730d';
const GREY = '#777777';
const RED = '#d62728';
const DASH = [5, 3];

/** The Vega-Lite spec of the plot (exported so that other renderers can use it). */
export function scanPlotSpec(rows: readonly PlotRow[], options: PlotOptions): TopLevelSpec {
  const { L } = options;
  const lo = Math.min(...rows.map((r) => r.temperature));
  const hi = Math.max(...rows.map((r) => r.temperature));
  const pad = (hi - lo) / 40;
  // The exact curves are sampled finely; m densely just below T_c, where it drops vertically.
  const exact: { temperature: number; m: number; C: number }[] = [];
  const sample = (t: number) =>
    exact.push({ temperature: t, m: onsagerMagnetization(t), C: exactHeatCapacity(L, t) });
  for (let k = 0; k <= 400; k++) sample(lo + ((hi - lo) * k) / 400);
  for (let k = 1; k <= 40; k++) {
    const t = ONSAGER_TC * (1 - 0.05 * (k / 40) ** 4);
    if (t >= lo && t <= hi) sample(t);
  }
  if (ONSAGER_TC >= lo && ONSAGER_TC <= hi) sample(ONSAGER_TC);
  exact.sort((a, b) => a.temperature - b.temperature);

  const tc = options.criticalTemperature;
  const tcError = options.criticalTemperatureError;
  // One legend for both panels; every entry is drawn as the marks it stands for.
  const series = {
    mc: `Monte Carlo, ${L}×${L} lattice, ± one standard error`,
    onsager: 'exact, infinite lattice (Onsager–Yang)',
    kaufman: `exact, ${L}×${L} lattice (Kaufman)`,
    tcExact: `Onsager T_c = ${ONSAGER_TC.toFixed(3)}`,
    tcEstimate: `peak of C: T_c(${L}) = ${tc.toFixed(3)}${tcError === undefined ? '' : ` ± ${tcError.toFixed(3)} (bootstrap)`}`,
  };
  const entries = [
    [series.mc, BLUE, 'circle', []],
    [series.onsager, GREY, 'stroke', []],
    [series.kaufman, ORANGE, 'stroke', []],
    [series.tcExact, GREY, 'stroke', DASH],
    [series.tcEstimate, RED, 'stroke', DASH],
  ] as const;
  const pick = (column: 1 | 2 | 3) =>
    `${entries.map(([label, ...rest]) => `datum.label === ${JSON.stringify(label)} ? ${JSON.stringify(rest[column - 1])}`).join(' : ')} : null`;
  const color = (name: string) => ({
    datum: name,
    type: 'nominal' as const,
    scale: { domain: entries.map((e) => e[0]), range: entries.map((e) => e[1]) },
    legend: {
      title: null,
      orient: 'bottom' as const,
      direction: 'vertical' as const,
      columns: 2,
      columnPadding: 40,
      gridAlign: 'none' as const,
      labelLimit: 1000,
      symbolStrokeWidth: 2,
      encode: {
        symbols: {
          update: {
            shape: { signal: pick(2) },
            // A point as big as the plotted ones; a line segment 16 px long.
            size: { signal: `datum.label === ${JSON.stringify(series.mc)} ? 18 : 256` },
            strokeDash: { signal: pick(3) },
            fill: {
              signal: `datum.label === ${JSON.stringify(series.mc)} ? ${JSON.stringify(BLUE)} : 'transparent'`,
            },
            stroke: { signal: pick(1) },
          },
        },
      },
    },
  });

  const x = {
    field: 'temperature',
    type: 'quantitative' as const,
    title: 'temperature T (J/k_B)',
    // A margin so that the first and last points are not cut in half by the frame.
    scale: { domain: [lo - pad, hi + pad], nice: false },
  };
  const points = rows.map((r) => ({ ...r }));
  const rules = [
    {
      data: { values: [{ temperature: ONSAGER_TC }] },
      mark: { type: 'rule' as const, strokeDash: DASH, strokeWidth: 1.5 },
      encoding: { x, color: color(series.tcExact) },
    },
    ...(tcError === undefined
      ? []
      : [
          {
            data: { values: [{ from: tc - tcError, to: tc + tcError }] },
            mark: { type: 'rect' as const, color: RED, opacity: 0.15 },
            encoding: { x: { ...x, field: 'from' }, x2: { field: 'to' } },
          },
        ]),
    {
      data: { values: [{ temperature: tc }] },
      mark: { type: 'rule' as const, strokeDash: DASH, strokeWidth: 1.5 },
      encoding: { x, color: color(series.tcEstimate) },
    },
  ];
  // Points first, error bars on top: most bars are shorter than a symbol is wide.
  const measured = (field: 'absM' | 'C', title: string) => [
    {
      data: { values: points },
      mark: { type: 'point' as const, filled: true, size: 18, opacity: 1 },
      encoding: { x, y: { field, type: 'quantitative' as const, title }, color: color(series.mc) },
    },
    {
      data: { values: points },
      mark: { type: 'errorbar' as const, ticks: { width: 5 }, color: BLUE, thickness: 1 },
      encoding: {
        x,
        y: { field, type: 'quantitative' as const, title },
        yError: { field: `${field}_err` },
      },
    },
  ];
  const mTitle = 'magnetisation per spin ⟨|m|⟩';
  const cTitle = 'heat capacity per spin C (k_B)';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `2D Ising model, ${L}×${L} periodic lattice, Metropolis Monte Carlo`,
      subtitle: `T_c(${L}) = ${tc.toFixed(3)}${tcError === undefined ? '' : ` ± ${tcError.toFixed(3)}`}: the peak of C of this lattice; it lies above the infinite lattice's T_c`,
    },
    background: 'white',
    resolve: { scale: { color: 'shared' }, legend: { color: 'shared' } },
    hconcat: [
      {
        width: 340,
        height: 260,
        layer: [
          ...rules,
          {
            data: { values: exact },
            mark: { type: 'line', strokeWidth: 1.5 },
            encoding: {
              x,
              y: { field: 'm', type: 'quantitative', title: mTitle },
              color: color(series.onsager),
            },
          },
          ...measured('absM', mTitle),
        ],
      },
      {
        width: 340,
        height: 260,
        layer: [
          ...rules,
          {
            data: { values: exact },
            mark: { type: 'line', strokeWidth: 1.5 },
            encoding: {
              x,
              y: { field: 'C', type: 'quantitative', title: cTitle },
              color: color(series.kaufman),
            },
          },
          ...measured('C', cTitle),
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Renders {@link scanPlotSpec} to an SVG document. */
export async function renderScanPlot(
  rows: readonly PlotRow[],
  options: PlotOptions,
): Promise<string> {
  const vegaSpec = compile(scanPlotSpec(rows, options)).spec;
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    return withSubscripts(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Sets `x_y` in the text of an SVG as x with subscript y (`k_B` → k<sub>B</sub>): the subscript
 * is a smaller `<tspan>` moved down by `dy`, and the rest of the text a `<tspan>` moved back
 * up. (`dy` rather than `baseline-shift`, which not every SVG renderer supports.)
 */
export function withSubscripts(svg: string): string {
  return svg.replace(
    /(<text\b[^>]*>)([^<]*[A-Za-z]_[A-Za-z0-9][^<]*)(<\/text>)/g,
    (_match, open: string, text: string, close: string) => {
      const size = Number(/font-size="([\d.]+)px"/.exec(open)?.[1] ?? 10);
      const shift = Number((size * 0.3).toFixed(2));
      const small = Number((size * 0.75).toFixed(2));
      let opened = 0;
      const body = text.replace(/([A-Za-z])_([A-Za-z0-9]+)/g, (_m, base: string, sub: string) => {
        opened++;
        return `${base}<tspan dy="${shift}" font-size="${small}px">${sub}</tspan><tspan dy="-${shift}">`;
      });
      // Keep the spaces next to the tspans, which renderers may otherwise drop.
      const preserve = open.replace(/^<text\b/, '<text xml:space="preserve"');
      return `${preserve}${body}${'</tspan>'.repeat(opened)}${close}`;
    },
  );
}
