import { defineConfig } from '@phys/core';
import executorDag from '@phys/executor-dag';
import schedulerSlurm from '@phys/scheduler-slurm';
import { BestStage, FlightStage } from './src/stages.js';
import { ANGLES, sweepNodes } from './src/sweep.js';

export default defineConfig({
  plugins: [
    // The DAG executor. Without a scheduler plugin, nodes run on this machine.
    executorDag(),
    // The one line that sends every node to Slurm. Delete it and the same sweep runs locally.
    schedulerSlurm({ pollInterval: 0.5, maxPollInterval: 10 }),
  ],
  stages: [FlightStage, BestStage],
  pipelines: {
    'angle-sweep': {
      kind: 'dag',
      description: 'A baseball hit at 45 m/s: 26 launch angles, each a Slurm job, then the best',
      nodes: sweepNodes(ANGLES, 45),
      initialState: {},
    },
  },
});
