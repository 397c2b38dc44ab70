import {
  type DagState,
  DagValidationError,
  defineStage,
  type MetricsCollector,
  type NodeSpec,
  type PipelineHook,
  PolicyBag,
  resources,
  type Scheduler,
} from '@phys/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Fail, Merge, Mutate, Probe, Sleep } from './fixtures/stages.js';
import { configFile, orderChecker, randomDag } from './helpers.js';

const diamond = (): NodeSpec[] => [
  { id: 'a', stage: Add({ amount: 1 }) },
  { id: 'b', stage: Add({ amount: 2 }), deps: ['a'] },
  { id: 'c', stage: Add({ amount: 3 }), deps: ['a'] },
  { id: 'd', stage: Merge({}), deps: ['b', 'c'] },
];

function executor(options: ConstructorParameters<typeof DagExecutor>[0] = {}): DagExecutor {
  return new DagExecutor({
    scheduler: new LocalScheduler({ maxWorkers: 2 }),
    metrics: [],
    ...options,
  });
}

describe('DagExecutor: data flow and results', () => {
  it('runs the diamond: merge payload 7 = (1+2)+(1+3), with every node recorded', async () => {
    const result = await executor().run({ payload: 0 }, diamond());
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs).toEqual({ d: { payload: 7 } });
    expect(new Set(result.order)).toEqual(new Set(['a', 'b', 'c', 'd']));
    expect(result.order).toEqual(['a', 'b', 'c', 'd']);
    expect(Object.keys(result.nodes)).toEqual(['a', 'b', 'c', 'd']);
    expect(result.nodes.d).toMatchObject({
      status: 'COMPLETED',
      attempts: 1,
      stage: 'test/merge',
      cacheHit: false,
    });
    expect(result.nodes.d?.wallTimeSeconds).toBeGreaterThanOrEqual(0);
    expect(result.provenance.nodeRuns).toHaveLength(4);
    expect(result.metrics).toEqual({ 'd.inputs': 2 });
    expect(result.counts).toEqual({ COMPLETED: 4 });
  });

  it('hands roots the initial state, one-parent nodes the parent state, and several parents a DagState in deps order', async () => {
    const result = await executor().run({ payload: 10 }, [
      { id: 'r', stage: Probe({}) },
      { id: 'x', stage: Add({ amount: 1 }) },
      { id: 'y', stage: Add({ amount: 2 }) },
      { id: 'one', stage: Probe({}), deps: ['x'] },
      { id: 'many', stage: Probe({}), deps: ['y', 'x'] },
    ]);
    const input = (id: string) => (result.outputs[id] as { input: unknown }).input;
    expect(input('r')).toEqual({ payload: 10 });
    expect(input('one')).toEqual({ payload: 11 });
    const many = input('many') as { inputs: Map<string, unknown> };
    expect([...many.inputs.keys()]).toEqual(['y', 'x']);
    expect([...many.inputs.values()]).toEqual([{ payload: 12 }, { payload: 11 }]);
  });

  it('keys a DagState by the names inputNames gives the deps, and hands the stage its point', async () => {
    const Seen = defineStage({
      name: 'test/seen',
      config: z.object({}),
      process: (state: DagState, ctx) => ({
        state: { names: [...state.keys()], x: state.get('x'), point: ctx.point ?? null },
      }),
    });
    const result = await executor().run({ payload: 10 }, [
      { id: 'x[k=1]', stage: Add({ amount: 1 }), point: { k: 1 } },
      { id: 'y', stage: Add({ amount: 2 }) },
      {
        id: 'many[k=1]',
        stage: Seen({}),
        deps: ['y', 'x[k=1]'],
        inputNames: { 'x[k=1]': 'x' },
        point: { k: 1 },
      },
      { id: 'plain', stage: Seen({}), deps: ['y', 'x[k=1]'] },
    ]);
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs['many[k=1]']).toEqual({
      names: ['y', 'x'],
      x: { payload: 11 },
      point: { k: 1 },
    });
    expect(result.outputs.plain).toEqual({ names: ['y', 'x[k=1]'], x: undefined, point: null });
  });

  it('records a deterministic order (topological, ties by id) independent of declaration order', async () => {
    const nodes: NodeSpec[] = [
      { id: 'c', stage: Add({}), deps: ['a', 'b'] },
      { id: 'b', stage: Add({}), deps: ['z'] },
      { id: 'a', stage: Add({}), deps: ['z', 'y'] },
      { id: 'z', stage: Add({}) },
      { id: 'y', stage: Add({}) },
    ];
    const ex = executor();
    const first = await ex.run({ payload: 0 }, nodes);
    const second = await ex.run({ payload: 0 }, [...nodes].reverse());
    expect(first.order).toEqual(['y', 'z', 'a', 'b', 'c']);
    expect(second.order).toEqual(first.order);
    expect(Object.keys(second.nodes)).toEqual(first.order);
    expect(second.outputs).toEqual(first.outputs);
  });

  it('is reusable: one executor runs two DAGs back to back and both complete', async () => {
    const ex = executor();
    const one = await ex.run({ payload: 0 }, diamond());
    const two = await ex.run({ payload: 5 }, diamond());
    expect(one.outputs.d).toEqual({ payload: 7 });
    expect(two.outputs.d).toEqual({ payload: 17 });
    expect(one.runId).not.toBe(two.runId);
  });

  it('never starts a node before all its deps finished, on a random DAG of 10,000 nodes', async () => {
    const sync = orderChecker();
    const nodes = randomDag(10_000, 42, (_id, deps) => sync.Checked({ deps: [...deps] }));
    const result = await executor().run({ payload: 0 }, nodes);
    expect(result.status).toBe('COMPLETED');
    expect(sync.violations).toEqual([]);
    expect(sync.finished.size).toBe(10_000);
    // the recorded order is topological too, and it is the same on a second run
    const position = new Map(result.order.map((id, i) => [id, i]));
    for (const node of nodes) {
      for (const dep of node.deps ?? [])
        expect(position.get(dep)).toBeLessThan(position.get(node.id) as number);
    }
    const again = await executor().run({ payload: 0 }, nodes);
    expect(again.order).toEqual(result.order);
  });

  it('keeps the dependency relation with asynchronous stages in flight on 4 workers', async () => {
    const checker = orderChecker();
    const nodes = randomDag(3_000, 7, (_id, deps) =>
      checker.Checked({ deps: [...deps], async: true }),
    );
    const ex = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 4, maxCpu: 4 }),
      metrics: [],
    });
    const result = await ex.run({ payload: 0 }, nodes);
    expect(result.status).toBe('COMPLETED');
    expect(checker.violations).toEqual([]);
    expect(checker.peak()).toBeGreaterThan(1);
    expect(checker.peak()).toBeLessThanOrEqual(4);
    const started = new Map(result.startOrder.map((id, i) => [id, i]));
    expect(started.size).toBe(3_000);
  });

  it('namespaces metrics by node id and rejects a non-scalar metric with StageContractError', async () => {
    const Bad = defineStage({
      name: 'test/bad-metric',
      config: z.object({}),
      process: (state: unknown) => ({ state, metrics: { spectrum: [1, 2] as unknown as number } }),
    });
    const result = await executor({ failureMode: 'continue' }).run({ payload: 0 }, [
      ...diamond(),
      { id: 'bad', stage: Bad({}) },
    ]);
    expect(result.metrics['d.inputs']).toBe(2);
    expect(result.nodes.bad?.status).toBe('FAILED');
    expect(result.nodes.bad?.error?.code).toBe('PHYS_STAGE_CONTRACT');
    expect(result.nodes.bad?.error?.message).toMatch(/must be a scalar/);
  });

  it('records node provenance with the stage version and the run-level policy hash', async () => {
    const policy = { 'sampling.N': 8 };
    const result = await executor().run({ payload: 0 }, [{ id: 'only', stage: Probe({}) }], {
      policy,
    });
    const hash = new PolicyBag(policy).hash();
    expect(result.provenance.policyHash).toBe(hash);
    const [stage] = result.provenance.stages;
    expect(stage).toMatchObject({
      stage: 'only',
      name: 'test/probe',
      version: '1',
      policyHash: hash,
    });
    expect(stage?.configHash).toBe(Probe({}).configHash);
    expect((result.outputs.only as { policyN: number }).policyN).toBe(8);
  });

  it('uses the executor default policy when a run gives none, and the run policy over it', async () => {
    const ex = executor({ policy: { 'sampling.N': 10 } });
    const byDefault = await ex.run({}, [{ id: 'p', stage: Probe({}) }]);
    const overridden = await ex.run({}, [{ id: 'p', stage: Probe({}) }], {
      policy: { 'sampling.N': 6 },
    });
    expect((byDefault.outputs.p as { policyN: number }).policyN).toBe(10);
    expect((overridden.outputs.p as { policyN: number }).policyN).toBe(6);
    expect(overridden.provenance.policyHash).not.toBe(byDefault.provenance.policyHash);
  });
});

describe('DagExecutor: validation before anything runs', () => {
  async function invalid(nodes: NodeSpec[], scheduler?: Scheduler): Promise<DagValidationError> {
    let ran = 0;
    const Count = defineStage({
      name: 'test/count',
      config: z.object({}),
      process: (state: unknown) => {
        ran++;
        return { state };
      },
    });
    const all = [{ id: 'witness', stage: Count({}) }, ...nodes];
    const error = await executor(scheduler === undefined ? {} : { scheduler })
      .run({}, all)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(ran).toBe(0);
    expect(error).toBeInstanceOf(DagValidationError);
    expect((error as DagValidationError).code).toBe('PHYS_DAG_INVALID');
    return error as DagValidationError;
  }

  it('rejects a duplicate id', async () => {
    const error = await invalid([
      { id: 'a', stage: Add({}) },
      { id: 'a', stage: Add({}) },
    ]);
    expect(error.message).toMatch(/Duplicate node id 'a'/);
  });

  it('rejects a missing dependency, naming the node and the dependency', async () => {
    const error = await invalid([{ id: 'b', stage: Add({}), deps: ['ghost'] }]);
    expect(error.message).toMatch(/Missing dependency: node 'b' depends on 'ghost'/);
    expect(error.details?.problems).toEqual([
      expect.objectContaining({ kind: 'missing-dependency', node: 'b', dependency: 'ghost' }),
    ]);
  });

  it('rejects inputNames that rename a node that is not a dep, or give two deps one name', async () => {
    const error = await invalid([
      { id: 'a', stage: Add({}) },
      { id: 'b', stage: Add({}) },
      { id: 'typo', stage: Merge({}), deps: ['a', 'b'], inputNames: { c: 'x' } },
      { id: 'clash', stage: Merge({}), deps: ['a', 'b'], inputNames: { a: 'b' } },
    ]);
    expect(error.details?.problems).toEqual([
      expect.objectContaining({ kind: 'invalid-input-names', node: 'typo' }),
      expect.objectContaining({ kind: 'invalid-input-names', node: 'clash' }),
    ]);
    expect(error.message).toMatch(/would see deps 'a' and 'b' under one name 'b'/);
  });

  it('rejects a self-dependency', async () => {
    const error = await invalid([{ id: 'loop', stage: Add({}), deps: ['loop'] }]);
    expect(error.message).toMatch(/'loop' depends on itself/);
  });

  it('rejects a cycle and lists its node ids', async () => {
    const error = await invalid([
      { id: 'root', stage: Add({}) },
      { id: 'p', stage: Add({}), deps: ['root', 'r'] },
      { id: 'q', stage: Add({}), deps: ['p'] },
      { id: 'r', stage: Add({}), deps: ['q'] },
      { id: 'after', stage: Add({}), deps: ['r'] },
    ]);
    expect(error.message).toMatch(/Cycle detected/);
    const [problem] = (error.details?.problems ?? []) as { cycle: string[] }[];
    expect(new Set(problem?.cycle)).toEqual(new Set(['p', 'q', 'r']));
    expect(problem?.cycle[0]).toBe(problem?.cycle.at(-1));
    expect(error.message).toMatch(/p → q → r → p|q → r → p → q|r → p → q → r/);
  });

  it('rejects a node without a stage', async () => {
    const error = await invalid([{ id: 'empty' } as unknown as NodeSpec]);
    expect(error.message).toMatch(/Node 'empty' has no stage/);
  });

  it('rejects requests the scheduler can never grant instead of deadlocking', async () => {
    const scheduler = new LocalScheduler({ maxWorkers: 2, maxCpu: 2, maxMemory: '1Gi' });
    const error = await invalid(
      [
        { id: 'big', stage: Add({}), resources: resources({ cpu: 4 }) },
        { id: 'gpu', stage: Add({}), resources: resources({ gpu: 1 }) },
        { id: 'mpi', stage: Add({}), resources: resources({ cpu: 1, mpiRanks: 3 }) },
        { id: 'mem', stage: Add({}), resources: resources({ memory: '2Gi' }) },
      ],
      scheduler,
    );
    expect(error.message).toMatch(/Invalid DAG \(4 problems\)/);
    expect(error.message).toMatch(
      /'big' asks for more than the scheduler can ever grant: cpu 4, but maxCpu is 2/,
    );
    expect(error.message).toMatch(/'gpu'.*gpu 1, but maxGpu is 0/);
    expect(error.message).toMatch(/'mpi'.*3 mpi ranks = 3 cores/);
    expect(error.message).toMatch(/'mem'.*memory/);
  });

  it('rejects thread isolation without a config file to rebuild stages from', async () => {
    const error = await invalid([{ id: 't', stage: Add({}), isolation: 'thread' }]);
    expect(error.message).toMatch(/needs 'thread' isolation, but .*configFile/);
  });
});

describe('DagExecutor: failures, retries, timeouts and cancellation (inline)', () => {
  it('retries a failing stage and succeeds with the same input', async () => {
    const result = await executor().run({ payload: 1 }, [
      { id: 'flaky', stage: Fail({ succeedOnAttempt: 2 }), retry: { maxAttempts: 2 } },
    ]);
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs.flaky).toEqual({ payload: 1 });
    expect(result.nodes.flaky?.attempts).toBe(2);
  });

  it('retries only the listed error codes', async () => {
    const result = await executor().run(
      {},
      [
        {
          id: 'x',
          stage: Fail({ code: 'PHYS_OTHER' }),
          retry: { maxAttempts: 3, retryableErrors: ['PHYS_FLAKY'] },
        },
        {
          id: 'y',
          stage: Fail({ code: 'PHYS_FLAKY', succeedOnAttempt: 3 }),
          retry: { maxAttempts: 3, retryableErrors: ['PHYS_FLAKY'] },
        },
      ],
      { failureMode: 'continue' },
    );
    expect(result.nodes.x).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(result.nodes.y).toMatchObject({ status: 'COMPLETED', attempts: 3 });
  });

  it('waits an exponential backoff between attempts', async () => {
    const result = await executor().run({}, [
      {
        id: 'slow-retry',
        stage: Fail({ succeedOnAttempt: 3 }),
        retry: { maxAttempts: 3, initialDelaySeconds: 0.02, backoffMultiplier: 2 },
      },
    ]);
    const node = result.nodes['slow-retry'];
    expect(node?.attempts).toBe(3);
    // 0.02 s then 0.04 s of backoff sit between the first start and the end. Timers are due on
    // libuv's millisecond loop clock, which can lag the high-resolution clock by up to a
    // millisecond per timer, hence the 2 ms allowance.
    expect(node?.durationSeconds).toBeGreaterThanOrEqual(0.058);
  });

  it('ends a node that exceeds its timeout as TIMEOUT and aborts its signal', async () => {
    let aborted = false;
    const Watch = defineStage({
      name: 'test/watch',
      config: z.object({}),
      process: (_state: unknown, ctx) =>
        new Promise<never>((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            reject(ctx.signal.reason);
          });
        }),
    });
    const result = await executor().run(
      {},
      [
        { id: 'slow', stage: Sleep({ ms: 5_000, ignoreAbort: true }), timeoutSeconds: 0.05 },
        { id: 'watched', stage: Watch({}), timeoutSeconds: 0.05, retry: { maxAttempts: 2 } },
      ],
      { failureMode: 'continue' },
    );
    expect(result.status).toBe('FAILED');
    expect(result.nodes.slow).toMatchObject({ status: 'TIMEOUT', attempts: 1 });
    expect(result.nodes.slow?.error?.code).toBe('PHYS_TIMEOUT');
    expect(result.nodes.watched).toMatchObject({ status: 'TIMEOUT', attempts: 2 });
    expect(aborted).toBe(true);
  });

  it('failFast: aborts running nodes, starts nothing new, and marks the rest CANCELLED', async () => {
    const result = await executor().run({ payload: 0 }, [
      { id: 'boom', stage: Fail({ message: 'kaput' }) },
      { id: 'long', stage: Sleep({ ms: 10_000 }) },
      { id: 'after-boom', stage: Add({}), deps: ['boom'] },
      { id: 'after-long', stage: Add({}), deps: ['long'] },
    ]);
    expect(result.status).toBe('FAILED');
    expect(result.nodes.boom?.status).toBe('FAILED');
    expect(result.nodes.boom?.error?.message).toMatch(/kaput/);
    expect(result.nodes.long?.status).toBe('CANCELLED');
    expect(result.nodes['after-boom']).toMatchObject({ status: 'CANCELLED', attempts: 0 });
    expect(result.nodes['after-long']).toMatchObject({ status: 'CANCELLED', attempts: 0 });
    expect(result.error?.message).toMatch(/kaput/);
    expect(() => result.throwIfFailed()).toThrow(
      expect.objectContaining({ code: 'PHYS_STAGE_FAILED' }),
    );
  });

  it('continue: independent branches finish and dependents of a failure are SKIPPED', async () => {
    const result = await executor({ failureMode: 'continue' }).run({ payload: 0 }, [
      { id: 'boom', stage: Fail({}) },
      { id: 'child', stage: Add({}), deps: ['boom'] },
      { id: 'grandchild', stage: Add({}), deps: ['child', 'ok'] },
      { id: 'ok', stage: Add({ amount: 5 }) },
      { id: 'ok2', stage: Add({ amount: 1 }), deps: ['ok'] },
    ]);
    expect(result.status).toBe('FAILED');
    expect(result.counts).toEqual({ FAILED: 1, SKIPPED: 2, COMPLETED: 2 });
    expect(result.nodes.child?.status).toBe('SKIPPED');
    expect(result.nodes.grandchild?.status).toBe('SKIPPED');
    expect(result.outputs).toEqual({ ok2: { payload: 6 } });
  });

  it('cancels a whole run through options.signal', async () => {
    const controller = new AbortController();
    const Trigger = defineStage({
      name: 'test/trigger',
      config: z.object({}),
      process: (state: unknown) => {
        setTimeout(() => controller.abort(new Error('user pressed ^C')), 10);
        return { state };
      },
    });
    const result = await executor().run(
      { payload: 0 },
      [
        { id: 'trigger', stage: Trigger({}) },
        { id: 'long', stage: Sleep({ ms: 10_000 }), deps: ['trigger'] },
        { id: 'later', stage: Add({}), deps: ['long'] },
      ],
      { signal: controller.signal },
    );
    expect(result.status).toBe('CANCELLED');
    expect(result.nodes.trigger?.status).toBe('COMPLETED');
    expect(result.nodes.long?.status).toBe('CANCELLED');
    expect(result.nodes.later?.status).toBe('CANCELLED');
    expect(result.error?.code).toBe('PHYS_CANCELLED');
  });

  it('a stage that aborts the run synchronously ends the run cleanly, also with async inline work in flight', async () => {
    const controller = new AbortController();
    const AbortNow = defineStage({
      name: 'test/abort-now',
      config: z.object({}),
      process: (state: unknown) => {
        controller.abort(new Error('stop from inside a stage'));
        return { state };
      },
    });
    const result = await executor().run(
      { payload: 0 },
      [
        { id: 'a_slow', stage: Sleep({ ms: 10_000 }) },
        { id: 'b_abort', stage: AbortNow({}) },
        { id: 'c_after', stage: Add({}), deps: ['b_abort'] },
        { id: 'd_other', stage: Add({}) },
      ],
      { signal: controller.signal },
    );
    expect(result.status).toBe('CANCELLED');
    expect(result.nodes.a_slow?.status).toBe('CANCELLED');
    expect(result.nodes.b_abort?.status).toBe('COMPLETED');
    expect(result.nodes.c_after?.status).toBe('CANCELLED');
    expect(result.nodes.d_other?.status).toBe('CANCELLED');
    expect(result.counts).toEqual({ COMPLETED: 1, CANCELLED: 3 });
    expect(result.order.slice(0, 2)).toEqual(['a_slow', 'b_abort']);
  });

  it('an already aborted signal runs nothing', async () => {
    const result = await executor().run({ payload: 0 }, diamond(), { signal: AbortSignal.abort() });
    expect(result.status).toBe('CANCELLED');
    expect(result.counts).toEqual({ CANCELLED: 4 });
  });

  it('strict mode reports a stage that mutates its input as StageContractError', async () => {
    const nodes = (): NodeSpec[] => [{ id: 'm', stage: Mutate({}) }];
    const loose = await executor().run({ payload: 1 }, nodes());
    expect(loose.status).toBe('COMPLETED');
    const strict = await executor({ strict: true }).run({ payload: 1 }, nodes());
    expect(strict.nodes.m?.status).toBe('FAILED');
    expect(strict.nodes.m?.error?.code).toBe('PHYS_STAGE_CONTRACT');
    expect(strict.nodes.m?.error?.message).toMatch(/mutated its input/);
  });
});

describe('DagExecutor: slots, hooks, metrics, progress', () => {
  it('never runs more cpu at once than maxCpu (checked by the stages)', async () => {
    let held = 0;
    let peak = 0;
    const Hold = defineStage({
      name: 'test/hold',
      config: z.object({}),
      process: async (state: unknown, ctx) => {
        held += ctx.resources.cpu * ctx.resources.mpiRanks;
        peak = Math.max(peak, held);
        await new Promise((r) => setTimeout(r, 5));
        held -= ctx.resources.cpu * ctx.resources.mpiRanks;
        return { state };
      },
    });
    const nodes: NodeSpec[] = Array.from({ length: 24 }, (_, i) => ({
      id: `h${i}`,
      stage: Hold({}),
      resources: resources(
        i % 3 === 0 ? { cpu: 2 } : i % 3 === 1 ? { cpu: 1, mpiRanks: 2 } : { cpu: '500m' },
      ),
    }));
    const scheduler = new LocalScheduler({ maxWorkers: 8, maxCpu: 3 });
    const result = await new DagExecutor({ scheduler, metrics: [] }).run({}, nodes);
    expect(result.status).toBe('COMPLETED');
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(2);
    expect(scheduler.usage).toEqual({ running: 0, cpu: 0, gpu: 0, memoryBytes: 0 });
  });

  it('shares one scheduler between two concurrent runs without exceeding its slots', async () => {
    let held = 0;
    let peak = 0;
    const Hold = defineStage({
      name: 'test/hold-shared',
      config: z.object({}),
      process: async (state: unknown) => {
        held++;
        peak = Math.max(peak, held);
        await new Promise((r) => setTimeout(r, 3));
        held--;
        return { state };
      },
    });
    const scheduler = new LocalScheduler({ maxWorkers: 2 });
    const nodes = (prefix: string): NodeSpec[] =>
      Array.from({ length: 10 }, (_, i) => ({ id: `${prefix}${i}`, stage: Hold({}) }));
    const [one, two] = await Promise.all([
      new DagExecutor({ scheduler, metrics: [] }).run({}, nodes('x')),
      new DagExecutor({ scheduler, metrics: [] }).run({}, nodes('y')),
    ]);
    expect(one.status).toBe('COMPLETED');
    expect(two.status).toBe('COMPLETED');
    expect(peak).toBe(2);
    expect(scheduler.usage.running).toBe(0);
  });

  it('completes an empty DAG', async () => {
    const result = await executor().run({ payload: 1 }, []);
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs).toEqual({});
    expect(result.order).toEqual([]);
  });

  it('grants distinct gpu ids and never more gpus than maxGpu', async () => {
    const inUse = new Set<number>();
    const conflicts: number[] = [];
    let peak = 0;
    const Gpu = defineStage({
      name: 'test/gpu',
      config: z.object({}),
      process: async (_state: unknown, ctx) => {
        for (const id of ctx.resources.gpuIds) {
          if (inUse.has(id)) conflicts.push(id);
          inUse.add(id);
        }
        peak = Math.max(peak, inUse.size);
        await new Promise((r) => setTimeout(r, 5));
        for (const id of ctx.resources.gpuIds) inUse.delete(id);
        return { state: [...ctx.resources.gpuIds] };
      },
    });
    const nodes: NodeSpec[] = Array.from({ length: 9 }, (_, i) => ({
      id: `g${i}`,
      stage: Gpu({}),
      resources: resources({ gpu: i % 2 === 0 ? 1 : 2, cpu: '100m' }),
    }));
    const scheduler = new LocalScheduler({ maxWorkers: 8, gpuIds: [4, 6, 7] });
    const result = await new DagExecutor({ scheduler, metrics: [] }).run({}, nodes);
    expect(result.status).toBe('COMPLETED');
    expect(conflicts).toEqual([]);
    expect(peak).toBeLessThanOrEqual(3);
    for (const ids of Object.values(result.outputs) as number[][]) {
      for (const id of ids) expect([4, 6, 7]).toContain(id);
    }
  });

  it('fires hooks in registration order, reports a throwing hook, and ends with onPipelineEnd on failure', async () => {
    const events: string[] = [];
    const recorder = (name: string): PipelineHook => ({
      name,
      onPipelineStart: () => void events.push(`${name}:start`),
      onStepStart: (e) => void events.push(`${name}:step-start:${e.step}#${e.attempt}`),
      onStepEnd: (e) => void events.push(`${name}:step-end:${e.step}:${e.status}`),
      onError: (e) => void events.push(`${name}:error:${e.step}`),
      onPipelineEnd: (e) => void events.push(`${name}:end:${e.status}`),
    });
    const throwing: PipelineHook = {
      name: 'broken',
      onStepStart: () => {
        throw new Error('hook bug');
      },
    };
    const result = await executor({ hooks: [recorder('one'), throwing] }).run(
      { payload: 0 },
      [
        { id: 'a', stage: Add({}) },
        { id: 'b', stage: Fail({}), deps: ['a'] },
      ],
      { hooks: [recorder('two')] },
    );
    expect(result.status).toBe('FAILED');
    expect(events).toEqual([
      'one:start',
      'two:start',
      'one:step-start:a#1',
      'two:step-start:a#1',
      'one:step-end:a:COMPLETED',
      'two:step-end:a:COMPLETED',
      'one:step-start:b#1',
      'two:step-start:b#1',
      'one:error:b',
      'two:error:b',
      'one:step-end:b:FAILED',
      'two:step-end:b:FAILED',
      'one:end:FAILED',
      'two:end:FAILED',
    ]);
    expect(result.hookFailures).toHaveLength(2);
    expect(result.hookFailures[0]).toMatchObject({ hook: 'broken', event: 'onStepStart' });
  });

  it('fires onPipelineEnd with CANCELLED when the run is cancelled', async () => {
    const ends: string[] = [];
    const result = await executor({
      hooks: [{ onPipelineEnd: (e) => void ends.push(e.status) }],
    }).run({}, [{ id: 'x', stage: Sleep({ ms: 10_000 }) }], { signal: AbortSignal.timeout(20) });
    expect(result.status).toBe('CANCELLED');
    expect(ends).toEqual(['CANCELLED']);
  });

  it('feeds metrics collectors with run, node and retry events', async () => {
    const seen: string[] = [];
    const collector: MetricsCollector = {
      onRunStart: (e) => void seen.push(`run-start:${e.nodes}`),
      onNodeStart: (e) => void seen.push(`node-start:${e.node}#${e.attempt}`),
      onNodeEnd: (e) => void seen.push(`node-end:${e.node}:${e.status}`),
      onRetry: (e) => void seen.push(`retry:${e.node}#${e.attempt}:${e.errorCode}`),
      onRunEnd: (e) => void seen.push(`run-end:${e.status}:${JSON.stringify(e.counts)}`),
    };
    await executor({ metrics: collector }).run({ payload: 0 }, [
      { id: 'f', stage: Fail({ succeedOnAttempt: 2 }), retry: { maxAttempts: 2 } },
    ]);
    expect(seen).toEqual([
      'run-start:1',
      'node-start:f#1',
      'retry:f#2:PHYS_STAGE_FAILED',
      'node-start:f#2',
      'node-end:f:COMPLETED',
      'run-end:COMPLETED:{"COMPLETED":1}',
    ]);
  });

  it('reports progress with counts by status', async () => {
    const events: string[] = [];
    await executor().run({ payload: 0 }, diamond(), {
      onProgress: (e) => events.push(`${e.node}:${e.status}:${e.counts.COMPLETED ?? 0}/${e.total}`),
    });
    expect(events).toEqual([
      'a:RUNNING:0/4',
      'a:COMPLETED:1/4',
      'b:RUNNING:1/4',
      'b:COMPLETED:2/4',
      'c:RUNNING:2/4',
      'c:COMPLETED:3/4',
      'd:RUNNING:3/4',
      'd:COMPLETED:4/4',
    ]);
  });

  it('runs through any Scheduler implementation via submit and wait', async () => {
    // A LocalScheduler seen only through the Scheduler contract (no fast path): every node is
    // submitted with its stage identity and rebuilt in a worker thread.
    const local = new LocalScheduler({ maxWorkers: 2, configFile });
    const polled: string[] = [];
    const contractOnly: Scheduler = {
      name: 'contract-only',
      capabilities: local.capabilities,
      submit: async (task) => {
        const handle = await local.submit(task);
        polled.push(await local.poll(handle));
        return handle;
      },
      poll: (handle) => local.poll(handle),
      wait: (handle) => local.wait(handle),
      cancel: (handle) => local.cancel(handle),
    };
    try {
      const result = await new DagExecutor({ scheduler: contractOnly, metrics: [] }).run(
        { payload: 0 },
        diamond(),
      );
      expect(result.status).toBe('COMPLETED');
      expect(result.outputs.d).toEqual({ payload: 7 });
      expect(result.metrics['d.inputs']).toBe(2);
      expect(polled.every((s) => s === 'QUEUED' || s === 'RUNNING')).toBe(true);
    } finally {
      await local.close();
    }
  });
});
