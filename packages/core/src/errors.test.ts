import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ConfigError,
  DagValidationError,
  deserializeError,
  formatIssues,
  JOB_FAILURE_CODES,
  JobFailureError,
  PhysError,
  PluginError,
  ResourceError,
  SchedulerError,
  StageConfigError,
  StageContractError,
  StageExecutionError,
  StateError,
  serializeError,
  TimeoutError,
  UsageError,
} from './errors.js';

describe('PhysError hierarchy', () => {
  it.each([
    [new StageContractError('m'), 'PHYS_STAGE_CONTRACT', 'StageContractError'],
    [new StageExecutionError('s', 'm'), 'PHYS_STAGE_FAILED', 'StageExecutionError'],
    [new ResourceError('m'), 'PHYS_RESOURCES_INVALID', 'ResourceError'],
    [new DagValidationError('m'), 'PHYS_DAG_INVALID', 'DagValidationError'],
    [new CancelledError(), 'PHYS_CANCELLED', 'CancelledError'],
    [new TimeoutError('m'), 'PHYS_TIMEOUT', 'TimeoutError'],
    [new UsageError('m'), 'PHYS_USAGE', 'UsageError'],
    [new SchedulerError('PHYS_SCHEDULER', 'm'), 'PHYS_SCHEDULER', 'SchedulerError'],
    [new StateError('PHYS_STATE_CORRUPT', 'm'), 'PHYS_STATE_CORRUPT', 'StateError'],
    [new ConfigError('PHYS_CONFIG_NOT_FOUND', 'm'), 'PHYS_CONFIG_NOT_FOUND', 'ConfigError'],
  ])('%s carries code %s and its class name', (error, code, name) => {
    expect(error).toBeInstanceOf(PhysError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(PhysError.is(error)).toBe(true);
  });

  it('keeps the cause and defaults retryable to false', () => {
    const root = new TypeError('disk full');
    const error = new StageExecutionError('demo/write', 'write failed', { cause: root });
    expect(error.cause).toBe(root);
    expect(error.retryable).toBe(false);
    expect(error.stage).toBe('demo/write');
    expect(new PhysError('PHYS_X', 'no cause')).not.toHaveProperty('cause');
  });

  it('lets callers mark an error retryable; timeouts are retryable unless told otherwise', () => {
    expect(new SchedulerError('PHYS_SCHEDULER', 'node lost', { retryable: true }).retryable).toBe(
      true,
    );
    expect(new TimeoutError('too slow').retryable).toBe(true);
    expect(new TimeoutError('too slow', { retryable: false }).retryable).toBe(false);
    // A wait that ended at its deadline: the work goes on, so waiting again is the caller's call.
    const wait = new TimeoutError('still running', { code: 'PHYS_WAIT_TIMEOUT' });
    expect([wait.code, wait.retryable, wait instanceof TimeoutError]).toEqual([
      'PHYS_WAIT_TIMEOUT',
      false,
      true,
    ]);
    expect(deserializeError(serializeError(wait)).code).toBe('PHYS_WAIT_TIMEOUT');
    expect(new CancelledError().retryable).toBe(false);
    expect(new CancelledError().message).toMatch(/cancelled/);
  });

  it('prefixes plugin errors with the plugin name', () => {
    const error = new PluginError('scheduler-slurm', 'PHYS_PLUGIN_FAILED', 'sbatch not found');
    expect(error.message).toBe('[scheduler-slurm] sbatch not found');
    expect(error.pluginName).toBe('scheduler-slurm');
  });

  it('lists every stage config issue with its path in the message and details', () => {
    const issues = [
      { path: 'grid.nx', message: 'expected number' },
      { path: '', message: 'bad root' },
    ];
    const error = new StageConfigError('demo/heat', issues);
    expect(error.code).toBe('PHYS_STAGE_CONFIG_INVALID');
    expect(error.issues).toEqual(issues);
    expect(error.message).toContain("stage 'demo/heat' (2 problems)");
    expect(error.message).toContain('  - grid.nx: expected number');
    expect(error.message).toContain('  - (root): bad root');
    expect(error.details).toEqual({ stage: 'demo/heat', issues });
    expect(formatIssues(issues)).toBe('  - grid.nx: expected number\n  - (root): bad root');
  });
});

describe('PhysError.is', () => {
  it('recognises an error made by another installed copy of @phys/core', () => {
    // Another copy has its own PhysError class, but brands its prototype with the same global symbol.
    class ForeignPhysError extends Error {
      readonly code = 'PHYS_FOREIGN';
    }
    Object.defineProperty(ForeignPhysError.prototype, Symbol.for('@phys/core:PhysError'), {
      value: true,
    });
    const foreign = new ForeignPhysError('from elsewhere');
    expect(foreign).not.toBeInstanceOf(PhysError);
    expect(PhysError.is(foreign)).toBe(true);
    const plain = Object.create({ [Symbol.for('@phys/core:PhysError')]: true }) as object;
    expect(PhysError.is(plain)).toBe(true);
  });

  it('rejects everything else', () => {
    expect(PhysError.is(new Error('x'))).toBe(false);
    expect(PhysError.is({ code: 'PHYS_X', message: 'x' })).toBe(false);
    expect(PhysError.is(null)).toBe(false);
    expect(PhysError.is(undefined)).toBe(false);
    expect(PhysError.is('PHYS_X')).toBe(false);
    expect(PhysError.is({ [Symbol.for('@phys/core:PhysError')]: 'yes' })).toBe(false);
  });
});

describe('serializeError / deserializeError', () => {
  it('round-trips a PhysError with a cause chain through JSON', () => {
    const root = new RangeError('index 12 out of range');
    const middle = new StateError('PHYS_STATE_CORRUPT', 'entry is torn', {
      cause: root,
      retryable: true,
      details: { key: 'abc', size: 12n },
    });
    const top = new StageExecutionError('demo/load', "Stage 'demo/load' failed", { cause: middle });

    const wire = JSON.parse(JSON.stringify(serializeError(top))) as ReturnType<
      typeof serializeError
    >;
    expect(wire).toMatchObject({
      name: 'StageExecutionError',
      code: 'PHYS_STAGE_FAILED',
      message: "Stage 'demo/load' failed",
      retryable: false,
      cause: {
        name: 'StateError',
        code: 'PHYS_STATE_CORRUPT',
        retryable: true,
        details: { key: 'abc', size: '12' },
        cause: { name: 'RangeError', code: 'PHYS_TASK_FAILED', message: 'index 12 out of range' },
      },
    });
    expect(wire.stack).toBe(top.stack);

    const back = deserializeError(wire);
    expect(PhysError.is(back)).toBe(true);
    expect(back.name).toBe('StageExecutionError');
    expect(back.code).toBe('PHYS_STAGE_FAILED');
    expect(back.stack).toBe(top.stack);
    const cause = back.cause as PhysError;
    expect(cause.code).toBe('PHYS_STATE_CORRUPT');
    expect(cause.retryable).toBe(true);
    expect(cause.details).toEqual({ key: 'abc', size: '12' });
    expect((cause.cause as PhysError).message).toBe('index 12 out of range');
    expect(serializeError(back)).toEqual(wire);
  });

  it('keeps a foreign error code and turns thrown non-errors into PHYS_TASK_FAILED', () => {
    const enoent = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(serializeError(enoent)).toMatchObject({ code: 'ENOENT', retryable: false });
    expect(serializeError('boom')).toEqual({
      name: 'Error',
      code: 'PHYS_TASK_FAILED',
      message: 'boom',
      retryable: false,
    });
  });

  it('stops at a cyclic cause chain instead of recursing forever', () => {
    const error = new PhysError('PHYS_X', 'loop');
    (error as { cause?: unknown }).cause = error;
    let depth = 0;
    for (let s = serializeError(error); s.cause !== undefined; s = s.cause) depth++;
    expect(depth).toBeLessThan(20);
  });

  it('is what JSON.stringify uses for a PhysError', () => {
    const error = new UsageError("Unknown pipeline 'x'. Run `phys config` to list pipelines.");
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({
      code: 'PHYS_USAGE',
      name: 'UsageError',
    });
  });
});

describe('errors across boundaries', () => {
  it('rebuilds the subclass with its own fields after a JSON hop', () => {
    const issues = [{ path: 'plugins.0', message: 'unknown plugin' }];
    const config = new ConfigError('PHYS_CONFIG_INVALID', 'bad config', { issues });
    const plugin = new PluginError('scheduler-slurm', 'PHYS_PLUGIN_FAILED', 'init failed');
    for (const original of [config, plugin]) {
      const back = deserializeError(JSON.parse(JSON.stringify(serializeError(original))));
      expect(back).toBeInstanceOf(original.constructor);
      expect(back).toBeInstanceOf(PhysError);
      expect(back).toBeInstanceOf(Error);
      expect(back.message).toBe(original.message);
    }
    const back = deserializeError(JSON.parse(JSON.stringify(serializeError(config))));
    expect((back as ConfigError).issues).toEqual(issues);
    const p = deserializeError(JSON.parse(JSON.stringify(serializeError(plugin))));
    expect((p as PluginError).pluginName).toBe('scheduler-slurm');
  });

  it('rebuilds a job failure with its reason, scheduler and native state', () => {
    const oom = new JobFailureError('OOM', {
      scheduler: 'slurm',
      nativeState: 'OUT_OF_MEMORY',
      nodeId: 'train',
      jobId: '42_3',
    });
    expect(oom.code).toBe(JOB_FAILURE_CODES.OOM);
    expect(oom.code).toBe('PHYS_JOB_OOM');
    expect(oom.retryable).toBe(false);
    expect(oom.message).toContain("Node 'train' (slurm job 42_3, OUT_OF_MEMORY) ran out of memory");
    expect(oom.details).toMatchObject({
      reason: 'OOM',
      scheduler: 'slurm',
      nativeState: 'OUT_OF_MEMORY',
    });
    const back = deserializeError(JSON.parse(JSON.stringify(serializeError(oom))));
    expect(back).toBeInstanceOf(JobFailureError);
    expect(back).toBeInstanceOf(SchedulerError);
    expect((back as JobFailureError).reason).toBe('OOM');
    expect((back as JobFailureError).failure.jobId).toBe('42_3');
    expect(
      new JobFailureError('NODE_FAIL', { scheduler: 'pbs', nativeState: 'Exit_status=-3' })
        .retryable,
    ).toBe(true);
  });

  it('answers instanceof for an instance of another installed copy of the class', () => {
    // What a second copy of @phys/core (a plugin's own dependency) produces: a different class
    // object whose prototype carries the same Symbol.for markers.
    class OtherCopyError extends Error {}
    for (const name of ['PhysError', 'SchedulerError', 'JobFailureError']) {
      Object.defineProperty(OtherCopyError.prototype, Symbol.for(`@phys/error:${name}`), {
        value: true,
      });
    }
    const foreign = new OtherCopyError('from another copy');
    expect(foreign).toBeInstanceOf(PhysError);
    expect(foreign).toBeInstanceOf(SchedulerError);
    expect(foreign).toBeInstanceOf(JobFailureError);
    expect(foreign).not.toBeInstanceOf(ConfigError);
    expect(new UsageError('x')).not.toBeInstanceOf(SchedulerError);
  });

  it('keeps instanceof by prototype for an unbranded subclass of a branded one', () => {
    class MyPluginError extends SchedulerError {}
    const mine = new MyPluginError('PHYS_X', 'x');
    expect(mine).toBeInstanceOf(MyPluginError);
    expect(mine).toBeInstanceOf(SchedulerError);
    expect(new SchedulerError('PHYS_X', 'y')).not.toBeInstanceOf(MyPluginError);
  });
});
