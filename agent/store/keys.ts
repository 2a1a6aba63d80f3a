// Keys of the store are strings built here, so that their byte order is the order the data is read
// in: the parts of a key are joined by '/', a name is percent-encoded (so it never holds a '/' and
// one name's prefix never covers another's: "web" and "web/api" stay apart), and a number is
// written in SEQUENCE_DIGITS fixed-width decimal digits (so 9 sorts before 10). Every key these
// helpers build is printable ASCII, which keeps `prefixRange` exact and the keys readable in a dump.

/** Digits of a number in a key: Number.MAX_SAFE_INTEGER has 16. */
export const SEQUENCE_DIGITS = 16;

const SEPARATOR = '/';

/** `value` as a key part that sorts by value: 0000000000000042. */
export function sortableNumber(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`a number in a store key must be a safe integer >= 0, not ${value}`);
  }
  return String(value).padStart(SEQUENCE_DIGITS, '0');
}

/** The number a sortableNumber() part holds, or undefined when `part` is not one. */
export function parseSortableNumber(part: string): number | undefined {
  if (part.length !== SEQUENCE_DIGITS || !/^\d+$/.test(part)) return undefined;
  return Number(part);
}

/** A key from its parts: names percent-encoded, numbers fixed-width. */
export function keyOf(...parts: (string | number)[]): string {
  return parts
    .map((part) => (typeof part === 'number' ? sortableNumber(part) : encodeName(part)))
    .join(SEPARATOR);
}

/** The prefix every key under these parts starts with (keyOf(...parts) and a separator). */
export function prefixOf(...parts: (string | number)[]): string {
  return keyOf(...parts) + SEPARATOR;
}

/** The parts of a key, names decoded; numbers stay as their fixed-width text (parseSortableNumber). */
export function partsOf(key: string): string[] {
  return key.split(SEPARATOR).map(decodeURIComponent);
}

/** The range [gte, lt) holding exactly the keys that start with `prefix`. */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  if (prefix === '') throw new RangeError('an empty prefix is the whole namespace: give no prefix instead');
  const last = prefix.charCodeAt(prefix.length - 1);
  return { gte: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(last + 1) };
}

function encodeName(name: string): string {
  if (name === '') throw new RangeError('a name in a store key must not be empty');
  return encodeURIComponent(name);
}
