// The queries of the Grafana dashboard and of docs/metrics.md, for the tests that check them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dashboardFile = fileURLToPath(new URL('../grafana/phys-dashboard.json', import.meta.url));
const guideFile = fileURLToPath(new URL('../../../docs/metrics.md', import.meta.url));

interface Panel {
  readonly title: string;
  readonly targets?: readonly { readonly expr: string }[];
}

/** Every panel query of the dashboard, with its panel's title. */
export function dashboardQueries(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[] };
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })),
  );
}

/** The `promql` blocks of docs/metrics.md. */
export function guideQueries(): string[] {
  const text = readFileSync(guideFile, 'utf8');
  return [...text.matchAll(/^```promql\n([\s\S]*?)^```$/gm)].map((m) => (m[1] ?? '').trim());
}

/** A dashboard query as Grafana sends it with every variable at "All". */
export function expand(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$job', '.*')
    .replaceAll('$pipeline', '.*');
}

/** The metric names a query reads (`phys_*`, without a histogram's suffix). */
export function metricsOf(expr: string): string[] {
  return [...expr.matchAll(/\bphys_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}
