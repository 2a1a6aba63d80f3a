// The reference syntax: `{collector.NAME.path}`, `{{collector.NAME.path}}`, `{configuration.path}`,
// `{parameters.path}`, `{variables.path}`, each with an optional default after `|`:
// `{collector.redis.ops|0}`, `{collector.x.y|'none'}`. Paths may hold `%`, `/`, `-` and dots
// (`{collector.diskusage./var/lib.pct_used}`); which dots separate keys is decided against the data
// (reference-resolve.ts), so here a path is only text.
import { ExpressionError } from './errors.js';
import { columnOf, isQuote } from './source-scan.js';
import type { EvaluatedPrimitive } from './values.js';

export type ReferenceSource = 'collector' | 'configuration' | 'parameters' | 'variables';

/** One value an expression reads: `{source: 'collector', path: 'cpustats.cpuall.%idle'}`. */
export interface Reference {
  source: ReferenceSource;
  /** Dot-separated; for `collector` the first part is the collector's name. */
  path: string;
}

/** A reference as written at one place in a text. */
export interface ReferenceSyntax extends Reference {
  /** What the value is called in messages: `collector.cpustats.cpuall.%idle`. */
  name: string;
  /** The value used when the reference is missing, from `|default`. */
  fallback?: EvaluatedPrimitive;
  /** Where the braces start and end (exclusive) in the text. */
  start: number;
  end: number;
}

const SOURCE = /\{\{?\s*(collector|configuration|parameters|variables)\./y;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/** Python's spellings of the booleans, accepted in defaults and expressions; there is no null, so None is False. */
export const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  True: true,
  true: true,
  False: false,
  false: false,
  None: false,
};

/**
 * The reference whose opening brace is at `start`, or undefined when the brace does not open one
 * (no known source after it: templates keep such text as it is). Throws an ExpressionError for a
 * reference that starts right but is malformed.
 */
export function parseReferenceAt(text: string, start: number): ReferenceSyntax | undefined {
  SOURCE.lastIndex = start;
  const opening = SOURCE.exec(text);
  if (!opening) return undefined;
  const source = opening[1] as ReferenceSource;
  const braces = text[start + 1] === '{' ? 2 : 1;
  const where = `reference at column ${columnOf(text, start)}`;

  let index = SOURCE.lastIndex;
  const pathStart = index;
  while (index < text.length && !'|{}\n'.includes(text[index] as string)) index++;
  const path = text.slice(pathStart, index).trim();
  if (path === '') {
    throw new ExpressionError(`${where}: '${source}.' needs a path, e.g. {collector.cpustats.cpuall.%idle}`);
  }

  let fallback: EvaluatedPrimitive | undefined;
  if (text[index] === '|') {
    const parsed = parseFallback(text, index + 1, where);
    fallback = parsed.value;
    index = parsed.end;
  }
  const closing = '}'.repeat(braces);
  if (!text.startsWith(closing, index)) {
    throw new ExpressionError(`${where}: expected '${closing}' at column ${columnOf(text, index)}`);
  }
  const reference: ReferenceSyntax = { source, path, name: `${source}.${path}`, start, end: index + braces };
  if (fallback !== undefined) reference.fallback = fallback;
  return reference;
}

/** The default after `|`: a number, a quoted string, or True/False (None means False). */
function parseFallback(
  text: string,
  from: number,
  where: string,
): { value: EvaluatedPrimitive; end: number } {
  let index = from;
  while (text[index] === ' ' || text[index] === '\t') index++;
  if (isQuote(text[index])) {
    const quoted = readQuoted(text, index, where);
    index = quoted.end;
    while (text[index] === ' ' || text[index] === '\t') index++;
    return { value: quoted.value, end: index };
  }
  let end = index;
  while (end < text.length && !'}\n'.includes(text[end] as string)) end++;
  const literal = text.slice(index, end).trim();
  if (NUMBER.test(literal)) return { value: Number(literal), end };
  if (Object.hasOwn(BOOLEAN_WORDS, literal)) return { value: BOOLEAN_WORDS[literal] as boolean, end };
  throw new ExpressionError(
    `${where}: default '${literal}' must be a number, a quoted string or True/False, e.g. {collector.redis.ops|0}`,
  );
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

function readQuoted(text: string, start: number, where: string): { value: string; end: number } {
  const quote = text[start];
  let value = '';
  for (let index = start + 1; index < text.length; index++) {
    const char = text[index] as string;
    if (char === quote) return { value, end: index + 1 };
    if (char === '\n') break;
    if (char === '\\') {
      const escaped = text[++index] ?? '';
      value += Object.hasOwn(ESCAPES, escaped) ? ESCAPES[escaped] : `\\${escaped}`;
    } else {
      value += char;
    }
  }
  throw new ExpressionError(`${where}: the default string is not closed with ${quote}`);
}
