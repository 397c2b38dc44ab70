import type { RunEvent, RunFilter, RunPage, RunRecord } from '@phys/core';

/** A {@link @phys/core#RunEvent} before the store numbers it. @public */
export type NewRunEvent = RunEvent extends infer E
  ? E extends RunEvent
    ? Omit<E, 'seq'>
    : never
  : never;

/** What {@link RunStore.insert} did: created the run, or found the one with that job id. @public */
export interface InsertResult {
  readonly created: boolean;
  readonly record: RunRecord;
}

/**
 * Where an orchestrator keeps its runs and their events. Every method resolves only once the
 * change is durable for that store (a memory store: at once; SQLite: committed), so that what an
 * orchestrator acknowledges is never lost. Implementations: {@link MemoryRunStore} (in process),
 * `SqliteRunStore` of `@phys/server`.
 * @public
 */
export interface RunStore {
  /**
   * Adds a QUEUED run and its first event, unless a run with that job id exists: then nothing
   * changes and that run is returned (`created: false`). Atomic: of concurrent inserts of one job
   * id exactly one creates it.
   */
  insert(record: RunRecord, event: NewRunEvent): Promise<InsertResult>;
  /**
   * Applies `patch` to the run and appends `events`, atomically; returns the new record.
   * `PHYS_RUN_NOT_FOUND` when the run does not exist.
   */
  update(
    jobId: string,
    patch: Partial<Omit<RunRecord, 'jobId' | 'pipeline' | 'submittedAt'>>,
    events?: readonly NewRunEvent[],
  ): Promise<RunRecord>;
  /** Appends events without changing the record (node progress, log lines). */
  append(jobId: string, events: readonly NewRunEvent[]): Promise<void>;
  get(jobId: string): Promise<RunRecord | undefined>;
  /** Newest first, filtered, paginated by an opaque cursor. */
  list(filter?: RunFilter): Promise<RunPage>;
  /** The run's events with `seq > after`, oldest first, at most `limit` (default 1000). */
  events(jobId: string, after?: number, limit?: number): Promise<RunEvent[]>;
  /** Runs in these statuses, in queue order: priority high first, then submission order. */
  byStatus(statuses: readonly RunRecord['status'][]): Promise<RunRecord[]>;
  close(): Promise<void>;
}
