import {
  ExecutionStatus,
  type MetricsCollector,
  MetricsFanout,
  type NodeStatus,
  type PipelineHook,
  type PipelineStage,
} from '@phys/core';

/**
 * The metrics events of a sequential run, told through its hooks: one run, and each stage as a
 * node of it (its label as the node, its name as the stage), as the DAG executor tells its own.
 * A dashboard then sees `phys run` of a sequential pipeline like any other run.
 */
export function metricsHook(
  collectors: readonly MetricsCollector[],
  stages: readonly PipelineStage[],
): PipelineHook {
  const fanout = new MetricsFanout(collectors);
  const names = new Map(stages.map((stage) => [stage.label, stage.name]));
  const counts: Partial<Record<NodeStatus, number>> = {};
  const started = new Map<string, number>();
  let pipeline = '';
  let runId = '';
  return {
    name: 'phys-metrics',
    onPipelineStart(event) {
      pipeline = event.pipeline;
      runId = event.runId;
      fanout.emit('onRunStart', { pipeline, runId, nodes: stages.length, scheduler: 'local' });
    },
    onStepStart(event) {
      started.set(event.step, performance.now());
      fanout.emit('onNodeStart', {
        pipeline,
        runId,
        node: event.step,
        stage: names.get(event.step) ?? event.step,
        attempt: event.attempt,
        queueSeconds: 0,
      });
    },
    onStepEnd(event) {
      const status = event.status as NodeStatus;
      counts[status] = (counts[status] ?? 0) + 1;
      fanout.emit('onNodeEnd', {
        pipeline,
        runId,
        node: event.step,
        stage: names.get(event.step) ?? event.step,
        status,
        attempt: event.attempt,
        durationSeconds: event.durationSeconds,
        cacheHit: false,
      });
    },
    async onPipelineEnd(event) {
      // Stages that never started were cancelled (or skipped after a failure) with the run.
      const never = stages.length - started.size;
      if (never > 0) {
        const status: NodeStatus =
          event.status === ExecutionStatus.CANCELLED ? 'CANCELLED' : 'SKIPPED';
        counts[status] = (counts[status] ?? 0) + never;
      }
      await fanout.end({
        pipeline,
        runId,
        status: event.status,
        durationSeconds: event.durationSeconds,
        counts,
      });
    },
  };
}
