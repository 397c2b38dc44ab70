import type { NodeStatus } from '@phys/core';

/**
 * What a run tells the process that hosts the CLI while it goes (see run-host.ts): enough for
 * that process to report the partial result itself when the run has to be stopped from outside,
 * because a stage holds the run's thread in synchronous code.
 */
export type RunJournalEvent =
  | {
      readonly type: 'run';
      readonly pipeline: string;
      readonly kind: 'sequential' | 'dag';
      readonly runId: string;
      /** `--json`: the report is printed as JSON. */
      readonly json: boolean;
      /** Node ids (DAG) or stage labels (sequential), in declaration order. */
      readonly nodes: readonly string[];
    }
  | {
      readonly type: 'node';
      readonly id: string;
      readonly status: NodeStatus;
      readonly metrics?: Readonly<Record<string, number>>;
    }
  | {
      /** A plugin command starts: what the host says when a signal interrupts it. */
      readonly type: 'command';
      readonly interruptNotice: string;
    };

let sink: ((event: RunJournalEvent) => void) | undefined;

/** Sends every later journal event to `to` (the run host's worker does this once). */
export function setRunJournal(to: (event: RunJournalEvent) => void): void {
  sink = to;
}

/** Whether anyone listens: runs skip the bookkeeping when nobody does. */
export function journalling(): boolean {
  return sink !== undefined;
}

export function journal(event: RunJournalEvent): void {
  sink?.(event);
}
