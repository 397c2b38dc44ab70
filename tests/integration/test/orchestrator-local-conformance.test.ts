// LocalOrchestrator against the orchestrator conformance suite, with the DAG executor (worker
// threads for the slow pipeline), as `runtime.orchestrator` and as `phys serve` use it.
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@phys/core';
import { createRuntime, LocalOrchestrator, loadConfig } from '@phys/runtime';
import { describeOrchestratorConformance } from '@phys/testing';

const configFile = fileURLToPath(
  new URL('./fixtures/orchestrator-conformance/phys.config.ts', import.meta.url),
);

describeOrchestratorConformance('LocalOrchestrator', async () => {
  const runtime = await createRuntime(await loadConfig({ configFile }), { logger: silentLogger });
  const orchestrator = new LocalOrchestrator(runtime, { maxConcurrentRuns: 4 });
  return {
    orchestrator,
    dispose: async () => {
      await orchestrator.close();
      await runtime.dispose();
    },
  };
});
