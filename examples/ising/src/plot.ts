// The scan as an SVG: magnetisation and heat capacity against temperature, side by side, with
// Onsager's exact infinite-lattice curves for comparison. Vega-Lite does the layout (scales,
// axes, ticks, legends); Vega renders it headless with `renderer: 'none'`, which needs neither a
// browser nor node-canvas.

import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { onsagerMagnetization } from './critical.js';
import { ONSAGER_TC } from './metropolis.js';

/** One temperature of a scan, as the plot needs it. */
export interface PlotRow {
  readonly temperature: number;
  readonly absM: number;
  readonly C: number;
}

/** What the plot shows besides the points. */
export interface PlotOptions {
  /** Lattice side, for the title. */
  readonly L: number;
  /** The estimated T_c, drawn as a dashed rule. */
  readonly criticalTemperature: number;
}

/** The Vega-Lite spec of the plot (exported so that other renderers can use it). */
export function scanPlotSpec(rows: readonly PlotRow[], options: PlotOptions): TopLevelSpec {
  const lo = Math.min(...rows.map((r) => r.temperature));
  const hi = Math.max(...rows.map((r) => r.temperature));
  const pad = (hi - lo) / 40;
  // The exact curve is sampled finely, and densely just below T_c where it drops vertically.
  const exact: { temperature: number; m: number }[] = [];
  for (let k = 0; k <= 400; k++) {
    const t = lo + ((hi - lo) * k) / 400;
    exact.push({ temperature: t, m: onsagerMagnetization(t) });
  }
  for (let k = 1; k <= 40; k++) {
    const t = ONSAGER_TC * (1 - 0.05 * (k / 40) ** 4);
    if (t >= lo) exact.push({ temperature: t, m: onsagerMagnetization(t) });
  }
  exact.push({ temperature: ONSAGER_TC, m: 0 });
  exact.sort((a, b) => a.temperature - b.temperature);

  const points = rows.map((r) => ({ temperature: r.temperature, absM: r.absM, C: r.C }));
  const x = {
    field: 'temperature',
    type: 'quantitative' as const,
    title: 'temperature T (J/k_B)',
    // A margin so that the first and last points are not cut in half by the frame.
    scale: { domain: [lo - pad, hi + pad], nice: false },
  };
  const rules = {
    data: {
      values: [
        { temperature: ONSAGER_TC, what: `Onsager T_c = ${ONSAGER_TC.toFixed(3)}` },
        {
          temperature: options.criticalTemperature,
          what: `estimate (peak of C) = ${options.criticalTemperature.toFixed(3)}`,
        },
      ],
    },
    mark: { type: 'rule' as const, strokeDash: [4, 3] },
    encoding: {
      x: { field: 'temperature', type: 'quantitative' as const },
      color: {
        field: 'what',
        type: 'nominal' as const,
        title: null,
        scale: { range: ['#888888', '#d62728'] },
        legend: { orient: 'bottom' as const, direction: 'vertical' as const, labelLimit: 400 },
      },
    },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `2D Ising model, ${options.L}×${options.L} periodic lattice, Metropolis Monte Carlo`,
      subtitle: 'points: simulation · line: Onsager, infinite lattice',
    },
    background: 'white',
    hconcat: [
      {
        width: 340,
        height: 260,
        layer: [
          {
            data: { values: exact },
            mark: { type: 'line', color: '#888888', strokeWidth: 1.5 },
            encoding: {
              x,
              y: { field: 'm', type: 'quantitative', title: 'magnetisation ⟨|m|⟩' },
            },
          },
          {
            data: { values: points },
            mark: { type: 'point', filled: true, size: 36, color: '#1f77b4' },
            encoding: { x, y: { field: 'absM', type: 'quantitative' } },
          },
          rules,
        ],
      },
      {
        width: 340,
        height: 260,
        layer: [
          {
            data: { values: points },
            mark: {
              type: 'line',
              color: '#ff7f0e',
              point: { filled: true, size: 36, color: '#ff7f0e' },
            },
            encoding: {
              x,
              y: { field: 'C', type: 'quantitative', title: 'heat capacity per spin C' },
            },
          },
          rules,
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
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
