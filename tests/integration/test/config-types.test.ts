// `tsc` on a user's phys.config.ts, against the published types (`dist/*.d.ts`) of @phys/core
// and the plugins: what compiles, and what a mistake looks like. The compiler options are the
// ones docs/getting-started.md recommends.
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'phys-config-types-'));
  const modules = fileURLToPath(new URL('../node_modules', import.meta.url));
  await symlink(modules, join(project, 'node_modules'), 'dir');
  await writeFile(join(project, 'package.json'), '{ "type": "module", "private": true }\n');
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

// The declaration files (lib, zod, ours) parsed once for every check: parsing is most of the time.
const parsed = new Map<string, ts.SourceFile | undefined>();

/**
 * Type-checks `phys.config.ts` with `text`, as `tsc --noEmit` would with `types` as the
 * tsconfig's `compilerOptions.types`, and returns one string per error. Declaration files are
 * checked too only with `skipLibCheck: false` (slow: it checks all of zod's types).
 */
async function typeErrors(
  text: string,
  types: readonly string[],
  { skipLibCheck = true } = {},
): Promise<string[]> {
  const file = join(project, 'phys.config.ts');
  await writeFile(file, text);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Preserve,
    strict: true,
    noEmit: true,
    skipLibCheck,
    types: [...types],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => {
    if (name === file) return getSourceFile(name, language, ...rest);
    if (!parsed.has(name)) parsed.set(name, getSourceFile(name, language, ...rest));
    return parsed.get(name);
  };
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.replace(`${project}/`, '')}: ` : '';
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

const stage = `
import { defineConfig, defineStage } from '@phys/core';
import { z } from 'zod';

const Decay = defineStage({
  name: 'nuclear/decay',
  config: z.object({ halfLife: z.number().positive(), time: z.number() }),
  process: (n: number, { config }) => ({ state: n * 2 ** (-config.time / config.halfLife) }),
});
`;

describe('a config that uses @phys/core only', () => {
  it('type-checks without Node type definitions, our declaration files included', async () => {
    const errors = await typeErrors(
      `${stage}
export default defineConfig({
  stages: [Decay],
  pipelines: { carbon: { stages: [Decay({ halfLife: 5730, time: 1e4 })], initialState: 1e6 } },
});
`,
      [],
      { skipLibCheck: false },
    );
    expect(errors).toEqual([]);
  });

  it('with a misspelled key gets one one-line error that names it and the right key', async () => {
    const errors = await typeErrors(
      `${stage}
export default defineConfig({
  stages: [Decay],
  pipeline: { carbon: { stages: [Decay({ halfLife: 5730, time: 1e4 })], initialState: 1e6 } },
});
`,
      [],
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).not.toContain('\n');
    expect(errors[0]).toMatch(
      /^phys\.config\.ts: .*'pipeline' does not exist in type .*Did you mean to write 'pipelines'\?$/,
    );
  });
});

describe('a config that uses @phys/cache-disk', () => {
  // Its declaration files once named Node's Buffer (entry-file.d.ts, shard-store.d.ts, reached
  // through the report types index.d.ts exports): "Cannot find name 'Buffer'" without @types/node.
  it("type-checks without Node type definitions, the plugin's declaration files included", async () => {
    const errors = await typeErrors(
      `import { defineConfig } from '@phys/core';
import cacheDisk, { type GcReport, type LockOwner, SharedDiskCache } from '@phys/cache-disk';

export const report = (r: GcReport, o: LockOwner): string => \`\${r.evicted} \${o.host}\`;
export const shared = (dir: string) => new SharedDiskCache({ dir });
export default defineConfig({ plugins: ['executor-dag', cacheDisk({ maxBytes: '1Gi' })] });
`,
      [],
      { skipLibCheck: false },
    );
    expect(errors).toEqual([]);
  });
});

describe('a config that uses @phys/executor-dag', () => {
  // Its declaration files once named Node's worker_threads types (ResourceLimits in the
  // scheduler options, Worker and NodeJS.Timeout beside ThreadPoolStats): "Cannot find module
  // 'node:worker_threads'" without @types/node.
  it("type-checks without Node type definitions, the plugin's declaration files included", async () => {
    const errors = await typeErrors(
      `import { defineConfig } from '@phys/core';
import executorDag, { LocalScheduler, type ThreadPoolStats, threadPoolStats } from '@phys/executor-dag';

export const busy = (s: ThreadPoolStats = threadPoolStats()): number => s.busy;
export const local = () =>
  new LocalScheduler({ maxWorkers: 2, threadResourceLimits: { maxOldGenerationSizeMb: 512 } });
export default defineConfig({ plugins: [executorDag({ failureMode: 'continue' })] });
`,
      [],
      { skipLibCheck: false },
    );
    expect(errors).toEqual([]);
  });
});

describe('a misspelled plugin option', () => {
  it('given to the factory is one one-line error that names it', async () => {
    const errors = await typeErrors(
      `import { defineConfig } from '@phys/core';
import cacheDisk from '@phys/cache-disk';
import executorDag from '@phys/executor-dag';

export default defineConfig({ plugins: [executorDag(), cacheDisk({ maxByts: '1Gi' })] });
`,
      ['node'],
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).not.toContain('\n');
    expect(errors[0]).toMatch(
      /'maxByts' does not exist in type .*Did you mean to write 'maxBytes'\?$/,
    );
  });

  it("given to [name, options] is one one-line error when the plugin's types are in the program", async () => {
    const errors = await typeErrors(
      `import { defineConfig } from '@phys/core';
import type {} from '@phys/cache-disk';

export default defineConfig({
  plugins: ['executor-dag', ['cache-disk', { maxByts: '1Gi' }]],
});
`,
      ['node'],
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).not.toContain('\n');
    expect(errors[0]).toMatch(
      /'maxByts' does not exist in type .*Did you mean to write 'maxBytes'\?$/,
    );
  });

  it('given to [name, options] is one error as well when tsconfig types lists the plugin', async () => {
    const text = `import { defineConfig } from '@phys/core';

export default defineConfig({ plugins: [['cache-disk', { maxByts: '1Gi' }]] });
`;
    expect(await typeErrors(text, ['node', '@phys/cache-disk'])).toEqual([
      expect.stringMatching(
        /'maxByts' does not exist in type .*Did you mean to write 'maxBytes'\?$/,
      ),
    ]);
    // Without the plugin's types, [name, options] accepts anything; the loader checks it.
    expect(await typeErrors(text, ['node'])).toEqual([]);
  });
});
