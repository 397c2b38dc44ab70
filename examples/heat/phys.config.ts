import { defineConfig } from '@phys/core';
import { Convergence, Solve } from './src/stages.js';
import { CONVERGENCE_STUDY, planStudy } from './src/study.js';

export default defineConfig({
  plugins: ['executor-dag'],
  stages: [Solve, Convergence],
  pipelines: {
    heat: {
      description:
        'One Crank–Nicolson solve on 64 intervals, with its error against the exact solution',
      stages: [Solve({ scheme: 'crank-nicolson', nx: 64 }, { label: 'solve' })],
      initialState: {},
    },
    'heat-convergence': {
      kind: 'dag',
      description:
        'FTCS (dt ∝ dx²) and Crank–Nicolson (dt ∝ dx) on 16–128 intervals; the observed order of each',
      nodes: planStudy(CONVERGENCE_STUDY).nodes,
      initialState: {},
    },
    'heat-ftcs-sixth': {
      kind: 'dag',
      description: 'FTCS at r = 1/6, where the leading errors cancel: fourth order',
      nodes: planStudy({ nx: [16, 32, 64, 128], schemes: ['ftcs'], r: 1 / 6 }).nodes,
      initialState: {},
    },
  },
});
