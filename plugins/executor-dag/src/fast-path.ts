import type {
  GrantedResources,
  NodeSpec,
  PipelineStage,
  ResourceRequirements,
  StageResult,
} from '@phys/core';
import { attemptFailed, toPhysError } from './attempts.js';
import { ISO_INLINE } from './compile.js';
import { recordSuccess } from './completion.js';
import type { DagRun } from './dag-run.js';
import { afterProcess } from './dispatch.js';
import type { LocalDispatch } from './local-scheduler.js';
import { NodeContext } from './node-context.js';
import { STRETCH } from './observation.js';
import { S_RUNNING } from './run-result.js';

/**
 * The hot path: runs ready inline nodes back to back, in heap order, while the next one is
 * inline with no timeout and its slots are free, in a run that nothing observes, strictly
 * checks, caches or packages ({@link DagRun.fast}). A node ends with the same
 * {@link recordSuccess} as on the general path; what it skips is the attempt's bookkeeping (no
 * RUNNING state, no controller, no grant of its own). The first node that does anything unusual
 * (throws, returns a promise, metrics, artifacts or provenance) is handed to the general path as
 * a running attempt, and the burst ends.
 *
 * A node here goes READY → COMPLETED without passing through RUNNING: nothing can observe the
 * difference, since the stage runs synchronously and the run has no hooks or progress (metrics
 * collectors hear of its start and end once the burst is over). Its end time is the next clock
 * reading (RunState.endDebt), which is the next node's start.
 */
export function burst(run: DagRun): void {
  const heap = run.heap;
  const local = run.local as LocalDispatch;
  const dag = run.dag;
  // Locals, not property loads per node: the loop runs a few hundred times before the JIT
  // optimises it, so every load it saves counts. No destructuring for the same reason.
  const nodes = dag.nodes;
  const ids = dag.ids;
  const isolation = dag.isolation;
  const resources = dag.resources;
  const depStart = dag.depStart;
  const depList = dag.depList;
  const outputs = run.outputs;
  const initial = run.initial;
  const attempts = run.attempts;
  const firstStart = run.firstStart;
  const attemptStart = run.attemptStart;
  const end = run.end;
  const signal = run.runSignal;
  // A run with collectors (and nothing else: see DagRun.fast) reports the nodes run here when
  // the burst ends or hands a node over (they are the COMPLETED nodes of the finish order from
  // `reported` on): their starts and ends, with the times the arrays hold. Nothing can read the
  // collectors meanwhile (the burst holds the thread).
  const observer = run.observer;
  let reported = run.finishCount;
  // Collectors that take these nodes binned (onNodeSummary) have each one tallied here as it
  // completes, while its times are at hand: in the open stretch of nodes of one stage name that
  // ran back to back (observation.ts, InPlaceTally), kept in these locals: its stage, where it
  // starts in the finish order and when, its nodes, the sum of their queue waits and how many
  // of those were low, and the node tallied last.
  const tally = observer?.tally;
  const readyAt = run.readyAt as Float64Array;
  const low = tally === undefined ? 0 : tally.low;
  let tStage: PipelineStage | undefined;
  let tK0 = 0;
  let tStart = 0;
  let tN = 0;
  let tMs = 0;
  let tLows = 0;
  let tLast = -2;
  // Nodes here run one at a time, so consecutive nodes asking for the same resources (the
  // same normalized object: the usual case) pass one grant along instead of releasing and
  // re-acquiring it per node. It is returned when the burst ends.
  let heldReq: ResourceRequirements | undefined;
  let held: GrantedResources | undefined;
  run.bursting = true;
  try {
    while (heap.size > 0) {
      const i = heap.pop();
      const node = nodes[i] as NodeSpec;
      if (isolation[i] !== ISO_INLINE || node.timeoutSeconds !== undefined) {
        heap.push(i);
        return;
      }
      const req = resources[i] as ResourceRequirements;
      let grant = held;
      if (req !== heldReq) {
        if (held !== undefined) local.release(held, heldReq as ResourceRequirements);
        held = undefined;
        heldReq = undefined;
        grant = local.tryAcquire(req);
        if (grant === undefined) {
          heap.push(i);
          return;
        }
        held = grant;
        heldReq = req;
      }
      // beginAttempt, written out: as a call per node it would be one more hot function, which
      // the JIT compiles in the middle of a run; here its loads come from locals.
      const attempt = (attempts[i] as number) + 1;
      attempts[i] = attempt;
      // One clock read per node: it starts this node and ends the previous one.
      const now = performance.now();
      const debt = run.endDebt;
      if (debt >= 0) {
        end[debt] = now;
        run.endDebt = -1;
      }
      if (attempt === 1) {
        firstStart[i] = now;
        run.startSeq[run.startCount++] = i;
      }
      attemptStart[i] = now;
      // A root's or a one-parent node's input without a call; run.input for the others.
      const s = depStart[i] as number;
      const e = depStart[i + 1] as number;
      const input = s === e ? initial : e - s === 1 ? outputs[depList[s] as number] : run.input(i);
      const stage = node.stage;
      let out: StageResult | Promise<StageResult> | undefined;
      let thrown: unknown;
      let threw = false;
      try {
        out = stage.process(
          input,
          new NodeContext(
            run,
            stage.config,
            signal,
            grant as GrantedResources,
            ids[i] as string,
            attempt,
            node.point,
          ),
        );
      } catch (error) {
        threw = true;
        thrown = error;
      }
      if (
        threw ||
        typeof out !== 'object' ||
        out === null ||
        typeof (out as Promise<StageResult>).then === 'function' ||
        !('state' in out) ||
        out.metrics !== undefined ||
        out.artifacts !== undefined ||
        out.provenance !== undefined
      ) {
        // Hand the node to the general path as a running attempt that owns the grant. From here
        // on nothing runs in place: its end is stamped when it comes, and a stop it causes ends
        // the async inline work at once, as anywhere else.
        held = undefined;
        heldReq = undefined;
        run.bursting = false;
        if (observer !== undefined) {
          if (tally !== undefined && tN > 0) {
            tally.close(run, tStage, tK0, run.finishCount, tN, tStart, tLast, tMs, tLows);
          }
          // Before the general path reports this node's end: it started (those before it ended).
          observer.reportInPlace(run, reported, run.finishCount, i);
          reported = -1;
        }
        run.move(i, S_RUNNING);
        run.running++;
        run.grants[i] = grant;
        if (threw) attemptFailed(run, i, attempt, toPhysError(run, i, thrown));
        else afterProcess(run, i, attempt, out as StageResult, input, undefined);
        return;
      }
      recordSuccess(run, i, out);
      if (tally !== undefined) {
        // Another stage name, or a full stretch: the open stretch closes (the previous node's
        // end is settled: it is `now`), and one opens at this node.
        if (stage !== tStage || tN === STRETCH) {
          if (tStage === undefined || tN === STRETCH || stage.name !== tStage.name) {
            const k = run.finishCount - 1;
            if (tN > 0) tally.close(run, tStage, tK0, k, tN, tStart, tLast, tMs, tLows);
            tK0 = k;
            tStart = now;
            tN = 0;
            tMs = 0;
            tLows = 0;
          }
          tStage = stage;
        }
        tN++;
        // Its queue wait (readyTime() and queueSeconds() of run-state.ts and observation.ts
        // written out, in ms). A first attempt whose one dependency ran just before it started
        // at the clock reading that ended it: it did not wait (the usual case in a chain, with
        // no arithmetic on times). Otherwise it became ready when its last dependency ended (a
        // node readied off the fast path has that stamped, too), or a root when the run started,
        // or a retry when its backoff ended (both stamped).
        if (attempt === 1 && e - s === 1 && depList[s] === tLast) tLows++;
        else {
          let ready = 0;
          if (attempt > 1 || s === e) ready = readyAt[i] as number;
          else {
            for (let d = s; d < e; d++) {
              const t = end[depList[d] as number] as number;
              if (t > ready) ready = t;
            }
          }
          const wait = ready > 0 && now > ready ? now - ready : 0;
          tMs += wait;
          if (wait <= low) tLows++;
          else tally.high.push(wait);
        }
        tLast = i;
      }
    }
  } finally {
    run.bursting = false;
    if (observer !== undefined && reported >= 0 && run.finishCount > reported) {
      // The last node's end is owed to the next clock reading: read it now.
      if (run.endDebt >= 0) run.clock();
      if (tally !== undefined && tN > 0) {
        tally.close(run, tStage, tK0, run.finishCount, tN, tStart, tLast, tMs, tLows);
      }
      observer.reportInPlace(run, reported, run.finishCount, -1);
    }
    if (held !== undefined) local.release(held, heldReq as ResourceRequirements);
    run.endDeferredStop();
  }
}
