// `phys package verify <path>`: loaded by the CLI only when the command runs.
import { resolve } from 'node:path';
import type { CliCommandHandler } from '@phys/core';
import { verifyPackage } from '../verify.js';

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Checks a model package directory or `.tar.gz`: exit 0 when intact, 1 with the problems. */
const packageVerify: CliCommandHandler = async (ctx) => {
  const [path] = ctx.args as [string];
  const report = await verifyPackage(resolve(ctx.cwd, path));
  const exitCode = report.ok ? 0 : 1;
  if (ctx.json) {
    ctx.out(
      JSON.stringify(
        {
          path: report.path,
          ok: report.ok,
          kind: report.kind,
          ...(report.manifest === undefined
            ? {}
            : {
                name: report.manifest.name,
                version: report.manifest.version,
                contentHash: report.manifest.contentHash,
              }),
          checked: report.checked,
          problems: report.problems,
          ...(report.code === undefined ? {} : { code: report.code }),
          exitCode,
        },
        null,
        2,
      ),
    );
    return exitCode;
  }
  const what =
    report.manifest === undefined
      ? report.path
      : `${report.manifest.name} ${report.manifest.version} (${report.path})`;
  if (report.ok) {
    ctx.out(`✓ ${what}: intact, ${plural(report.checked, 'file')} checked (${report.kind})`);
    return exitCode;
  }
  ctx.out(`✗ ${what}: ${plural(report.problems.length, 'problem')} (${report.code})`);
  for (const line of ctx.format.table(report.problems.map((p) => [p.kind, p.path, p.message]))) {
    ctx.out(`  ${line}`);
  }
  ctx.out();
  ctx.out('  Do not use this package: re-package the model from its run, or restore a copy.');
  return exitCode;
};

export default packageVerify;
