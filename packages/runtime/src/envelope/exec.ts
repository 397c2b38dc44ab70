// `node <runtime>/dist/envelope/exec.js <task.json>`: the process entry of process isolation and of
// cluster jobs when the `phys` CLI is not installed. Same contract as `phys exec <envelope>`.

import { TASK_EXIT_CODES } from '@phys/core';
import { disposeRuntimes } from '../rebuild-stage.js';
import { runTaskEnvelope } from './run-envelope.js';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write(
    'error PHYS_USAGE: no task envelope given. Usage: node exec.js <task-envelope.json>\n',
  );
  process.exit(TASK_EXIT_CODES.UNUSABLE);
}
const code = await runTaskEnvelope(file);
await disposeRuntimes().catch(() => undefined);
// Stages may leave timers or handles behind; the result is written, so do not wait for them.
process.exit(code);
