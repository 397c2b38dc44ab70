import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type Logger, PhysError } from '@phys/core';

/** A checkpoint mode of `PRAGMA wal_checkpoint` that the thread runs. */
export type CheckpointMode = 'PASSIVE' | 'RESTART' | 'TRUNCATE';

/** What the checkpointer's thread is started with. */
export interface CheckpointerData {
  /** The database file (absolute). */
  readonly file: string;
}

/** Main thread → checkpointer thread: run one checkpoint (`TRUNCATE` also ends the thread). */
export interface CheckpointRequest {
  readonly mode: CheckpointMode;
  /** The connection's busy timeout for this checkpoint (RESTART and TRUNCATE wait for locks). */
  readonly busyTimeoutMs: number;
}

/** Checkpointer thread → main thread: the row of `PRAGMA wal_checkpoint(mode)`. */
export interface CheckpointResult {
  readonly type: 'checkpoint';
  readonly mode: CheckpointMode;
  /** True when the checkpoint could not finish (another checkpoint, a writer or a reader). */
  readonly busy: boolean;
  /** Frames in the write-ahead log. */
  readonly log: number;
  /** Frames of it copied into the database file. */
  readonly checkpointed: number;
}

/** Checkpointer thread → main thread. */
export type CheckpointerMessage = { readonly type: 'ready' } | CheckpointResult;

/** What {@link WalCheckpointer.stats} counts. */
export interface CheckpointStats {
  /** Checkpoints the thread ran, by mode. */
  readonly PASSIVE: number;
  readonly RESTART: number;
  readonly TRUNCATE: number;
  /** RESTART checkpoints that could not restart the log (a reader held an old snapshot). */
  readonly busyRestarts: number;
}

/** Options of {@link WalCheckpointer}. */
export interface WalCheckpointerOptions {
  /** The database file (absolute). */
  readonly file: string;
  /** Frames not yet copied into the database after which a checkpoint runs. */
  readonly pages: number;
  /** The busy timeout of the store (the final TRUNCATE waits that long for other writers). */
  readonly busyTimeoutMs: number;
  readonly logger: Logger;
  /** Stops committing the store's writes (they wait in its queue) until `release`. */
  readonly hold: () => void;
  readonly release: () => void;
  /** The thread is gone without being stopped: checkpoint on the main connection from now on. */
  readonly lost: () => void;
}

/**
 * How many times {@link WalCheckpointerOptions.pages} the log may hold before the store's writes
 * are held for a RESTART checkpoint (see {@link WalCheckpointer}).
 */
export const HARD_LIMIT_FACTOR = 4;
/** How long writes wait for a RESTART checkpoint's locks (readers of other connections). */
const RESTART_BUSY_MS = 250;
/** Longest hold of the writes: past it they go on whatever the thread does. */
const HOLD_LIMIT_MS = 2000;
/** Wait before the first retry of a RESTART that found a reader; doubled up to the maximum. */
const RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

/**
 * Path of `wal-checkpointer-worker.js`. Worker threads run plain JavaScript, so when this package
 * runs from its sources (tests), the built twin under `dist/` is used.
 */
function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, 'wal-checkpointer-worker.js'),
    join(here, '..', 'dist', 'wal-checkpointer-worker.js'),
  ];
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) {
    throw new PhysError(
      'PHYS_STORE_FAILED',
      `Cannot find ${candidates[0]}; build @phys/server first (pnpm --filter @phys/server build).`,
    );
  }
  return found;
}

/**
 * Checkpoints the write-ahead log of a {@link SqliteRunStore} on a worker thread, with its own
 * better-sqlite3 connection to the file, so that copying the log into the database file and
 * syncing it (tens of milliseconds for SQLite's usual 1000 pages) never runs on the event loop
 * inside a commit, as SQLite's automatic checkpoint does (the store turns that off).
 *
 * The store tells it what the log holds after each commit that wrote ({@link grew}), from
 * `PRAGMA wal_checkpoint(NOOP)` on its own connection: a read of the shared-memory index that
 * costs microseconds. The log grows only by commits, so looking after each of the store's own
 * (which also sees those of other connections to the file made meanwhile) needs no timer waking
 * an idle server up, and counts the frames exactly, which the size of the -wal file does not
 * (SQLite writes the file over from its start once a checkpoint has copied all of it).
 *
 * - When `pages` frames are not yet in the database, the thread runs a PASSIVE checkpoint:
 *   it takes no lock that writers need, copies what no reader still needs, and syncs the log
 *   before copying and the database file after the last frame (its connection has
 *   `synchronous = NORMAL`). SQLite reuses the log from its start at the next write once every
 *   frame is copied and no reader uses the log, never before: durability is unchanged.
 * - Under a steady stream of commits that never happens: each checkpoint ends with newer frames
 *   behind it, and the log would grow without bound. Once it holds {@link HARD_LIMIT_FACTOR}
 *   times `pages` frames, the thread first catches up with a PASSIVE checkpoint while writes go
 *   on, then the store holds its writes (requests keep being served; commits wait in the queue,
 *   the event loop never blocks) while the thread runs a RESTART checkpoint, which copies the
 *   last frames and waits (briefly) for readers of other connections to leave the log, so that
 *   the next commit restarts it. A reader holding an old snapshot for longer is waited for again
 *   later, at growing intervals, with a warning. Should the log reach twice that limit before
 *   the thread gets to it (a slow disk, a busy machine), the writes are held at once.
 * - When the thread dies, the store turns SQLite's automatic checkpoint back on (in commits, on
 *   the event loop): slower, never wrong.
 *
 * The thread is started at the first commit that writes, so a store that only reads never
 * starts one, and it is up long before the log needs a checkpoint.
 */
export class WalCheckpointer {
  readonly #options: WalCheckpointerOptions;
  readonly #hardPages: number;
  #worker: Worker | undefined;
  /** The request the thread is working on, and what to do with its result. */
  #inFlight: 'PASSIVE' | 'PREPARE' | 'RESTART' | undefined;
  #ready = false;
  #gone = false;
  #stopping = false;
  /** Ended by stop() before it was up: its exit is no crash. */
  #dismissed = false;
  #error: unknown;
  #holding = false;
  #holdTimer: NodeJS.Timeout | undefined;
  #retryAt = 0;
  #retryMs = RETRY_MS;
  #stopped: { resolve(truncated: boolean): void; truncated: boolean } | undefined;
  readonly #stats = { PASSIVE: 0, RESTART: 0, TRUNCATE: 0, busyRestarts: 0 };

  constructor(options: WalCheckpointerOptions) {
    this.#options = options;
    this.#hardPages = options.pages * HARD_LIMIT_FACTOR;
  }

  /** Checkpoints the thread ran, by mode. */
  get stats(): CheckpointStats {
    return { ...this.#stats };
  }

  /** Whether the thread is gone (it died, or was stopped). */
  get gone(): boolean {
    return this.#gone;
  }

  /** After a commit that wrote: frames in the log, and how many of them are in the database. */
  grew(log: number, checkpointed: number): void {
    if (this.#gone || this.#stopping) return;
    if (this.#worker === undefined) {
      try {
        this.#worker = this.#start();
      } catch (error) {
        this.#lose(error);
        return;
      }
    }
    if (log < 0) return;
    if (this.#inFlight !== undefined) {
      // The thread is behind (busy disk, busy machine) and the log keeps growing: hold the
      // commits now, and restart the log as soon as the thread is done with what it does.
      if (
        log >= 2 * this.#hardPages &&
        !this.#holding &&
        this.#inFlight !== 'RESTART' &&
        Date.now() >= this.#retryAt
      ) {
        this.#hold();
      }
      return;
    }
    if (log >= this.#hardPages && Date.now() >= this.#retryAt) {
      this.#send('PREPARE');
    } else if (log - checkpointed >= this.#options.pages) {
      this.#send('PASSIVE');
    }
  }

  /**
   * Ends the thread after a TRUNCATE checkpoint (the store commits nothing any more). Resolves to
   * whether that checkpoint ran: false when the thread never started or died.
   */
  stop(): Promise<boolean> {
    this.#stopping = true;
    const worker = this.#worker;
    if (worker === undefined || this.#gone) {
      this.#gone = true;
      return Promise.resolve(false);
    }
    // Someone awaits the thread now: it keeps the process alive until it answers.
    worker.ref();
    if (!this.#ready) {
      // Still starting (a store closed soon after its first write): the store's connection
      // checkpoints what little there is sooner than the thread would be up.
      this.#dismissed = true;
      return worker.terminate().then(() => false);
    }
    return new Promise<boolean>((resolve) => {
      this.#stopped = { resolve, truncated: false };
      // Queued behind a checkpoint under way, if any: the thread takes messages in order.
      const request: CheckpointRequest = {
        mode: 'TRUNCATE',
        busyTimeoutMs: this.#options.busyTimeoutMs,
      };
      worker.postMessage(request);
    });
  }

  /** Ends the thread at once, as a crash would (tests; the store then checkpoints itself). */
  async terminate(): Promise<void> {
    await this.#worker?.terminate();
  }

  #send(what: 'PASSIVE' | 'PREPARE' | 'RESTART'): void {
    const worker = this.#worker as Worker;
    this.#inFlight = what;
    // While it works, the thread keeps the process alive: writes held for a restart must not
    // be left waiting by a process that exits because nothing else is going on.
    worker.ref();
    const request: CheckpointRequest = {
      mode: what === 'RESTART' ? 'RESTART' : 'PASSIVE',
      busyTimeoutMs: what === 'RESTART' ? RESTART_BUSY_MS : this.#options.busyTimeoutMs,
    };
    worker.postMessage(request);
  }

  #start(): Worker {
    const data: CheckpointerData = { file: this.#options.file };
    // No flags of the parent: the thread needs none, and some (V8 options such as
    // --max-old-space-size) make the Worker constructor throw.
    const worker = new Worker(workerFile(), { workerData: data, execArgv: [] });
    // An idle checkpointer does not keep the process alive (an open connection does not either).
    worker.unref();
    worker.on('message', (message: CheckpointerMessage) => {
      if (message.type === 'ready') this.#ready = true;
      else this.#done(message);
    });
    worker.on('error', (error: Error) => {
      this.#error = error;
    });
    worker.on('exit', (code: number) => this.#exited(code));
    return worker;
  }

  #done(result: CheckpointResult): void {
    this.#stats[result.mode] += 1;
    const what = this.#inFlight;
    this.#inFlight = undefined;
    if (!this.#stopping) this.#worker?.unref();
    if (result.mode === 'TRUNCATE') {
      // Ran, even if busy (another connection kept writing): the store need not try it again.
      if (this.#stopped !== undefined) this.#stopped.truncated = true;
      return;
    }
    if (this.#stopping) {
      this.#release();
      return;
    }
    if (what === 'PREPARE' || (what === 'PASSIVE' && this.#holding)) {
      // Busy: another connection is checkpointing this file, and a RESTART could not either;
      // the next commit asks again.
      if (result.busy && !this.#holding) return;
      // The log is nearly all in the database: hold the writes for the few frames left. Nothing
      // is being committed now (a commit runs within one turn of the event loop, not across).
      if (!this.#holding) this.#hold();
      this.#send('RESTART');
      return;
    }
    if (what === 'RESTART') {
      this.#release();
      if (result.busy) {
        this.#stats.busyRestarts += 1;
        if (this.#retryMs === RETRY_MS) {
          this.#options.logger.warn(
            `The write-ahead log of ${this.#options.file} holds ${result.log} pages and cannot start over: another connection keeps reading an old snapshot of the file (or writes to it without pause). It grows until that reader ends its transaction; the run store tries again meanwhile, less and less often. Look for a long-running reader of the file (a backup, a shell).`,
            { file: this.#options.file, pages: result.log, checkpointed: result.checkpointed },
          );
        }
        this.#retryAt = Date.now() + this.#retryMs;
        this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
      } else {
        this.#retryAt = 0;
        this.#retryMs = RETRY_MS;
      }
    }
  }

  #hold(): void {
    this.#holding = true;
    this.#options.hold();
    this.#holdTimer = setTimeout(() => this.#release(), HOLD_LIMIT_MS);
    this.#holdTimer.unref();
  }

  #release(): void {
    if (!this.#holding) return;
    this.#holding = false;
    clearTimeout(this.#holdTimer);
    this.#options.release();
  }

  #exited(code: number): void {
    const stopped = this.#stopped;
    const expected = this.#dismissed || (stopped !== undefined && code === 0);
    this.#gone = true;
    this.#inFlight = undefined;
    this.#release();
    if (stopped !== undefined) stopped.resolve(stopped.truncated);
    if (!expected) this.#lose(this.#error ?? new Error(`the thread exited with code ${code}`));
  }

  #lose(error: unknown): void {
    this.#gone = true;
    const message = error instanceof Error ? error.message : String(error);
    if (this.#stopping) {
      this.#options.logger.warn(
        `The checkpointer thread of the run store ${this.#options.file} failed while the store closed: ${message}. The store checkpoints its write-ahead log itself before closing.`,
        { file: this.#options.file, error: message },
      );
      return;
    }
    this.#options.lost();
    this.#options.logger.error(
      `The checkpointer thread of the run store ${this.#options.file} stopped: ${message}. The store goes on, checkpointing its write-ahead log itself (in commits, which can delay requests by tens of milliseconds); restart the server to move checkpoints off the event loop again.`,
      { file: this.#options.file, error: message },
    );
  }
}
