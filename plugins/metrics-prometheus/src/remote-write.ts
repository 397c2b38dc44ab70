// The body of a Prometheus remote-write request (protocol 1.0): a protobuf `WriteRequest`,
// snappy-compressed (block format). The schema is four small messages, frozen by the spec:
//
//   message WriteRequest { repeated TimeSeries timeseries = 1; }
//   message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//   message Label        { string name = 1; string value = 2; }
//   message Sample       { double value = 1; int64 timestamp = 2; }   // ms since the epoch
//
// so they are written by hand here (wire types 2 and 1 and 0 only) rather than through a
// general protobuf library and its generated code.
import { createRequire } from 'node:module';
import type { Sample } from './families.js';

// snappyjs: pure JavaScript (no native build, so it installs wherever Node runs, a cluster's login
// node included) and ships no types; this is the one function used.
const SnappyJS = createRequire(import.meta.url)('snappyjs') as {
  compress(input: Uint8Array): Uint8Array;
};

/** One series to write: its labels (with `__name__`) and one sample. */
export interface WriteSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
}

class Writer {
  #buf = new Uint8Array(1024);
  #view = new DataView(this.#buf.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  varint(value: number): void {
    // Non-negative integers below 2^53: 7 bits per byte, low groups first.
    this.#room(10);
    let v = value;
    while (v >= 0x80) {
      this.#buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#buf[this.length++] = v;
  }

  tag(field: number, wireType: 0 | 1 | 2): void {
    this.varint(field * 8 + wireType);
  }

  double(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.#room(data.length);
    this.#buf.set(data, this.length);
    this.length += data.length;
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

const utf8 = new TextEncoder();

function label(name: string, value: string): Uint8Array {
  const w = new Writer();
  w.tag(1, 2);
  w.bytes(utf8.encode(name));
  w.tag(2, 2);
  w.bytes(utf8.encode(value));
  return w.result();
}

function sample(value: number, timestamp: number): Uint8Array {
  const w = new Writer();
  w.tag(1, 1);
  w.double(value);
  w.tag(2, 0);
  w.varint(timestamp);
  return w.result();
}

/** The protobuf `WriteRequest` of `series` (labels sorted by name, as the spec requires). */
export function encodeWriteRequest(series: readonly WriteSeries[]): Uint8Array {
  const request = new Writer();
  for (const s of series) {
    const ts = new Writer();
    for (const name of Object.keys(s.labels).sort()) {
      ts.tag(1, 2);
      ts.bytes(label(name, s.labels[name] as string));
    }
    ts.tag(2, 2);
    ts.bytes(sample(s.value, s.timestamp));
    request.tag(1, 2);
    request.bytes(ts.result());
  }
  return request.result();
}

/** The body to POST: the snappy-compressed `WriteRequest`. */
export function writeRequestBody(series: readonly WriteSeries[]): Uint8Array {
  return SnappyJS.compress(encodeWriteRequest(series));
}

/**
 * The series of a registry read (`registry.getMetricsAsJSON()`), each with the extra labels
 * (`job`, the grouping key) and the time of the read.
 */
export function toWriteSeries(
  families: readonly { readonly name: string; readonly values: readonly Sample[] }[],
  extra: Readonly<Record<string, string>>,
  timestamp: number,
): WriteSeries[] {
  const out: WriteSeries[] = [];
  for (const family of families) {
    for (const v of family.values) {
      const labels: Record<string, string> = {};
      for (const [k, value] of Object.entries(v.labels)) labels[k] = String(value);
      Object.assign(labels, extra);
      labels.__name__ = v.metricName ?? family.name;
      out.push({ labels, value: v.value, timestamp });
    }
  }
  return out;
}
