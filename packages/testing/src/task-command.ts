import { taskEnvelopeEntry } from '@phys/runtime';

/**
 * The command that executes a task envelope in a fresh process on this machine (`[node, <task
 * entry of @phys/runtime>]`; the envelope's path is appended), as the runtime hands it to
 * scheduler plugins in `PluginContext.taskCommand`. For tests that construct a scheduler
 * directly, without a runtime.
 * @public
 */
export function taskCommand(): readonly string[] {
  return Object.freeze([process.execPath, taskEnvelopeEntry()]);
}
