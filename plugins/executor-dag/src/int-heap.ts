/**
 * The ready queue: node indices out smallest first. Two parts: a run of indices pushed in
 * increasing order (a plain FIFO, O(1) per operation — how nodes of chains, wide fans and
 * layered grids become ready), and a binary min-heap for indices that arrive out of order.
 * `pop` takes the smaller of the two fronts. Backed by growable Int32Arrays: no allocation per
 * push or pop.
 */
export class IntHeap {
  #run: Int32Array;
  #runHead = 0;
  #runTail = 0;
  #items: Int32Array;
  #size = 0;

  constructor(capacity = 16) {
    this.#run = new Int32Array(Math.max(4, capacity));
    this.#items = new Int32Array(Math.max(4, capacity));
  }

  get size(): number {
    return this.#size + this.#runTail - this.#runHead;
  }

  peek(): number {
    const run = this.#runHead < this.#runTail ? (this.#run[this.#runHead] as number) : -1;
    if (this.#size === 0) return run;
    const top = this.#items[0] as number;
    return run >= 0 && run < top ? run : top;
  }

  push(node: number): void {
    const head = this.#runHead;
    const tail = this.#runTail;
    if (head === tail) {
      this.#runHead = 0;
      this.#runTail = 1;
      this.#run[0] = node;
      return;
    }
    if (node >= (this.#run[tail - 1] as number)) {
      if (tail === this.#run.length) {
        // compact, or grow when more than half is in use
        const live = tail - head;
        if (live * 2 > this.#run.length) {
          const grown = new Int32Array(this.#run.length * 2);
          grown.set(this.#run.subarray(head, tail));
          this.#run = grown;
        } else {
          this.#run.copyWithin(0, head, tail);
        }
        this.#runHead = 0;
        this.#runTail = live;
      }
      this.#run[this.#runTail++] = node;
      return;
    }
    this.#heapPush(node);
  }

  pop(): number {
    const hasRun = this.#runHead < this.#runTail;
    if (this.#size === 0) {
      return hasRun ? (this.#run[this.#runHead++] as number) : -1;
    }
    if (hasRun && (this.#run[this.#runHead] as number) < (this.#items[0] as number)) {
      return this.#run[this.#runHead++] as number;
    }
    return this.#heapPop();
  }

  clear(): void {
    this.#size = 0;
    this.#runHead = 0;
    this.#runTail = 0;
  }

  #heapPush(node: number): void {
    if (this.#size === this.#items.length) {
      const grown = new Int32Array(this.#items.length * 2);
      grown.set(this.#items);
      this.#items = grown;
    }
    const items = this.#items;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const up = items[parent] as number;
      if (up <= node) break;
      items[i] = up;
      i = parent;
    }
    items[i] = node;
  }

  #heapPop(): number {
    const items = this.#items;
    const top = items[0] as number;
    const n = this.#size - 1;
    const last = items[n] as number;
    this.#size = n;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (items[right] as number) < (items[child] as number)) child = right;
      const c = items[child] as number;
      if (c >= last) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
