import { defineConfig } from '@phys/core';
import { SURROGATE, surrogateNodes } from './src/pipeline.js';
import { Fit, Flight } from './src/stages.js';

export default defineConfig({
  plugins: [
    'executor-dag',
    // Packages the fit node's model under models/fit/<version>/ (and a .tar.gz beside it).
    ['ml-packager', { root: 'models' }],
  ],
  stages: [Flight, Fit],
  pipelines: {
    surrogate: {
      kind: 'dag',
      description:
        '120 drag flights on a Latin hypercube over (angle, k), then a polynomial surrogate of the range, packaged',
      nodes: surrogateNodes(SURROGATE),
      initialState: {},
    },
  },
});
