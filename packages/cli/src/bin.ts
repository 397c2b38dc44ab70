#!/usr/bin/env node
// Two invocations skip the command-line parser. `phys --version` is how scripts probe for the
// CLI, and should cost no more than starting Node. `phys exec <envelope>` starts every node of
// process isolation and cluster jobs, and needs only the runtime and the task's config.
// Everything else goes through main().
const argv = process.argv.slice(2);
const [first, second] = argv;
if (argv.length === 1 && (first === '--version' || first === '-v')) {
  const { version } = await import('./version.js');
  process.stdout.write(`${version()}\n`);
} else if (
  argv.length === 2 &&
  first === 'exec' &&
  second !== undefined &&
  !second.startsWith('-')
) {
  const [{ execCommand }, { createContext }] = await Promise.all([
    import('./commands/exec.js'),
    import('./context.js'),
  ]);
  const ctx = createContext({});
  try {
    process.exitCode = await execCommand(ctx, second);
  } catch (error) {
    const { reportError } = await import('./report-error.js');
    process.exitCode = reportError(ctx, error, false);
  }
} else {
  const { main } = await import('./cli.js');
  await main(argv);
}
