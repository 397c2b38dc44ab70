/** A cached node result. @public */
export interface CacheEntry {
  readonly state: unknown;
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance: Readonly<Record<string, unknown>>;
}

/** @public */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
  /** Entries found torn or corrupt, moved aside, and counted as misses. */
  readonly corrupt: number;
  readonly evictions: number;
}

/**
 * Content-addressed store of node results. Entries are written atomically and verified on read:
 * a torn or corrupted entry is a miss, never an error and never wrong data.
 * @public
 */
export interface Cache {
  readonly name: string;
  get(key: string): Promise<CacheEntry | undefined>;
  put(key: string, entry: CacheEntry): Promise<void>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  stats(): Promise<CacheStats>;
  close?(): Promise<void>;
}
