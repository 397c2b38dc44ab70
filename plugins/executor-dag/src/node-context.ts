import {
  type ArtifactWriter,
  type GrantedResources,
  type Logger,
  type PolicyBag,
  type StageContext,
  silentLogger,
} from '@phys/core';
import type { DagRun } from './dag-run.js';

const RUN = Symbol('run');

/**
 * The context handed to inline stages. Fields are assigned in the constructor only (no class
 * field initializers, no private fields): one is built per node, and that keeps it cheap. The
 * logger and the artifact writer are made on access.
 */
export class NodeContext implements StageContext {
  declare readonly config: unknown;
  declare readonly signal: AbortSignal;
  declare readonly resources: GrantedResources;
  declare readonly nodeId: string;
  declare readonly attempt: number;
  /** The node's `point`: the parameters of the sweep copy it is, if it is one. */
  declare readonly point: Readonly<Record<string, unknown>> | undefined;
  declare readonly [RUN]: DagRun;

  constructor(
    run: DagRun,
    config: unknown,
    signal: AbortSignal,
    resources: GrantedResources,
    nodeId: string,
    attempt: number,
    point: Readonly<Record<string, unknown>> | undefined,
  ) {
    this.config = config;
    this.signal = signal;
    this.resources = resources;
    this.nodeId = nodeId;
    this.attempt = attempt;
    this.point = point;
    this[RUN] = run;
  }

  get policy(): PolicyBag {
    return this[RUN].policy;
  }

  get runId(): string {
    return this[RUN].runId;
  }

  get logger(): Logger {
    const logger = this[RUN].logger;
    return logger === silentLogger ? silentLogger : logger.child({ node: this.nodeId });
  }

  get artifacts(): ArtifactWriter {
    return this[RUN].acc.writer(this.nodeId);
  }
}
