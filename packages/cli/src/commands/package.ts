import { resolve } from 'node:path';
import { type VerifyReport, verifyPackage } from '@phys/ml-packager';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { plural, stringify, table } from '../format.js';

/** Options of `phys package verify`. */
export interface PackageVerifyOptions {
  readonly json?: boolean;
}

/**
 * `phys package verify <path>`: checks a model package directory or `.tar.gz`. Exit 0 when it
 * is intact, 1 with the list of problems when not. Reads no config.
 */
export async function packageVerifyCommand(
  ctx: CliContext,
  path: string,
  options: PackageVerifyOptions,
): Promise<number> {
  const report: VerifyReport = await verifyPackage(resolve(ctx.cwd, path));
  const exitCode = report.ok ? ExitCode.OK : ExitCode.RUN_FAILED;
  if (options.json === true) {
    ctx.out(
      stringify({
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
        exitCode,
      }),
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
  ctx.out(`✗ ${what}: ${plural(report.problems.length, 'problem')}`);
  for (const line of table(report.problems.map((p) => [p.kind, p.path, p.message]))) {
    ctx.out(`  ${line}`);
  }
  ctx.out();
  ctx.out('  Do not use this package: re-package the model from its run, or restore a copy.');
  return exitCode;
}
