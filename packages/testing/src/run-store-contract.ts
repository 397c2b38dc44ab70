import {
  type ExecutionStatus,
  PhysError,
  type RunEvent,
  type RunRecord,
  serializeError,
} from '@phys/core';
import type { NewRunEvent, RunStore } from '@phys/runtime';
import { afterEach, describe, expect, it } from 'vitest';

/** Options of {@link describeRunStoreContract}. @public */
export interface RunStoreContractOptions {
  /** Timeout of each check in milliseconds (default 30 000). */
  readonly testTimeoutMs?: number;
}

/**
 * Defines the contract every {@link @phys/runtime#RunStore} meets as vitest blocks: insert is idempotent per
 * job id (also under concurrent inserts), updates and appends number events per run from 1,
 * records round-trip every field, lists are newest first with filters and cursor pagination
 * that visit each run once, and `byStatus` returns queue order. `makeStore` is called for every
 * check and must return a fresh, empty store; the suite closes it afterwards.
 *
 * @example
 * ```ts
 * describeRunStoreContract('sqlite', async () => SqliteRunStore.open(join(dir(), 'runs.db')));
 * ```
 * @public
 */
export function describeRunStoreContract(
  name: string,
  makeStore: () => RunStore | Promise<RunStore>,
  options: RunStoreContractOptions = {},
): void {
  const timeout = options.testTimeoutMs ?? 30_000;

  describe(`run store contract: ${name}`, () => {
    const open: RunStore[] = [];
    const fresh = async (): Promise<RunStore> => {
      const store = await makeStore();
      open.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close();
    });

    let clock = Date.parse('2026-01-01T00:00:00.000Z');
    const tick = (): string => {
      clock += 1000;
      return new Date(clock).toISOString();
    };
    const record = (jobId: string, extra: Partial<RunRecord> = {}): RunRecord => ({
      jobId,
      pipeline: 'scan',
      status: 'QUEUED',
      params: { n: 1 },
      priority: 0,
      trigger: { kind: 'api' },
      attempt: 0,
      maxAttempts: 1,
      // Later submissions later: newest first means last inserted first.
      submittedAt: tick(),
      ...extra,
    });
    const queuedEvent = (at = new Date(clock).toISOString()): NewRunEvent => ({
      at,
      type: 'status',
      status: 'QUEUED',
      attempt: 0,
    });
    const status = (s: ExecutionStatus, attempt = 1): NewRunEvent => ({
      at: new Date(clock).toISOString(),
      type: 'status',
      status: s,
      attempt,
    });

    async function expectPhysError(promise: Promise<unknown>, code?: string): Promise<void> {
      let thrown: unknown;
      try {
        await promise;
      } catch (error) {
        thrown = error;
      }
      expect(PhysError.is(thrown), `expected a PhysError, got ${String(thrown)}`).toBe(true);
      if (code !== undefined) expect((thrown as PhysError).code).toBe(code);
    }

    it('insert creates a QUEUED run with its first event (seq 1)', { timeout }, async () => {
      const store = await fresh();
      const run = record('r-insert');
      const result = await store.insert(run, queuedEvent());
      expect(result).toEqual({ created: true, record: run });
      expect(await store.get('r-insert')).toEqual(run);
      const events = await store.events('r-insert');
      expect(events).toEqual([{ seq: 1, ...queuedEvent() }]);
      expect(await store.get('r-missing')).toBeUndefined();
    });

    it('insert of an existing job id changes nothing and returns that run', {
      timeout,
    }, async () => {
      const store = await fresh();
      const first = record('r-twice');
      await store.insert(first, queuedEvent());
      const again = await store.insert(
        record('r-twice', { pipeline: 'other', params: { n: 2 } }),
        queuedEvent(),
      );
      expect(again).toEqual({ created: false, record: first });
      expect(await store.get('r-twice')).toEqual(first);
      expect(await store.events('r-twice')).toHaveLength(1);
    });

    it('of concurrent inserts of one job id exactly one creates it', { timeout }, async () => {
      const store = await fresh();
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          store.insert(record('r-race', { params: { i } }), queuedEvent()),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created)?.record;
      for (const r of results) expect(r.record).toEqual(winner);
      expect(await store.events('r-race')).toHaveLength(1);
      expect((await store.list()).runs.map((r) => r.jobId)).toEqual(['r-race']);
    });

    it('update patches the record and appends its events in order', { timeout }, async () => {
      const store = await fresh();
      const run = record('r-update');
      await store.insert(run, queuedEvent());
      const startedAt = new Date(clock).toISOString();
      const running = await store.update('r-update', { status: 'RUNNING', attempt: 1, startedAt }, [
        status('RUNNING'),
      ]);
      expect(running).toEqual({ ...run, status: 'RUNNING', attempt: 1, startedAt });
      expect(await store.get('r-update')).toEqual(running);
      const error = serializeError(new PhysError('PHYS_STAGE_FAILED', 'boom', { retryable: true }));
      const done = await store.update(
        'r-update',
        {
          status: 'FAILED',
          finishedAt: startedAt,
          durationSeconds: 1.25,
          outputs: {},
          metrics: { 'fit.loss': 0.5 },
          nodes: {
            fit: { status: 'FAILED', attempts: 2, durationSeconds: 0.5, error },
            load: { status: 'CACHED', attempts: 0 },
          },
          error,
        },
        [{ ...status('FAILED'), error } as NewRunEvent],
      );
      expect(done.error).toEqual(error);
      expect(done.nodes?.fit?.error).toEqual(error);
      expect(await store.get('r-update')).toEqual(done);
      const events = await store.events('r-update');
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(events.map((e) => (e.type === 'status' ? e.status : e.type))).toEqual([
        'QUEUED',
        'RUNNING',
        'FAILED',
      ]);
      expect((events[2] as Extract<RunEvent, { type: 'status' }>).error).toEqual(error);
    });

    it('update never changes jobId, pipeline or submittedAt', { timeout }, async () => {
      const store = await fresh();
      const run = record('r-fixed');
      await store.insert(run, queuedEvent());
      const patched = await store.update('r-fixed', {
        status: 'RUNNING',
        ...({ jobId: 'other', pipeline: 'other', submittedAt: 'x' } as object),
      });
      expect(patched).toMatchObject({
        jobId: 'r-fixed',
        pipeline: run.pipeline,
        submittedAt: run.submittedAt,
      });
      expect(await store.get('other')).toBeUndefined();
    });

    it('update and append of an unknown run fail with PHYS_RUN_NOT_FOUND', {
      timeout,
    }, async () => {
      const store = await fresh();
      await expectPhysError(store.update('r-none', { status: 'RUNNING' }), 'PHYS_RUN_NOT_FOUND');
      await expectPhysError(store.append('r-none', [status('RUNNING')]), 'PHYS_RUN_NOT_FOUND');
      expect(await store.events('r-none')).toEqual([]);
    });

    it('numbers events per run from 1, and reads them after a seq', { timeout }, async () => {
      const store = await fresh();
      await store.insert(record('r-a'), queuedEvent());
      await store.insert(record('r-b'), queuedEvent());
      const node = (n: string): NewRunEvent => ({
        at: new Date(clock).toISOString(),
        type: 'node',
        node: n,
        status: 'RUNNING',
        attempt: 1,
      });
      const log: NewRunEvent = {
        at: new Date(clock).toISOString(),
        type: 'log',
        level: 'warn',
        message: 'ünïcode ✓ "quoted"\nsecond line',
        node: 'x',
      };
      await store.append('r-a', [node('x'), node('y')]);
      await store.append('r-b', [log]);
      await store.append('r-a', [log]);
      expect((await store.events('r-a')).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect((await store.events('r-b')).map((e) => e.seq)).toEqual([1, 2]);
      expect(await store.events('r-b', 1)).toEqual([{ seq: 2, ...log }]);
      expect((await store.events('r-a', 1, 2)).map((e) => e.seq)).toEqual([2, 3]);
      expect(await store.events('r-a', 4)).toEqual([]);
      expect((await store.events('r-a', 2))[0]).toEqual({ seq: 3, ...node('y') });
    });

    it('round-trips every field of a record', { timeout }, async () => {
      const store = await fresh();
      const run = record('r-fields', {
        params: { nested: { list: [1, 'two', { three: 3.5 }], flag: true, none: null }, s: 'é' },
        priority: -3,
        trigger: { kind: 'schedule', schedule: 'nightly', fireTime: '2026-01-01T00:00:00.000Z' },
        maxAttempts: 4,
      });
      await store.insert(run, queuedEvent());
      const patch = {
        status: 'COMPLETED' as const,
        attempt: 2,
        startedAt: '2026-01-01T00:00:01.000Z',
        finishedAt: '2026-01-01T00:00:03.500Z',
        durationSeconds: 2.5,
        outputs: { values: [0.1, 0.2], artifact: { kind: 'artifact', path: 'a/b.json' } },
        metrics: { 'a.energy': -1.5e-12, count: 3 },
        nodes: { a: { status: 'COMPLETED' as const, attempts: 1, durationSeconds: 0.25 } },
      };
      await store.update('r-fields', patch);
      expect(await store.get('r-fields')).toEqual({ ...run, ...patch });
    });

    it('lists newest first, filtered by pipeline and statuses', { timeout }, async () => {
      const store = await fresh();
      await store.insert(record('l-1', { pipeline: 'scan' }), queuedEvent());
      await store.insert(record('l-2', { pipeline: 'fit' }), queuedEvent());
      await store.insert(record('l-3', { pipeline: 'scan' }), queuedEvent());
      await store.update('l-1', { status: 'RUNNING' });
      await store.update('l-2', { status: 'FAILED' });
      const ids = async (filter?: Parameters<RunStore['list']>[0]) =>
        (await store.list(filter)).runs.map((r) => r.jobId);
      expect(await ids()).toEqual(['l-3', 'l-2', 'l-1']);
      expect(await ids({ pipeline: 'scan' })).toEqual(['l-3', 'l-1']);
      expect(await ids({ status: ['FAILED', 'RUNNING'] })).toEqual(['l-2', 'l-1']);
      expect(await ids({ pipeline: 'scan', status: ['QUEUED'] })).toEqual(['l-3']);
      expect(await ids({ pipeline: 'none' })).toEqual([]);
      expect((await store.list()).nextCursor).toBeUndefined();
    });

    it('paginates with a cursor, visiting every run once', { timeout }, async () => {
      const store = await fresh();
      const all: string[] = [];
      for (let i = 0; i < 7; i++) {
        const id = `p-${i}`;
        all.unshift(id);
        await store.insert(record(id, { pipeline: i % 2 === 0 ? 'even' : 'odd' }), queuedEvent());
      }
      const walk = async (filter: { pipeline?: string }, limit: number): Promise<string[]> => {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 20; page++) {
          const result = await store.list({ ...filter, limit, ...(cursor ? { cursor } : {}) });
          expect(result.runs.length).toBeLessThanOrEqual(limit);
          seen.push(...result.runs.map((r) => r.jobId));
          cursor = result.nextCursor;
          if (cursor === undefined) return seen;
          expect(typeof cursor).toBe('string');
        }
        throw new Error('the cursor never ended');
      };
      expect(await walk({}, 3)).toEqual(all);
      expect(await walk({}, 1)).toEqual(all);
      expect(await walk({}, 7)).toEqual(all);
      expect(await walk({ pipeline: 'even' }, 2)).toEqual(all.filter((id) => /[0246]$/.test(id)));
      // A run submitted while paging shows up on a new walk, not in the middle of this one.
      const first = await store.list({ limit: 2 });
      await store.insert(record('p-new'), queuedEvent());
      const second = await store.list({ limit: 2, cursor: first.nextCursor as string });
      expect(second.runs.map((r) => r.jobId)).toEqual(all.slice(2, 4));
    });

    it('rejects a foreign cursor and a limit outside 1..500 with a PhysError', {
      timeout,
    }, async () => {
      const store = await fresh();
      await store.insert(record('c-1'), queuedEvent());
      await expectPhysError(store.list({ cursor: 'not-a-cursor' }));
      await expectPhysError(store.list({ limit: 0 }));
      await expectPhysError(store.list({ limit: 501 }));
      expect((await store.list({ limit: 500 })).runs).toHaveLength(1);
    });

    it('byStatus returns queue order: priority high first, then submission order', {
      timeout,
    }, async () => {
      const store = await fresh();
      await store.insert(record('q-low', { priority: 0 }), queuedEvent());
      await store.insert(record('q-high', { priority: 5 }), queuedEvent());
      await store.insert(record('q-low-2', { priority: 0 }), queuedEvent());
      await store.insert(record('q-high-2', { priority: 5 }), queuedEvent());
      await store.insert(record('q-run', { priority: 9 }), queuedEvent());
      await store.update('q-run', { status: 'RUNNING' });
      const ids = async (statuses: ExecutionStatus[]) =>
        (await store.byStatus(statuses)).map((r) => r.jobId);
      expect(await ids(['QUEUED'])).toEqual(['q-high', 'q-high-2', 'q-low', 'q-low-2']);
      expect(await ids(['RUNNING'])).toEqual(['q-run']);
      expect(await ids(['QUEUED', 'RUNNING'])).toEqual([
        'q-run',
        'q-high',
        'q-high-2',
        'q-low',
        'q-low-2',
      ]);
      expect(await ids(['COMPLETED'])).toEqual([]);
    });

    it('keeps what it stores: changing a given or returned record changes nothing', {
      timeout,
    }, async () => {
      const store = await fresh();
      const given = record('x-copy', { params: { list: [1] } }) as unknown as {
        params: { list: number[] };
      };
      await store.insert(given as unknown as RunRecord, queuedEvent());
      given.params.list.push(2);
      const got = (await store.get('x-copy')) as unknown as { params: { list: number[] } };
      try {
        // A store may hand out copies, or frozen records (then this throws).
        got.params.list.push(3);
      } catch {
        // frozen
      }
      expect((await store.get('x-copy'))?.params).toEqual({ list: [1] });
      const events = await store.events('x-copy');
      try {
        (events[0] as { seq: number }).seq = 99;
      } catch {
        // frozen
      }
      expect((await store.events('x-copy'))[0]?.seq).toBe(1);
    });
  });
}
