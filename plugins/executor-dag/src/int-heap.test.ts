import { describe, expect, it } from 'vitest';
import { IntHeap } from './int-heap.js';

describe('IntHeap', () => {
  it('pops indices smallest first, growing past its initial capacity', () => {
    const heap = new IntHeap(4);
    const values = [9, 3, 17, 0, 5, 12, 1, 8, 30, 2];
    for (const v of values) heap.push(v);
    expect(heap.size).toBe(values.length);
    expect(heap.peek()).toBe(0);
    const out: number[] = [];
    while (heap.size > 0) out.push(heap.pop());
    expect(out).toEqual([...values].sort((a, b) => a - b));
    expect(heap.pop()).toBe(-1);
    expect(heap.peek()).toBe(-1);
  });

  it('interleaves pushes and pops like a priority queue', () => {
    const heap = new IntHeap();
    heap.push(5);
    heap.push(2);
    expect(heap.pop()).toBe(2);
    heap.push(1);
    heap.push(7);
    expect(heap.pop()).toBe(1);
    expect(heap.pop()).toBe(5);
    heap.clear();
    expect(heap.size).toBe(0);
  });
});

describe('IntHeap with mixed in-order and out-of-order pushes', () => {
  it('matches a sorted reference under random interleavings', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const heap = new IntHeap(4);
    const reference: number[] = [];
    let next = 0;
    for (let step = 0; step < 20_000; step++) {
      const r = rand();
      if (r < 0.45) {
        // mostly increasing, sometimes a smaller one
        const value = rand() < 0.8 ? next++ : Math.floor(rand() * next);
        heap.push(value);
        reference.push(value);
      } else if (reference.length > 0) {
        reference.sort((a, b) => a - b);
        expect(heap.peek()).toBe(reference[0]);
        expect(heap.pop()).toBe(reference.shift());
      }
      expect(heap.size).toBe(reference.length);
    }
  });
});
