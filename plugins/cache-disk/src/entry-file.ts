// One cache entry = one file. Layout (integers little-endian):
//
//   0   magic 89 50 43 45 ("\x89PCE") | version u8 (1) | flags u8 (0) | key length u16
//   8   metadata length u32 | reserved u32 (0)
//   16  result length u64 | provenance length u64 | total file length u64 (trailer included)
//   40  key (UTF-8), then metadata (JSON, UTF-8), then zero padding to a multiple of 8
//   P   result: { state, metrics, artifacts? } encoded with encodeState (8-aligned, so typed
//       arrays decode as views), zero padding to a multiple of 8
//   Q   provenance, encoded with encodeState
//   T-32  SHA-256 of bytes [0, T-32)
//
// The checksum is a trailer: it covers the header, the key, the metadata and both sections as
// one contiguous range, and a file cut short anywhere loses it. The key is inside the checked
// range, so an intact entry that sits under the wrong name is rejected too. Result and
// provenance are separate sections so that a node storing the same result again (identical work
// under a shared key, with its own node id in the provenance) can be recognised by comparing bytes.

import { createHash, hash as oneShotHash } from 'node:crypto';
import { type CacheEntry, type DagKeyInputs, KEY_INPUTS_FIELD } from '@phys/core';
import type { EntryMetadata } from './public-types.js';

export type { EntryMetadata } from './public-types.js';

const MAGIC0 = 0x89;
const MAGIC1 = 0x50;
const MAGIC2 = 0x43;
const MAGIC3 = 0x45;
const FILE_VERSION = 1;
/** Bytes of the fixed header. */
export const HEAD_BYTES = 40;
/** Bytes of the checksum trailer. */
export const TRAILER_BYTES = 32;
const TWO_32 = 2 ** 32;
/** Longest key in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

/** `value` when it is a non-empty string. */
export function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Whether `value` looks like the key inputs a writer recorded (a foreign writer may not). */
export function isKeyInputs(value: unknown): value is DagKeyInputs {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.formatVersion === 'string' &&
    typeof v.stageName === 'string' &&
    typeof v.stageVersion === 'string' &&
    typeof v.configHash === 'string'
  );
}

/** The metadata to record for `entry`, taken from its provenance. */
export function metadataFor(entry: CacheEntry): EntryMetadata {
  const p = (entry.provenance ?? {}) as Record<string, unknown>;
  const stage = nonEmpty(p.stage);
  const stageVersion = nonEmpty(p.version) ?? nonEmpty(p.stageVersion);
  const nodeId = nonEmpty(p.node) ?? nonEmpty(p.nodeId);
  const keyInputs = p[KEY_INPUTS_FIELD];
  return {
    createdAt: Date.now(),
    ...(stage === undefined ? {} : { stage }),
    ...(stageVersion === undefined ? {} : { stageVersion }),
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(isKeyInputs(keyInputs) ? { keyInputs } : {}),
  };
}

/** Sizes and offsets read from a header. */
export interface EntryLayout {
  readonly keyLength: number;
  readonly metaLength: number;
  /** Offset of the result section (8-aligned). */
  readonly resultOffset: number;
  readonly resultLength: number;
  /** Offset of the provenance section (8-aligned). */
  readonly provenanceOffset: number;
  readonly provenanceLength: number;
  readonly total: number;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

function layoutOf(
  keyLength: number,
  metaLength: number,
  resultLength: number,
  provenanceLength: number,
): EntryLayout {
  const resultOffset = align8(HEAD_BYTES + keyLength + metaLength);
  const provenanceOffset = align8(resultOffset + resultLength);
  return {
    keyLength,
    metaLength,
    resultOffset,
    resultLength,
    provenanceOffset,
    provenanceLength,
    total: provenanceOffset + provenanceLength + TRAILER_BYTES,
  };
}

function writeU64(buf: Buffer, at: number, x: number): void {
  buf.writeUInt32LE(x % TWO_32, at);
  buf.writeUInt32LE(Math.floor(x / TWO_32), at + 4);
}

function readU64(buf: Uint8Array, at: number): number {
  const dv = new DataView(buf.buffer, buf.byteOffset + at, 8);
  return dv.getUint32(0, true) + dv.getUint32(4, true) * TWO_32;
}

/** Header, key, metadata and padding: the bytes before the result. */
function writeHead(buf: Buffer, key: Buffer, meta: Buffer, layout: EntryLayout): void {
  buf[0] = MAGIC0;
  buf[1] = MAGIC1;
  buf[2] = MAGIC2;
  buf[3] = MAGIC3;
  buf[4] = FILE_VERSION;
  buf[5] = 0;
  buf.writeUInt16LE(layout.keyLength, 6);
  buf.writeUInt32LE(layout.metaLength, 8);
  buf.writeUInt32LE(0, 12);
  writeU64(buf, 16, layout.resultLength);
  writeU64(buf, 24, layout.provenanceLength);
  writeU64(buf, 32, layout.total);
  key.copy(buf, HEAD_BYTES);
  meta.copy(buf, HEAD_BYTES + key.length);
  buf.fill(0, HEAD_BYTES + key.length + meta.length, layout.resultOffset);
}

/** A whole entry file in one buffer (small entries: one write call). */
export function buildEntryFile(
  key: Buffer,
  meta: Buffer,
  result: Uint8Array,
  provenance: Uint8Array,
): Buffer {
  const layout = layoutOf(key.length, meta.length, result.byteLength, provenance.byteLength);
  const buf = Buffer.allocUnsafe(layout.total);
  writeHead(buf, key, meta, layout);
  buf.set(result, layout.resultOffset);
  const gap = layout.resultOffset + result.byteLength;
  buf.fill(0, gap, layout.provenanceOffset);
  buf.set(provenance, layout.provenanceOffset);
  const end = layout.total - TRAILER_BYTES;
  oneShotHash('sha256', buf.subarray(0, end), 'buffer').copy(buf, end);
  return buf;
}

/**
 * The parts of a large entry file, to be written in this order without copying the sections:
 * `head`, the result, `gap`, the provenance, `trailer`.
 */
export function buildEntryParts(
  key: Buffer,
  meta: Buffer,
  result: Uint8Array,
  provenance: Uint8Array,
): {
  readonly head: Buffer;
  readonly gap: Buffer;
  readonly trailer: Buffer;
  readonly total: number;
} {
  const layout = layoutOf(key.length, meta.length, result.byteLength, provenance.byteLength);
  const head = Buffer.alloc(layout.resultOffset);
  writeHead(head, key, meta, layout);
  const gap = Buffer.alloc(layout.provenanceOffset - layout.resultOffset - result.byteLength);
  const h = createHash('sha256');
  h.update(head);
  h.update(result);
  h.update(gap);
  h.update(provenance);
  return { head, gap, trailer: h.digest(), total: layout.total };
}

/**
 * The layout in the first bytes of a file, or undefined when they are not a valid header of
 * this format. Needs at least {@link HEAD_BYTES} bytes.
 */
export function parseLayout(buf: Uint8Array): EntryLayout | undefined {
  if (buf.byteLength < HEAD_BYTES) return undefined;
  if (buf[0] !== MAGIC0 || buf[1] !== MAGIC1 || buf[2] !== MAGIC2 || buf[3] !== MAGIC3) {
    return undefined;
  }
  if (buf[4] !== FILE_VERSION || buf[5] !== 0) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, HEAD_BYTES);
  if (dv.getUint32(12, true) !== 0) return undefined;
  const keyLength = dv.getUint16(6, true);
  const metaLength = dv.getUint32(8, true);
  const resultLength = readU64(buf, 16);
  const provenanceLength = readU64(buf, 24);
  const total = readU64(buf, 32);
  if (keyLength === 0 || keyLength > MAX_KEY_BYTES) return undefined;
  const layout = layoutOf(keyLength, metaLength, resultLength, provenanceLength);
  // Consistent lengths, within what a file can hold: a flipped length bit is caught here.
  if (layout.total !== total || !Number.isSafeInteger(total)) return undefined;
  return layout;
}

/** Whether the trailer matches the bytes it covers. `buf` holds exactly the whole file. */
export function checksumMatches(buf: Buffer, layout: EntryLayout): boolean {
  const end = layout.total - TRAILER_BYTES;
  const digest = oneShotHash('sha256', buf.subarray(0, end), 'buffer');
  return digest.equals(buf.subarray(end, layout.total));
}

/** The key stored in an entry file. */
export function keyOf(buf: Uint8Array, layout: EntryLayout): string {
  return Buffer.from(buf.buffer, buf.byteOffset + HEAD_BYTES, layout.keyLength).toString('utf8');
}

/** The key's bytes as stored. */
export function keyBytesOf(buf: Buffer, layout: EntryLayout): Buffer {
  return buf.subarray(HEAD_BYTES, HEAD_BYTES + layout.keyLength);
}

/** The metadata of an entry file (the first `resultOffset` bytes suffice), or undefined. */
export function metadataOf(buf: Uint8Array, layout: EntryLayout): EntryMetadata | undefined {
  const start = HEAD_BYTES + layout.keyLength;
  try {
    const meta: unknown = JSON.parse(
      Buffer.from(buf.buffer, buf.byteOffset + start, layout.metaLength).toString('utf8'),
    );
    if (typeof meta !== 'object' || meta === null) return undefined;
    if (typeof (meta as EntryMetadata).createdAt !== 'number') return undefined;
    return meta as EntryMetadata;
  } catch {
    return undefined;
  }
}

/** The result section as a view into `buf` (8-aligned when `buf` is). */
export function resultOf(buf: Buffer, layout: EntryLayout): Buffer {
  return buf.subarray(layout.resultOffset, layout.resultOffset + layout.resultLength);
}

/** The provenance section as a view into `buf`. */
export function provenanceOf(buf: Buffer, layout: EntryLayout): Buffer {
  return buf.subarray(layout.provenanceOffset, layout.provenanceOffset + layout.provenanceLength);
}
