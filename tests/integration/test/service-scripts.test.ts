// The test services (a real Slurm, Prometheus) are started by scripts of this repository, and
// every message, README and CI step that tells a contributor to run one names a script that is
// really there.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const servicesDir = 'scripts/services';
const SKIP = new Set(['node_modules', 'dist', 'temp', 'coverage', 'test-results', '.generated']);
const TEXT = /\.(ts|mts|js|mjs|json|md|sh|ya?ml)$/;

/** The repository's text files (source, docs, scripts, CI), relative to the root. */
function textFiles(dir = repo): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (SKIP.has(entry.name) || (entry.name.startsWith('.') && entry.name !== '.ci')) return [];
      return textFiles(path);
    }
    const rel = relative(repo, path);
    return TEXT.test(entry.name) || rel === join('.ci', 'run') ? [rel] : [];
  });
}

describe('scripts/services', () => {
  it('every mention of a service script names one in scripts/services that exists', () => {
    const wrong: string[] = [];
    for (const file of textFiles()) {
      const text = readFileSync(join(repo, file), 'utf8');
      for (const [mention] of text.matchAll(
        /(?:[\w.-]+\/)*(?:slurm|prometheus)-(?:up|down)\.sh/g,
      )) {
        // Beside the scripts, their bare names are enough.
        const inside = file.startsWith(`${servicesDir}/`) && !mention.includes('/');
        const path = inside ? `${servicesDir}/${mention}` : mention;
        if (!path.startsWith(`${servicesDir}/`) || !existsSync(join(repo, path))) {
          wrong.push(`${file}: ${mention}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has an up and a down script for Slurm and for Prometheus, all valid bash', () => {
    const scripts = readdirSync(join(repo, servicesDir)).filter((f) => f.endsWith('.sh'));
    for (const service of ['slurm', 'prometheus']) {
      expect(scripts).toContain(`${service}-up.sh`);
      expect(scripts).toContain(`${service}-down.sh`);
    }
    for (const script of scripts) {
      const check = spawnSync('bash', ['-n', join(repo, servicesDir, script)], {
        encoding: 'utf8',
      });
      expect(check.stderr, script).toBe('');
      expect(check.status, script).toBe(0);
    }
  });

  it('.ci/run starts and stops Slurm with them', () => {
    const ci = readFileSync(join(repo, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^bash scripts\/services\/slurm-up\.sh$/m);
    expect(ci).toMatch(/^trap 'bash scripts\/services\/slurm-down\.sh/m);
  });

  it('.ci/run starts and stops Prometheus with them, scraping what the metrics tests serve', () => {
    const ci = readFileSync(join(repo, '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^bash scripts\/services\/prometheus-up\.sh$/m);
    expect(ci).toMatch(/^trap '.*bash scripts\/services\/prometheus-down\.sh/m);
    // The ports of plugins/metrics-prometheus/test/services.ts (SCRAPED_PORTS).
    expect(ci).toContain('PROMETHEUS_EXTRA_TARGETS:-127.0.0.1:9465,127.0.0.1:9466');
    const up = readFileSync(join(repo, 'scripts/services/prometheus-up.sh'), 'utf8');
    expect(up).toContain('--web.enable-remote-write-receiver');
  });
});
