// Pieces shared by the hasher and the codec: what kind of value something is, where we are in
// the value (for error messages), cycle detection, and the errors themselves. Not public API.

import { StateError } from '../errors.js';
import { codecForPrototype, type StateCodec, TYPED_ARRAY_CTORS } from './codec-registry.js';
import { DagState } from './dag-state.js';

// Kinds of objects. Primitives are dispatched with `typeof` directly in the walkers (hot path).
export const K_UNSUPPORTED = 0;
export const K_OBJECT = 1;
export const K_ARRAY = 2;
export const K_MAP = 3;
export const K_SET = 4;
export const K_DATE = 5;
export const K_ARRAY_BUFFER = 6;
export const K_DATA_VIEW = 7;
export const K_TYPED = 8;
export const K_DAG = 9;
export const K_CLASS = 10;

/** Element type of a typed array; `code` is what the hash and the encoding store. */
export interface TypedArrayInfo {
  readonly code: number;
  readonly name: string;
  readonly bytes: number;
  readonly create: (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;
  readonly alloc: (length: number) => ArrayBufferView;
}

/** Indexed by code; code 0 is deliberately unused so a zeroed byte is never a valid element type. */
export const TYPED_ARRAYS: readonly (TypedArrayInfo | undefined)[] = [
  undefined,
  ...TYPED_ARRAY_CTORS.map(
    (C, i): TypedArrayInfo => ({
      code: i + 1,
      name: C.name,
      bytes: C.BYTES_PER_ELEMENT,
      create: (buffer, byteOffset, length) => new C(buffer, byteOffset, length),
      alloc: (length) => new C(length),
    }),
  ),
];

const typedArrayByName = new Map<string, TypedArrayInfo>();
for (const info of TYPED_ARRAYS) if (info !== undefined) typedArrayByName.set(info.name, info);

// %TypedArray%.prototype[@@toStringTag] names the element type of any typed array, including
// subclasses such as Buffer, and returns undefined for everything else, without instanceof.
const typedArrayTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype) as object,
  Symbol.toStringTag,
)?.get as (this: unknown) => string | undefined;

/** The element type of a typed array, or undefined for a DataView. */
export function typedArrayInfo(view: ArrayBufferView): TypedArrayInfo | undefined {
  const name = typedArrayTag.call(view);
  return name === undefined ? undefined : typedArrayByName.get(name);
}

// Raw typed-array bytes are hashed and stored little-endian; a big-endian host would need
// byte swapping, which no platform phys runs on requires, so it is refused instead of guessed.
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const builtinKinds = new Map<object | null, number>([
  [Object.prototype, K_OBJECT],
  [null, K_OBJECT],
  [Array.prototype, K_ARRAY],
  [Map.prototype, K_MAP],
  [Set.prototype, K_SET],
  [Date.prototype, K_DATE],
  [ArrayBuffer.prototype, K_ARRAY_BUFFER],
  [DataView.prototype, K_DATA_VIEW],
  ...TYPED_ARRAY_CTORS.map((C) => [C.prototype, K_TYPED] as const),
]);

/**
 * What kind of state an object is. Exact built-in prototypes first (the common case is one Map
 * lookup), then DagState and registered classes, then subclasses of arrays and typed arrays.
 * Map/Set/Date subclasses are not accepted as their base type: they may carry extra state that
 * a plain Map would silently drop, so they need a codec like any other class.
 */
export function classify(value: object): number {
  const proto = Object.getPrototypeOf(value) as object | null;
  const kind = builtinKinds.get(proto);
  if (kind !== undefined) return kind;
  if (DagState.is(value)) return K_DAG;
  if (proto !== null && codecForPrototype(proto) !== undefined) return K_CLASS;
  if (Array.isArray(value)) return K_ARRAY;
  if (ArrayBuffer.isView(value)) return typedArrayInfo(value) === undefined ? K_DATA_VIEW : K_TYPED;
  return K_UNSUPPORTED;
}

/** The registered codec of a value that {@link classify} reported as K_CLASS. */
export function codecOf(value: object): StateCodec<unknown> {
  return codecForPrototype(Object.getPrototypeOf(value) as object) as StateCodec<unknown>;
}

// ---------------------------------------------------------------------------------------------
// Paths and cycles

const SEG_MAP_KEY = 1;
const SEG_MAP_VALUE = 2;
const SEG_SET_ELEMENT = 3;
const SEG_DAG_INPUT = 4;
const SEG_ENCODED = 5;

/**
 * A path segment that is formatted only if an error needs it. Map and Set walks reuse one
 * instance per collection and update it per entry, so walking allocates nothing per entry.
 */
export class LazySegment {
  kind: number;
  key: unknown = undefined;
  index = 0;
  constructor(kind: number) {
    this.kind = kind;
  }
  static mapKey(): LazySegment {
    return new LazySegment(SEG_MAP_KEY);
  }
  static setElement(): LazySegment {
    return new LazySegment(SEG_SET_ELEMENT);
  }
  static dagInput(): LazySegment {
    return new LazySegment(SEG_DAG_INPUT);
  }
  static encoded(tag: string): LazySegment {
    const s = new LazySegment(SEG_ENCODED);
    s.key = tag;
    return s;
  }
  /** Switches a map-key segment to the value of the same entry. */
  toValue(): void {
    this.kind = SEG_MAP_VALUE;
  }
  /** Points a map segment at entry `index` (its key part). */
  atKey(key: unknown, index: number): void {
    this.kind = SEG_MAP_KEY;
    this.key = key;
    this.index = index;
  }
}

export type Segment = string | number | LazySegment;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function quote(text: string): string {
  const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return JSON.stringify(short);
}

function describeKey(key: unknown, index: number): string {
  switch (typeof key) {
    case 'string':
      return quote(key);
    case 'number':
    case 'boolean':
    case 'undefined':
      return Object.is(key, -0) ? '-0' : String(key);
    case 'bigint':
      return `${key}n`;
    default:
      return key === null ? 'null' : `<key #${index}>`;
  }
}

function formatSegment(seg: Segment): string {
  if (typeof seg === 'number') return `[${seg}]`;
  if (typeof seg === 'string') return IDENTIFIER.test(seg) ? `.${seg}` : `[${quote(seg)}]`;
  switch (seg.kind) {
    case SEG_MAP_KEY:
      return `<Map key #${seg.index}>`;
    case SEG_MAP_VALUE:
      return `.get(${describeKey(seg.key, seg.index)})`;
    case SEG_SET_ELEMENT:
      return `<Set element #${seg.index}>`;
    case SEG_DAG_INPUT:
      return `.get(${quote(String(seg.key))})`;
    default:
      return `<encoded by codec ${quote(String(seg.key))}>`;
  }
}

// Below this depth no cycle check is done on entry: a cycle makes the walk go ever deeper, so it
// is still caught (once past this depth) and then reported at its first repetition. This keeps
// the common shallow walk free of per-object Set/Map bookkeeping.
const CYCLE_CHECK_DEPTH = 32;

/** Where a walk is: the path segments, the open objects (for cycle detection), the operation. */
export class Walk {
  readonly segments: Segment[] = [];
  private readonly open: object[] = [];
  private readonly openAt: number[] = [];
  private depth = 0;

  constructor(
    /** "hash" / "encode" / "decode", used in messages. */
    readonly op: string,
  ) {}

  push(seg: Segment): void {
    this.segments.push(seg);
  }

  /** Replaces the last segment (array walks update the index instead of push/pop per element). */
  set(seg: Segment): void {
    this.segments[this.segments.length - 1] = seg;
  }

  pop(): void {
    this.segments.pop();
  }

  /** Marks `obj` as being walked; throws if it is already open further up (a cycle). */
  enter(obj: object): void {
    const d = this.depth;
    if (d >= CYCLE_CHECK_DEPTH && this.open.lastIndexOf(obj, d - 1) !== -1) {
      throw this.cycleError(obj);
    }
    this.open[d] = obj;
    this.openAt[d] = this.segments.length;
    this.depth = d + 1;
  }

  leave(): void {
    this.depth--;
    // Drop the reference so a finished walk does not keep the value alive.
    this.open[this.depth] = undefined as unknown as object;
  }

  /** The path of the current value, e.g. `state.fields.E[3]`. */
  path(length = this.segments.length): string {
    const segs = this.segments;
    let out = 'state';
    if (length <= 40) {
      for (let i = 0; i < length; i++) out += formatSegment(segs[i] as Segment);
      return out;
    }
    // Pathologically deep paths (the usual cause of "nested too deeply") stay readable.
    for (let i = 0; i < 16; i++) out += formatSegment(segs[i] as Segment);
    out += `…(${length - 24} more levels)…`;
    for (let i = length - 8; i < length; i++) out += formatSegment(segs[i] as Segment);
    return out;
  }

  private cycleError(current: object): StateError {
    // Report the first object that repeats, not the place where the check happened to run.
    const objects = [...this.open.slice(0, this.depth), current];
    const lengths = [...this.openAt.slice(0, this.depth), this.segments.length];
    const firstSeen = new Map<object, number>();
    for (let i = 0; i < objects.length; i++) {
      const obj = objects[i] as object;
      const earlier = firstSeen.get(obj);
      if (earlier !== undefined) {
        const from = this.path(lengths[i]);
        const to = this.path(lengths[earlier]);
        return new StateError(
          'PHYS_STATE_UNSUPPORTED',
          `Cannot ${this.op} state: ${from} refers back to ${to}, which contains it (a cycle). ` +
            'State must be a tree: the same object may appear in several places, but not inside ' +
            'itself. Break the cycle, e.g. store an id instead of the back-reference.',
          { details: { path: from, cycleTo: to } },
        );
      }
      firstSeen.set(obj, i);
    }
    // Unreachable: enter() only calls this when `current` is open.
    return new StateError('PHYS_STATE_UNSUPPORTED', `Cannot ${this.op} state: cycle detected.`);
  }

  /** A StateError for a value that is not state, naming what it is and how to fix it. */
  unsupported(value: unknown, reason?: string): StateError {
    const path = this.path();
    const what = reason ?? describeUnsupported(value);
    return new StateError(
      'PHYS_STATE_UNSUPPORTED',
      `Cannot ${this.op} state: ${path} is ${what}. State must be structured-cloneable data ` +
        '(primitives, plain objects, arrays, Map, Set, Date, ArrayBuffer, DataView, typed arrays) ' +
        'or an instance of a class with a codec: register one with ' +
        'registerStateCodec({ tag, type, encode, decode }), or convert the value to plain data.',
      { details: { path } },
    );
  }

  /** Converts a stack overflow (too deeply nested value) into a StateError; other errors pass. */
  tooDeep(error: unknown, code: 'PHYS_STATE_UNSUPPORTED' | 'PHYS_STATE_CORRUPT'): unknown {
    if (!(error instanceof RangeError) || !/call stack/i.test(error.message)) return error;
    const path = this.path();
    const where = `(${this.segments.length} levels, at ${path})`;
    const message =
      code === 'PHYS_STATE_CORRUPT'
        ? `Cannot decode state: the encoded value is nested too deeply for the JavaScript stack ${where}. ` +
          'If encodeState() produced it under a larger stack, decode it with one too ' +
          '(node --stack-size) or flatten the data; otherwise the bytes are corrupt.'
        : `Cannot ${this.op} state: the value is nested too deeply for the JavaScript stack ${where}. ` +
          'Flatten the structure (e.g. keep a linked list as an array), or give the deep class ' +
          'a codec that encodes it flat.';
    return new StateError(code, message, { cause: error, details: { path } });
  }
}

/** A user codec's encode() or decode() threw: blame the codec, keep the cause. */
export function codecFailed(
  op: string,
  fn: 'encode' | 'decode',
  path: string,
  tag: string,
  error: unknown,
): StateError {
  const msg = error instanceof Error ? error.message : String(error);
  return new StateError(
    fn === 'encode' ? 'PHYS_STATE_UNSUPPORTED' : 'PHYS_STATE_CORRUPT',
    `Cannot ${op} state: ${fn}() of state codec '${tag}' threw at ${path}: ${msg}. ` +
      (fn === 'encode'
        ? 'Fix the codec registered with registerStateCodec(), or the value it was given.'
        : 'The encoded data does not match what the codec expects: decode with the codec ' +
          'version that encoded it, or fix its decode().'),
    { cause: error, details: { path, tag } },
  );
}

function describeUnsupported(value: unknown): string {
  switch (typeof value) {
    case 'function':
      return 'a function (functions are behaviour, not state)';
    case 'symbol':
      return 'a symbol (symbols have no portable value)';
    case 'object':
      break;
    default:
      return `a ${typeof value}`;
  }
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  switch (tag) {
    case 'Promise':
      return 'a Promise (await it and store the result instead)';
    case 'WeakMap':
    case 'WeakSet':
    case 'WeakRef':
      return `a ${tag} (its contents cannot be enumerated; use a Map or Set)`;
    case 'SharedArrayBuffer':
      return 'a SharedArrayBuffer (copy it into an ArrayBuffer or typed array)';
    case 'Number':
    case 'String':
    case 'Boolean':
    case 'BigInt':
    case 'Symbol':
      return `a boxed ${tag} object (use the primitive value)`;
    default:
      break;
  }
  let name: string | undefined;
  try {
    const ctor = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)?.constructor;
    if (typeof ctor === 'function' && ctor.name !== '') name = ctor.name;
  } catch {
    // A hostile proxy or getter: fall back to the tag.
  }
  return name === undefined
    ? `an object of type ${tag} that is not supported`
    : `an instance of class ${name}, which has no registered state codec`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const isWellFormedImpl = (String.prototype as { isWellFormed?: (this: string) => boolean })
  .isWellFormed;

/** False for strings with lone surrogates, which UTF-8 cannot carry (they are stored as UTF-16). */
export function isWellFormed(s: string): boolean {
  if (isWellFormedImpl !== undefined) return isWellFormedImpl.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const n = s.charCodeAt(i + 1);
      if (c >= 0xdc00 || !(n >= 0xdc00 && n <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const bigScratch = new DataView(new ArrayBuffer(8));

/** Big-endian magnitude of |x| without leading zero bytes (empty for 0n): canonical by design. */
export function bigintMagnitude(x: bigint): Uint8Array {
  const mag = x < 0n ? -x : x;
  if (mag <= U64_MAX) {
    bigScratch.setBigUint64(0, mag);
    const bytes = new Uint8Array(bigScratch.buffer);
    let first = 0;
    while (first < 8 && bytes[first] === 0) first++;
    return bytes.slice(first);
  }
  const hex = mag.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
}

/** Inverse of {@link bigintMagnitude}. */
export function bigintFromMagnitude(bytes: Uint8Array, negative: boolean): bigint {
  let mag = 0n;
  if (bytes.length <= 8) {
    for (const b of bytes) mag = (mag << 8n) | BigInt(b);
  } else {
    mag = BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')}`);
  }
  return negative ? -mag : mag;
}
