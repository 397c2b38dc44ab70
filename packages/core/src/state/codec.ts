// Binary state codec. Layout (all integers little-endian):
//
//   header  : magic 89 50 53 54 ("\x89PST") | version u8 | flags u8 (0) | reserved u16 (0)
//             | total length u64 (header included)
//   value   : tag u8, then a tag-specific payload; lengths and counts are unsigned LEB128
//   raw data: typed-array bytes start at an offset that is a multiple of 8 from the start of the
//             encoding (zero padding before them), so that decodeState() can return views
//
// The format is versioned by the header; a change to any tag or payload needs a new version.

import { isUtf8 } from 'node:buffer';
import { PhysError, StateError } from '../errors.js';
import { codecForTag } from './codec-registry.js';
import { DagState } from './dag-state.js';
import {
  bigintFromMagnitude,
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
  TYPED_ARRAYS,
  typedArrayInfo,
  Walk,
} from './shared.js';

/**
 * Options of {@link decodeState}.
 * @public
 */
export interface DecodeStateOptions {
  /**
   * Copy typed-array and DataView contents instead of returning views onto the input bytes.
   * Use it when the input buffer will be reused or mutated, or must be garbage-collected
   * while the decoded value lives on.
   */
  readonly copy?: boolean;
}

const MAGIC0 = 0x89;
const MAGIC1 = 0x50;
const MAGIC2 = 0x53;
const MAGIC3 = 0x54;
const FORMAT_VERSION = 1;
const HEADER_BYTES = 16;

// Value tags of format version 1. Never renumber; 0 stays invalid so zeroed memory is rejected.
const T_UNDEFINED = 1;
const T_NULL = 2;
const T_FALSE = 3;
const T_TRUE = 4;
const T_INT = 5; // int32 as zigzag LEB128: small integers are the most common numbers
const T_FLOAT = 6;
const T_STRING = 7; // UTF-8
const T_STRING16 = 8; // UTF-16LE, only for strings with lone surrogates
const T_BIGINT = 9;
const T_DATE = 10;
const T_ARRAY = 11;
const T_OBJECT = 12;
const T_MAP = 13;
const T_SET = 14;
const T_ARRAY_BUFFER = 15;
const T_DATA_VIEW = 16;
const T_TYPED = 17;
const T_DAG = 18;
const T_CLASS = 19;

const CHUNK_BYTES = 64 * 1024;
// Larger views are not copied while walking but referenced and copied once into the output,
// which makes encoding a big typed array a single memcpy.
const INLINE_BYTES = 4096;
const TWO_32 = 2 ** 32;
const MAX_DATE = 8.64e15;

/**
 * Output built as a list of parts (filled scratch chunks and references to large views), sized
 * exactly and copied into one buffer at the end: no growth reallocations, no oversized result.
 */
class Out {
  private readonly parts: Uint8Array[] = [];
  private flushed = 0;
  private start = 0;
  buf: Buffer;
  dv: DataView;
  pos = 0;

  constructor(first: Buffer) {
    this.buf = first;
    this.dv = new DataView(first.buffer, first.byteOffset, first.length);
  }

  /** Offset from the start of the encoding. */
  offset(): number {
    return this.flushed + this.pos - this.start;
  }

  room(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    this.cut();
    this.buf = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, n));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.pos = 0;
    this.start = 0;
  }

  private cut(): void {
    if (this.pos > this.start) {
      this.parts.push(this.buf.subarray(this.start, this.pos));
      this.flushed += this.pos - this.start;
      this.start = this.pos;
    }
  }

  u8(x: number): void {
    if (this.pos === this.buf.length) this.grow(1);
    this.buf[this.pos++] = x;
  }

  varint(x: number): void {
    this.room(8);
    const buf = this.buf;
    let p = this.pos;
    while (x >= 0x80) {
      buf[p++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    buf[p++] = x;
    this.pos = p;
  }

  f64(x: number): void {
    this.room(8);
    this.dv.setFloat64(this.pos, x, true);
    this.pos += 8;
  }

  pad8(): void {
    const pad = (8 - (this.offset() % 8)) % 8;
    if (pad === 0) return;
    this.room(pad);
    this.buf.fill(0, this.pos, this.pos + pad);
    this.pos += pad;
  }

  bytes(view: ArrayBufferView): void {
    const n = view.byteLength;
    const src = new Uint8Array(view.buffer, view.byteOffset, n);
    if (n <= INLINE_BYTES) {
      this.room(n);
      this.buf.set(src, this.pos);
      this.pos += n;
      return;
    }
    this.cut();
    this.parts.push(src);
    this.flushed += n;
  }

  str(s: string): void {
    const n = s.length;
    // ≤ 42 UTF-16 units is ≤ 126 UTF-8 bytes: the length is one byte and can be written after.
    if (n <= 42) {
      this.room(2 + n * 3);
      const buf = this.buf;
      const at = this.pos + 2;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === n || isWellFormed(s)) {
        const len = i === n ? n : buf.write(s, at, 'utf8');
        buf[this.pos] = T_STRING;
        buf[this.pos + 1] = len;
        this.pos = at + len;
        return;
      }
    }
    if (!isWellFormed(s)) {
      // UTF-8 cannot carry lone surrogates; UTF-16 keeps such strings exact.
      this.u8(T_STRING16);
      this.varint(n);
      this.bytes(Buffer.from(s, 'utf16le'));
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.u8(T_STRING);
    this.varint(len);
    if (len <= CHUNK_BYTES) {
      this.room(len);
      this.buf.write(s, this.pos, len, 'utf8');
      this.pos += len;
    } else {
      this.bytes(Buffer.from(s, 'utf8'));
    }
  }

  finish(): Uint8Array {
    this.cut();
    const total = this.flushed;
    // allocUnsafeSlow: every byte is overwritten below, and zero-filling a large output would
    // cost as much as the copy itself. Its own ArrayBuffer also means offset 0, hence aligned.
    const out = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    dv.setUint32(8, total >>> 0, true);
    dv.setUint32(12, Math.floor(total / TWO_32), true);
    return out;
  }
}

const firstChunks: Buffer[] = [];

class Encoder {
  readonly walk = new Walk('encode');
  constructor(readonly out: Out) {}

  value(v: unknown): void {
    const out = this.out;
    switch (typeof v) {
      case 'undefined':
        out.u8(T_UNDEFINED);
        return;
      case 'boolean':
        out.u8(v ? T_TRUE : T_FALSE);
        return;
      case 'number':
        if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
          out.u8(T_INT);
          out.varint(((v << 1) ^ (v >> 31)) >>> 0);
        } else {
          out.u8(T_FLOAT);
          out.f64(v);
        }
        return;
      case 'string':
        out.str(v);
        return;
      case 'bigint': {
        const mag = bigintMagnitude(v);
        out.u8(T_BIGINT);
        out.u8(v < 0n ? 1 : 0);
        out.varint(mag.length);
        out.bytes(mag);
        return;
      }
      case 'object':
        if (v === null) out.u8(T_NULL);
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
      case K_TYPED:
        this.typedArray(v as ArrayBufferView & { readonly length: number });
        return;
      case K_MAP:
        this.map(v as ReadonlyMap<unknown, unknown>);
        return;
      case K_SET:
        this.set(v as ReadonlySet<unknown>);
        return;
      case K_DATE:
        this.out.u8(T_DATE);
        this.out.f64(Date.prototype.getTime.call(v));
        return;
      case K_ARRAY_BUFFER: {
        const bytes = new Uint8Array(v as ArrayBuffer);
        this.out.u8(T_ARRAY_BUFFER);
        this.out.varint(bytes.length);
        this.out.bytes(bytes);
        return;
      }
      case K_DATA_VIEW: {
        const dv = v as DataView;
        this.out.u8(T_DATA_VIEW);
        this.out.varint(dv.byteLength);
        this.out.bytes(dv);
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

  private plainObject(obj: Record<string, unknown>): void {
    const { out, walk } = this;
    walk.enter(obj);
    const keys = Object.keys(obj);
    out.u8(T_OBJECT);
    out.varint(keys.length);
    walk.push('');
    for (const key of keys) {
      out.str(key);
      walk.set(key);
      this.value(obj[key]);
    }
    walk.pop();
    walk.leave();
  }

  private array(arr: readonly unknown[]): void {
    const { out, walk } = this;
    walk.enter(arr);
    const n = arr.length;
    out.u8(T_ARRAY);
    out.varint(n);
    walk.push(0);
    for (let i = 0; i < n; i++) {
      walk.set(i);
      this.value(arr[i]);
    }
    walk.pop();
    walk.leave();
  }

  private typedArray(view: ArrayBufferView & { readonly length: number }): void {
    const info = typedArrayInfo(view);
    if (info === undefined) throw this.walk.unsupported(view);
    if (!LITTLE_ENDIAN && info.bytes > 1) {
      throw this.walk.unsupported(view, 'a multi-byte typed array on a big-endian host');
    }
    const out = this.out;
    out.u8(T_TYPED);
    out.u8(info.code);
    out.varint(view.length);
    out.pad8();
    out.bytes(view);
  }

  private map(map: ReadonlyMap<unknown, unknown>): void {
    const { out, walk } = this;
    walk.enter(map);
    out.u8(T_MAP);
    out.varint(map.size);
    const seg = LazySegment.mapKey();
    walk.push(seg);
    let i = 0;
    for (const [key, value] of map) {
      seg.atKey(key, i++);
      this.value(key);
      seg.toValue();
      this.value(value);
    }
    walk.pop();
    walk.leave();
  }

  private set(set: ReadonlySet<unknown>): void {
    const { out, walk } = this;
    walk.enter(set);
    out.u8(T_SET);
    out.varint(set.size);
    const seg = LazySegment.setElement();
    walk.push(seg);
    let i = 0;
    for (const element of set) {
      seg.index = i++;
      this.value(element);
    }
    walk.pop();
    walk.leave();
  }

  private dag(dag: DagState): void {
    const { out, walk } = this;
    walk.enter(dag);
    out.u8(T_DAG);
    out.varint(dag.inputs.size);
    const seg = LazySegment.dagInput();
    walk.push(seg);
    for (const [id, input] of dag.inputs) {
      seg.key = id;
      out.str(id);
      this.value(input);
    }
    walk.pop();
    walk.leave();
  }

  private instance(v: object): void {
    const { out, walk } = this;
    walk.enter(v);
    const codec = codecOf(v);
    let encoded: unknown;
    try {
      encoded = codec.encode(v);
    } catch (error) {
      throw codecFailed('encode', 'encode', walk.path(), codec.tag, error);
    }
    out.u8(T_CLASS);
    out.str(codec.tag);
    walk.push(LazySegment.encoded(codec.tag));
    this.value(encoded);
    walk.pop();
    walk.leave();
  }
}

/**
 * Encodes a state value into one compact, self-describing byte buffer (see {@link decodeState}).
 *
 * @remarks
 * Round-trips everything {@link hashState} accepts: -0, NaN, holes (as undefined), typed-array
 * element types, Map/Set/object insertion order, Dates, bigints, DagStates and registered classes.
 * Shared references are written once per occurrence (they decode as separate copies); cycles and
 * unsupported values throw a `StateError` naming the path. Large typed arrays are copied into the
 * output exactly once.
 * @public
 */
export function encodeState(value: unknown): Uint8Array {
  const first = firstChunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
  const out = new Out(first);
  const enc = new Encoder(out);
  let result: Uint8Array;
  try {
    out.room(HEADER_BYTES);
    const p = out.pos;
    out.buf.fill(0, p, p + HEADER_BYTES);
    out.buf[p] = MAGIC0;
    out.buf[p + 1] = MAGIC1;
    out.buf[p + 2] = MAGIC2;
    out.buf[p + 3] = MAGIC3;
    out.buf[p + 4] = FORMAT_VERSION;
    out.pos = p + HEADER_BYTES;
    enc.value(value);
    result = out.finish();
  } catch (error) {
    throw enc.walk.tooDeep(error, 'PHYS_STATE_UNSUPPORTED');
  }
  // Only returned once finish() has copied everything out of it.
  if (firstChunks.length < 8) firstChunks.push(first);
  return result;
}

// ---------------------------------------------------------------------------------------------

// Short ASCII strings (object keys above all) repeat a lot in state: an array of records decodes
// the same few keys again and again. A small cache returns the same string instance for them,
// which saves the call into the UTF-8 decoder and most of the garbage.
const SHORT_STRING = 32;
const STRING_CACHE_SIZE = 1024;
const stringCache: (string | undefined)[] = new Array<string | undefined>(STRING_CACHE_SIZE);

/** The string for bytes [start, end) if they are ASCII, else undefined. */
function shortAscii(bytes: Uint8Array, start: number, end: number): string | undefined {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    if (c >= 0x80) return undefined;
    h = Math.imul(h ^ c, 0x01000193);
  }
  const slot = (h >>> 0) % STRING_CACHE_SIZE;
  const cached = stringCache[slot];
  const len = end - start;
  if (cached !== undefined && cached.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (cached.charCodeAt(i) !== bytes[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  const s = String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  stringCache[slot] = s;
  return s;
}

class Reader {
  readonly walk = new Walk('decode');
  readonly buf: Buffer;
  readonly dv: DataView;
  pos = 0;
  end: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly copy: boolean,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.end = bytes.byteLength;
  }

  corrupt(problem: string, at = this.pos): StateError {
    const path = this.walk.path();
    return new StateError(
      'PHYS_STATE_CORRUPT',
      `Cannot decode state: ${problem} (at ${path}, byte offset ${at}). The bytes are damaged or ` +
        'were not produced by encodeState(): re-encode the value from its source, and check how ' +
        'the bytes were stored or transferred (truncated writes, text-mode I/O, wrong file).',
      { details: { path, offset: at } },
    );
  }

  need(n: number, what: string): void {
    const left = this.end - this.pos;
    if (n > left) {
      throw this.corrupt(`truncated input: ${what} needs ${n} bytes but only ${left} remain`);
    }
  }

  u8(what: string): number {
    if (this.pos >= this.end) throw this.corrupt(`truncated input: missing ${what}`);
    return this.bytes[this.pos++] as number;
  }

  varint(what: string): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what);
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) break;
        return result;
      }
      scale *= 0x80;
    }
    throw this.corrupt(`malformed ${what} (not a valid length)`, start);
  }

  /** A count of items that each take at least `minBytes`: bounded by what is left of the input. */
  count(what: string, minBytes: number): number {
    const start = this.pos;
    const n = this.varint(`${what} size`);
    if (n * minBytes > this.end - this.pos) {
      throw this.corrupt(
        `${what} claims ${n} entries but only ${this.end - this.pos} bytes remain`,
        start,
      );
    }
    return n;
  }

  f64(what: string): number {
    this.need(8, what);
    const x = this.dv.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }

  header(): void {
    const b = this.bytes;
    const looksLikeState =
      b[0] === MAGIC0 && (b.length < 2 || b[1] === MAGIC1) && (b.length < 3 || b[2] === MAGIC2);
    if (b.length < HEADER_BYTES && (b.length === 0 || looksLikeState)) {
      throw this.corrupt(
        `truncated input: ${b.length} bytes, shorter than the ${HEADER_BYTES}-byte header`,
      );
    }
    if (b[0] !== MAGIC0 || b[1] !== MAGIC1 || b[2] !== MAGIC2 || b[3] !== MAGIC3) {
      throw this.corrupt('not encoded state (wrong magic bytes; expected 89 50 53 54)', 0);
    }
    const version = b[4] as number;
    if (version !== FORMAT_VERSION) {
      throw new StateError(
        'PHYS_STATE_UNSUPPORTED',
        `Cannot decode state: it was written in state format version ${version}, but this copy of @phys/core reads version ${FORMAT_VERSION} only. Upgrade @phys/core to read it (if no newer writer exists, the bytes are corrupt).`,
        { details: { version } },
      );
    }
    if (b[5] !== 0 || b[6] !== 0 || b[7] !== 0) {
      throw this.corrupt('reserved header bytes are not zero', 5);
    }
    const total = this.dv.getUint32(8, true) + this.dv.getUint32(12, true) * TWO_32;
    if (total < b.length) {
      throw this.corrupt(
        `${b.length - total} unexpected bytes after the encoded state (header says ${total} bytes)`,
        8,
      );
    }
    if (total > b.length) {
      throw this.corrupt(
        `truncated input: ${b.length} bytes, but the header says the encoding is ${total} bytes`,
        8,
      );
    }
    this.pos = HEADER_BYTES;
  }

  value(): unknown {
    const at = this.pos;
    const tag = this.u8('a value');
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_INT: {
        const n = this.varint('integer');
        if (n >= TWO_32) throw this.corrupt('integer out of range', at);
        return (n >>> 1) ^ -(n & 1);
      }
      case T_FLOAT:
        return this.f64('number');
      case T_STRING:
      case T_STRING16:
        return this.stringBody(tag, at);
      case T_BIGINT: {
        const sign = this.u8('bigint sign');
        if (sign > 1) throw this.corrupt(`invalid bigint sign byte ${sign}`, at);
        const len = this.varint('bigint length');
        this.need(len, 'bigint');
        const v = bigintFromMagnitude(this.bytes.subarray(this.pos, this.pos + len), sign === 1);
        this.pos += len;
        return v;
      }
      case T_DATE: {
        const t = this.f64('date');
        if (!Number.isNaN(t) && !(Number.isInteger(t) && Math.abs(t) <= MAX_DATE)) {
          throw this.corrupt(`invalid date time value ${t}`, at);
        }
        return new Date(t);
      }
      case T_ARRAY:
        return this.array();
      case T_OBJECT:
        return this.object(at);
      case T_MAP:
        return this.map(at);
      case T_SET:
        return this.set(at);
      case T_ARRAY_BUFFER: {
        const len = this.varint('ArrayBuffer length');
        this.need(len, 'ArrayBuffer');
        // Always a copy: an ArrayBuffer cannot be a window onto part of the input.
        const ab = new ArrayBuffer(len);
        new Uint8Array(ab).set(this.bytes.subarray(this.pos, this.pos + len));
        this.pos += len;
        return ab;
      }
      case T_DATA_VIEW: {
        const len = this.varint('DataView length');
        this.need(len, 'DataView');
        const dv = this.copy
          ? new DataView(this.bytes.slice(this.pos, this.pos + len).buffer)
          : new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, len);
        this.pos += len;
        return dv;
      }
      case T_TYPED:
        return this.typedArray(at);
      case T_DAG:
        return this.dag(at);
      case T_CLASS:
        return this.instance(at);
      default:
        throw this.corrupt(`unknown value tag 0x${tag.toString(16).padStart(2, '0')}`, at);
    }
  }

  private string(what: string): string {
    const at = this.pos;
    const tag = this.u8(what);
    if (tag !== T_STRING && tag !== T_STRING16) {
      throw this.corrupt(`expected ${what} (a string), found value tag 0x${tag.toString(16)}`, at);
    }
    return this.stringBody(tag, at);
  }

  private stringBody(tag: number, at: number): string {
    if (tag === T_STRING16) {
      const units = this.varint('string length');
      if (units > (this.end - this.pos) / 2) {
        throw this.corrupt(`truncated input: string of ${units} UTF-16 units`, at);
      }
      const s = this.buf.toString('utf16le', this.pos, this.pos + units * 2);
      this.pos += units * 2;
      return s;
    }
    const len = this.varint('string length');
    this.need(len, 'string');
    const start = this.pos;
    const end = start + len;
    const bytes = this.bytes;
    if (len <= SHORT_STRING) {
      const s = shortAscii(bytes, start, end);
      if (s !== undefined) {
        this.pos = end;
        return s;
      }
    }
    // Invalid UTF-8 would silently become U+FFFD: wrong data instead of an error.
    if (!isUtf8(bytes.subarray(start, end))) throw this.corrupt('string is not valid UTF-8', at);
    this.pos = end;
    return this.buf.toString('utf8', start, end);
  }

  private array(): unknown[] {
    const n = this.count('array', 1);
    const arr: unknown[] = [];
    const walk = this.walk;
    walk.push(0);
    for (let i = 0; i < n; i++) {
      walk.set(i);
      arr.push(this.value());
    }
    walk.pop();
    return arr;
  }

  private object(at: number): Record<string, unknown> {
    const n = this.count('object', 3);
    const obj: Record<string, unknown> = {};
    const walk = this.walk;
    walk.push('');
    for (let i = 0; i < n; i++) {
      const key = this.string('an object key');
      walk.set(key);
      const value = this.value();
      if (key === '__proto__') {
        // Plain assignment would replace the prototype instead of creating the key.
        Object.defineProperty(obj, key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      } else {
        obj[key] = value;
      }
    }
    walk.pop();
    if (Object.keys(obj).length !== n) throw this.corrupt('object has duplicate keys', at);
    return obj;
  }

  private map(at: number): Map<unknown, unknown> {
    const n = this.count('Map', 2);
    const map = new Map<unknown, unknown>();
    const seg = LazySegment.mapKey();
    this.walk.push(seg);
    for (let i = 0; i < n; i++) {
      seg.atKey(undefined, i);
      const key = this.value();
      seg.atKey(key, i);
      seg.toValue();
      map.set(key, this.value());
    }
    this.walk.pop();
    if (map.size !== n) throw this.corrupt('Map has duplicate keys', at);
    return map;
  }

  private set(at: number): Set<unknown> {
    const n = this.count('Set', 1);
    const set = new Set<unknown>();
    const seg = LazySegment.setElement();
    this.walk.push(seg);
    for (let i = 0; i < n; i++) {
      seg.index = i;
      set.add(this.value());
    }
    this.walk.pop();
    if (set.size !== n) throw this.corrupt('Set has duplicate elements', at);
    return set;
  }

  private typedArray(at: number): ArrayBufferView {
    const code = this.u8('typed array element type');
    const info = TYPED_ARRAYS[code];
    if (info === undefined) throw this.corrupt(`unknown typed array element type ${code}`, at);
    if (!LITTLE_ENDIAN && info.bytes > 1) {
      throw this.walk.unsupported(undefined, 'a multi-byte typed array on a big-endian host');
    }
    const length = this.varint('typed array length');
    // Alignment is relative to the start of the encoding, which is where the header starts.
    const pad = (8 - (this.pos % 8)) % 8;
    this.need(pad, 'typed array padding');
    for (let i = 0; i < pad; i++) {
      if (this.bytes[this.pos + i] !== 0) throw this.corrupt('non-zero typed array padding', at);
    }
    this.pos += pad;
    if (length > (this.end - this.pos) / info.bytes) {
      throw this.corrupt(
        `truncated input: ${info.name} of ${length} elements needs ${length * info.bytes} bytes but only ${this.end - this.pos} remain`,
        at,
      );
    }
    const byteLength = length * info.bytes;
    const offset = this.bytes.byteOffset + this.pos;
    let out: ArrayBufferView;
    if (!this.copy && offset % info.bytes === 0) {
      out = info.create(this.bytes.buffer, offset, length);
    } else {
      out = info.alloc(length);
      new Uint8Array(out.buffer, out.byteOffset, byteLength).set(
        this.bytes.subarray(this.pos, this.pos + byteLength),
      );
    }
    this.pos += byteLength;
    return out;
  }

  private dag(at: number): DagState {
    const n = this.count('DagState', 3);
    const entries: [string, unknown][] = [];
    const ids = new Set<string>();
    const seg = LazySegment.dagInput();
    this.walk.push(seg);
    for (let i = 0; i < n; i++) {
      const id = this.string('a DagState parent id');
      seg.key = id;
      entries.push([id, this.value()]);
      ids.add(id);
    }
    this.walk.pop();
    if (ids.size !== n) throw this.corrupt('DagState has duplicate parent ids', at);
    return new DagState(entries);
  }

  private instance(at: number): unknown {
    const tag = this.string('a state codec tag');
    const codec = codecForTag(tag);
    const walk = this.walk;
    if (codec === undefined) {
      const path = walk.path();
      throw new StateError(
        'PHYS_STATE_UNSUPPORTED',
        `Cannot decode state: ${path} (byte offset ${at}) is an instance encoded by state codec '${tag}', which is not registered in this process. Call registerStateCodec() for that class (import the module that registers it) before decoding.`,
        { details: { path, tag } },
      );
    }
    walk.push(LazySegment.encoded(tag));
    const data = this.value();
    walk.pop();
    try {
      return codec.decode(data);
    } catch (error) {
      throw codecFailed('decode', 'decode', walk.path(), tag, error);
    }
  }
}

/**
 * Decodes bytes from {@link encodeState}; typed arrays and DataViews are views onto `bytes` where alignment allows, unless `{ copy: true }`.
 *
 * @remarks
 * Typed-array data is stored 8-byte aligned relative to the start of the encoding, so when
 * `bytes` itself starts at an aligned offset (as the result of `encodeState()` or a file read into
 * a fresh buffer does) every typed array comes back as a view without a copy: decoding is O(1) in
 * the size of the numeric data. Such views share memory with `bytes` (writing to one changes the
 * other, and they keep `bytes` alive); misaligned input falls back to copies. ArrayBuffers are
 * always copies. Damaged or truncated input throws a `StateError` with code `PHYS_STATE_CORRUPT`;
 * the structure is validated fully, but flipped bits inside raw numeric data cannot be detected:
 * compare {@link hashState} of the result with a stored hash when integrity matters.
 * @public
 */
export function decodeState(bytes: Uint8Array, options: DecodeStateOptions = {}): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new StateError(
      'PHYS_STATE_CORRUPT',
      `Cannot decode state: expected the Uint8Array returned by encodeState(), got ${bytes === null ? 'null' : typeof bytes}. Pass the encoded bytes (a Buffer is fine).`,
    );
  }
  const reader = new Reader(bytes, options.copy === true);
  try {
    reader.header();
    const value = reader.value();
    if (reader.pos !== reader.end) {
      throw reader.corrupt(`${reader.end - reader.pos} unexpected bytes after the value`);
    }
    return value;
  } catch (error) {
    if (PhysError.is(error)) throw error;
    const deep = reader.walk.tooDeep(error, 'PHYS_STATE_CORRUPT');
    if (deep !== error) throw deep;
    // Every input is validated before use, so this is a last line of defence: damaged bytes
    // must surface as a StateError, never as a stray RangeError from deep inside.
    const problem = error instanceof Error ? error.message : String(error);
    const wrapped = reader.corrupt(`unexpected failure (${problem})`);
    throw new StateError(wrapped.code, wrapped.message, {
      cause: error,
      ...(wrapped.details === undefined ? {} : { details: wrapped.details }),
    });
  }
}
