import { defineConfig } from '@phys/core';
import { Analyze, Collect, Integrate, Launch } from './src/stages.js';
import { sweepNodes } from './src/sweep.js';

// A baseball: 145 g, 7.4 cm across, drag coefficient ≈ 0.35, in sea-level air (ρ = 1.2 kg/m³):
// k = ½·ρ·C_d·A.
const mass = 0.145;
const k = 0.5 * 1.2 * 0.35 * Math.PI * 0.037 ** 2;
const speed = 45;

export default defineConfig({
  plugins: ['executor-dag'],
  stages: [Launch, Integrate, Analyze, Collect],
  pipelines: {
    projectile: {
      description: 'A baseball hit at 45 m/s and 35°, with air drag',
      stages: [
        Launch({ speed, angleDeg: 35 }, { label: 'launch' }),
        Integrate({ dt: 1e-3, k, mass }, { label: 'integrate' }),
        Analyze({ every: 10 }, { label: 'analyze' }),
      ],
      initialState: {},
    },
    'projectile-vacuum': {
      description: 'The same hit without air: the textbook parabola',
      stages: [
        Launch({ speed, angleDeg: 35 }, { label: 'launch' }),
        Integrate({ dt: 1e-3, k: 0, mass }, { label: 'integrate' }),
        Analyze({ every: 10 }, { label: 'analyze' }),
      ],
      initialState: {},
    },
    'projectile-sweep': {
      kind: 'dag',
      description: 'Launch angles 20°–60° in parallel; collect finds the angle of longest range',
      nodes: sweepNodes({
        angles: [20, 25, 30, 35, 40, 45, 50, 55, 60],
        speed,
        dt: 1e-3,
        k,
        mass,
        // The integrations are the heavy nodes: spread them over the cores in worker threads.
        isolation: 'thread',
      }),
      initialState: {},
    },
  },
});
