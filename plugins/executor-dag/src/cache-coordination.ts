import {
  type Cache,
  type CacheEntry,
  CancelledError,
  type DagKeyInputs,
  isSingleFlightCache,
  KEY_INPUTS_FIELD,
  type Logger,
  type NodeSpec,
  PhysError,
} from '@phys/core';
import { type RunCacheKeys, runCacheKeys } from './cache-keys.js';
import type { CompiledDag } from './compile.js';
import { recordCached, type StageOutput } from './completion.js';
import type { DagRun } from './dag-run.js';
import { type NodeExtras, S_CACHED, S_COMPLETED, S_LOOKUP, S_READY } from './run-result.js';

// Nodes of one run that share a key do identical work. The first of them to become ready (the
// group's leader) is looked up and, on a miss, run; the others wait for it and are restored from
// its result, so each key is looked up, computed and stored at most once per run. A cache
// failure never fails the run: it is logged, counted, and treated as a miss.

/** What a run did with its cache (reported as `result.cache`). */
export interface CacheCounters {
  lookups: number;
  hits: number;
  misses: number;
  shared: number;
  stored: number;
  errors: number;
}

/**
 * Keys of every node before anything runs, or undefined when the initial state cannot be hashed:
 * then the run neither reads nor writes the cache (`counters` gets an error) and its model
 * packages get no keys.
 */
export function deriveKeys(
  dag: CompiledDag,
  initialState: unknown,
  policyHash: string | undefined,
  fingerprintCode: boolean,
  counters: CacheCounters | undefined,
  logger: Logger,
): RunCacheKeys | undefined {
  try {
    return runCacheKeys(dag, initialState, policyHash, fingerprintCode);
  } catch (error) {
    if (!PhysError.is(error) || error.code !== 'PHYS_STATE_UNSUPPORTED') throw error;
    const effect =
      counters === undefined
        ? 'model packages get no cache keys'
        : 'this run neither reads nor writes the cache';
    if (counters !== undefined) counters.errors++;
    logger.warn(`cannot derive cache keys, so ${effect}: ${error.message}`, { code: error.code });
    return undefined;
  }
}

// Phases of a key group.
const G_ACTIVE = 0;
const G_DONE = 1;
const G_FAILED = 2;

/** The nodes of one run that share a cache key. */
interface KeyGroup {
  /** The node that is looked up and, on a miss, run for all of them. */
  readonly leader: number;
  phase: number;
  /** Nodes ready while the leader was still looked up or running. */
  waiters: number[] | undefined;
  /** The result, once known (restored or computed). */
  entry: CacheEntry | undefined;
  /** What a node restored from `entry` records: its metrics, artifacts, and provenance. */
  extras: NodeExtras | undefined;
  /** Settles the computation a `getOrCompute` cache handed to this run. */
  compute:
    | { readonly resolve: (entry: CacheEntry) => void; readonly reject: (error: unknown) => void }
    | undefined;
}

/** The cache of one run whose keys could be derived. */
export class CacheCoordinator {
  /** 1 once a ready node's key was dealt with (the ready loop looks up the others first). */
  readonly lookedUp: Uint8Array;
  readonly #run: DagRun;
  readonly #cache: Cache;
  readonly #keys: readonly string[];
  readonly #inputs: readonly DagKeyInputs[];
  readonly #counters: CacheCounters;
  readonly #groups = new Map<string, KeyGroup>();
  /** The group each leader leads, by node index (no key lookup on the hot path). */
  readonly #leads: (KeyGroup | undefined)[];
  /** Writes and single flights in progress; the run's result waits for them. */
  readonly #puts: Promise<void>[] = [];

  constructor(run: DagRun, cache: Cache, keys: RunCacheKeys, counters: CacheCounters) {
    const n = run.dag.n;
    this.#run = run;
    this.#cache = cache;
    this.#keys = keys.keys;
    this.#inputs = keys.inputs;
    this.#counters = counters;
    this.lookedUp = new Uint8Array(n);
    this.#leads = new Array<KeyGroup | undefined>(n);
  }

  /** A ready node whose key this run has not dealt with yet. */
  lookup(i: number): void {
    const run = this.#run;
    this.lookedUp[i] = 1;
    const key = this.#keys[i] as string;
    const group = this.#groups.get(key);
    if (group === undefined) {
      const led: KeyGroup = {
        leader: i,
        phase: G_ACTIVE,
        waiters: undefined,
        entry: undefined,
        extras: undefined,
        compute: undefined,
      };
      this.#groups.set(key, led);
      this.#leads[i] = led;
      run.move(i, S_LOOKUP);
      run.lookups++;
      this.#counters.lookups++;
      this.#ask(i, key, led);
      return;
    }
    if (group.phase === G_DONE) {
      this.#counters.shared++;
      this.#restore(i, group);
    } else if (group.phase === G_FAILED) {
      // The identical work failed for another node (failureMode 'continue'): this node gets its
      // own attempts.
      run.heap.push(i);
    } else {
      run.move(i, S_LOOKUP);
      if (group.waiters === undefined) group.waiters = [i];
      else group.waiters.push(i);
    }
  }

  /** A node ended: if it led its key's group, hand its result (or its failure) to the group. */
  settle(i: number, status: number): void {
    const group = this.#leads[i];
    if (group === undefined || group.phase !== G_ACTIVE) return;
    const run = this.#run;
    const waiters = group.waiters;
    group.waiters = undefined;
    if ((status === S_COMPLETED || status === S_CACHED) && group.entry !== undefined) {
      group.phase = G_DONE;
      // A stopped run restores nothing more: waiting nodes end CANCELLED with the rest.
      if (waiters === undefined || run.stopping) return;
      for (const w of waiters) {
        this.#counters.shared++;
        this.#restore(w, group);
      }
      return;
    }
    group.phase = G_FAILED;
    abandon(group, run.errors.get(i));
    if (waiters === undefined || run.stopping) return;
    for (const w of waiters) {
      run.move(w, S_READY);
      if (run.readyAt !== undefined) run.readyAt[w] = performance.now();
      run.heap.push(w);
    }
  }

  /**
   * Stores a computed result with what its key was derived from (so `phys plan` can explain
   * later changes) and the original wall time (reported again when it is restored).
   */
  store(i: number, out: StageOutput): void {
    const run = this.#run;
    const key = this.#keys[i] as string;
    const node = run.dag.nodes[i] as NodeSpec;
    const entry: CacheEntry = {
      state: out.state,
      metrics: (out.metrics ?? {}) as Record<string, number>,
      ...(out.artifacts === undefined ? {} : { artifacts: out.artifacts }),
      provenance: {
        ...out.provenance,
        node: node.id,
        stage: node.stage.name,
        version: node.stage.version,
        configHash: node.stage.configHash,
        ...(run.policyHash === undefined ? {} : { policyHash: run.policyHash }),
        wallTimeSeconds: (performance.now() - (run.attemptStart[i] as number)) / 1000,
        cacheKey: key,
        [KEY_INPUTS_FIELD]: this.#inputs[i],
      },
    };
    const group = this.#leads[i];
    if (group !== undefined) {
      share(group, entry);
      const compute = group.compute;
      if (compute !== undefined) {
        // getOrCompute stores it (and releases a shared cache's lock once it is published).
        group.compute = undefined;
        compute.resolve(entry);
        return;
      }
    }
    this.#puts.push(this.#put(i, key, entry));
  }

  /**
   * The run is over: computations a shared cache handed to nodes that never ran are given back
   * (other processes take over), and what is still being written is awaited (undefined: nothing).
   */
  close(): Promise<unknown> | undefined {
    for (const group of this.#groups.values()) abandon(group);
    return this.#puts.length > 0 ? Promise.all(this.#puts) : undefined;
  }

  /**
   * Looks a leader's key up. Through `getOrCompute` when the cache has it: the cache then calls
   * back when this process should compute the entry (after a miss, holding the cross-process
   * lock of a shared cache) and stores what the node returns; another process's entry arrives as
   * a hit once that process publishes it.
   */
  #ask(i: number, key: string, group: KeyGroup): void {
    const run = this.#run;
    const cache = this.#cache;
    if (!isSingleFlightCache(cache)) {
      let found: Promise<CacheEntry | undefined>;
      try {
        found = cache.get(key);
      } catch (error) {
        found = Promise.reject(error);
      }
      found.then(
        (entry) => this.#looked(i, entry),
        (error: unknown) => {
          this.#failed('lookup', i, error);
          this.#looked(i, undefined);
        },
      );
      return;
    }
    let asked = false;
    const compute = (): Promise<CacheEntry> => {
      asked = true;
      const promise = new Promise<CacheEntry>((resolve, reject) => {
        group.compute = { resolve, reject };
      });
      this.#looked(i, undefined);
      return promise;
    };
    let flight: Promise<{ readonly entry: CacheEntry; readonly computed: boolean }>;
    try {
      flight = cache.getOrCompute(key, compute, { signal: run.runSignal });
    } catch (error) {
      flight = Promise.reject(error);
    }
    this.#puts.push(
      flight.then(
        (outcome) => {
          if (!asked) this.#looked(i, outcome.entry);
          else if (outcome.computed) this.#counters.stored++;
        },
        (error: unknown) => {
          if (!asked) {
            if (!run.stopping) this.#failed('lookup', i, error);
            this.#looked(i, undefined);
          } else if (group.entry !== undefined && run.status[i] === S_COMPLETED) {
            // The node succeeded; the cache could not store its result.
            this.#failed('store', i, error);
          }
        },
      ),
    );
  }

  /** A leader's lookup ended: restore it (and every node waiting on its key) or run it. */
  #looked(i: number, entry: CacheEntry | undefined): void {
    const run = this.#run;
    run.lookups--;
    if (run.finished || run.stopping) {
      run.maybeFinish();
      return;
    }
    if (entry !== undefined && !isEntry(entry)) {
      this.#failed(
        'lookup',
        i,
        new TypeError('the cache returned something that is not a CacheEntry'),
      );
      entry = undefined;
    }
    if (entry === undefined) {
      this.#counters.misses++;
      run.move(i, S_READY);
      if (run.readyAt !== undefined) run.readyAt[i] = performance.now();
      run.heap.push(i);
    } else {
      this.#counters.hits++;
      const group = this.#leads[i] as KeyGroup;
      share(group, entry);
      this.#restore(i, group);
    }
    run.pump();
  }

  /** Node `i` becomes CACHED with the result its group holds. */
  #restore(i: number, group: KeyGroup): void {
    recordCached(this.#run, i, group.entry as CacheEntry, group.extras as NodeExtras);
  }

  async #put(i: number, key: string, entry: CacheEntry): Promise<void> {
    try {
      await this.#cache.put(key, entry);
      this.#counters.stored++;
    } catch (error) {
      this.#failed('store', i, error);
    }
  }

  #failed(what: 'lookup' | 'store', i: number, error: unknown): void {
    this.#counters.errors++;
    const node = this.#run.dag.ids[i] as string;
    const code = PhysError.is(error) ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    this.#run.logger.warn(
      what === 'lookup'
        ? `cache lookup for node '${node}' failed, so it runs: ${message}`
        : `cannot cache the result of node '${node}' (the run goes on): ${message}`,
      { node, ...(code === undefined ? {} : { code }) },
    );
  }
}

function isEntry(entry: unknown): entry is CacheEntry {
  return typeof entry === 'object' && entry !== null && 'state' in entry;
}

/**
 * Gives a group its result. Restored nodes report the original provenance (wall time included)
 * marked `cached: true`; one frozen record serves every node of the group.
 */
function share(group: KeyGroup, entry: CacheEntry): void {
  group.entry = entry;
  const metrics = entry.metrics ?? {};
  let hasMetrics = false;
  for (const _ in metrics) {
    hasMetrics = true;
    break;
  }
  group.extras = Object.freeze({
    ...(hasMetrics ? { metrics } : {}),
    ...(entry.artifacts === undefined ? {} : { artifacts: entry.artifacts }),
    provenance: Object.freeze({ ...entry.provenance, cached: true }),
  });
}

/** Fails the computation a `getOrCompute` cache handed over, so it stores nothing. */
function abandon(group: KeyGroup, error?: PhysError): void {
  const compute = group.compute;
  if (compute === undefined) return;
  group.compute = undefined;
  compute.reject(error ?? new CancelledError('The node computing this cache entry did not run.'));
}
