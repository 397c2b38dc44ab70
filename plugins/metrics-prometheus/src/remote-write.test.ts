import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodeWriteRequest, toWriteSeries, writeRequestBody } from './remote-write.js';

const snappy = createRequire(import.meta.url)('snappyjs') as {
  uncompress(input: Uint8Array): Uint8Array;
};

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('remote-write body', () => {
  it('encodes a WriteRequest as the protobuf wire format spells it', () => {
    const bytes = encodeWriteRequest([
      { labels: { job: 'j', __name__: 'm' }, value: 1, timestamp: 1000 },
    ]);
    // WriteRequest.timeseries (field 1, 39 bytes) { Label (1, 13 bytes) { name "__name__",
    //   value "m" }, Label (1, 8) { "job", "j" }, Sample (2, 12) { value 1.0 (a little-endian
    //   double), timestamp 1000 (varint e8 07) } }; labels sorted by name.
    const label1 = `0a0d 0a08${hex(Buffer.from('__name__'))}1201${hex(Buffer.from('m'))}`;
    const label2 = `0a08 0a03${hex(Buffer.from('job'))}1201${hex(Buffer.from('j'))}`;
    const sample = '120c 09000000000000f03f 10e807';
    const series = `${label1}${label2}${sample}`.replace(/ /g, '');
    expect(hex(bytes)).toBe(`0a${(series.length / 2).toString(16)}${series}`);
  });

  it('snappy-compresses it (block format), so that it decompresses to the same bytes', () => {
    const series = Array.from({ length: 200 }, (_, i) => ({
      labels: { __name__: 'phys_nodes_total', job: 'phys', stage: `stage-${i % 5}` },
      value: i,
      timestamp: 1_700_000_000_000 + i,
    }));
    const body = writeRequestBody(series);
    expect(Buffer.from(snappy.uncompress(body))).toEqual(Buffer.from(encodeWriteRequest(series)));
    expect(body.length).toBeLessThan(encodeWriteRequest(series).length / 2);
  });

  it("names a histogram's samples by their own names and adds the extra labels", () => {
    const series = toWriteSeries(
      [
        {
          name: 'phys_run_duration_seconds',
          values: [
            {
              labels: { pipeline: 'p', le: 1 },
              value: 3,
              metricName: 'phys_run_duration_seconds_bucket',
            },
            { labels: { pipeline: 'p' }, value: 3, metricName: 'phys_run_duration_seconds_count' },
          ],
        },
        { name: 'phys_runs_total', values: [{ labels: { pipeline: 'p' }, value: 2 }] },
      ],
      { job: 'lab', instance: 'h:1' },
      5,
    );
    expect(series).toEqual([
      {
        labels: {
          pipeline: 'p',
          le: '1',
          job: 'lab',
          instance: 'h:1',
          __name__: 'phys_run_duration_seconds_bucket',
        },
        value: 3,
        timestamp: 5,
      },
      {
        labels: {
          pipeline: 'p',
          job: 'lab',
          instance: 'h:1',
          __name__: 'phys_run_duration_seconds_count',
        },
        value: 3,
        timestamp: 5,
      },
      {
        labels: { pipeline: 'p', job: 'lab', instance: 'h:1', __name__: 'phys_runs_total' },
        value: 2,
        timestamp: 5,
      },
    ]);
  });
});
