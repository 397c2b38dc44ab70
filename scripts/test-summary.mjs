#!/usr/bin/env node
// Reads the JSON reports every package's vitest run wrote under test-results/ (under CI, see
// vitest.shared.ts) and prints one line per workspace package that has tests: its counts, the
// tests and test files that failed, or that it wrote no report (its tests did not run, e.g.
// because its build failed). Closes with `N passed, N failed, N skipped` and exits 1 when a
// test or a test file failed, or a package's tests did not run.
// Usage: node scripts/test-summary.mjs [root]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const resultsDir = join(root, 'test-results');

/** The report file vitest.shared.ts gives a package: `@phys/x` → `phys-x.json`. */
const reportFile = (name) => `${name.replace(/^@/, '').replace(/\//g, '-')}.json`;

/** Workspace packages (pnpm-workspace.yaml `packages:`, `dir` or `dir/*`) with a `test` script. */
function testedPackages() {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const block = /^packages:\n((?:[ \t]+-.*\n?)+)/m.exec(yaml)?.[1] ?? '';
  const dirs = [];
  for (const line of block.split('\n')) {
    const glob = /^\s*-\s*['"]?([^'"#\s]+)/.exec(line)?.[1];
    if (glob === undefined) continue;
    if (glob.endsWith('/*')) {
      const parent = join(root, glob.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const entry of readdirSync(parent, { withFileTypes: true })) {
        if (entry.isDirectory()) dirs.push(join(parent, entry.name));
      }
    } else {
      dirs.push(join(root, glob));
    }
  }
  const packages = [];
  for (const dir of dirs) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof pkg.name === 'string' && typeof pkg.scripts?.test === 'string') {
      packages.push({ name: pkg.name, file: reportFile(pkg.name) });
    }
  }
  return packages.sort((a, b) => a.name.localeCompare(b.name));
}

/** Counts and failures of one vitest JSON report. */
function readReport(file) {
  const report = JSON.parse(readFileSync(join(resultsDir, file), 'utf8'));
  const failures = [];
  for (const result of report.testResults ?? []) {
    const where = relative(root, result.name ?? '?');
    for (const test of result.assertionResults ?? []) {
      if (test.status === 'failed') failures.push(`${where} > ${test.fullName ?? test.title}`);
    }
    // A file that failed without a failed test: it did not load, or a hook failed.
    if (result.status === 'failed' && (result.message ?? '') !== '') {
      failures.push(`${where}: ${firstLine(result.message)}`);
    }
  }
  return {
    passed: report.numPassedTests ?? 0,
    failed: report.numFailedTests ?? 0,
    skipped: (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0),
    failures,
  };
}

const firstLine = (text) => String(text).split('\n')[0];

let files;
try {
  files = readdirSync(resultsDir).filter((f) => f.endsWith('.json'));
} catch {
  files = [];
}
if (files.length === 0) {
  console.error('no test reports found under test-results/ (vitest writes them when CI is set)');
  process.exit(1);
}

const packages = testedPackages();
// Reports no workspace package claims are still counted, under their file name.
const known = new Set(packages.map((p) => p.file));
for (const file of files) {
  if (!known.has(file)) packages.push({ name: file.replace(/\.json$/, ''), file });
}

const width = Math.max(...packages.map((p) => p.name.length));
const total = { passed: 0, failed: 0, skipped: 0 };
let failedPackages = 0;
let missing = 0;
for (const { name, file } of packages) {
  const label = name.padEnd(width);
  if (!files.includes(file)) {
    missing++;
    console.log(`✗ ${label}  no test report: its tests did not run (see the log above)`);
    continue;
  }
  const r = readReport(file);
  total.passed += r.passed;
  total.failed += r.failed;
  total.skipped += r.skipped;
  const ok = r.failures.length === 0;
  if (!ok) failedPackages++;
  const counts = [`${r.passed} passed`];
  if (r.failed > 0) counts.push(`${r.failed} failed`);
  if (r.skipped > 0) counts.push(`${r.skipped} skipped`);
  console.log(`${ok ? '✓' : '✗'} ${label}  ${counts.join(', ')}`);
  for (const failure of r.failures) console.log(`    ✗ ${failure}`);
}
const problems = [];
if (failedPackages > 0) problems.push(`${failedPackages} of ${packages.length} packages failed`);
if (missing > 0) problems.push(`${missing} did not run`);
console.log(
  `${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped${problems.length > 0 ? `; ${problems.join(', ')}` : ''}`,
);
process.exit(failedPackages > 0 || missing > 0 ? 1 : 0);
