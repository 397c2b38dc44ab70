import {
  ConfigError,
  PhysError,
  PluginError,
  StageExecutionError,
  TimeoutError,
  UsageError,
} from '@phys/core';
import { describe, expect, it } from 'vitest';
import { exitCodeFor } from './exit-code-for.js';
import { ExitCode } from './exit-codes.js';

describe('exitCodeFor', () => {
  it('maps config and plugin errors to 78', () => {
    expect(exitCodeFor(new ConfigError('PHYS_CONFIG_INVALID', 'bad'))).toBe(78);
    expect(exitCodeFor(new PluginError('x', 'PHYS_PLUGIN_CONFLICT', 'two executors'))).toBe(78);
    expect(exitCodeFor(new PhysError('PHYS_CONFIG_LOAD_FAILED', 'threw'))).toBe(78);
    expect(exitCodeFor(new PhysError('PHYS_PLUGIN_NOT_FOUND', 'missing'))).toBe(78);
    expect(exitCodeFor(new PhysError('PHYS_STAGE_DUPLICATE', 'twice'))).toBe(78);
  });

  it('maps usage errors to 64', () => {
    expect(exitCodeFor(new UsageError('unknown pipeline'))).toBe(ExitCode.USAGE);
  });

  it('maps cancellation to 130 and every other failure to 1', () => {
    expect(exitCodeFor(new PhysError('PHYS_CANCELLED', 'stop'))).toBe(130);
    expect(exitCodeFor(new StageExecutionError('s', 'boom'))).toBe(1);
    expect(exitCodeFor(new TimeoutError('slow'))).toBe(1);
    expect(exitCodeFor(new TypeError('a bug'))).toBe(1);
    expect(exitCodeFor('a string')).toBe(1);
  });
});
