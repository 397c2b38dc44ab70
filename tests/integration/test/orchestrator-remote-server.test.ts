// The remote orchestrator against a real `phys serve` (a child process with its own SQLite file)
// passes the same conformance suite as the in-process orchestrator, and speaks its auth.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RemoteOrchestrator } from '@phys/orchestrator-remote';
import { describeOrchestratorConformance } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';
import { serve } from './helpers/serve.js';

describeOrchestratorConformance('remote, against phys serve', async ({ workDir }) => {
  const served = await serve(fixture('remote-conformance'), {
    store: join(workDir, 'runs.sqlite'),
  });
  const orchestrator = new RemoteOrchestrator({ url: served.url });
  return {
    orchestrator,
    dispose: async () => {
      await orchestrator.close();
      await served.stop();
    },
  };
});

describe('tokens, against phys serve', () => {
  it('a missing or wrong token is PHYS_UNAUTHORIZED saying what to set; a right one works', async () => {
    // The client's token comes from its options here, never from the environment.
    delete process.env.PHYS_SERVER_TOKEN;
    const dir = await mkdtemp(join(tmpdir(), 'phys-remote-tokens-'));
    const served = await serve(fixture('remote-conformance'), {
      store: join(dir, 'runs.sqlite'),
      env: { PHYS_SERVER_TOKENS: 'token-of-ada-0123456789,token-of-bob-0123456789' },
    });
    try {
      for (const token of [undefined, 'token-of-eve-0123456789']) {
        const refused = new RemoteOrchestrator({
          url: served.url,
          ...(token === undefined ? {} : { token }),
        });
        await expect(refused.runPipeline('conformance-quick')).rejects.toMatchObject({
          code: 'PHYS_UNAUTHORIZED',
          message: expect.stringContaining('PHYS_SERVER_TOKEN'),
        });
      }
      const allowed = new RemoteOrchestrator({ url: served.url, token: 'token-of-bob-0123456789' });
      const submission = await allowed.runPipeline('conformance-quick', {
        params: { increment: 2 },
      });
      const done = await submission.waitForCompletion({ timeout: 60 });
      expect(done.status).toBe('COMPLETED');
      expect(served.stderr()).not.toContain('token-of-bob-0123456789');
    } finally {
      await served.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
