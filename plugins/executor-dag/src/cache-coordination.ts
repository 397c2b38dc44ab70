import {
  type Cache,
  type CacheEntry,
  CancelledError,
  type DagKeyInputs,
  type GetOrComputeResult,
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
import type { Demand } from './demand.js';
import { type NodeExtras, S_CACHED, S_COMPLETED, S_LOOKUP } from './run-result.js';

// Nodes of one run that share a key do identical work. The first of them to become ready (the
// group's leader) is looked up and, on a miss, run; the others wait for it and are restored from
// its result, so each key is looked up, computed and stored at most once per run. A cache
// failure never fails the run: it is logged, counted, and treated as a miss. The first failure of
// a kind (lookup or store, error code, errno) is logged as it happens; the others of that kind
// are counted and logged as one line when the run ends, so a cache that fails for every node
// prints two lines, not one per node.
//
// How many lookups are under way at once is the cache's business, not the executor's: the
// executor asks for every ready node's key at once, and a cache bounds its own I/O (DiskCache
// holds at most a fixed number of file descriptors at a time, per process, and waits out
// EMFILE). Only the cache knows what a lookup costs it: a synchronous read holds no descriptor
// across an await, a remote cache has other limits, and other callers (planDag, user code) need
// the same bound.
//
// Which nodes are looked up when, and which of them run, is demand.ts: a leader that nothing
// needs is looked up without taking a single-flight cache's lock; when it misses, a waiting node
// that needs the key leads instead, or else the key is left missing (its nodes are restored only
// if a node that needs it comes later, and are otherwise not needed).

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
/** Looked up, missing, and needed by none of its nodes so far: nothing computes it. */
const G_MISSED = 3;

/** The nodes of one run that share a cache key. */
interface KeyGroup {
  /** The node that is looked up and, on a miss, run for all of them. */
  leader: number;
  phase: number;
  /**
   * Nodes looked up while the leader was still looked up or running (or, in G_MISSED, every node
   * of the key so far): restored from the group's result once it has one.
   */
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
  /** Failures of each kind after the first (logged once the run ends, as one line per kind). */
  readonly #repeated = new Map<string, RepeatedFailure>();
  /** Groups that entered G_MISSED (see {@link skipUnneeded}). */
  readonly #missing: KeyGroup[] = [];

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

  /** A node whose key this run has not dealt with yet (queued by demand.ts). */
  lookup(i: number): void {
    const run = this.#run;
    const demand = run.demand as Demand;
    this.lookedUp[i] = 1;
    // A node that nothing needs never runs, whatever the cache holds: its dependencies are free.
    if (demand.needed[i] === 0) demand.release(i);
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
      // own attempts (if it is needed).
      demand.missed(i);
    } else if (group.phase === G_MISSED && demand.needed[i] === 1) {
      // The key was missing and nothing needed it; this node does: it leads, and asks again (a
      // single-flight cache's lock is taken only for a key that is needed).
      group.phase = G_ACTIVE;
      group.leader = i;
      this.#leads[i] = group;
      run.lookups++;
      this.#counters.lookups++;
      this.#ask(i, key, group);
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
    const demand = run.demand as Demand;
    for (const w of waiters) demand.missed(w);
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
   * Nothing is left to do: the nodes of keys that stayed missing, which no node needed, end
   * SKIPPED as not needed.
   */
  skipUnneeded(): void {
    const demand = this.#run.demand as Demand;
    for (const group of this.#missing) {
      const waiters = group.waiters;
      if (group.phase !== G_MISSED || waiters === undefined) continue;
      group.waiters = undefined;
      for (const w of waiters) demand.skipNotNeeded(w);
    }
    this.#missing.length = 0;
  }

  /**
   * The run is over: computations a shared cache handed to nodes that never ran are given back
   * (other processes take over), and what is still being written is awaited (undefined: nothing).
   */
  close(): Promise<unknown> | undefined {
    for (const group of this.#groups.values()) abandon(group);
    if (this.#puts.length === 0) {
      this.#logRepeated();
      return undefined;
    }
    return Promise.all(this.#puts).then(() => this.#logRepeated());
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
    if (!isSingleFlightCache(cache) || (run.demand as Demand).needed[i] === 0) {
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
    let flight: Promise<GetOrComputeResult>;
    try {
      flight = cache.getOrCompute(key, compute, { signal: run.runSignal });
    } catch (error) {
      flight = Promise.reject(error);
    }
    this.#puts.push(
      flight.then(
        (outcome) => {
          if (!asked) this.#looked(i, outcome.entry, outcome.size);
          else if (outcome.computed) {
            this.#counters.stored++;
            run.observer?.cache(run, i, 'store', outcome.size);
          }
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

  /**
   * A leader's lookup ended: restore it (and every node waiting on its key) or run it. `size`:
   * the bytes read, when a single-flight cache reports them beside the entry.
   */
  #looked(i: number, entry: CacheEntry | undefined, size?: number): void {
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
      run.observer?.cache(run, i, 'miss', 0);
      this.#missed(i);
    } else {
      this.#counters.hits++;
      run.observer?.cache(run, i, 'hit', size ?? entry.size);
      const group = this.#leads[i] as KeyGroup;
      share(group, entry);
      this.#restore(i, group);
    }
    run.pump();
  }

  /**
   * A leader's key is missing: a leader that is needed runs (demand.ts). One that is not hands
   * the group to a waiting node that needs the key (and waits for its result), or else the key
   * stays missing, its nodes parked in the group.
   */
  #missed(i: number): void {
    const run = this.#run;
    const demand = run.demand as Demand;
    const needed = demand.needed;
    if (needed[i] === 1) {
      demand.missed(i);
      return;
    }
    const group = this.#leads[i] as KeyGroup;
    this.#leads[i] = undefined;
    const waiters = group.waiters ?? [];
    group.waiters = waiters;
    const at = waiters.findIndex((w) => needed[w] === 1);
    if (at < 0) {
      group.phase = G_MISSED;
      waiters.push(i);
      this.#missing.push(group);
      return;
    }
    const next = waiters[at] as number;
    waiters.splice(at, 1);
    waiters.push(i);
    group.leader = next;
    this.#leads[next] = group;
    if (isSingleFlightCache(this.#cache)) {
      run.lookups++;
      this.#counters.lookups++;
      this.#ask(next, this.#keys[next] as string, group);
    } else {
      demand.missed(next);
    }
  }

  /** Node `i` becomes CACHED with the result its group holds; its dependencies are free. */
  #restore(i: number, group: KeyGroup): void {
    (this.#run.demand as Demand).release(i);
    recordCached(this.#run, i, group.entry as CacheEntry, group.extras as NodeExtras);
  }

  async #put(i: number, key: string, entry: CacheEntry): Promise<void> {
    try {
      const put = await this.#cache.put(key, entry);
      this.#counters.stored++;
      this.#run.observer?.cache(this.#run, i, 'store', put?.size);
    } catch (error) {
      this.#failed('store', i, error);
    }
  }

  #failed(what: 'lookup' | 'store', i: number, error: unknown): void {
    this.#counters.errors++;
    const node = this.#run.dag.ids[i] as string;
    const code = PhysError.is(error) ? error.code : undefined;
    const errno = errnoOf(error);
    const kind = `${what} ${code ?? ''} ${errno ?? ''}`;
    const repeated = this.#repeated.get(kind);
    if (repeated !== undefined) {
      repeated.count++;
      return;
    }
    this.#repeated.set(kind, { what, code, errno, count: 0 });
    const message = error instanceof Error ? error.message : String(error);
    this.#run.logger.warn(
      what === 'lookup'
        ? `cache lookup for node '${node}' failed, so it runs: ${message}`
        : `cannot cache the result of node '${node}' (the run goes on): ${message}`,
      { node, ...(code === undefined ? {} : { code }) },
    );
  }

  /** One line for each kind of failure that happened again after its first was logged. */
  #logRepeated(): void {
    for (const { what, code, errno, count } of this.#repeated.values()) {
      if (count === 0) continue;
      const nodes = `${count.toLocaleString('en-US')} more node${count === 1 ? '' : 's'}`;
      const why = [code, errno].filter((part) => part !== undefined).join(', ');
      const same = why === '' ? 'the same way' : `the same way (${why})`;
      this.#run.logger.warn(
        what === 'lookup'
          ? `cache lookup failed for ${nodes} ${same}, so they ran too`
          : `cannot cache the results of ${nodes} either, failing ${same} (the run goes on)`,
        { count, ...(code === undefined ? {} : { code }) },
      );
    }
    this.#repeated.clear();
  }
}

/** A kind of cache failure that happened again after its first was logged. */
interface RepeatedFailure {
  readonly what: 'lookup' | 'store';
  readonly code: string | undefined;
  readonly errno: string | undefined;
  /** How many times after the first. */
  count: number;
}

/** The errno a cache failure reports: a PhysError's `details.errno`, or a Node error's code. */
function errnoOf(error: unknown): string | undefined {
  const errno = PhysError.is(error)
    ? error.details?.errno
    : (error as { code?: unknown } | null)?.code;
  return typeof errno === 'string' ? errno : undefined;
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
