import { defineConfig, type NodeSpec } from '@phys/core';
import { Period, Table } from './src/stages.js';

const amplitudes = [5, 30, 60, 90, 120, 150];

const sweep: NodeSpec[] = [
  ...amplitudes.map((a) => ({ id: `period-${a}`, stage: Period({ amplitudeDeg: a }) })),
  { id: 'table', stage: Table({}), deps: amplitudes.map((a) => `period-${a}`) },
];

export default defineConfig({
  plugins: [
    // The executor walks the DAG; the nodes run on the scheduler of the third-party plugin,
    // found by name: 'sandbox-scheduler' → @phys/sandbox-scheduler (absent) → phys-plugin-sandbox-scheduler.
    'executor-dag',
    ['sandbox-scheduler', { maxConcurrent: 2 }],
  ],
  stages: [Period, Table],
  pipelines: {
    pendulum: {
      kind: 'dag',
      description:
        'Period of a pendulum from 5° to 150°, each amplitude in its own sandboxed process',
      nodes: sweep,
      initialState: {},
    },
  },
});
