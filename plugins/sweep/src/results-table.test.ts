import { describe, expect, it } from 'vitest';
import { type ResultsTable, toCsv, toJson } from './results-table.js';

const table: ResultsTable = {
  params: ['lr', 'note'],
  metrics: ['loss', 'acc'],
  rows: [
    {
      point: 'lr=0.01,note=plain',
      params: { lr: 0.01, note: 'plain' },
      metrics: { loss: 1.5, acc: null },
    },
    {
      point: 'lr=1e-7,note="a,\\"b\\""',
      params: { lr: 1e-7, note: 'a,"b"\nc' },
      metrics: { loss: Number.NaN, acc: 0.25 },
    },
  ],
};

describe('toCsv', () => {
  it('writes RFC 4180 CSV: CRLF, quoted fields with doubled quotes, empty missing cells', () => {
    expect(toCsv(table)).toBe(
      [
        'point,lr,note,loss,acc',
        '"lr=0.01,note=plain",0.01,plain,1.5,',
        '"lr=1e-7,note=""a,\\""b\\""""",1e-7,"a,""b""\nc",NaN,0.25',
        '',
      ].join('\r\n'),
    );
  });
});

describe('toJson', () => {
  it('gives a JSON-safe value that survives a round trip', () => {
    const json = toJson(table);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json.rows[1]?.metrics).toEqual({ loss: 'NaN', acc: 0.25 });
    expect(json.rows[0]?.metrics).toEqual({ loss: 1.5, acc: null });
    expect(json.format).toBe('phys-sweep-results/1');
  });
});
