// Store keys sort as the data is read: numbers by value, one name's keys never inside another's.
import { describe, expect, it } from 'vitest';
import {
  keyOf,
  parseSortableNumber,
  partsOf,
  prefixOf,
  prefixRange,
  sortableNumber,
} from '../../agent/store/index.js';

const inRange = (key: string, range: { gte: string; lt: string }) => key >= range.gte && key < range.lt;

describe('store keys', () => {
  it('numbers sort by value in byte order, and read back', () => {
    const numbers = [0, 9, 10, 99, 100, 12_345, Number.MAX_SAFE_INTEGER];
    const keys = numbers.map((n) => keyOf('result', 'cpu', n));
    expect([...keys].sort()).toEqual(keys);
    expect(keys.map((key) => parseSortableNumber(partsOf(key)[2]!))).toEqual(numbers);
    expect(() => sortableNumber(-1)).toThrow(/safe integer >= 0/);
    expect(() => sortableNumber(1.5)).toThrow(/safe integer >= 0/);
    expect(parseSortableNumber('12')).toBeUndefined();
  });

  it("a name's prefix holds only its own keys, whatever characters the names use", () => {
    const names = ['web', 'web/api', 'web api', 'web!', 'web%2F', 'wéb', 'w'];
    for (const name of names) {
      const range = prefixRange(prefixOf('result', name));
      for (const other of names) {
        expect(inRange(keyOf('result', other, 7), range), `${other} under ${name}`).toBe(other === name);
      }
      expect(partsOf(keyOf('result', name, 7))[1]).toBe(name);
    }
  });

  it('keys are printable ASCII', () => {
    expect(keyOf('status', 'disque / plein ✓', 3)).toMatch(/^[\x21-\x7e]+$/);
  });

  it('refuses an empty name and an empty prefix', () => {
    expect(() => keyOf('status', '')).toThrow(/must not be empty/);
    expect(() => prefixRange('')).toThrow(/empty prefix/);
  });
});
