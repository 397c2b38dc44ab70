import { PhysError, type RunEvent, type RunFilter, type RunPage, type RunRecord } from '@phys/core';
import type { InsertResult, NewRunEvent, RunStore } from './run-store.js';
import { decodeCursor, encodeCursor, listLimit, runNotFound } from './store-support.js';

interface Entry {
  /** Insertion order: the tie-break of equal submission times, and the cursor. */
  readonly order: number;
  record: RunRecord;
  readonly events: RunEvent[];
}

/** Freezes a plain JSON value and everything in it (parts already frozen are shared). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/**
 * A {@link RunStore} in this process's memory: runs live as long as the process. The reference
 * semantics every store meets (the store contract suite of `@phys/testing` checks them).
 * Records and events are stored as deeply frozen copies of what was given and handed out as
 * they are: nobody can change what the store holds, and reads copy nothing.
 * @public
 */
export class MemoryRunStore implements RunStore {
  readonly #runs = new Map<string, Entry>();
  /** The runs in insertion order: `order` n at index n - 1. */
  readonly #ordered: Entry[] = [];
  #order = 0;
  #closed = false;

  /** {@inheritDoc RunStore.insert} */
  async insert(record: RunRecord, event: NewRunEvent): Promise<InsertResult> {
    this.#open();
    const existing = this.#runs.get(record.jobId);
    if (existing !== undefined) return { created: false, record: existing.record };
    const entry: Entry = {
      order: ++this.#order,
      record: deepFreeze(structuredClone(record)),
      events: [],
    };
    this.#runs.set(record.jobId, entry);
    this.#ordered.push(entry);
    push(entry, [event]);
    return { created: true, record: entry.record };
  }

  /** {@inheritDoc RunStore.update} */
  async update(
    jobId: string,
    patch: Partial<Omit<RunRecord, 'jobId' | 'pipeline' | 'submittedAt'>>,
    events: readonly NewRunEvent[] = [],
  ): Promise<RunRecord> {
    this.#open();
    const entry = this.#entry(jobId);
    const { jobId: _j, pipeline: _p, submittedAt: _s, ...rest } = patch as Partial<RunRecord>;
    const next: Record<string, unknown> = { ...entry.record };
    for (const [key, value] of Object.entries(structuredClone(rest))) {
      // An explicit undefined clears a field (a retried run loses the last attempt's error).
      if (value === undefined) delete next[key];
      else next[key] = value;
    }
    entry.record = deepFreeze(next) as unknown as RunRecord;
    push(entry, events);
    return entry.record;
  }

  /** {@inheritDoc RunStore.append} */
  async append(jobId: string, events: readonly NewRunEvent[]): Promise<void> {
    this.#open();
    push(this.#entry(jobId), events);
  }

  /** {@inheritDoc RunStore.get} */
  async get(jobId: string): Promise<RunRecord | undefined> {
    this.#open();
    const entry = this.#runs.get(jobId);
    return entry?.record;
  }

  /** {@inheritDoc RunStore.list} */
  async list(filter: RunFilter = {}): Promise<RunPage> {
    this.#open();
    const limit = listLimit(filter.limit);
    const before = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const statuses = filter.status === undefined ? undefined : new Set<string>(filter.status);
    // Newest first: insertion order is submission order, and run n sits at index n - 1. Walk
    // back from the cursor and stop one match past the page.
    const page: Entry[] = [];
    let more = false;
    const start = Math.min(this.#ordered.length, before === undefined ? Infinity : before - 1);
    for (let i = start - 1; i >= 0; i--) {
      const e = this.#ordered[i] as Entry;
      if (filter.pipeline !== undefined && e.record.pipeline !== filter.pipeline) continue;
      if (statuses !== undefined && !statuses.has(e.record.status)) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(e);
    }
    const last = page.at(-1);
    return {
      runs: page.map((e) => e.record),
      ...(more && last !== undefined ? { nextCursor: encodeCursor(last.order) } : {}),
    };
  }

  /** {@inheritDoc RunStore.events} */
  async events(jobId: string, after = 0, limit = 1000): Promise<RunEvent[]> {
    this.#open();
    const entry = this.#runs.get(jobId);
    if (entry === undefined) return [];
    // seq n sits at index n - 1.
    return entry.events.slice(Math.max(0, after), Math.max(0, after) + limit);
  }

  /** {@inheritDoc RunStore.byStatus} */
  async byStatus(statuses: readonly RunRecord['status'][]): Promise<RunRecord[]> {
    this.#open();
    const wanted = new Set<string>(statuses);
    return [...this.#runs.values()]
      .filter((e) => wanted.has(e.record.status))
      .sort((a, b) => b.record.priority - a.record.priority || a.order - b.order)
      .map((e) => e.record);
  }

  /** {@inheritDoc RunStore.close} */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #entry(jobId: string): Entry {
    const entry = this.#runs.get(jobId);
    if (entry === undefined) throw runNotFound(jobId);
    return entry;
  }

  #open(): void {
    if (this.#closed) {
      throw new PhysError(
        'PHYS_STORE_CLOSED',
        'The run store was closed. Create a new store (and orchestrator) to go on.',
      );
    }
  }
}

function push(entry: Entry, events: readonly NewRunEvent[]): void {
  for (const event of events) {
    entry.events.push(
      deepFreeze(
        structuredClone({ ...event, seq: entry.events.length + 1 }),
      ) as unknown as RunEvent,
    );
  }
}
