import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

export const fixtureConfig = join(
  dirname(fileURLToPath(import.meta.url)),
  'fixtures',
  'phys.config.ts',
);

/** Whether a Slurm controller answers here, and if not, why. */
function probeSlurm(): { readonly available: boolean; readonly why: string } {
  const sinfo = spawnSync('sinfo', ['-h', '-o', '%a'], { encoding: 'utf8', timeout: 15_000 });
  if (sinfo.error !== undefined)
    return { available: false, why: `sinfo is not installed (${sinfo.error.message})` };
  if (sinfo.status !== 0) {
    return {
      available: false,
      why: `sinfo failed: ${sinfo.stderr.trim() || `exit ${sinfo.status}`}`,
    };
  }
  if (!sinfo.stdout.split('\n').some((l) => l.trim() === 'up')) {
    return { available: false, why: 'sinfo lists no partition that is up' };
  }
  return { available: true, why: '' };
}

export const slurm = probeSlurm();
const inCi = process.env.CI === 'true' || process.env.CI === '1';

/**
 * `describe` for tests that need a real Slurm: they run where `sinfo` answers, skip with the
 * reason on a laptop, and fail under CI, where a missing Slurm is a broken setup, not a choice.
 */
export function describeSlurm(
  name: string,
  body: () => void,
  options: { readonly concurrent?: boolean; readonly timeout?: number } = {},
): void {
  if (slurm.available) {
    describe(name, options, body);
  } else if (inCi) {
    describe(name, () => {
      it('needs a running Slurm (CI=true)', () => {
        throw new Error(
          `${slurm.why}. CI must run the Slurm tests: start Slurm with \`sudo bash scripts/services/slurm-up.sh\` from the repository root (see .ci/run).`,
        );
      });
    });
  } else {
    console.warn(
      `[scheduler-slurm] skipping "${name}": ${slurm.why}. To run these tests, start a local Slurm with \`sudo bash scripts/services/slurm-up.sh\` from the repository root.`,
    );
    describe.skip(`${name} (no Slurm here: ${slurm.why})`, body);
  }
}

/** A fresh work directory (the tests' "shared filesystem" is this machine's). */
export function tempDir(prefix: string): { readonly path: string; readonly remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
