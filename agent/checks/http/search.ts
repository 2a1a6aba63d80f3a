// The http check's body checks, as Platus' rest_http has them: `search: text` (the body holds it),
// `search: {mapping}` (the JSON body holds the mapping: every key with the same value, nested
// mappings alike, arrays element by element), and `search_regex: pattern`, run where a
// backtracking pattern cannot freeze the agent (the evaluator's regexp workers, with a deadline).

/** Runs one regular expression over a text with a deadline (the evaluator's regexp pool). */
export type RegexpSearch = (pattern: string, text: string, label: string) => Promise<boolean>;

export interface SearchFailure {
  /** What was looked for and not found, for the check's output. */
  message: string;
}

/** Whether `body` holds `search` (text) or, parsed as JSON, the mapping; a failure says what was missing. */
export function searchBody(
  body: string,
  search: string | Record<string, unknown>,
): SearchFailure | undefined {
  if (typeof search === 'string') {
    return body.includes(search)
      ? undefined
      : { message: `the body does not contain ${JSON.stringify(search)}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { message: 'the body is not JSON (search: is a mapping)' };
  }
  const missing = firstDifference(search, parsed, '');
  return missing === undefined ? undefined : { message: `the JSON body ${missing}` };
}

/** Where `actual` does not hold `expected` (a path and what is there), or undefined. */
function firstDifference(expected: unknown, actual: unknown, path: string): string | undefined {
  if (expected !== null && typeof expected === 'object') {
    if (Array.isArray(expected)) {
      if (!Array.isArray(actual)) return `has no array at ${path || 'the top'}`;
      for (let i = 0; i < expected.length; i++) {
        if (i >= actual.length) return `has no ${path}[${i}]`;
        const difference = firstDifference(expected[i], actual[i], `${path}[${i}]`);
        if (difference) return difference;
      }
      return undefined;
    }
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual))
      return `has no mapping at ${path || 'the top'}`;
    for (const [key, value] of Object.entries(expected)) {
      const child = path === '' ? key : `${path}.${key}`;
      if (!Object.prototype.hasOwnProperty.call(actual, key)) return `has no ${child}`;
      const difference = firstDifference(value, (actual as Record<string, unknown>)[key], child);
      if (difference) return difference;
    }
    return undefined;
  }
  // YAML reads `200` as a number where the body may say "200": compare as text then.
  if (
    expected === actual ||
    ((typeof actual === 'string' || typeof actual === 'number' || typeof actual === 'boolean') &&
      String(expected) === String(actual))
  )
    return undefined;
  return `has ${path} = ${JSON.stringify(actual)}, not ${JSON.stringify(expected)}`;
}
