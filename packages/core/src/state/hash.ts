// Canonical state hash: SHA-256 over a type-tagged, length-prefixed byte stream. The stream is an
// internal format, but it is what makes hashes stable across runs, machines and releases, so any
// change to it must change STREAM_PREFIX (which invalidates every cached result on purpose).

import { createHash, type Hash, hash as oneShotHash } from 'node:crypto';
import { StateError } from '../errors.js';
import type { DagState } from './dag-state.js';
import {
  bigintMagnitude,
  classify,
  codecFailed,
  codecOf,
  isWellFormed,
  K_ARRAY,
  K_ARRAY_BUFFER,
  K_CLASS,
  K_DAG,
  K_DATA_VIEW,
  K_DATE,
  K_MAP,
  K_OBJECT,
  K_SET,
  K_TYPED,
  LazySegment,
  LITTLE_ENDIAN,
  typedArrayInfo,
  Walk,
} from './shared.js';

const STREAM_PREFIX = Buffer.from('phys-state-hash/1\0', 'latin1');

// Stream tags. Part of the hash definition: never renumber.
const T_UNDEFINED = 1;
const T_NULL = 2;
const T_FALSE = 3;
const T_TRUE = 4;
const T_NUMBER = 5;
const T_STRING = 6;
const T_STRING16 = 7;
const T_BIGINT = 8;
const T_DATE = 9;
const T_ARRAY = 10;
const T_OBJECT = 11;
const T_MAP = 12;
const T_SET = 13;
const T_ARRAY_BUFFER = 14;
const T_DATA_VIEW = 15;
const T_TYPED = 16;
const T_DAG = 17;
const T_CLASS = 18;
const T_MAP_DIGESTS = 19;
const T_SET_DIGESTS = 20;

const SCRATCH_BYTES = 64 * 1024;
// Views at least this big skip the scratch buffer: copying them would only cost time.
const DIRECT_BYTES = 16 * 1024;
// Keeps each hash.update() call well inside what any OpenSSL build accepts in one go.
const MAX_UPDATE_BYTES = 1 << 30;
const TWO_32 = 2 ** 32;

/**
 * Collects small writes in a scratch buffer and feeds SHA-256 in big chunks: one update() per
 * field would dominate the cost of hashing small values. Values that never fill the scratch
 * buffer are hashed one-shot without creating a Hash object at all.
 */
class Sink {
  readonly buf = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  readonly dv = new DataView(this.buf.buffer, this.buf.byteOffset, SCRATCH_BYTES);
  pos = 0;
  private hash: Hash | undefined = undefined;

  reset(): void {
    this.pos = 0;
    this.hash = undefined;
  }

  /** Makes room for `n` bytes (n ≤ SCRATCH_BYTES). */
  room(n: number): void {
    if (this.pos + n > SCRATCH_BYTES) this.flush();
  }

  flush(): void {
    if (this.pos === 0) return;
    this.hash ??= createHash('sha256');
    this.hash.update(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }

  tag(t: number): void {
    if (this.pos === SCRATCH_BYTES) this.flush();
    this.buf[this.pos++] = t;
  }

  /** Tag followed by a 64-bit little-endian length (fixed width keeps the stream prefix-free). */
  tagLen(t: number, n: number): void {
    this.room(9);
    const p = this.pos;
    this.buf[p] = t;
    this.dv.setUint32(p + 1, n >>> 0, true);
    this.dv.setUint32(p + 5, Math.floor(n / TWO_32), true);
    this.pos = p + 9;
  }

  f64(t: number, x: number): void {
    this.room(9);
    const p = this.pos;
    this.buf[p] = t;
    if (!Number.isNaN(x)) {
      this.dv.setFloat64(p + 1, x, true);
    } else {
      // Every NaN is the same state value; only typed arrays keep NaN payload bits (raw bytes).
      this.dv.setUint32(p + 1, 0, true);
      this.dv.setUint32(p + 5, 0x7ff8_0000, true);
    }
    this.pos = p + 9;
  }

  /** Raw bytes of a view; big views go to the hash straight from their memory, never copied. */
  bytes(view: ArrayBufferView): void {
    const n = view.byteLength;
    if (n <= SCRATCH_BYTES - this.pos || n < DIRECT_BYTES) {
      this.room(n);
      this.buf.set(new Uint8Array(view.buffer, view.byteOffset, n), this.pos);
      this.pos += n;
      return;
    }
    this.flush();
    this.hash ??= createHash('sha256');
    if (n <= MAX_UPDATE_BYTES) {
      this.hash.update(view as NodeJS.ArrayBufferView);
      return;
    }
    for (let off = 0; off < n; off += MAX_UPDATE_BYTES) {
      const len = Math.min(MAX_UPDATE_BYTES, n - off);
      this.hash.update(new Uint8Array(view.buffer, view.byteOffset + off, len));
    }
  }

  str(s: string): void {
    const n = s.length;
    // Short ASCII (most object keys) is written by hand: cheaper than a call into the encoder.
    if (n <= 64) {
      this.room(9 + n);
      const at = this.pos + 9;
      const buf = this.buf;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === n) {
        this.tagLen(T_STRING, n);
        this.pos += n;
        return;
      }
    }
    if (!isWellFormed(s)) {
      // UTF-8 would turn lone surrogates into U+FFFD and make different strings hash equal.
      const b = Buffer.from(s, 'utf16le');
      this.tagLen(T_STRING16, n);
      this.bytes(b);
      return;
    }
    if (n * 3 <= SCRATCH_BYTES - 9) {
      this.room(9 + n * 3);
      const written = this.buf.write(s, this.pos + 9, 'utf8');
      this.tagLen(T_STRING, written);
      this.pos += written;
      return;
    }
    const b = Buffer.from(s, 'utf8');
    this.tagLen(T_STRING, b.length);
    this.bytes(b);
  }

  digest(): Buffer {
    if (this.hash === undefined) {
      return oneShotHash('sha256', this.buf.subarray(0, this.pos), 'buffer');
    }
    this.flush();
    return this.hash.digest();
  }
}

// Sinks are reused: their 64 KiB scratch buffers are the main allocation of a small hash. A pool
// rather than a single instance, because Map/Set entries and codecs' encode() nest hashes.
const pool: Sink[] = [];
const POOL_MAX = 16;

function acquire(): Sink {
  const sink = pool.pop();
  if (sink === undefined) return new Sink();
  sink.reset();
  return sink;
}

function release(sink: Sink): void {
  if (pool.length < POOL_MAX) pool.push(sink);
}

class Hasher {
  sink: Sink;
  readonly walk = new Walk('hash');

  constructor(sink: Sink) {
    this.sink = sink;
  }

  value(v: unknown): void {
    switch (typeof v) {
      case 'undefined':
        this.sink.tag(T_UNDEFINED);
        return;
      case 'boolean':
        this.sink.tag(v ? T_TRUE : T_FALSE);
        return;
      case 'number':
        this.sink.f64(T_NUMBER, v);
        return;
      case 'string':
        this.sink.str(v);
        return;
      case 'bigint': {
        const mag = bigintMagnitude(v);
        this.sink.tagLen(T_BIGINT, mag.length);
        this.sink.tag(v < 0n ? 1 : 0);
        this.sink.bytes(mag);
        return;
      }
      case 'object':
        if (v === null) this.sink.tag(T_NULL);
        else this.object(v);
        return;
      default:
        throw this.walk.unsupported(v);
    }
  }

  private object(v: object): void {
    switch (classify(v)) {
      case K_OBJECT:
        this.plainObject(v as Record<string, unknown>);
        return;
      case K_ARRAY:
        this.array(v as readonly unknown[]);
        return;
      case K_TYPED: {
        const view = v as ArrayBufferView & { readonly length: number };
        const info = typedArrayInfo(view);
        if (info === undefined) throw this.walk.unsupported(v);
        if (!LITTLE_ENDIAN && info.bytes > 1) throw this.walk.unsupported(v, bigEndianReason);
        this.sink.tagLen(T_TYPED, view.length);
        this.sink.tag(info.code);
        this.sink.bytes(view);
        return;
      }
      case K_MAP:
        this.map(v as ReadonlyMap<unknown, unknown>);
        return;
      case K_SET:
        this.set(v as ReadonlySet<unknown>);
        return;
      case K_DATE:
        this.sink.f64(T_DATE, Date.prototype.getTime.call(v));
        return;
      case K_ARRAY_BUFFER: {
        const bytes = new Uint8Array(v as ArrayBuffer);
        this.sink.tagLen(T_ARRAY_BUFFER, bytes.length);
        this.sink.bytes(bytes);
        return;
      }
      case K_DATA_VIEW: {
        const dv = v as DataView;
        this.sink.tagLen(T_DATA_VIEW, dv.byteLength);
        this.sink.bytes(dv);
        return;
      }
      case K_DAG:
        this.dag(v as DagState);
        return;
      case K_CLASS:
        this.instance(v);
        return;
      default:
        throw this.walk.unsupported(v);
    }
  }

  private plainObject(v: Record<string, unknown>): void {
    const walk = this.walk;
    walk.enter(v);
    // Sorted so that insertion order, which is not part of the data, never changes the hash.
    const keys = Object.keys(v).sort();
    this.sink.tagLen(T_OBJECT, keys.length);
    walk.push('');
    for (const key of keys) {
      this.sink.str(key);
      walk.set(key);
      this.value(v[key]);
    }
    walk.pop();
    walk.leave();
  }

  private array(v: readonly unknown[]): void {
    const walk = this.walk;
    walk.enter(v);
    const n = v.length;
    this.sink.tagLen(T_ARRAY, n);
    walk.push(0);
    for (let i = 0; i < n; i++) {
      walk.set(i);
      this.value(v[i]);
    }
    walk.pop();
    walk.leave();
  }

  /** Digest of whatever `fill` writes, computed in a separate stream. */
  private subDigest(fill: () => void): Digest {
    const outer = this.sink;
    const sub = acquire();
    this.sink = sub;
    fill();
    this.sink = outer;
    const bytes = sub.digest();
    release(sub);
    return { prefix: bytes.readUIntBE(0, 6), bytes };
  }

  // Maps and Sets must hash equal whatever their insertion order, so entries go in a canonical
  // order. Primitive keys have a natural total order (Map/Set keys are distinct under
  // SameValueZero, so there are no ties) and are written inline, as fast as an object. Object keys
  // have no such order: those collections hash as the sorted digests of their entries.
  private map(v: ReadonlyMap<unknown, unknown>): void {
    const walk = this.walk;
    walk.enter(v);
    const seg = LazySegment.mapKey();
    walk.push(seg);
    const keys = primitiveKeysSorted(v.keys(), v.size);
    if (keys !== undefined) {
      this.sink.tagLen(T_MAP, keys.length);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        seg.atKey(key, i);
        this.value(key);
        seg.toValue();
        this.value(v.get(key));
      }
    } else {
      const digests: Digest[] = [];
      let i = 0;
      for (const [key, value] of v) {
        seg.atKey(key, i++);
        digests.push(
          this.subDigest(() => {
            this.value(key);
            seg.toValue();
            this.value(value);
          }),
        );
      }
      this.sortedDigests(T_MAP_DIGESTS, digests);
    }
    walk.pop();
    walk.leave();
  }

  private set(v: ReadonlySet<unknown>): void {
    const walk = this.walk;
    walk.enter(v);
    const seg = LazySegment.setElement();
    walk.push(seg);
    const elements = primitiveKeysSorted(v.values(), v.size);
    if (elements !== undefined) {
      this.sink.tagLen(T_SET, elements.length);
      for (let i = 0; i < elements.length; i++) {
        seg.index = i;
        this.value(elements[i]);
      }
    } else {
      const digests: Digest[] = [];
      let i = 0;
      for (const element of v) {
        seg.index = i++;
        digests.push(this.subDigest(() => this.value(element)));
      }
      this.sortedDigests(T_SET_DIGESTS, digests);
    }
    walk.pop();
    walk.leave();
  }

  private sortedDigests(tag: number, digests: Digest[]): void {
    digests.sort(compareDigests);
    this.sink.tagLen(tag, digests.length);
    for (const d of digests) this.sink.bytes(d.bytes);
  }

  // Each parent contributes (id, digest of its input), in deps order; hashDagInputs() rebuilds the
  // same stream from precomputed digests, so callers need not rehash large parent outputs.
  private dag(v: DagState): void {
    const walk = this.walk;
    walk.enter(v);
    const seg = LazySegment.dagInput();
    walk.push(seg);
    this.sink.tagLen(T_DAG, v.inputs.size);
    for (const [id, input] of v.inputs) {
      seg.key = id;
      this.sink.str(id);
      // With the stream prefix, so that this digest is exactly hashStateBytes(input).
      const digest = this.subDigest(() => {
        this.sink.bytes(STREAM_PREFIX);
        this.value(input);
      });
      this.sink.bytes(digest.bytes);
    }
    walk.pop();
    walk.leave();
  }

  private instance(v: object): void {
    const walk = this.walk;
    walk.enter(v);
    const codec = codecOf(v);
    let encoded: unknown;
    try {
      encoded = codec.encode(v);
    } catch (error) {
      throw codecFailed('hash', 'encode', walk.path(), codec.tag, error);
    }
    this.sink.tag(T_CLASS);
    this.sink.str(codec.tag);
    walk.push(LazySegment.encoded(codec.tag));
    this.value(encoded);
    walk.pop();
    walk.leave();
  }
}

/** A sub-digest with its first 48 bits as a number: sorting compares numbers, not Buffers. */
interface Digest {
  readonly prefix: number;
  readonly bytes: Buffer;
}

function compareDigests(a: Digest, b: Digest): number {
  return a.prefix - b.prefix || Buffer.compare(a.bytes, b.bytes);
}

/** Rank of a primitive in the canonical key order; -1 for objects (and symbols/functions). */
function primitiveRank(v: unknown): number {
  switch (typeof v) {
    case 'undefined':
      return 0;
    case 'boolean':
      return 2;
    case 'number':
      return Number.isNaN(v) ? 3 : 4;
    case 'bigint':
      return 5;
    case 'string':
      return 6;
    case 'object':
      return v === null ? 1 : -1;
    default:
      return -1;
  }
}

function comparePrimitives(a: unknown, b: unknown): number {
  const ra = primitiveRank(a);
  const rb = primitiveRank(b);
  if (ra !== rb) return ra - rb;
  // Same rank: both numbers, bigints, strings or booleans (NaN, null, undefined occur once).
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** The keys sorted canonically if all are primitives, else undefined. */
function primitiveKeysSorted(keys: Iterable<unknown>, size: number): unknown[] | undefined {
  const out = new Array<unknown>(size);
  let i = 0;
  for (const k of keys) {
    if (primitiveRank(k) < 0) return undefined;
    out[i++] = k;
  }
  return out.sort(comparePrimitives);
}

const bigEndianReason =
  'a multi-byte typed array on a big-endian host, where its raw bytes would not be portable';

function run(fill: (h: Hasher) => void): Buffer {
  const sink = acquire();
  const h = new Hasher(sink);
  try {
    sink.bytes(STREAM_PREFIX);
    fill(h);
    return sink.digest();
  } catch (error) {
    throw h.walk.tooDeep(error, 'PHYS_STATE_UNSUPPORTED');
  } finally {
    release(sink);
  }
}

/**
 * The raw 32-byte SHA-256 digest behind {@link hashState}.
 *
 * @remarks
 * Typed as a `Uint8Array` (it is a Node `Buffer` at run time), so that the public types of
 * `@phys/core` need no Node type definitions.
 * @public
 */
export function hashStateBytes(value: unknown): Uint8Array {
  return run((h) => h.value(value));
}

/**
 * Canonical SHA-256 (hex) of a state value: equal data gives an equal hash, whatever the key or entry insertion order.
 *
 * @remarks
 * Hashes a type-tagged, length-prefixed byte stream, never JSON: `1`, `1n` and `'1'` differ, as do
 * `0` and `-0`; every NaN hashes the same. Object keys are sorted and Map/Set entries put in a
 * canonical order. Typed arrays hash as element type + length + raw bytes (a Float32Array and a
 * Float64Array of equal numbers differ; views hash by their contents only), straight from their
 * memory. Array holes hash as undefined; shared references hash as copies; cycles and
 * unsupported values throw a `StateError` (code `PHYS_STATE_UNSUPPORTED`) naming the path.
 * A DagState hashes as its parent ids and the hashState of each input, in deps order.
 * @public
 */
export function hashState(value: unknown): string {
  return run((h) => h.value(value)).toString('hex');
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * The {@link hashState} of a `DagState` built from `[parentId, hashState(input)]` pairs, without rehashing the inputs.
 * @public
 */
export function hashDagInputs(inputHashes: Iterable<readonly [string, string]>): string {
  const entries = [...inputHashes];
  const seen = new Set<string>();
  for (const [id, digest] of entries) {
    if (typeof id !== 'string' || seen.has(id)) {
      throw new StateError(
        'PHYS_STATE_UNSUPPORTED',
        `hashDagInputs(): parent id ${JSON.stringify(String(id))} is ${typeof id !== 'string' ? 'not a string' : 'listed twice'}. Pass each parent once, in deps order.`,
      );
    }
    seen.add(id);
    if (typeof digest !== 'string' || !HEX_DIGEST.test(digest)) {
      throw new StateError(
        'PHYS_STATE_UNSUPPORTED',
        `hashDagInputs(): the hash given for parent '${id}' is not a hashState() result (64 lowercase hex digits). Pass hashState(input) for each parent.`,
      );
    }
  }
  return run((h) => {
    const sink = h.sink;
    sink.tagLen(T_DAG, entries.length);
    for (const [id, digest] of entries) {
      sink.str(id);
      sink.bytes(Buffer.from(digest, 'hex'));
    }
  }).toString('hex');
}
