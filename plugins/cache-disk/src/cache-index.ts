// What a DiskCache knows about its entries without reading them: each entry file's size, in
// least-recently-used order, for eviction under `maxBytes` and for `stats()`. The files are the
// only source of truth: the index is built from a directory scan the first time it is needed,
// then kept up to date by this instance's own hits, writes and removals.

/** An entry file as a directory scan found it. */
export interface IndexedFile {
  /** File name (the key, or `~<sha256>` for keys that are not hex). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /** Last write or hit: recency across reopening. */
  readonly mtimeMs: number;
}

/** LRU order and sizes of the entry files, with the evictions this instance made. */
export class CacheIndex {
  // File name -> size; Map order is recency (first = least recently used).
  #entries = new Map<string, number>();
  #bytes = 0;
  #loaded = false;
  #loading: Promise<void> | undefined;
  #deletedWhileLoading: Set<string> | undefined;
  #evictions = 0;

  /** Entries indexed. */
  get entries(): number {
    return this.#entries.size;
  }

  /** Bytes of the entries indexed. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entry files this instance removed to stay within its limit. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Records a use of `name` (a hit or a write): it becomes the most recently used. */
  used(name: string, size: number): void {
    const old = this.#entries.get(name);
    if (old !== undefined) {
      this.#entries.delete(name);
      this.#bytes -= old;
    }
    this.#entries.set(name, size);
    this.#bytes += size;
  }

  /** Drops `name` (deleted or quarantined), also from a scan under way. */
  forget(name: string): void {
    const old = this.#entries.get(name);
    if (old !== undefined) {
      this.#entries.delete(name);
      this.#bytes -= old;
    }
    this.#deletedWhileLoading?.add(name);
  }

  /**
   * Removes least recently used entries until within `limit` bytes (never `keep`). O(1) each.
   * `remove` deletes an entry's file and says whether there was one to delete.
   */
  async evict(
    limit: number,
    keep: string | undefined,
    remove: (name: string) => Promise<boolean>,
  ): Promise<void> {
    if (this.#bytes <= limit) return;
    for (const [name, size] of this.#entries) {
      if (this.#bytes <= limit) break;
      if (name === keep) continue;
      this.#entries.delete(name);
      this.#bytes -= size;
      if (await remove(name)) this.#evictions++;
    }
  }

  /** Builds the index from `scan` once (concurrent callers share the scan). */
  load(scan: () => Promise<readonly IndexedFile[]>): Promise<void> {
    if (this.#loaded) return Promise.resolve();
    if (this.#loading === undefined) {
      this.#deletedWhileLoading = new Set();
      this.#loading = scan()
        .then((files) => {
          const deleted = this.#deletedWhileLoading as Set<string>;
          this.rebuild(
            files.filter((f) => !deleted.has(f.name)),
            true,
          );
          this.#loaded = true;
        })
        .finally(() => {
          this.#loading = undefined;
          this.#deletedWhileLoading = undefined;
        });
    }
    return this.#loading;
  }

  /**
   * Replaces the index with `files`, least recently modified first, then the entries this
   * instance used since (in their order). With `keepUnscanned`, used entries the scan missed
   * (written while it ran) stay; otherwise the scan is the whole truth.
   */
  rebuild(files: readonly IndexedFile[], keepUnscanned = false): void {
    const sorted = [...files].sort((a, b) => a.mtimeMs - b.mtimeMs);
    const onDisk = new Map<string, number>();
    for (const f of sorted) onDisk.set(f.name, f.size);
    const next = new Map<string, number>();
    for (const [name, size] of onDisk) if (!this.#entries.has(name)) next.set(name, size);
    for (const [name, size] of this.#entries) {
      const disk = onDisk.get(name);
      if (disk !== undefined) next.set(name, disk);
      else if (keepUnscanned) next.set(name, size);
    }
    let bytes = 0;
    for (const size of next.values()) bytes += size;
    this.#entries = next;
    this.#bytes = bytes;
    this.#loaded = true;
  }
}
