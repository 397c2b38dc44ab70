// A sequential run tells metrics collectors what a DAG run tells them: one run, each stage as a
// node, so a dashboard sees `phys run` of a sequential pipeline at all.
import {
  CancelledError,
  defineStage,
  type MetricsCollector,
  setMetricsCollector,
  silentLogger,
} from '@phys/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRuntime } from '../src/runtime.js';

const Double = defineStage({
  name: 'test/double',
  config: z.object({}),
  process: (state: number) => ({ state: state * 2 }),
});
const Stop = defineStage({
  name: 'test/stop',
  config: z.object({}),
  process: () => {
    throw new CancelledError('stopped by the test');
  },
});

afterEach(() => setMetricsCollector(undefined));

function recorder(events: string[]): MetricsCollector {
  return {
    onRunStart: (e) => events.push(`run-start ${e.pipeline} nodes=${e.nodes}`),
    onNodeStart: (e) => events.push(`node-start ${e.node} ${e.stage}`),
    onNodeEnd: (e) => events.push(`node-end ${e.node} ${e.status}`),
    onRunEnd: (e) => {
      events.push(`run-end ${e.status} ${JSON.stringify(e.counts)}`);
    },
  };
}

describe('metrics of a sequential run', () => {
  it('reports the run and every stage as a node, to collectors set in code', async () => {
    const events: string[] = [];
    setMetricsCollector(recorder(events));
    const runtime = await createRuntime(
      {
        config: {
          stages: [Double],
          pipelines: {
            twice: {
              stages: [Double({}, { label: 'a' }), Double({}, { label: 'b' })],
              initialState: 3,
            },
          },
        },
        configDir: process.cwd(),
      },
      { logger: silentLogger },
    );
    const result = await runtime.runPipeline('twice');
    await runtime.dispose();
    expect(result.state).toBe(12);
    // Before, a sequential run emitted no metrics at all.
    expect(events).toEqual([
      'run-start twice nodes=2',
      'node-start a test/double',
      'node-end a COMPLETED',
      'node-start b test/double',
      'node-end b COMPLETED',
      'run-end COMPLETED {"COMPLETED":2}',
    ]);
  });

  it('counts the stages a cancelled run never started as cancelled', async () => {
    const events: string[] = [];
    setMetricsCollector(recorder(events));
    const runtime = await createRuntime(
      {
        config: {
          stages: [Double, Stop],
          pipelines: {
            halt: {
              stages: [Stop({}, { label: 'stop' }), Double({}, { label: 'after' })],
              initialState: 1,
            },
          },
        },
        configDir: process.cwd(),
      },
      { logger: silentLogger },
    );
    await expect(runtime.runPipeline('halt')).rejects.toThrow(/stopped by the test/);
    await runtime.dispose();
    expect(events.at(-1)).toBe('run-end CANCELLED {"CANCELLED":2}');
  });
});
