// getting-started.md says a project need not be ESM: a CommonJS project (no "type": "module")
// runs its phys.config.ts and the stages it imports, through the binary as users run it.
import { describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { fixture } from './helpers.js';

describe('a CommonJS project', () => {
  it('loads its phys.config.ts and runs the pipeline', async () => {
    const { code, stdout } = await runPhys(['run', 'coffee', '--json'], {
      cwd: fixture('commonjs'),
    });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.status).toBe('COMPLETED');
    expect(report.metrics['coffee.desk.temperature']).toBeCloseTo(20 + 70 * Math.exp(-0.3), 12);
  });
});
