// The real Prometheus and Pushgateway the integration tests talk to: those that
// scripts/services/prometheus-up.sh starts on loopback (.ci/run starts them, scraping every second,
// with the remote-write receiver on and 127.0.0.1:9465 and :9466 as scrape targets).
import { describe, it } from 'vitest';

export const PROMETHEUS = process.env.PHYS_TEST_PROMETHEUS ?? 'http://127.0.0.1:9090';
export const PUSHGATEWAY = process.env.PHYS_TEST_PUSHGATEWAY ?? 'http://127.0.0.1:9091';
/** Ports Prometheus scrapes as the job `phys`: one for this package's tests, one for tests/integration. */
export const SCRAPED_PORTS = { plugin: 9465, integration: 9466 } as const;

const START = 'sudo bash scripts/services/prometheus-up.sh';

async function ready(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? undefined : `${url} answered ${response.status}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return `nothing answers at ${url} (${cause?.code ?? cause?.message ?? String(error)})`;
  }
}

/** Why the services cannot be used, or undefined when both are up. */
export const unavailable: string | undefined =
  (await ready(PROMETHEUS)) ?? (await ready(PUSHGATEWAY));

/**
 * `describe` when Prometheus and the Pushgateway are up. Otherwise the tests are skipped with a
 * message that says how to start them, except under CI, where they must run: there a missing
 * service is one failing test.
 */
export function describePrometheus(name: string, body: () => void): void {
  if (unavailable === undefined) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      it('needs a running Prometheus and Pushgateway (CI=true)', () => {
        throw new Error(
          `${unavailable}. CI must run the Prometheus tests: start the services with \`${START}\` from the repository root (see .ci/run).`,
        );
      });
    });
  } else {
    console.warn(
      `[metrics-prometheus] skipping "${name}": ${unavailable}. To run these tests, start a local Prometheus and Pushgateway with \`${START}\` from the repository root (PROMETHEUS_EXTRA_TARGETS=127.0.0.1:9465,127.0.0.1:9466 adds the scrape targets they use).`,
    );
    describe.skip(`${name} (no Prometheus here: ${unavailable})`, body);
  }
}

/** The value of an instant query that returns one sample (summed when it returns several). */
export async function query(expr: string): Promise<number | undefined> {
  const response = await fetch(`${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const json = (await response.json()) as {
    status: string;
    error?: string;
    data?: { result: { value: [number, string] }[] };
  };
  if (json.status !== 'success') throw new Error(`query ${expr}: ${json.error ?? response.status}`);
  const result = json.data?.result ?? [];
  if (result.length === 0) return undefined;
  return result.reduce((sum, r) => sum + Number(r.value[1]), 0);
}

/**
 * Polls `read` until it returns `want` (a scrape every second, so a few seconds as a rule), then
 * returns that; after `seconds` returns the last value read, for the assertion to show.
 */
export async function eventually<T>(read: () => Promise<T>, want: T, seconds = 45): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last = await read();
  while (last !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await read();
  }
  return last;
}

/** One group of the Pushgateway, as `/api/v1/metrics` lists it. */
export interface GatewayGroup {
  readonly labels: Record<string, string>;
  readonly [metric: string]: unknown;
}

/** The Pushgateway's groups whose `job` label is `job`. */
export async function gatewayGroups(job: string): Promise<GatewayGroup[]> {
  const response = await fetch(`${PUSHGATEWAY}/api/v1/metrics`);
  const json = (await response.json()) as { data: GatewayGroup[] };
  return json.data.filter((g) => g.labels.job === job);
}

/**
 * The value of one sample in a Pushgateway group: `metric` with labels including `labels` (the
 * sum when several match).
 */
export function gatewayValue(
  group: GatewayGroup,
  metric: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = group[metric] as
    | { metrics: { labels: Record<string, string>; value?: string; count?: string }[] }
    | undefined;
  if (family === undefined) return undefined;
  let sum: number | undefined;
  for (const m of family.metrics) {
    if (!Object.entries(labels).every(([k, v]) => m.labels[k] === v)) continue;
    sum = (sum ?? 0) + Number(m.value ?? m.count);
  }
  return sum;
}

/** Deletes every group of `job` from the Pushgateway (a test's own job name). */
export async function deleteJob(job: string): Promise<void> {
  await fetch(`${PUSHGATEWAY}/metrics/job/${encodeURIComponent(job)}`, { method: 'DELETE' });
  for (const group of await gatewayGroups(job)) {
    let url = `${PUSHGATEWAY}/metrics/job/${encodeURIComponent(job)}`;
    for (const [k, v] of Object.entries(group.labels)) {
      if (k === 'job') continue;
      url += `/${k}@base64/${Buffer.from(v).toString('base64url') || '='}`;
    }
    await fetch(url, { method: 'DELETE' });
  }
}
