import { defineConfig } from '@phys/core';
import executorDag from '@phys/executor-dag';
import mlPackager from '@phys/ml-packager';
import { SURROGATE, surrogateNodes } from './src/pipeline.js';
import { Fit, Flight } from './src/stages.js';

export default defineConfig({
  plugins: [
    executorDag(),
    // Packages the fit node's model under models/fit/<version>/ (and a .tar.gz beside it).
    mlPackager({ root: 'models' }),
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
