// What both sides of the `server` workload share: the bearer token, and the runtime the server
// serves (server-host.ts) and the local orchestrators it is compared with run (server.ts).
import { silentLogger } from '@phys/core';
import { createRuntime, type PhysRuntime } from '@phys/runtime';
import { Add } from './stages.js';

/** The server's bearer token. */
export const SERVER_TOKEN = 'bench-token-0123456789abcdef0123';

/** A runtime with one trivial sequential pipeline, `trivial`: one Add node. */
export function trivialRuntime(configDir: string): Promise<PhysRuntime> {
  return createRuntime(
    {
      config: {
        stages: [Add],
        pipelines: {
          trivial: { stages: [Add({ amount: 1 })], initialState: { payload: 0 } },
        },
      },
      configDir,
    },
    { logger: silentLogger },
  );
}
