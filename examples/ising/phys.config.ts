import cacheDisk from '@phys/cache-disk';
import { defineConfig } from '@phys/core';
import executorDag from '@phys/executor-dag';
import server from '@phys/server';
import sweep from '@phys/sweep';
import { DEMO_SCAN, monteCarloNode, planScan, QUICK_SCAN } from './src/scan.js';
import { CriticalTemperature, Metropolis } from './src/stages.js';

export default defineConfig({
  plugins: [
    executorDag(),
    // Every Monte Carlo point is cached by (stage, version, config): a second `pnpm demo`, and
    // any scan that reuses a temperature, restores the point instead of simulating it again.
    cacheDisk({ maxBytes: '1Gi' }),
    // Adds `phys sweep`, which `pnpm demo` runs.
    sweep(),
    // Adds `phys serve`: these pipelines over HTTP, for `phys submit ising-quick --remote URL`.
    server(),
  ],
  // The tests point this at a fresh directory, so that they always compute (and then check the
  // warm run); everyone else gets the usual .phys/ beside this file.
  cacheDir: process.env.PHYS_EXAMPLE_CACHE_DIR ?? '.phys',
  stages: [Metropolis, CriticalTemperature],
  pipelines: {
    ising: {
      kind: 'dag',
      description:
        'One Monte Carlo run of a 32×32 lattice at T_c; scan it with `phys sweep ising --set mc.temperature=1.6..3.2:33`',
      nodes: [monteCarloNode(DEMO_SCAN)],
      initialState: {},
    },
    'ising-scan': {
      kind: 'dag',
      description:
        '33 temperatures from 1.6 to 3.2 on a 32×32 lattice, then T_c from the peak of C',
      nodes: planScan(DEMO_SCAN).nodes,
      initialState: {},
    },
    'ising-quick': {
      kind: 'dag',
      description: '17 temperatures from 1.6 to 3.2 on a 16×16 lattice, then T_c (a few seconds)',
      nodes: planScan(QUICK_SCAN).nodes,
      initialState: {},
    },
  },
});
