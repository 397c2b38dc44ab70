// Runs in a node:worker_threads Worker, outside vitest's transform: plain JavaScript importing the
// built @phys/core (run `pnpm --filter @phys/core build` first). It does what an executor's
// worker does with a node: rebuild the stage from its identity through the config's registry,
// run it on the state it was sent (encoded with the state codec), and post the result back.
import { parentPort } from 'node:worker_threads';
import { decodeState, encodeState, serializeError } from '@phys/core';
import { disposeRuntimes, loadRuntime, rebuildStage, SequentialPipeline } from '@phys/runtime';

if (parentPort === null) throw new Error('rebuild-worker.mjs must run in a worker thread');
const port = parentPort;

port.on('message', async (message) => {
  if (message.type === 'close') {
    await disposeRuntimes();
    port.close();
    return;
  }
  const { id, configFile, ref, state } = message;
  try {
    const stage = await rebuildStage(configFile, ref);
    const result = await new SequentialPipeline([stage]).run(decodeState(state));
    const runtime = await loadRuntime(configFile);
    port.postMessage({
      id,
      ok: true,
      state: encodeState(result.state),
      metrics: result.metrics,
      configHash: stage.configHash,
      stages: runtime.stages.list().length,
    });
  } catch (error) {
    port.postMessage({ id, ok: false, error: serializeError(error) });
  }
});
