// The plot as a reader sees it: error bars on every point, units with real subscripts, and a
// legend whose symbols are drawn like the marks they stand for.
import { describe, expect, it } from 'vitest';
import { exactHeatCapacity, onsagerMagnetization } from './critical.js';
import { renderScanPlot, withSubscripts } from './plot.js';

const rows = [1.8, 2.1, 2.3, 2.5, 2.8].map((temperature) => ({
  temperature,
  absM: Math.max(onsagerMagnetization(temperature), 0.2),
  absM_err: 0.01,
  C: exactHeatCapacity(8, temperature),
  C_err: 0.03,
}));

/** The attributes of an SVG element's opening tag. */
function attributes(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

/** The legend's entries: label text (tags removed) and the attributes of its symbol. */
function legendEntries(svg: string): { label: string; symbol: Record<string, string> }[] {
  const entries = [
    ...svg.matchAll(
      /class="mark-symbol role-legend-symbol"[^>]*>(<path[^>]*>)<\/g><g class="mark-text role-legend-label"[^>]*><text[^>]*>(.*?)<\/text>/g,
    ),
  ];
  return entries.map((m) => ({
    symbol: attributes(m[1]!),
    label: m[2]!.replace(/<[^>]+>/g, ''),
  }));
}

describe('renderScanPlot', () => {
  it('draws an error bar on every point of both panels', async () => {
    const svg = await renderScanPlot(rows, { L: 8, criticalTemperature: 2.4 });
    expect(svg.match(/aria-roledescription="point"/g)?.length).toBe(2 * rows.length);
    expect(svg.match(/aria-roledescription="errorbar"/g)?.length).toBe(2 * rows.length);
    // The bar of C at T = 2.3 spans C ± C_err.
    const c = rows[2]!.C;
    expect(svg).toContain(`C + C_err: ${Number((c + 0.03).toPrecision(12))}`);
  });

  it('labels the heat capacity in k_B per spin, with B a real subscript', async () => {
    const svg = await renderScanPlot(rows, { L: 8, criticalTemperature: 2.4 });
    expect(svg).toMatch(
      /heat capacity per spin C \(k<tspan dy="[\d.]+" font-size="[\d.]+px">B<\/tspan><tspan dy="-[\d.]+">\)<\/tspan><\/text>/,
    );
    expect(svg).toMatch(/temperature T \(J\/k<tspan[^>]*>B<\/tspan>/);
    // No visible text keeps an underscore; only the aria labels (read aloud) do.
    const visible = [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/g)].map((m) => m[1]!);
    expect(visible.filter((t) => t.includes('_'))).toEqual([]);
  });

  it('has a legend whose symbols are drawn like the marks: points, solid lines, dashed rules', async () => {
    const svg = await renderScanPlot(rows, {
      L: 8,
      criticalTemperature: 2.41,
      criticalTemperatureError: 0.02,
    });
    const legend = new Map(legendEntries(svg).map((e) => [e.label, e.symbol]));
    const mc = 'Monte Carlo, 8×8 lattice, ± one standard error';
    const curves = ['exact, infinite lattice (Onsager–Yang)', 'exact, 8×8 lattice (Kaufman)'];
    const dashed = ['Onsager Tc = 2.269', 'peak of C: Tc(8) = 2.410 ± 0.020 (bootstrap)'];
    expect([...legend.keys()].sort()).toEqual([mc, ...curves, ...dashed].sort());
    const tags = (role: string) =>
      [
        ...svg.matchAll(new RegExp(`<(?:path|line)[^>]*aria-roledescription="${role}"[^>]*>`, 'g')),
      ].map((m) => attributes(m[0]));
    // Points: a filled circle (an arc) of the points' colour.
    const point = tags('point')[0]!;
    expect(legend.get(mc)!.d).toContain('A');
    expect(legend.get(mc)!.fill).toBe(point.fill);
    // The exact curves: solid strokes of the lines' colours (the panels draw them in this order).
    const lines = tags('line mark');
    for (const [k, label] of curves.entries()) {
      expect(legend.get(label)!.stroke).toBe(lines[k]!.stroke);
      expect(lines[k]!['stroke-dasharray']).toBeUndefined();
      expect(legend.get(label)!['stroke-dasharray'] ?? '').toBe('');
    }
    // The two rules: dashed in the legend exactly as on the plot, in their colours.
    const rules = tags('rule mark');
    for (const label of dashed) {
      const symbol = legend.get(label)!;
      const rule = rules.find((r) => r.stroke === symbol.stroke);
      expect(rule, label).toBeDefined();
      expect(symbol['stroke-dasharray']).toBe(rule!['stroke-dasharray']);
      expect(symbol['stroke-dasharray']).toMatch(/^\d+,\d+$/);
    }
  });
});

describe('withSubscripts', () => {
  it('sets x_y as a subscript in text, once per occurrence, and leaves other SVG alone', () => {
    const svg =
      '<svg><text font-size="10px">T_c and k_B</text><path aria-label="k_B"/><text>plain</text></svg>';
    expect(withSubscripts(svg)).toBe(
      '<svg><text xml:space="preserve" font-size="10px">T<tspan dy="3" font-size="7.5px">c</tspan><tspan dy="-3"> and k<tspan dy="3" font-size="7.5px">B</tspan><tspan dy="-3"></tspan></tspan></text><path aria-label="k_B"/><text>plain</text></svg>',
    );
  });
});
