// big_grid in its own process, so that the peak RSS it reports is its own.
import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
import { progress, round } from './common.js';
import { grid } from './graphs.js';

const LAYERS = 2500;
const WIDTH = 400;

async function once(layers: number): Promise<{ nodes: number; seconds: number }> {
  const nodes = grid(layers, WIDTH);
  const executor = new DagExecutor({
    scheduler: new LocalScheduler({ maxWorkers: 2 }),
    metrics: [],
  });
  const t0 = performance.now();
  const result = await executor.run({ payload: 0 }, nodes);
  const seconds = (performance.now() - t0) / 1000;
  if (result.status !== 'COMPLETED') throw new Error(`big_grid ended ${result.status}`);
  await executor.close();
  return { nodes: nodes.length, seconds };
}

progress(`big_grid: warm-up (${LAYERS / 10} layers × ${WIDTH})`);
await once(LAYERS / 10);
progress(`big_grid: ${LAYERS} layers × ${WIDTH} = ${LAYERS * WIDTH} nodes`);
const { nodes, seconds } = await once(LAYERS);
const peakRssMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(
  `${JSON.stringify({ nodes, seconds: round(seconds), us_per_node: round((seconds * 1e6) / nodes, 2), peak_rss_mb: Math.round(peakRssMb) })}\n`,
);
