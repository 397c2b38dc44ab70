import { closeSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  createConsoleLogger,
  type ExecutionStatus,
  type Logger,
  PhysError,
  type RunEvent,
  type RunFilter,
  type RunPage,
  type RunRecord,
  UsageError,
} from '@phys/core';
import type {
  FireOutcome,
  InsertResult,
  NewRunEvent,
  RunStore,
  ScheduleFire,
  ScheduleState,
  ScheduleStore,
} from '@phys/runtime';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/**
 * When a commit counts as done, in WAL mode:
 * - `FULL` (default): once the write-ahead log is synced to disk (`fdatasync`), so a change the
 *   server acknowledged survives a power cut or a kernel crash, not only a crash of the process:
 *   what SQLite's `PRAGMA synchronous = FULL` guarantees. The store syncs the log itself, on
 *   libuv's thread pool, once per group commit, so that the event loop goes on serving requests
 *   while the disk works (SQLite's own sync would block it).
 * - `NORMAL`: once committed to the log, unsynced (`PRAGMA synchronous = NORMAL`): a process
 *   crash loses nothing, but a power cut or kernel crash can lose the last commits, runs already
 *   acknowledged to a client.
 * @public
 */
export type SqliteSynchronous = 'FULL' | 'NORMAL';

/** Options of {@link SqliteRunStore}. @public */
export interface SqliteRunStoreOptions {
  /** See {@link SqliteSynchronous}; default `FULL`. */
  readonly synchronous?: SqliteSynchronous;
  /** Milliseconds to wait for a lock another connection holds (default 5000). */
  readonly busyTimeoutMs?: number;
  /**
   * Pages of the write-ahead log not yet copied into the database file after which a
   * checkpoint copies them, on a thread of its own (default 1000, SQLite's automatic checkpoint).
   * Past 4 times as many the log is started over at once: see the package's README.
   */
  readonly walCheckpointPages?: number;
  /** Where the store reports trouble with its checkpoints (default: warnings and errors to stderr). */
  readonly logger?: Logger;
}

/** One line of a run's log, as {@link SqliteRunStore.logTail} returns it. @public */
export type RunLogEvent = Extract<RunEvent, { type: 'log' }>;

/** Runs by status, as {@link SqliteRunStore.counts} returns them. @public */
export type RunCounts = Readonly<Record<ExecutionStatus, number>>;

const datasync = promisify(fdatasync);
/** Syncs of the write-ahead log under way at once (each holds a thread of libuv's pool of 4). */
const MAX_SYNCS = 2;

/** Pages of write-ahead log per checkpoint, by default (SQLite's own default). */
const DEFAULT_CHECKPOINT_PAGES = 1000;

/** Each store's checkpointer, for {@link walCheckpointerOf}. */
const checkpointers = new WeakMap<SqliteRunStore, WalCheckpointer>();

/**
 * The checkpointer of `store` (undefined where SQLite is too old for it): for this package's
 * tests, which look at its counts and end its thread as a crash would. Not exported by the
 * package's entries.
 */
export function walCheckpointerOf(store: SqliteRunStore): WalCheckpointer | undefined {
  return checkpointers.get(store);
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

interface FireRow {
  readonly schedule: string;
  readonly fire_time: string;
  readonly outcome: FireOutcome;
  readonly job_id: string | null;
  readonly missed: number | null;
  readonly manual: number;
  readonly claimed_at: string;
}

function fireOf(row: FireRow): ScheduleFire {
  return {
    schedule: row.schedule,
    fireTime: row.fire_time,
    outcome: row.outcome,
    ...(row.job_id === null ? {} : { jobId: row.job_id }),
    ...(row.missed === null ? {} : { missed: row.missed }),
    ...(row.manual === 1 ? { manual: true } : {}),
    claimedAt: row.claimed_at,
  };
}

interface RunRow {
  readonly id: number;
  readonly record: string;
  readonly last_seq: number;
}

/** A queued operation: its body runs inside the next batch's transaction. */
interface Pending {
  run(): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

function storeError(file: string, what: string, error: unknown): PhysError {
  const message = error instanceof Error ? error.message : String(error);
  return new PhysError(
    'PHYS_STORE_FAILED',
    `The run store ${file} could not ${what}: ${message}. Check that the file is on a local disk with free space and that no other program holds it locked.`,
    { cause: error, details: { file } },
  );
}

function runNotFound(jobId: string): PhysError {
  return new PhysError(
    'PHYS_RUN_NOT_FOUND',
    `No run has job id '${jobId}'. List the runs there are with \`phys runs ls\` (or listRuns()).`,
    { details: { jobId } },
  );
}

function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new UsageError(`A run list takes a limit from 1 to ${MAX_LIMIT}, got ${String(limit)}.`, {
      details: { limit },
    });
  }
  return limit;
}

function encodeCursor(id: number): string {
  return Buffer.from(`s${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const id = /^s(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))?.[1];
  if (id === undefined) {
    throw new UsageError(
      `'${cursor}' is not a cursor of this run list. Pass the nextCursor of the previous page unchanged, or leave it out to start from the newest run.`,
      { details: { cursor } },
    );
  }
  return Number(id);
}

/**
 * A `RunStore` (of `@phys/runtime`) in one SQLite file (better-sqlite3), what `phys serve` keeps its runs in:
 * WAL journal, `synchronous` FULL by default (see {@link SqliteSynchronous}), the schema migrated
 * on open (`PRAGMA user_version`), tables `runs` and `run_events` (a `seq` per run). It is the
 * `ScheduleStore` of the server's schedules too (tables `schedule_fires`, whose primary key
 * `(schedule, fire_time)` makes a fire claimable once across every process on the file, and
 * `schedule_state`), so a fire and the run it starts are committed to the same file.
 *
 * Every method resolves once its change is committed. Changes asked for in the same turn of the
 * event loop are committed together in one transaction (one sync for all of them: a group
 * commit), each in a savepoint of its own, so one failing change does not undo the others.
 *
 * Checkpoints (copying the write-ahead log into the database file) run on a worker thread with
 * a connection of its own, not in commits on the event loop: see `walCheckpointPages` of
 * {@link SqliteRunStoreOptions}. {@link SqliteRunStore.close} checkpoints the whole log and
 * truncates it.
 * @public
 */
export class SqliteRunStore implements RunStore, ScheduleStore {
  /** The database file (absolute). */
  readonly file: string;
  readonly #db: Database.Database;
  readonly #statements: ReturnType<typeof prepare>;
  readonly #synchronous: SqliteSynchronous;
  /** The write-ahead log, kept open to sync it (undefined with `NORMAL`). */
  #walFd: number | undefined;
  #pending: Pending[] = [];
  #scheduled = false;
  #closed = false;
  /** Checkpoints on a thread (undefined when this SQLite cannot tell the log's size cheaply). */
  readonly #checkpointer: WalCheckpointer | undefined;
  /** `PRAGMA wal_checkpoint(NOOP)`: frames in the log, and how many are in the database. */
  readonly #walFrames: Database.Statement | undefined;
  /** Commits wait while the checkpointer restarts the log (see WalCheckpointer). */
  #held: { readonly released: Promise<void>; release(): void } | undefined;
  /** Syncs of the log under way (at most {@link MAX_SYNCS}), and the latest of them to start. */
  #syncs = 0;
  #lastSync: Promise<void> | undefined;
  /** The sync that starts when one under way ends (for commits made while MAX_SYNCS run). */
  #nextSync: Promise<void> | undefined;
  /** Batches committed and not yet settled. */
  readonly #settling = new Set<Promise<void>>();

  /**
   * Opens (or creates) the store in `file` and migrates its schema. `PHYS_STORE_FAILED` when the
   * file cannot be opened or was written by a newer version of this package.
   */
  constructor(file: string, options: SqliteRunStoreOptions = {}) {
    this.file = resolve(file);
    const synchronous = options.synchronous ?? 'FULL';
    this.#synchronous = synchronous;
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
      throw new UsageError(
        `synchronous must be 'FULL' or 'NORMAL', got ${JSON.stringify(synchronous)}.`,
      );
    }
    const pages = options.walCheckpointPages ?? DEFAULT_CHECKPOINT_PAGES;
    if (!Number.isSafeInteger(pages) || pages < 1) {
      throw new UsageError(
        `walCheckpointPages must be a whole number of pages from 1 up, got ${JSON.stringify(pages)}.`,
      );
    }
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    const logger = options.logger ?? createConsoleLogger('warn', { component: 'run-store' });
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      this.#db = new Database(this.file);
    } catch (error) {
      throw storeError(this.file, 'be opened', error);
    }
    try {
      this.#db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      const mode = this.#db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') {
        throw new Error(`the file system does not support WAL (journal mode stays ${mode})`);
      }
      // FULL: the store syncs the log itself after each group commit (see SqliteSynchronous).
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('foreign_keys = ON');
      migrate(this.#db, this.file);
      this.#statements = prepare(this.#db);
      // NOOP, to read the log's size, is SQLite 3.51's; an older one would take it for PASSIVE
      // and checkpoint in every commit. There, SQLite's automatic checkpoint stays on instead.
      const version = this.#db.prepare('SELECT sqlite_version()').pluck().get() as string;
      if (atLeast(version, [3, 51, 0])) {
        this.#walFrames = this.#db.prepare('PRAGMA wal_checkpoint(NOOP)');
        this.#db.pragma('wal_autocheckpoint = 0');
        this.#checkpointer = new WalCheckpointer({
          file: this.file,
          pages,
          busyTimeoutMs,
          logger,
          hold: () => this.#hold(),
          release: () => this.#release(),
          lost: () => {
            if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${pages}`);
          },
        });
        checkpointers.set(this, this.#checkpointer);
      } else {
        this.#db.pragma(`wal_autocheckpoint = ${pages}`);
        logger.warn(
          `SQLite ${version} is older than 3.51: the run store ${this.file} checkpoints its write-ahead log in commits, on the event loop, which can delay requests. Install a newer better-sqlite3.`,
          { file: this.file, version },
        );
      }
      // Reading makes SQLite create the log file (if no write did yet).
      this.#db.prepare('SELECT count(*) FROM runs').get();
      if (synchronous === 'FULL') this.#walFd = openSync(`${this.file}-wal`, 'r+');
    } catch (error) {
      this.#db.close();
      throw PhysError.is(error) ? error : storeError(this.file, 'be opened', error);
    }
  }

  /** The schema version of the file (`PRAGMA user_version`). */
  get schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  insert(record: RunRecord, event: NewRunEvent): Promise<InsertResult> {
    return this.#queue(() => {
      const s = this.#statements;
      const existing = s.get.get(record.jobId) as RunRow | undefined;
      if (existing !== undefined) {
        return { created: false, record: JSON.parse(existing.record) as RunRecord };
      }
      const info = s.insertRun.run({
        job_id: record.jobId,
        pipeline: record.pipeline,
        status: record.status,
        priority: record.priority,
        record: JSON.stringify(record),
        last_seq: 1,
      });
      this.#insertEvents(Number(info.lastInsertRowid), 0, [event]);
      return { created: true, record: structuredClone(record) };
    });
  }

  update(
    jobId: string,
    patch: Partial<Omit<RunRecord, 'jobId' | 'pipeline' | 'submittedAt'>>,
    events: readonly NewRunEvent[] = [],
  ): Promise<RunRecord> {
    return this.#queue(() => {
      const row = this.#row(jobId);
      const { jobId: _j, pipeline: _p, submittedAt: _s, ...rest } = patch as Partial<RunRecord>;
      const next: Record<string, unknown> = JSON.parse(row.record);
      for (const [key, value] of Object.entries(rest)) {
        // An explicit undefined clears a field (a retried run loses the last attempt's error).
        if (value === undefined) delete next[key];
        else next[key] = value;
      }
      const record = next as unknown as RunRecord;
      // The record and the event count in one statement.
      this.#statements.updateRun.run({
        id: row.id,
        status: record.status,
        priority: record.priority,
        record: JSON.stringify(record),
        last_seq: this.#insertEvents(row.id, row.last_seq, events),
      });
      return record;
    });
  }

  append(jobId: string, events: readonly NewRunEvent[]): Promise<void> {
    return this.#queue(() => {
      const row = this.#row(jobId);
      if (events.length === 0) return;
      this.#statements.setSeq.run(this.#insertEvents(row.id, row.last_seq, events), row.id);
    });
  }

  get(jobId: string): Promise<RunRecord | undefined> {
    return this.#read(() => {
      const row = this.#statements.get.get(jobId) as RunRow | undefined;
      return row === undefined ? undefined : (JSON.parse(row.record) as RunRecord);
    });
  }

  list(filter: RunFilter = {}): Promise<RunPage> {
    // Bad filters fail at once, not inside a batch.
    let limit: number;
    let before: number | undefined;
    try {
      limit = listLimit(filter.limit);
      before = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#read(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.pipeline !== undefined) {
        where.push('pipeline = ?');
        args.push(filter.pipeline);
      }
      if (filter.status !== undefined) {
        where.push(`status IN (${filter.status.map(() => '?').join(', ') || 'NULL'})`);
        args.push(...filter.status);
      }
      if (before !== undefined) {
        where.push('id < ?');
        args.push(before);
      }
      const sql = `SELECT id, record FROM runs ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY id DESC LIMIT ?`;
      const rows = this.#db.prepare(sql).all(...args, limit + 1) as RunRow[];
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        runs: page.map((r) => JSON.parse(r.record) as RunRecord),
        ...(rows.length > limit && last !== undefined ? { nextCursor: encodeCursor(last.id) } : {}),
      };
    });
  }

  events(jobId: string, after = 0, limit = 1000): Promise<RunEvent[]> {
    return this.#read(() => {
      const rows = this.#statements.events.all(jobId, Math.max(0, after), Math.max(0, limit)) as {
        event: string;
      }[];
      return rows.map((r) => JSON.parse(r.event) as RunEvent);
    });
  }

  byStatus(statuses: readonly RunRecord['status'][]): Promise<RunRecord[]> {
    return this.#queue(() => {
      if (statuses.length === 0) return [];
      const rows = this.#db
        .prepare(
          `SELECT record FROM runs WHERE status IN (${statuses.map(() => '?').join(', ')}) ORDER BY priority DESC, id ASC`,
        )
        .all(...statuses) as { record: string }[];
      return rows.map((r) => JSON.parse(r.record) as RunRecord);
    });
  }

  /** The last `tail` log events of a run, oldest first (`[]` for an unknown run). */
  logTail(jobId: string, tail: number): Promise<RunLogEvent[]> {
    return this.#read(() => {
      const rows = this.#statements.logTail.all(jobId, Math.max(0, tail)) as { event: string }[];
      return rows.reverse().map((r) => JSON.parse(r.event) as RunLogEvent);
    });
  }

  /** How many runs the store holds in each status. */
  counts(): Promise<RunCounts> {
    return this.#read(() => {
      const counts: Record<string, number> = {
        QUEUED: 0,
        RUNNING: 0,
        COMPLETED: 0,
        FAILED: 0,
        CANCELLED: 0,
        TIMEOUT: 0,
      };
      for (const row of this.#statements.counts.all() as { status: string; n: number }[]) {
        counts[row.status] = row.n;
      }
      return counts as RunCounts;
    });
  }

  claimFire(fire: ScheduleFire): Promise<boolean> {
    return this.#queue(
      () =>
        this.#statements.claimFire.run({
          schedule: fire.schedule,
          fire_time: fire.fireTime,
          outcome: fire.outcome,
          job_id: fire.jobId ?? null,
          missed: fire.missed ?? null,
          manual: fire.manual === true ? 1 : 0,
          claimed_at: fire.claimedAt,
        }).changes === 1,
    );
  }

  promoteFire(schedule: string, fireTime: string, jobId: string): Promise<boolean> {
    return this.#queue(
      () =>
        this.#statements.promoteFire.run({ schedule, fire_time: fireTime, job_id: jobId })
          .changes === 1,
    );
  }

  fires(schedule: string, limit = 20): Promise<ScheduleFire[]> {
    return this.#queue(() =>
      (this.#statements.fires.all(schedule, limit) as FireRow[]).map(fireOf),
    );
  }

  getScheduleState(schedule: string): Promise<ScheduleState | undefined> {
    return this.#queue(() => {
      const row = this.#statements.scheduleState.get(schedule) as
        | { paused: number | null; since: string | null }
        | undefined;
      if (row === undefined) return undefined;
      return {
        ...(row.paused === null ? {} : { paused: row.paused === 1 }),
        ...(row.since === null ? {} : { since: row.since }),
      };
    });
  }

  setScheduleState(schedule: string, state: ScheduleState): Promise<void> {
    return this.#queue(() => {
      this.#statements.setScheduleState.run({
        schedule,
        paused: state.paused === undefined ? null : state.paused ? 1 : 0,
        since: state.since ?? null,
      });
    });
  }

  /**
   * Commits what is pending, checkpoints the whole write-ahead log and truncates it (while other
   * connections write to the file it may stay as it is), then closes the file. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Commits held for a restart of the log go first (the hold ends within 2 s whatever happens).
    while (this.#held !== undefined) await this.#held.released;
    this.#flush();
    await Promise.allSettled([...this.#settling]);
    // The thread runs the last checkpoint when it is up; else this connection does.
    const truncated = (await this.#checkpointer?.stop()) ?? false;
    if (!truncated) {
      try {
        this.#db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // Another connection holds the file: it checkpoints later, or when it closes.
      }
    }
    this.#db.close();
    if (this.#walFd !== undefined) closeSync(this.#walFd);
  }

  /** `SqliteSynchronous` of this store. */
  get synchronous(): SqliteSynchronous {
    return this.#synchronous;
  }

  /**
   * Resolves once the log is synced with everything committed before this call. A sync covers
   * what was committed before it started, so a commit made while one is under way needs another:
   * it starts at once, beside it, rather than after it (the disk flushes both together, and the
   * commit is durable about one sync later instead of up to two), up to {@link MAX_SYNCS} at a
   * time; beyond that, one sync starts when the latest ends, for all the commits made meanwhile.
   */
  #sync(): Promise<void> {
    const fd = this.#walFd;
    if (fd === undefined) return Promise.resolve();
    if (this.#syncs < MAX_SYNCS) {
      this.#syncs += 1;
      const sync: Promise<void> = datasync(fd).finally(() => {
        this.#syncs -= 1;
        if (this.#lastSync === sync) this.#lastSync = undefined;
      });
      this.#lastSync = sync;
      return sync;
    }
    this.#nextSync ??= (this.#lastSync as Promise<void>)
      .catch(() => {})
      .then(() => {
        this.#nextSync = undefined;
        return this.#sync();
      });
    return this.#nextSync;
  }

  #row(jobId: string): RunRow {
    const row = this.#statements.get.get(jobId) as RunRow | undefined;
    if (row === undefined) throw runNotFound(jobId);
    return row;
  }

  /** Inserts `events` after `lastSeq`; returns the run's new last seq (the caller records it). */
  #insertEvents(runId: number, lastSeq: number, events: readonly NewRunEvent[]): number {
    let seq = lastSeq;
    for (const event of events) {
      seq += 1;
      this.#statements.insertEvent.run({
        run_id: runId,
        seq,
        type: event.type,
        event: JSON.stringify({ ...event, seq }),
      });
    }
    return seq;
  }

  /**
   * A read: at once when nothing is pending or being synced (everything committed is durable
   * then), else in the next batch, after the changes asked for before it.
   */
  #read<T>(run: () => T): Promise<T> {
    if (
      this.#closed ||
      this.#scheduled ||
      this.#pending.length > 0 ||
      this.#lastSync !== undefined ||
      this.#nextSync !== undefined
    ) {
      return this.#queue(run);
    }
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #queue<T>(run: () => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new PhysError(
          'PHYS_STORE_CLOSED',
          `The run store ${this.file} was closed. Open a new store (and orchestrator) to go on.`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Runs every pending operation in one transaction, each in a savepoint, and settles them. */
  #flush(): void {
    this.#scheduled = false;
    // Held: the operations wait in the queue; #release flushes them.
    if (this.#held !== undefined) return;
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    const savepoint = this.#db.transaction((op: Pending) => op.run());
    const changesBefore = this.#totalChanges();
    try {
      this.#db.transaction(() => {
        for (const op of batch) {
          try {
            outcomes.push({ ok: true, value: savepoint(op) });
          } catch (error) {
            outcomes.push({ ok: false, value: error });
          }
        }
      })();
    } catch (error) {
      // The commit itself failed: nothing of the batch is durable.
      const failure = storeError(this.file, 'commit', error);
      for (const op of batch) op.reject(failure);
      return;
    }
    // Nothing is handed out before it is durable: a batch that changed something waits for the
    // sync of its commit; one that only read waits for the syncs under way (it may have read what
    // they make durable; the latest to start covers every commit before it).
    const wrote = this.#totalChanges() !== changesBefore;
    if (wrote) this.#walGrew();
    const durable = wrote ? this.#sync() : (this.#nextSync ?? this.#lastSync ?? Promise.resolve());
    const settled = durable.then(
      () => {
        batch.forEach((op, i) => {
          const outcome = outcomes[i] as { ok: boolean; value: unknown };
          if (outcome.ok) op.resolve(outcome.value);
          else op.reject(outcome.value);
        });
      },
      (error: unknown) => {
        const failure = storeError(this.file, 'sync its write-ahead log', error);
        for (const op of batch) op.reject(failure);
      },
    );
    this.#settling.add(settled);
    void settled.finally(() => this.#settling.delete(settled));
  }

  /** Tells the checkpointer what the log holds after a commit that wrote to it. */
  #walGrew(): void {
    const checkpointer = this.#checkpointer;
    if (checkpointer === undefined || checkpointer.gone) return;
    let wal: { log: number; checkpointed: number };
    try {
      wal = (this.#walFrames as Database.Statement).get() as typeof wal;
    } catch {
      // The commit is done either way; the next one looks again.
      return;
    }
    checkpointer.grew(wal.log, wal.checkpointed);
  }

  /** Holds commits (operations wait in the queue) while the checkpointer restarts the log. */
  #hold(): void {
    if (this.#held !== undefined) return;
    let release = (): void => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#held = { released, release };
  }

  #release(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    held.release();
    if (this.#pending.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #totalChanges(): number {
    return this.#statements.totalChanges.pluck().get() as number;
  }
}

/** Whether SQLite `version` (`3.51.2`) is `minimum` or newer. */
function atLeast(version: string, minimum: readonly number[]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < minimum.length; i++) {
    const have = parts[i] ?? 0;
    const need = minimum[i] as number;
    if (have !== need) return have > need;
  }
  return true;
}

function prepare(db: Database.Database) {
  return {
    get: db.prepare('SELECT id, record, last_seq FROM runs WHERE job_id = ?'),
    insertRun: db.prepare(
      'INSERT INTO runs (job_id, pipeline, status, priority, record, last_seq) VALUES (@job_id, @pipeline, @status, @priority, @record, @last_seq)',
    ),
    updateRun: db.prepare(
      'UPDATE runs SET status = @status, priority = @priority, record = @record, last_seq = @last_seq WHERE id = @id',
    ),
    insertEvent: db.prepare(
      'INSERT INTO run_events (run_id, seq, type, event) VALUES (@run_id, @seq, @type, @event)',
    ),
    setSeq: db.prepare('UPDATE runs SET last_seq = ? WHERE id = ?'),
    events: db.prepare(
      'SELECT e.event FROM run_events e JOIN runs r ON r.id = e.run_id WHERE r.job_id = ? AND e.seq > ? ORDER BY e.seq LIMIT ?',
    ),
    logTail: db.prepare(
      "SELECT e.event FROM run_events e JOIN runs r ON r.id = e.run_id WHERE r.job_id = ? AND e.type = 'log' ORDER BY e.seq DESC LIMIT ?",
    ),
    counts: db.prepare('SELECT status, count(*) AS n FROM runs GROUP BY status'),
    totalChanges: db.prepare('SELECT total_changes()'),
    claimFire: db.prepare(
      'INSERT OR IGNORE INTO schedule_fires (schedule, fire_time, outcome, job_id, missed, manual, claimed_at) VALUES (@schedule, @fire_time, @outcome, @job_id, @missed, @manual, @claimed_at)',
    ),
    promoteFire: db.prepare(
      "UPDATE schedule_fires SET outcome = 'launched', job_id = @job_id WHERE schedule = @schedule AND fire_time = @fire_time AND outcome = 'queued'",
    ),
    fires: db.prepare(
      'SELECT * FROM schedule_fires WHERE schedule = ? ORDER BY fire_time DESC LIMIT ?',
    ),
    scheduleState: db.prepare('SELECT paused, since FROM schedule_state WHERE schedule = ?'),
    setScheduleState: db.prepare(
      'INSERT INTO schedule_state (schedule, paused, since) VALUES (@schedule, @paused, @since) ON CONFLICT (schedule) DO UPDATE SET paused = excluded.paused, since = excluded.since',
    ),
  };
}

/** Brings the schema to the newest version, one transaction per step. */
function migrate(db: Database.Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new PhysError(
      'PHYS_STORE_FAILED',
      `The run store ${file} has schema version ${current}, newer than this @phys/server knows (${MIGRATIONS.length}). Upgrade @phys/server, or point --store at another file.`,
      { details: { file, version: current, known: MIGRATIONS.length } },
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
