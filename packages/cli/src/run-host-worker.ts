// The thread that runs a hosted command (see run-host.ts). Everything the command does happens
// here, stage code included, so that the process's main thread stays free to take signals.
import type { ChildProcess } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { parentPort, workerData } from 'node:worker_threads';
import { CancelledError, type CliWritable } from '@phys/core';
import { runCli } from './cli.js';
import { setRunJournal } from './journal.js';
import type { HostMessage, HostSettings, ThreadMessage } from './run-host.js';

const port = parentPort;
if (port === null) throw new Error('run-host-worker.js runs only as a worker thread.');
const settings = workerData as HostSettings;
const post = (message: ThreadMessage): void => port.postMessage(message);

// The command's output goes to the host as messages, in order with the journal and sent at once:
// a worker's own stdout and stderr are flushed by its event loop, so whatever was written
// just before a stage blocked that loop would never appear.
const stream = (fd: 1 | 2): CliWritable => ({
  write(chunk: string): boolean {
    post({ type: 'out', fd, chunk });
    return true;
  },
  isTTY: fd === 2 && settings.isTTY,
  columns: settings.columns,
  rows: settings.rows,
});

const controller = new AbortController();
port.on('message', (message: HostMessage) => {
  if (message.type !== 'cancel') return;
  // Answering proves this thread's event loop is free: the run can cancel itself.
  post({ type: 'ack' });
  if (!controller.signal.aborted) controller.abort(new CancelledError(message.reason));
});
// The host's messages must not keep the thread alive once the command is done.
port.unref();

// Every process started here (process isolation, command stages, cluster CLIs): if this thread
// has to be stopped from outside, the host stops them too.
subscribe('child_process', (message) => {
  const child = (message as { process: ChildProcess }).process;
  child.once('spawn', () => {
    if (child.pid !== undefined) post({ type: 'child', pid: child.pid });
  });
  child.once('exit', () => {
    if (child.pid !== undefined) post({ type: 'child-exit', pid: child.pid });
  });
});

setRunJournal((event) => post({ type: 'journal', event }));

const code = await runCli(settings.argv, {
  stdout: stream(1),
  stderr: stream(2),
  signal: controller.signal,
  isTTY: settings.isTTY,
});
post({ type: 'done', code });
