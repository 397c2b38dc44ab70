#!/usr/bin/env node
// The `phys` launcher. It is committed rather than built so that pnpm links the bin at install
// time, before the first build; the CLI itself is dist/bin.js.
import('../dist/bin.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/bin.js')) {
    process.stderr.write(
      'error PHYS_USAGE: @phys/cli is not built (dist/bin.js is missing). Run `pnpm build` first.\n',
    );
    process.exitCode = 64;
    return;
  }
  throw error;
});
