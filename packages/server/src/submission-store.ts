import type { RunEvent, RunFilter, RunPage, RunRecord } from '@phys/core';
import type { InsertResult, NewRunEvent, RunStore } from '@phys/runtime';

/**
 * The store the server's orchestrator writes through: the run store itself, telling listeners
 * (the dashboard's live views) of each run that was created or changed, once the change is
 * durable.
 */
export class SubmissionStore implements RunStore {
  readonly #inner: RunStore;
  readonly #listeners = new Set<(jobId: string) => void>();

  constructor(inner: RunStore) {
    this.#inner = inner;
  }

  /** Calls `listener` with the job id after each insert or update of a run; returns its remover. */
  onChange(listener: (jobId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(jobId: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(jobId);
      } catch {
        // A listener's failure never breaks a write.
      }
    }
  }

  async insert(record: RunRecord, event: NewRunEvent): Promise<InsertResult> {
    const result = await this.#inner.insert(record, event);
    if (result.created) this.#changed(record.jobId);
    return result;
  }

  async update(
    jobId: string,
    patch: Partial<Omit<RunRecord, 'jobId' | 'pipeline' | 'submittedAt'>>,
    events?: readonly NewRunEvent[],
  ): Promise<RunRecord> {
    const record = await this.#inner.update(jobId, patch, events);
    this.#changed(jobId);
    return record;
  }

  append(jobId: string, events: readonly NewRunEvent[]): Promise<void> {
    return this.#inner.append(jobId, events);
  }

  get(jobId: string): Promise<RunRecord | undefined> {
    return this.#inner.get(jobId);
  }

  list(filter?: RunFilter): Promise<RunPage> {
    return this.#inner.list(filter);
  }

  events(jobId: string, after?: number, limit?: number): Promise<RunEvent[]> {
    return this.#inner.events(jobId, after, limit);
  }

  byStatus(statuses: readonly RunRecord['status'][]): Promise<RunRecord[]> {
    return this.#inner.byStatus(statuses);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
