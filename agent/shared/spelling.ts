// "Did you mean ...?": the known word closest to a misspelt one, for messages about a typo
// (a definition kind in a config file, an operator in an expression).

/**
 * Edits (insert, delete, replace, swap two neighbours) between `a` and `b`, case ignored. Words
 * whose lengths differ by more than `limit` answer limit + 1 at once: a long key costs nothing.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  const left = a.toLowerCase();
  const right = b.toLowerCase();
  if (Math.abs(left.length - right.length) > limit) return limit + 1;
  // Three rows of the optimal-string-alignment table: the swap looks two rows back.
  let before = new Array<number>(right.length + 1).fill(0);
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let i = 1; i <= left.length; i++) {
    const current = [i];
    for (let j = 1; j <= right.length; j++) {
      const cost = left[i - 1] === right[j - 1] ? 0 : 1;
      let value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && left[i - 1] === right[j - 2] && left[i - 2] === right[j - 1])
        value = Math.min(value, before[j - 2]! + 1);
      current.push(value);
    }
    before = previous;
    previous = current;
  }
  return previous[right.length]!;
}

/**
 * The word of `known` closest to `word`, when it is close enough to be a typo of it: one edit
 * for words of up to 5 letters (`chek`, `adn`), two for longer ones (`detectr`, `colector`).
 * Undefined when none is; the first listed wins a tie.
 */
export function closestWord(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const allowed = candidate.length <= 5 ? 1 : 2;
    const distance = editDistance(word, candidate, allowed);
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
