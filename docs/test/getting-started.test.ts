// Runs the project that getting-started.md builds, through the CLI, as a reader would.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@phys/cli';
import { describe, expect, it } from 'vitest';

const project = fileURLToPath(new URL('../.generated/getting-started', import.meta.url));

async function phys(argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const code = await runCli(argv, {
    cwd: project,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => true },
    isTTY: false,
  });
  return { code, stdout };
}

describe('getting-started.md', () => {
  it('`phys run coffee` cools the coffee as Newton says', async () => {
    const { code, stdout } = await phys(['run', 'coffee', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    const desk = 20 + 70 * Math.exp(-0.001 * 300);
    const fridge = 4 + (desk - 4) * Math.exp(-0.002 * 600);
    expect(report.status).toBe('COMPLETED');
    expect(report.metrics['coffee.desk.temperature']).toBeCloseTo(desk, 12);
    expect(report.metrics['coffee.fridge.temperature']).toBeCloseTo(fridge, 12);
    expect(report.outputs).toEqual({ temperature: fridge, time: 900 });
  });

  it('shows the numbers the guide prints', async () => {
    const { stdout } = await phys(['run', 'coffee']);
    expect(stdout).toMatch(/coffee\.desk\.temperature\s+71\.8573$/m);
    expect(stdout).toMatch(/coffee\.fridge\.temperature\s+24\.4382$/m);
  });

  it('`phys config` lists the stage and the pipeline', async () => {
    const { code, stdout } = await phys(['config']);
    expect(code).toBe(0);
    expect(stdout).toContain(join(project, 'phys.config.ts'));
    expect(stdout).toMatch(/thermal\/cool@1\s+Newton's law of cooling over `duration` seconds/);
    expect(stdout).toMatch(/coffee\s+sequential\s+2 stages\s+A cup of coffee/);
  });
});

describe('README.md', () => {
  it('runs the short example as shown', async () => {
    let stdout = '';
    const code = await runCli(['run', 'carbon'], {
      cwd: fileURLToPath(new URL('../.generated/readme', import.meta.url)),
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => true },
      isTTY: false,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ carbon: COMPLETED in .+ \(sequential, 1 stage\)$/m);
    // 10,000 years is 1.745 half-lives of carbon-14.
    expect(stdout).toMatch(/carbon\.decay\.left\s+298292$/m);
  });
});
