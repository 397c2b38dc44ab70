import { definePlugin, OrchestratorToken, type PhysPlugin, parsePluginOptions } from '@phys/core';
import {
  type OrchestratorRemoteOptions,
  orchestratorRemoteOptionsSchema,
  type ResolvedOrchestratorRemoteOptions,
} from './options.js';
import { RemoteOrchestrator } from './remote-orchestrator.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'orchestrator-remote': OrchestratorRemoteOptions;
  }
}

/**
 * The `orchestrator-remote` plugin: provides the `orchestrator` capability as a
 * {@link RemoteOrchestrator} for the server at `url` (default: the `PHYS_REMOTE` environment
 * variable), so `runtime.orchestrator` and `phys submit` / `phys runs` go to that server.
 * @public
 */
export default function orchestratorRemote(
  options?: OrchestratorRemoteOptions,
): PhysPlugin<ResolvedOrchestratorRemoteOptions> {
  const parsed = parsePluginOptions(
    'orchestrator-remote',
    orchestratorRemoteOptionsSchema,
    options,
  );
  // Built now, so that a missing or bad URL fails when the config loads, not at the first run.
  const orchestrator = new RemoteOrchestrator(parsed);
  return definePlugin<ResolvedOrchestratorRemoteOptions>({
    name: 'orchestrator-remote',
    provides: ['orchestrator'],
    options: parsed,
    register(ctx) {
      ctx.container.register(OrchestratorToken, { useValue: orchestrator });
    },
    async dispose() {
      await orchestrator.close();
    },
  });
}
