// The thread of WalCheckpointer (wal-checkpointer.ts): its own connection to the run store's file,
// running the checkpoints the main thread asks for, one at a time, in the order asked. It imports
// nothing of the workspace: it runs the same in the built package and under the tests.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type {
  CheckpointerData,
  CheckpointerMessage,
  CheckpointRequest,
  CheckpointResult,
} from './wal-checkpointer.js';

const port = parentPort;
if (port === null) throw new Error('wal-checkpointer-worker.js runs only as a worker thread.');
const { file } = workerData as CheckpointerData;

const db = new Database(file, { fileMustExist: true });
// A checkpoint syncs the log before copying frames into the database file, and the database file
// once the last frame is copied, before SQLite may start the log over: what a power cut needs.
// That takes synchronous NORMAL or FULL on the connection that checkpoints (OFF syncs nothing).
db.pragma('synchronous = NORMAL');
// This connection never writes; should it ever, no automatic checkpoint in its commits either.
db.pragma('wal_autocheckpoint = 0');

interface CheckpointRow {
  readonly busy: number;
  readonly log: number;
  readonly checkpointed: number;
}

function checkpoint({ mode, busyTimeoutMs }: CheckpointRequest): CheckpointResult {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  try {
    const row = db.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as CheckpointRow;
    return {
      type: 'checkpoint',
      mode,
      busy: row.busy !== 0,
      log: row.log,
      checkpointed: row.checkpointed,
    };
  } catch (error) {
    // Locks held elsewhere a moment longer than the busy timeout: try again at the next commit.
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
      return { type: 'checkpoint', mode, busy: true, log: -1, checkpointed: -1 };
    }
    throw error;
  }
}

port.on('message', (request: CheckpointRequest) => {
  const result: CheckpointerMessage = checkpoint(request);
  port.postMessage(result);
  if (request.mode === 'TRUNCATE') {
    db.close();
    // Nothing keeps the thread alive any more: it exits (code 0) once the result is sent.
    port.close();
  }
});

const ready: CheckpointerMessage = { type: 'ready' };
port.postMessage(ready);
