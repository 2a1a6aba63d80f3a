// String helpers, named as in Python. Functions that can grow a string (replace, join) check the
// size before building it: nested replace() calls could otherwise multiply a string past memory
// before any limit saw it.
import { ExpressionError } from '../errors.js';
import { MAX_STRING_CHARS } from '../limits.js';
import { pythonStr } from '../python-format.js';
import { valuesEqual } from '../values.js';
import type { EvaluatorFunction } from './types.js';

function ensureFits(length: number, name: string): void {
  if (length > MAX_STRING_CHARS) {
    throw new ExpressionError(
      `${name}(): result of ${length} characters is over the limit of ${MAX_STRING_CHARS}`,
    );
  }
}

function escapeForClass(chars: string): string {
  return chars.replace(/[\\\]^-]/g, '\\$&');
}

export const STRING_FUNCTIONS: readonly EvaluatorFunction[] = [
  {
    kind: 'plain',
    name: 'lower',
    signature: 'lower(string)',
    doc: 'The string in lower case.',
    call: (args) => args.string(0).toLowerCase(),
  },
  {
    kind: 'plain',
    name: 'upper',
    signature: 'upper(string)',
    doc: 'The string in upper case.',
    call: (args) => args.string(0).toUpperCase(),
  },
  {
    kind: 'plain',
    name: 'strip',
    signature: 'strip(string, chars=whitespace)',
    doc: 'The string without leading and trailing whitespace (or without any of chars).',
    call(args) {
      const text = args.string(0);
      if (!args.has(1)) return text.trim();
      const chars = args.string(1);
      if (chars === '') return text;
      const set = `[${escapeForClass(chars)}]`;
      return text.replace(new RegExp(`^${set}+|${set}+$`, 'gu'), '');
    },
  },
  {
    kind: 'plain',
    name: 'startswith',
    signature: 'startswith(string, prefix)',
    doc: 'True when the string starts with prefix.',
    call: (args) => args.string(0).startsWith(args.string(1)),
  },
  {
    kind: 'plain',
    name: 'endswith',
    signature: 'endswith(string, suffix)',
    doc: 'True when the string ends with suffix.',
    call: (args) => args.string(0).endsWith(args.string(1)),
  },
  {
    kind: 'plain',
    name: 'contains',
    signature: 'contains(string_or_list, item)',
    doc: 'True when the string contains the substring, or the list contains the item.',
    call(args) {
      const haystack = args.value(0);
      if (Array.isArray(haystack)) return haystack.some((item) => valuesEqual(item, args.value(1)));
      return args.string(0).includes(args.string(1));
    },
  },
  {
    kind: 'plain',
    name: 'replace',
    signature: 'replace(string, old, new)',
    doc: 'The string with every occurrence of old replaced by new.',
    call(args) {
      const [text, old, replacement] = [args.string(0), args.string(1), args.string(2)];
      if (old === '') throw args.error(1, 'must not be empty');
      const occurrences = text.split(old).length - 1;
      ensureFits(text.length + occurrences * (replacement.length - old.length), 'replace');
      return text.replaceAll(old, replacement);
    },
  },
  {
    kind: 'plain',
    name: 'split',
    signature: 'split(string, separator=whitespace)',
    doc: 'The list of parts between separators; without one, splits on runs of whitespace.',
    call(args) {
      const text = args.string(0);
      if (!args.has(1)) return text.split(/\s+/).filter((part) => part !== '');
      const separator = args.string(1);
      if (separator === '') throw args.error(1, 'must not be empty');
      return text.split(separator);
    },
  },
  {
    kind: 'plain',
    name: 'join',
    signature: 'join(list, separator)',
    doc: "The list's items as text, separated by separator: join(['a', 'b'], ',') is 'a,b'.",
    call(args) {
      const items = args.list(0).map(pythonStr);
      const separator = args.string(1);
      const length = items.reduce((total, item) => total + item.length, 0);
      ensureFits(length + separator.length * Math.max(items.length - 1, 0), 'join');
      return items.join(separator);
    },
  },
];
