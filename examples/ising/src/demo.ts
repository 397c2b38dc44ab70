// `pnpm demo`: the Ising temperature scan through the `phys` command line, then T_c and a plot.
//
//   1. `phys sweep ising --set mc.temperature=1.6..3.2:33 --out out/ising-results.json` runs one
//      Monte Carlo node per temperature on worker threads, shows its progress, caches every
//      point, and prints the results table;
//   2. this script reads the table, locates T_c with its bootstrap uncertainty as the
//      `ising/critical` stage does, compares it with the exact peak of this finite lattice, and
//   3. writes out/ising.svg (magnetisation and heat capacity against temperature, with error
//      bars and the exact curves).

import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PhysError } from '@phys/core';
import type { ResultsJson } from '@phys/sweep';
import { bootstrapPeak, exactHeatCapacityPeak, parabolicPeak } from './critical.js';
import { ONSAGER_TC } from './metropolis.js';
import { renderScanPlot } from './plot.js';
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
  const rows = results.rows
    .map((row) => ({
      temperature: row.params.temperature as number,
      absM: numberAt(row, 'absM'),
      absM_err: numberAt(row, 'absM_err'),
      C: numberAt(row, 'C'),
      C_err: numberAt(row, 'C_err'),
      chi: numberAt(row, 'chi'),
      tauE: numberAt(row, 'tau_E'),
      tauM: numberAt(row, 'tau_absM'),
    }))
    .sort((a, b) => a.temperature - b.temperature);
  const temperatures = rows.map((r) => r.temperature);
  // T_c with its uncertainty, as the `ising/critical` stage finds it.
  const tc = bootstrapPeak(
    temperatures,
    rows.map((r) => r.C),
    rows.map((r) => r.C_err),
  );
  const chi = parabolicPeak(
    temperatures,
    rows.map((r) => r.chi),
  );
  const L = DEMO_SCAN.L;
  const exactPeak = exactHeatCapacityPeak(L).temperature;
  await writeFile(
    plotFile,
    await renderScanPlot(rows, {
      L,
      criticalTemperature: tc.value,
      criticalTemperatureError: tc.error,
    }),
  );

  const slowest = rows.reduce((a, b) =>
    Math.max(b.tauE, b.tauM) > Math.max(a.tauE, a.tauM) ? b : a,
  );
  const tauMax = Math.max(slowest.tauE, slowest.tauM);
  const lines: [string, string][] = [
    [
      `T_c(${L}) from the peak of C`,
      `${tc.value.toFixed(3)} ± ${tc.error.toFixed(3)}, 95 % interval ${tc.low.toFixed(3)} … ${tc.high.toFixed(3)} (bootstrap over the errors of C)`,
    ],
    [
      `exact peak of C, ${L}×${L}`,
      `${exactPeak.toFixed(3)}  (Kaufman's exact solution of this finite lattice)`,
    ],
    [
      "Onsager's T_c, L → ∞",
      `${ONSAGER_TC.toFixed(3)}  (a finite lattice peaks above it, by about 0.36·T_c/L)`,
    ],
    ['T of the peak of χ', chi.refined.toFixed(3)],
    [
      'autocorrelation',
      `τ_int up to ${tauMax.toFixed(0)} sweeps (at T = ${slowest.temperature}): every point has ≥ ${Math.floor(DEMO_SCAN.sweeps / (2 * tauMax)).toLocaleString('en-US')} independent measurements`,
    ],
    ['results', relative(process.cwd(), resultsFile)],
    ['plot', relative(process.cwd(), plotFile)],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  console.log();
  for (const [label, text] of lines) console.log(`  ${label.padEnd(width)}   ${text}`);
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
