import type { CacheEntry } from '@phys/core';
import type { GcOptions } from './public-types.js';

/**
 * What {@link SingleFlightLock.acquire} got: the lock, to be released once the entry is stored
 * (or its computation failed), or the entry another holder published meanwhile.
 * @public
 */
export type LockOutcome =
  | { readonly locked: true; release(): Promise<void> }
  | { readonly locked: false; readonly entry: CacheEntry };

/**
 * Single flight across processes for {@link DiskCache.getOrCompute}: who computes a missing
 * key. Without one, a DiskCache deduplicates concurrent calls within its process only;
 * {@link SharedDiskCache} uses lock files that work on NFS and Lustre.
 * @public
 */
export interface SingleFlightLock {
  /**
   * Takes the lock of `key`, waiting while another process holds it. While waiting, calls
   * `published` and resolves to the entry it finds once the holder has stored it. Rejects with
   * `PHYS_CANCELLED` when `signal` aborts the wait.
   */
  acquire(
    key: string,
    published: () => Promise<CacheEntry | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<LockOutcome>;
  /**
   * Removes what holders that died left behind, as part of {@link DiskCache.gc}; resolves to
   * the number of files removed (added to `tempFilesRemoved`).
   */
  gc?(options: GcOptions): Promise<number>;
}
