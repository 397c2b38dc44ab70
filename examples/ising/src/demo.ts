// `pnpm demo`: the Ising temperature scan through the `phys` command line, then T_c and a plot.
//
//   1. `phys sweep ising --set mc.temperature=1.6..3.2:33 --out out/ising-results.json` runs one
//      Monte Carlo node per temperature on worker threads, shows its progress, caches every
//      point, and prints the results table;
//   2. this script reads the table, locates T_c as the `ising/critical` stage does, and
//   3. writes out/ising.svg (magnetisation and heat capacity against temperature).

import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PhysError } from '@phys/core';
import type { ResultsJson } from '@phys/sweep';
import { parabolicPeak } from './critical.js';
import { ONSAGER_TC } from './metropolis.js';
import { type PlotRow, renderScanPlot } from './plot.js';
import { DEMO_SCAN, sweepArgument } from './scan.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(exampleDir, 'out');
const resultsFile = join(outDir, 'ising-results.json');
const plotFile = join(outDir, 'ising.svg');

function physBin(): string {
  const pkgFile = createRequire(import.meta.url).resolve('@phys/cli/package.json');
  return join(dirname(pkgFile), 'bin', 'phys.js');
}

function run(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // Inherited stdio: the progress display sees the terminal and redraws in place.
    const child = spawn(process.execPath, [physBin(), ...argv], {
      cwd: exampleDir,
      stdio: 'inherit',
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 130)));
  });
}

function numberAt(row: ResultsJson['rows'][number], metric: string): number {
  const value = row.metrics[metric];
  if (typeof value !== 'number') {
    throw new PhysError(
      'PHYS_EXAMPLE_RESULTS_INVALID',
      `Point ${row.point} has no number for ${metric} in ${resultsFile}; delete the file and run the demo again.`,
    );
  }
  return value;
}

async function main(): Promise<number> {
  const started = performance.now();
  await mkdir(outDir, { recursive: true });
  const argv = ['sweep', 'ising', '--set', sweepArgument(DEMO_SCAN), '--out', resultsFile];
  console.log(
    `$ phys ${argv.map((a) => (a.startsWith('/') ? relative(exampleDir, a) : a)).join(' ')}`,
  );
  const code = await run(argv);
  if (code !== 0) return code;

  const results = JSON.parse(await readFile(resultsFile, 'utf8')) as ResultsJson;
  const rows: (PlotRow & { chi: number })[] = results.rows
    .map((row) => ({
      temperature: row.params.temperature as number,
      absM: numberAt(row, 'absM'),
      C: numberAt(row, 'C'),
      chi: numberAt(row, 'chi'),
    }))
    .sort((a, b) => a.temperature - b.temperature);
  const temperatures = rows.map((r) => r.temperature);
  const c = parabolicPeak(
    temperatures,
    rows.map((r) => r.C),
  );
  const chi = parabolicPeak(
    temperatures,
    rows.map((r) => r.chi),
  );
  await writeFile(
    plotFile,
    await renderScanPlot(rows, { L: DEMO_SCAN.L, criticalTemperature: c.refined }),
  );

  const L = DEMO_SCAN.L;
  console.log();
  console.log(
    `  T_c from the peak of C   ${c.refined.toFixed(3)}   (Onsager: ${ONSAGER_TC.toFixed(3)}; a ${L}×${L} lattice peaks slightly above it)`,
  );
  console.log(`  T of the peak of χ       ${chi.refined.toFixed(3)}`);
  console.log(`  results                  ${relative(process.cwd(), resultsFile)}`);
  console.log(`  plot                     ${relative(process.cwd(), plotFile)}`);
  console.log(`  demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
