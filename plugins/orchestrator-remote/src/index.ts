// @phys/orchestrator-remote — the `orchestrator` capability over HTTP: submit, watch and cancel
// runs on a `phys serve` server, with retries that never run a submission twice.

// options
export type { OrchestratorRemoteOptions, ResolvedOrchestratorRemoteOptions } from './options.js';
export { orchestratorRemoteOptionsSchema, REMOTE_URL_ENV, SERVER_TOKEN_ENV } from './options.js';
// the plugin
export { default } from './plugin.js';
// the orchestrator
export type { RemoteLogLine, RemotePipeline } from './remote-orchestrator.js';
export { RemoteOrchestrator } from './remote-orchestrator.js';
