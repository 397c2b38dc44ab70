// "Did you mean" for names a user typed: config keys, plugin names and pipelines.

/** Levenshtein distance: insertions, deletions and substitutions, one each. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(above + 1, (row[j - 1] ?? 0) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return row[b.length] ?? 0;
}

/**
 * The candidates closest to `name` (case-insensitive) that are close enough to be a typo of it,
 * closest first, at most `max`: at most 2 edits away, or a quarter of the name's length for
 * longer names. Ties keep the candidates' order. For "did you mean" hints; see {@link didYouMean}.
 * @public
 */
export function closestNames(name: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(2, Math.floor(name.length / 4));
  const typed = name.toLowerCase();
  const close: { candidate: string; distance: number }[] = [];
  for (const candidate of candidates) {
    const distance = editDistance(typed, candidate.toLowerCase());
    if (distance > 0 && distance <= limit) close.push({ candidate, distance });
  }
  // Array.prototype.sort is stable: equally close candidates keep their order.
  return close
    .sort((a, b) => a.distance - b.distance)
    .slice(0, max)
    .map((c) => c.candidate);
}

/** The candidate closest to `name`, if it is close enough to be a typo of it (see closestNames). */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  return closestNames(name, candidates, 1)[0];
}

/**
 * `Did you mean 'a'?`, `Did you mean 'a' or 'b'?`, `Did you mean 'a', 'b' or 'c'?` for the names
 * {@link closestNames} found; the empty string for none.
 * @public
 */
export function didYouMean(suggestions: readonly string[]): string {
  if (suggestions.length === 0) return '';
  const quoted = suggestions.map((s) => `'${s}'`);
  const last = quoted.pop() as string;
  return `Did you mean ${quoted.length === 0 ? last : `${quoted.join(', ')} or ${last}`}?`;
}
