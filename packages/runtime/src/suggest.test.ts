import { describe, expect, it } from 'vitest';
import { closestName, closestNames, didYouMean } from './suggest.js';

const pipelines = ['ising', 'ising-quick', 'ising-scan', 'carbon', 'decay-chain'];

describe('closestNames', () => {
  it('finds the declared names a typo is close to, closest first', () => {
    expect(closestNames('isng-scan', pipelines)).toEqual(['ising-scan']);
    expect(closestNames('ISING-SCAN', pipelines)).toEqual([]); // the same name: no typo
    expect(closestNames('isin', pipelines)).toEqual(['ising']);
    expect(closestNames('ising-scam', pipelines)).toEqual(['ising-scan']);
    expect(closestNames('isingquick', pipelines)).toEqual(['ising-quick']);
  });

  it('gives every close name up to the limit, equally close ones in their order', () => {
    expect(closestNames('run-b', ['run-a', 'run-c', 'rub-b', 'zzz'])).toEqual([
      'run-a',
      'run-c',
      'rub-b',
    ]);
    expect(closestNames('run-b', ['run-a', 'run-c', 'rub-b'], 2)).toEqual(['run-a', 'run-c']);
    expect(closestNames('ab', ['abc', 'a'])).toEqual(['abc', 'a']);
  });

  it('suggests nothing for a name unlike any', () => {
    expect(closestNames('thermal-relax', pipelines)).toEqual([]);
    expect(closestNames('x', [])).toEqual([]);
  });

  it('agrees with closestName', () => {
    expect(closestName('isng-scan', pipelines)).toBe('ising-scan');
    expect(closestName('thermal-relax', pipelines)).toBeUndefined();
  });
});

describe('didYouMean', () => {
  it('reads as a sentence for one, two and three names, and is empty for none', () => {
    expect(didYouMean([])).toBe('');
    expect(didYouMean(['ising-scan'])).toBe("Did you mean 'ising-scan'?");
    expect(didYouMean(['a', 'b'])).toBe("Did you mean 'a' or 'b'?");
    expect(didYouMean(['a', 'b', 'c'])).toBe("Did you mean 'a', 'b' or 'c'?");
  });
});
