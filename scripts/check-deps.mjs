#!/usr/bin/env node
// Fails when a workspace package depends on one of ours in a forbidden direction, in its
// package.json or in an import of its source. The directions (DESIGN.md):
//   core            → nothing of ours
//   scheduler-kit   → core
//   runtime         → core, scheduler-kit
//   testing         → core, runtime, scheduler-kit
//   cli             → core, runtime
//   plugins/*       → core, kits, runtime; never another plugin, never the CLI (tests included:
//                     tests of two plugins together live in tests/integration)
//   packages/server → as a plugin (it is one: it adds `phys serve`)
//   a third-party scheduler (examples/*/phys-plugin-*) → core and the kits only
// Examples, docs, bench and tests/integration may use anything.
// Usage: node scripts/check-deps.mjs [root]   (exit 1 and one line per violation when broken)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const KITS = ['@phys/scheduler-kit', '@phys/testing'];

/** Who may depend on what; `dev` widens the list for devDependencies and test files. */
function rulesFor(dir, name) {
  if (dir === 'packages/core') return { run: [], dev: [] };
  if (dir === 'packages/scheduler-kit') return { run: ['@phys/core'], dev: ['@phys/core'] };
  if (dir === 'packages/runtime') {
    const run = ['@phys/core', '@phys/scheduler-kit'];
    return { run, dev: run };
  }
  if (dir === 'packages/testing') {
    const run = ['@phys/core', '@phys/runtime', '@phys/scheduler-kit'];
    return { run, dev: run };
  }
  if (dir === 'packages/cli') {
    return { run: ['@phys/core', '@phys/runtime'], dev: ['@phys/core', '@phys/runtime', ...KITS] };
  }
  // @phys/server is a plugin that lives in packages/ (it adds `phys serve`): the plugin rules.
  if (dir.startsWith('plugins/') || dir === 'packages/server') {
    const run = ['@phys/core', '@phys/runtime', ...KITS];
    return { run, dev: run };
  }
  if (/^examples\/[^/]+\/phys-plugin-/.test(dir) || name?.startsWith('phys-plugin-')) {
    return { run: ['@phys/core', ...KITS], dev: ['@phys/core', ...KITS] };
  }
  return undefined; // examples, docs, bench, integration tests: free
}

function packageDirs() {
  const dirs = [];
  for (const group of ['packages', 'plugins', 'examples', 'tests']) {
    const at = join(root, group);
    if (!existsSync(at)) continue;
    for (const entry of readdirSync(at)) {
      const dir = join(at, entry);
      if (existsSync(join(dir, 'package.json'))) dirs.push(dir);
      // nested packages (a third-party plugin inside an example)
      if (statSync(dir).isDirectory()) {
        for (const inner of readdirSync(dir)) {
          if (inner === 'node_modules') continue;
          const sub = join(dir, inner);
          if (existsSync(join(sub, 'package.json')) && statSync(sub).isDirectory()) dirs.push(sub);
        }
      }
    }
  }
  return dirs;
}

function sources(dir, out = []) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('_') || entry === 'etc')
      continue;
    const path = join(dir, entry);
    const stat = statSync(path);
    if (stat.isDirectory()) {
      // a nested package is checked on its own
      if (existsSync(join(path, 'package.json'))) continue;
      sources(path, out);
    } else if (/\.(ts|mts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const isTestFile = (rel) =>
  /(^|\/)(test|tests|__fixtures__|fixtures)\//.test(rel) ||
  /\.test(-d)?\.ts$/.test(rel) ||
  /(^|\/)vitest\.config\./.test(rel);
const ours = (spec) =>
  /^@phys\/[a-z0-9-]+/.exec(spec)?.[0] ??
  (spec.startsWith('phys-plugin-') ? spec.split('/')[0] : undefined);

const problems = [];
for (const abs of packageDirs()) {
  const dir = relative(root, abs);
  const pkg = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8'));
  const rules = rulesFor(dir, pkg.name);
  if (rules === undefined) continue;
  const declared = { ...pkg.dependencies, ...pkg.peerDependencies };
  for (const [kind, list, allowed] of [
    ['dependency', Object.keys(declared), rules.run],
    ['devDependency', Object.keys(pkg.devDependencies ?? {}), rules.dev],
  ]) {
    for (const dep of list) {
      const name = ours(dep);
      if (name !== undefined && name !== pkg.name && !allowed.includes(name)) {
        problems.push(`${dir}/package.json: ${pkg.name} may not have ${name} as a ${kind}`);
      }
    }
  }
  for (const file of sources(abs)) {
    const rel = relative(abs, file);
    const test = isTestFile(rel);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
      const name = ours(m[1]);
      if (name === undefined || name === pkg.name) continue;
      const allowed = test ? rules.dev : rules.run;
      const line = text.slice(0, m.index).split('\n').length;
      if (!allowed.includes(name)) {
        problems.push(
          `${dir}/${rel}:${line}: ${pkg.name} may not import ${name}${test ? ' (even in tests)' : ''}`,
        );
      } else if (!test && !(name in declared)) {
        problems.push(
          `${dir}/${rel}:${line}: imports ${name}, which package.json does not list in dependencies or peerDependencies`,
        );
      }
    }
  }
}

if (problems.length > 0) {
  process.stderr.write(
    `Forbidden dependency directions (${problems.length}); see scripts/check-deps.mjs:\n${problems.map((p) => `  ${p}`).join('\n')}\n`,
  );
  process.exit(1);
}
process.stdout.write('dependency directions: ok\n');
