#!/usr/bin/env node
// Checks that the published packages work outside this repository. It packs every public
// package (packages/*, plugins/*) with `pnpm pack`, checks what each tarball holds, then
// creates two fresh npm projects, one ESM ("type": "module") and one CommonJS, installs a few
// of the packages there from the tarballs, runs a two-stage DAG pipeline with `npx phys run`
// and type-checks the project with tsc, as a user who picked those packages would.
//
// Run by `pnpm test:install`, after `pnpm build`. Third-party dependencies come from the npm
// registry that `npm config get registry` names (npm's cache first). The @phys packages that
// are not picked are mapped to their tarballs with npm `overrides`, as a registry would serve
// them, so the projects get exactly what the picked packages declare.
// Usage: node scripts/pack-install.mjs [--keep]   (--keep leaves the temporary projects)
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const keep = process.argv.includes('--keep');
const REPOSITORY = 'git+https://github.com/phys-sim/phys.git';
/** What the user picks; everything else must come only as a declared dependency. */
const PICKED = [
  '@phys/core',
  '@phys/runtime',
  '@phys/cli',
  '@phys/executor-dag',
  '@phys/cache-disk',
];
/** The @phys packages the picked ones bring along through their dependencies. */
const BROUGHT_ALONG = ['@phys/scheduler-kit'];

const t0 = Date.now();
const step = (message) =>
  console.log(`[pack-install +${((Date.now() - t0) / 1000).toFixed(1)}s] ${message}`);
function fail(message) {
  console.error(`[pack-install] FAILED: ${message}`);
  process.exit(1);
}

/** Runs a command; resolves with its output, or fails the script with its output's tail. */
function run(command, args, { cwd, timeoutSeconds = 300 } = {}) {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, env: childEnv(), timeout: timeoutSeconds * 1000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', (error) => fail(`${command} ${args.join(' ')}: ${error.message}`));
    child.on('close', (code, signal) => {
      if (code === 0) {
        done({ stdout, stderr });
        return;
      }
      const why =
        signal === null ? `exit ${code}` : `killed by ${signal} (timeout ${timeoutSeconds} s?)`;
      const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-40).join('\n');
      fail(`\`${command} ${args.join(' ')}\` in ${cwd}: ${why}\n${tail}`);
    });
  });
}

// `pnpm test:install` runs this with pnpm's own npm_* variables set; the npm run here must not
// take them for its configuration (the user's .npmrc and npm_config_registry still apply).
function childEnv() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (
      /^npm_(package_|lifecycle_|command$|execpath$|node_execpath$)/i.test(name) ||
      /^npm_config_(user_agent|verify_deps_before_run)$/i.test(name)
    ) {
      delete env[name];
    }
  }
  return { ...env, NO_UPDATE_NOTIFIER: '1', npm_config_update_notifier: 'false' };
}

/** The catalog version of a dependency (pnpm-workspace.yaml). */
function catalogVersion(name) {
  const text = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s+"?${escaped}"?:\\s*(\\S+)\\s*$`, 'm').exec(text);
  if (match === null) fail(`${name} is not in the catalog of pnpm-workspace.yaml`);
  return match[1];
}

// 1. The public packages, built ------------------------------------------------------------
const packages = [];
for (const group of ['packages', 'plugins']) {
  for (const entry of readdirSync(join(root, group)).sort()) {
    const dir = `${group}/${entry}`;
    const file = join(root, dir, 'package.json');
    if (!existsSync(file)) continue;
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    if (manifest.private === true) continue;
    if (!existsSync(join(root, dir, 'dist'))) {
      fail(`${manifest.name} is not built (${dir}/dist is missing). Run \`pnpm build\` first.`);
    }
    packages.push({ name: manifest.name, dir });
  }
}
for (const name of [...PICKED, ...BROUGHT_ALONG]) {
  if (!packages.some((p) => p.name === name)) fail(`${name} is not a public package here`);
}

const work = mkdtempSync(join(tmpdir(), 'phys-pack-install-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const cleanUp = () => {
  if (keep) console.log(`[pack-install] kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
};
process.on('exit', (code) => {
  if (code === 0) cleanUp();
  else console.error(`[pack-install] the packs and projects are in ${work}`);
});

// 2. Pack them all -------------------------------------------------------------------------
const filters = packages.flatMap((p) => ['--filter', `./${p.dir}`]);
const packed = await run(
  'pnpm',
  ['--recursive', ...filters, 'pack', '--pack-destination', tarballs, '--json'],
  { cwd: root },
);
const packList = [JSON.parse(packed.stdout)].flat();
const tarballOf = new Map(packList.map((p) => [p.name, p.filename]));
for (const p of packages) {
  if (!tarballOf.has(p.name)) fail(`pnpm pack wrote no tarball for ${p.name}`);
}
step(`packed ${packages.length} packages into ${tarballs}`);

// 3. What each tarball holds ---------------------------------------------------------------
const rootLicense = join(root, 'LICENSE');
if (!existsSync(rootLicense)) fail('the repository has no LICENSE file for the packages to ship');
const license = readFileSync(rootLicense, 'utf8');
const problems = [];
const unpacked = join(work, 'unpacked');
for (const p of packages) {
  const into = join(unpacked, p.name.replace('/', '+'));
  mkdirSync(into, { recursive: true });
  await run('tar', ['-xzf', tarballOf.get(p.name), '-C', into], { cwd: work });
  problems.push(...checkTarball(p, join(into, 'package')).map((m) => `${p.name}: ${m}`));
}
if (problems.length > 0) fail(`the tarballs are not fit to publish:\n  ${problems.join('\n  ')}`);
step('every tarball: manifest, exports, bin, source maps and LICENSE check out');

/** What is wrong with an unpacked tarball, one sentence each. */
function checkTarball(pkg, dir) {
  const found = [];
  const files = listFiles(dir);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const text = JSON.stringify(manifest);
  if (text.includes('@phys/source')) {
    found.push('package.json still has the workspace-only "@phys/source" condition');
  }
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [name, spec] of Object.entries(manifest[field] ?? {})) {
      if (/^(workspace|catalog|file|link):/.test(spec)) {
        found.push(`${field}.${name} is "${spec}", which a registry cannot resolve`);
      }
    }
  }
  const repo = manifest.repository ?? {};
  if (repo.url !== REPOSITORY || repo.directory !== pkg.dir) {
    found.push(`repository is ${JSON.stringify(repo)}, not ${REPOSITORY} in ${pkg.dir}`);
  }
  if (!files.includes('LICENSE')) found.push('LICENSE is not in the tarball');
  else if (readFileSync(join(dir, 'LICENSE'), 'utf8') !== license) {
    found.push("LICENSE differs from the repository's");
  }
  const targets = [...exportTargets(manifest.exports), ...Object.values(manifest.bin ?? {})];
  for (const target of targets) {
    if (!files.includes(relative(dir, resolve(dir, target)).split(sep).join('/'))) {
      found.push(`exports or bin name ${target}, which is not in the tarball`);
    } else if (/\.[cm]?ts$/.test(target) && !/\.d\.[cm]?ts$/.test(target)) {
      found.push(`exports name the TypeScript source ${target}`);
    }
  }
  const unmapped = [];
  for (const file of files) {
    if (/\.test(-d)?\.|__fixtures__/.test(file)) found.push(`ships the test file ${file}`);
    if (!file.endsWith('.map')) continue;
    const map = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    for (const source of map.sources ?? []) {
      const at = resolve(dirname(join(dir, file)), map.sourceRoot ?? '', source);
      if (existsSync(at) && !relative(dir, at).startsWith('..')) continue;
      if (existsSync(join(root, pkg.dir, relative(dir, at)))) unmapped.push(`${file} -> ${source}`);
      else {
        found.push(
          `${file} was left by an earlier build (${source} is gone): delete ${pkg.dir}/dist and run \`pnpm build\``,
        );
      }
    }
  }
  if (unmapped.length > 0) {
    found.push(
      `${unmapped.length} source maps point at files that are not in the tarball (${unmapped[0]}, ...): ship them (\`files\`) or build without maps`,
    );
  }
  return found;
}

function exportTargets(value) {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(exportTargets);
}

function listFiles(dir, prefix = '') {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? listFiles(dir, path) : [path];
  });
}

// 4. Two user projects ---------------------------------------------------------------------
const STAGES = `import { defineStage } from '@phys/core';
import { z } from 'zod';

export const Source = defineStage({
  name: 'demo/source',
  version: '1',
  config: z.object({ value: z.number() }),
  process: (_state: null, { config }) => ({ state: config.value, metrics: { value: config.value } }),
});

export const Square = defineStage({
  name: 'demo/square',
  version: '1',
  config: z.object({}),
  process: (x: number) => ({ state: x * x, metrics: { squared: x * x } }),
});
`;

// The same config in both projects: the config loader takes TypeScript in either module system.
const CONFIG = `import { defineConfig } from '@phys/core';
import { Source, Square } from './src/stages.js';

// Stage options are typed from the stage's schema (the published .d.ts files carry it).
// @ts-expect-error 'seven' is not a number
export const mistyped = () => Source({ value: 'seven' });

export default defineConfig({
  logLevel: 'warn',
  plugins: ['executor-dag', ['cache-disk', { dir: '.phys-cache' }]],
  pipelines: {
    square: {
      kind: 'dag',
      nodes: [
        { id: 'source', stage: Source({ value: 7 }) },
        // In a worker thread, which rebuilds the stage from this config.
        { id: 'square', stage: Square(), deps: ['source'], isolation: 'thread' },
      ],
      initialState: null,
    },
  },
});
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    // Our .d.ts files are checked too, as a user without skipLibCheck would see them.
    skipLibCheck: false,
    types: ['node'],
  },
  include: ['phys.config.ts', 'src'],
};

const overrides = Object.fromEntries(
  packages
    .filter((p) => !PICKED.includes(p.name))
    .map((p) => [p.name, `file:${tarballOf.get(p.name)}`]),
);
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

async function userProject(kind) {
  const dir = join(work, `project-${kind}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  const manifest = { name: `phys-${kind}-user`, version: '1.0.0', private: true };
  if (kind === 'esm') manifest.type = 'module';
  manifest.overrides = overrides;
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, 'src', 'stages.ts'), STAGES);
  writeFileSync(join(dir, 'phys.config.ts'), CONFIG);
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(TSCONFIG, null, 2)}\n`);

  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      ...PICKED.map((name) => tarballOf.get(name)),
      `zod@${catalogVersion('zod')}`,
      `@types/node@${catalogVersion('@types/node')}`,
    ],
    { cwd: dir },
  );
  const installed = readdirSync(join(dir, 'node_modules', '@phys'))
    .map((n) => `@phys/${n}`)
    .sort();
  const expected = [...PICKED, ...BROUGHT_ALONG].sort();
  if (installed.join() !== expected.join()) {
    fail(`${kind}: npm installed ${installed.join(', ')}; expected exactly ${expected.join(', ')}`);
  }
  step(`${kind}: npm installed ${PICKED.join(', ')} (and ${BROUGHT_ALONG.join(', ')})`);

  const phys = async () => {
    const { stdout } = await run('npx', ['--no', '--', 'phys', 'run', 'square', '--json'], {
      cwd: dir,
      timeoutSeconds: 120,
    });
    try {
      return JSON.parse(stdout);
    } catch {
      return fail(`${kind}: \`phys run square --json\` printed no JSON:\n${stdout}`);
    }
  };
  const expect = (what, actual, wanted) => {
    if (JSON.stringify(actual) !== JSON.stringify(wanted)) {
      fail(`${kind}: ${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`);
    }
  };
  const cold = await phys();
  expect('the first run status', cold.status, 'COMPLETED');
  expect('the first run counts', cold.counts, { COMPLETED: 2 });
  expect('the outputs', cold.outputs, { square: 49 });
  expect('the square metric', cold.metrics['square.squared'], 49);
  const warm = await phys();
  expect('the second run counts', warm.counts, { CACHED: 2 });
  expect('the second run outputs', warm.outputs, { square: 49 });
  step(
    `${kind}: npx phys run square: 7 squared is 49, and the second run came from the disk cache`,
  );

  await run(process.execPath, [tsc, '-p', dir], { cwd: dir, timeoutSeconds: 180 });
  step(`${kind}: tsc -p . passes (strict, NodeNext, skipLibCheck off)`);
}

// Both at once: while one waits for npm, the other runs node or tsc.
await Promise.all([userProject('esm'), userProject('cjs')]);
step('done');
